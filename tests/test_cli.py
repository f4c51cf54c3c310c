"""The ``uqkit`` command line: run, report, store info on study files.

Model calls are counted with the side log of the toy model (``tests/_toy.py``).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _toy import ishigami_row, log_lines

import uqkit
from uqkit.cli import main

STUDIES = Path(uqkit.__file__).parent / "examples" / "studies"

TOY_STUDY = """\
[study]
name = "toy"
seed = 5

[model]
entry_point = "_studymodels:toy"

[parameters]
x1 = { dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }
x2 = { dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }
x3 = { dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }

[analyses.sobol]
n = 32

[runner]
store = "toy.db"

[report]
path = "out/report.html"
"""


@pytest.fixture
def side_log(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("UQKIT_TEST_LOG", str(log))
    monkeypatch.setenv("UQKIT_TEST_SLEEP", "0")
    return log


def write(tmp_path, text, name="study.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def report_json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def table(doc, name) -> dict:
    for s in doc["sections"]:
        for b in s["blocks"]:
            if b["type"] == "table" and b["name"] == name:
                return {(i, c): row[j] for i, row in zip(b["index"], b["data"])
                        for j, c in enumerate(b["columns"])}
    raise KeyError(name)


def test_run_rerun_report_and_store_info(tmp_path, side_log, capsys):
    study = write(tmp_path, TOY_STUDY)
    assert main(["run", "-q", str(study)]) == 0
    html = tmp_path / "out" / "report.html"
    doc = report_json(tmp_path / "out" / "report.json")
    assert html.exists() and "Sobol&#x27; indices" in html.read_text(encoding="utf-8")
    calls = len(log_lines(side_log))
    assert calls == 32 * 5  # Saltelli design: n (d + 2) distinct rows, each called once
    # the indices in the JSON are those of uqkit.sobol on the same design (same seed)
    model = uqkit.as_model(lambda X: np.array([[ishigami_row(r)] for r in X]),
                           inputs=("x1", "x2", "x3"), outputs=("y",), vectorized=True)
    ref = uqkit.sobol(model, uqkit.examples.ishigami().parameters, 32, rng=5)
    got = table(doc, "Indices of y")
    for name in ref.first.index:
        assert got[(name, "first")] == ref.first.loc[name, "y"]
        assert got[(name, "total")] == ref.total.loc[name, "y"]
    # a rerun makes 0 model calls and gives the same numbers (I7)
    assert main(["run", "-q", str(study)]) == 0
    assert len(log_lines(side_log)) == calls
    again = report_json(tmp_path / "out" / "report.json")
    assert table(again, "Indices of y") == got
    # uqkit report rebuilds the report from the store alone
    capsys.readouterr()
    out = tmp_path / "rebuilt" / "r.html"
    assert main(["report", str(tmp_path / "toy.db"), "-o", str(out)]) == 0
    assert table(report_json(out.with_suffix(".json")), "Indices of y") == got
    assert "data:image/png;base64," in out.read_text(encoding="utf-8")
    assert len(log_lines(side_log)) == calls
    # uqkit store info: progress, cached evaluations, studies
    capsys.readouterr()
    assert main(["store", "info", str(tmp_path / "toy.db")]) == 0
    text = capsys.readouterr().out
    assert "integrity ok" in text and "160" in text and "study:toy" in text
    assert main(["store", "info", "--json", str(tmp_path / "toy.db")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["evaluations"] == 160 and info["by_status"]["toy"]["ok"] == 160
    assert info["running_claims"] == 0


def test_report_and_store_commands_on_missing_or_unfinished_stores(tmp_path, side_log,
                                                                   capsys):
    assert main(["report", str(tmp_path / "none.db")]) == 2
    assert main(["store", "info", str(tmp_path / "none.db")]) == 2
    with uqkit.Store(tmp_path / "bare.db"):
        pass
    assert main(["report", str(tmp_path / "bare.db")]) == 1
    assert "holds no study report" in capsys.readouterr().err


def test_failures_are_shown_by_store_info_and_the_report(tmp_path, side_log, capsys,
                                                         monkeypatch):
    monkeypatch.setenv("UQKIT_TEST_FAULT", "fail10")
    study = write(tmp_path, TOY_STUDY.replace('store = "toy.db"',
                                              'store = "toy.db"\non_failure = "nan"'))
    assert main(["run", "-q", str(study)]) == 0
    doc = report_json(tmp_path / "out" / "report.json")
    with uqkit.Store(tmp_path / "toy.db") as store:
        fails = store.to_dataframe(failures=True)
    assert len(fails) > 0  # about 10 % of 160 inputs
    names = [b["name"] for s in doc["sections"] for b in s["blocks"] if b["type"] == "table"]
    assert f"Failures (first {min(50, len(fails))} of {len(fails)})" in names
    cost = table(doc, "Cost of each result")
    assert cost[("SobolResult 1", "failed")] == len(fails)
    capsys.readouterr()
    assert main(["store", "info", str(tmp_path / "toy.db")]) == 0
    text = capsys.readouterr().out
    assert f"of {len(fails)} failures" in text and "injected failure" in text


def test_pce_validation_points_are_reported(tmp_path, side_log):
    study = write(tmp_path, """\
        [model]
        entry_point = "_studymodels:function"
        inputs = ["a", "b"]
        outputs = ["y"]
        vectorized = true
        [parameters]
        a = { dist = "Uniform", low = 0, high = 1 }
        b = { dist = "Normal", mean = 0, std = 1 }
        [analyses.pce]
        n = 40
        validation = 20
        [runner]
        store = "f.db"
        """)
    assert main(["run", "-q", str(study)]) == 0
    doc = report_json(tmp_path / "study-report.json")
    val = [b for s in doc["sections"] for b in s["blocks"]
           if b["type"] == "table" and b["name"].startswith("PCE validation on 20")]
    assert len(val) == 1  # independent validation points, reported
    q2 = val[0]["data"][0][val[0]["columns"].index("q2")]
    assert q2 > 0.999999  # y = 2a + b is in the degree-1 basis: exact
    assert len(log_lines(side_log)) == 60


def test_derived_parameters_reach_the_model(tmp_path, side_log):
    study = write(tmp_path, """\
        [model]
        entry_point = "_studymodels:function"
        inputs = ["a", "b"]
        outputs = ["y"]
        vectorized = true
        [parameters]
        a = { dist = "Uniform", low = 1, high = 2 }
        [derived]
        b = "exp(-a) * 10 + maximum(a, 1.5) ** 2"
        [analyses.morris]
        n_trajectories = 4
        [runner]
        store = "d.db"
        """)
    assert main(["run", "-q", str(study)]) == 0
    lines = log_lines(side_log)
    rows = [np.frombuffer(bytes.fromhex(h), "<f8") for h in lines]
    # 4 trajectories of 2 points on a 4-level grid: identical rows are evaluated once
    assert 2 <= len(rows) <= 8 and len(set(lines)) == len(lines)
    for a, b in rows:
        assert b == np.exp(-a) * 10 + np.maximum(a, 1.5) ** 2


BAD_FILES = [
    # (text, key named in the error, its line)
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n\n[analyses.sobol]\nn = 1000\n",
     "analyses.sobol.n", 5),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses]\nsobol = { n = 'x' }\n",
     "analyses.sobol.n", 4),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.sobl]\nn = 8\n",
     "analyses.sobl", 3),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[parameters]\n"
     "x1 = { dist = 'Uniform', low = 2, high = 1 }\n[analyses.sobol]\nn = 8\n",
     "parameters.x1", 4),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[parameters]\n"
     "x1 = { dist = 'Gauss', mean = 0 }\n[analyses.sobol]\nn = 8\n", "parameters.x1.dist", 4),
    ("[model]\nentry_point = 'nosuchmodule_xyz:model'\n[analyses.sobol]\nn = 8\n",
     "model.entry_point", 2),
    ("[study]\nseed = -1\n[model]\nentry_point = 'uqkit.examples:ishigami'\n", "study.seed", 2),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.sobol]\nn = 8\n"
     "[runner]\nexecutor = 'gpu'\n", "runner.executor", 6),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.sobol]\nn = 8\n"
     "[runner]\nworkers = 2\n", "runner.workers", 6),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.calibrate]\n"
     "data = 'missing.csv'\nnoise = 0.1\n", "analyses.calibrate.data", 4),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.sobol]\nn = 8\n"
     "[report]\npath = 'r.pdf'\n", "report.path", 6),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[parameters]\n"
     "x1 = { dist = 'Uniform', low = 0, high = 1 }\n[analyses.sobol]\nn = 8\n",
     "parameters", 3),  # x2, x3 missing
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\n[analyses.sobol]\nn = 8\n"
     "[model.extra]\nx = 1\n", "model.extra", 5),
    ("[model]\nentry_point = 'uqkit.examples:ishigami'\nn = [1,\n", "<syntax>", 3),
]


@pytest.mark.parametrize("text,key,line", BAD_FILES)
def test_bad_study_file_names_key_and_line_before_any_run(tmp_path, side_log, capsys, text,
                                                          key, line):
    from uqkit.cli._execute import prepare
    from uqkit.cli._study import StudyFileError, load_study

    path = write(tmp_path, text)
    with pytest.raises(StudyFileError) as info:
        prepare(load_study(path))
    assert info.value.key == key
    assert info.value.line == line, str(info.value)
    assert f"{path}:{line}: " in str(info.value) and f"'{key}'" in str(info.value)
    assert isinstance(info.value, uqkit.InvalidParameterError)
    # the command prints it and exits 2; no store, no model call
    assert main(["run", str(path)]) == 2
    assert f"'{key}'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.db"))
    assert log_lines(side_log) == []


def test_example_study_python_entry_point(tmp_path):
    shutil.copy(STUDIES / "ishigami.toml", tmp_path)
    assert main(["run", "-q", str(tmp_path / "ishigami.toml")]) == 0
    doc = report_json(tmp_path / "ishigami-report" / "report.json")
    kinds = [s["kind"] for s in doc["sections"]]
    for k in ("parameters", "model", "sobol", "morris", "pce", "table", "store", "counts"):
        assert k in kinds, k
    # Ishigami total index of x3: 0.2437 (closed form); Saltelli n=512 SE ~ 0.03
    t = table(doc, "Indices of y")
    assert abs(t[("x3", "total")] - 0.2437) < 0.1


def test_example_study_command_template(tmp_path):
    for f in ("command.toml", "beam.py"):
        shutil.copy(STUDIES / f, tmp_path)
    assert main(["run", "-q", str(tmp_path / "command.toml")]) == 0
    doc = report_json(tmp_path / "cantilever-report" / "report.json")
    t = table(doc, "Moments and validation error (corrected leave-one-out)")
    # deflection = P L^3 / (3 E I): mean ~ 1000 * 1.01 / (3 * 1.94e11 * 5.2e-7) ~ 3.3 mm
    assert 2.5e-3 < t[("deflection", "mean")] < 4.5e-3
    with uqkit.Store(tmp_path / "cantilever.db") as store:
        summary = store.summary()
    # Morris (6 x 4 grid rows, repeats evaluated once) + 24 PCE points, no failures
    assert 24 < summary["ok"].sum() <= 6 * 4 + 24 and summary["failed"].sum() == 0


def test_example_study_umbridge(tmp_path):
    model, _, _ = uqkit.examples.ishigami()
    server = uqkit.serve(model, port=0, block=False)
    try:
        text = (STUDIES / "umbridge.toml").read_text(encoding="utf-8")
        assert "http://127.0.0.1:4242" in text
        (tmp_path / "umbridge.toml").write_text(
            text.replace("http://127.0.0.1:4242", server.url), encoding="utf-8")
        assert main(["run", "-q", str(tmp_path / "umbridge.toml")]) == 0
    finally:
        server.close()
    doc = report_json(tmp_path / "ishigami-umbridge-report" / "report.json")
    t = table(doc, "Indices of y")
    ref = uqkit.sobol(model, uqkit.examples.ishigami().parameters, 64, rng=3)
    assert t[("x1", "first")] == ref.first.loc["x1", "y"]  # same design, same numbers


def test_check_option_runs_nothing(tmp_path, side_log, capsys):
    study = write(tmp_path, TOY_STUDY)
    assert main(["run", "--check", str(study)]) == 0
    assert "OK" in capsys.readouterr().out
    assert log_lines(side_log) == [] and not (tmp_path / "toy.db").exists()


def test_changed_study_on_the_same_store_is_refused_naming_the_field(tmp_path, side_log,
                                                                    capsys):
    study = write(tmp_path, TOY_STUDY)
    assert main(["run", "-q", str(study)]) == 0
    calls = len(log_lines(side_log))
    study.write_text(TOY_STUDY.replace("seed = 5", "seed = 6"))
    capsys.readouterr()
    assert main(["run", "-q", str(study)]) == 2
    err = capsys.readouterr().err
    assert "seed=5" in err and "seed=6" in err
    assert len(log_lines(side_log)) == calls  # refused before any model call (A7)


def test_thread_executor_with_workers(tmp_path, side_log):
    study = write(tmp_path, TOY_STUDY.replace('store = "toy.db"',
                                              'store = "toy.db"\nexecutor = "threads"\n'
                                              'workers = 2\non_failure = "skip"'))
    assert main(["run", "-q", str(study)]) == 0
    assert len(log_lines(side_log)) == 160


@pytest.mark.slow
def test_dask_local_cluster_on_loopback(tmp_path, side_log):
    pytest.importorskip("distributed")
    study = write(tmp_path, TOY_STUDY.replace('store = "toy.db"',
                                              'store = "toy.db"\nexecutor = "dask"\n'
                                              'workers = 2'))
    assert main(["run", "-q", str(study)]) == 0
    assert len(log_lines(side_log)) == 160


def test_model_module_beside_the_study_file_reaches_process_workers(tmp_path):
    (tmp_path / "my_local_model.py").write_text(textwrap.dedent("""\
        import numpy as np
        import uqkit

        def f(X):
            return np.asarray(X)[:, :1] ** 2 + np.asarray(X)[:, 1:2]

        model = uqkit.as_model(f, inputs=("u", "v"), outputs=("y",), vectorized=True,
                               name="local", version="1")
        """))
    study = write(tmp_path, """\
        [model]
        entry_point = "my_local_model:model"
        [parameters]
        u = { dist = "Uniform", low = 0, high = 1 }
        v = { dist = "Uniform", low = 0, high = 1 }
        [analyses.sobol]
        n = 16
        [runner]
        executor = "processes"
        workers = 2
        store = "local.db"
        """)
    assert main(["run", "-q", str(study)]) == 0
    with uqkit.Store(tmp_path / "local.db") as store:
        assert store.summary().loc["local", "ok"] == 16 * 4


def test_cluster_started_by_uqkit_listens_on_loopback_only():
    """Security point 4: scheduler, workers and dashboard of a uqkit-started cluster bind
    127.0.0.1."""
    pytest.importorskip("distributed")
    from uqkit.cli._execute import local_dask_cluster

    with local_dask_cluster(1) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in cluster.scheduler_info["workers"])
