"""CommandModel: construction checks, templates, failures and security (RELIABILITY B4-B6,
E4, E5, I6, security 1, 2 and 8). The simulators are real executables in tests/fakesim."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"
SIM = str(FAKESIM / "sim.py")
IN_JSON = '{"a": {{ a }}, "b": {{b}}, "fault": {{ fault }}}'


def sim_model(tmp_path, **kw):
    kw.setdefault("workdir", tmp_path / "study")
    return uqkit.CommandModel(
        [sys.executable, SIM], inputs=["a", "b", "fault"], outputs=["y1", "y2"],
        files={"in.json": IN_JSON}, parse=parsers.json("out.json", keys=["y1", "y2"]), **kw)


def failure(model, row):
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([row])
    return info.value


# ---------------------------------------------------------------- happy path
def test_evaluates_rows_and_cleans_work_directories(tmp_path):
    model = sim_model(tmp_path)
    Y = model([[1.0, 2.0, 0], [0.5, -4.0, 0]])
    np.testing.assert_array_equal(Y, [[3.0, 2.0], [-3.5, -2.0]])
    assert model.vectorized is False
    assert list((tmp_path / "study").iterdir()) == []  # keep="failed": successes removed


def test_public_names_and_repr(tmp_path):
    model = sim_model(tmp_path)
    assert uqkit.models.CommandModel is uqkit.CommandModel
    assert model.name == "sim.py" and "sim.py" in repr(model)
    assert "&lt;" not in model._repr_html_() and "CommandModel" in model._repr_html_()


def test_work_directory_named_by_id_mode_0700_with_captured_output(tmp_path):
    model = sim_model(tmp_path, keep="all")
    model([[1.25, 2.0, 0]])
    (wd,) = (tmp_path / "study").iterdir()
    assert wd.name.startswith("eval-") and "1.25" not in wd.name
    assert stat.S_IMODE(wd.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "study").stat().st_mode) == 0o700
    assert (wd / "stdout.txt").read_text() == "y1 = 3.25\n"
    assert (wd / "stderr.txt").read_text() == ""
    assert json.loads((wd / "in.json").read_text()) == {"a": 1.25, "b": 2.0, "fault": 0.0}


def test_values_round_trip_exactly_i6(tmp_path):
    """I6: 10,000 random doubles over many magnitudes parse back bit-exactly from the file."""
    rng = np.random.default_rng(6)
    values = rng.standard_normal(10_000) * 10.0 ** rng.integers(-300, 300, 10_000)
    values[:6] = [5e-324, 1.7976931348623157e308, -0.0, 0.1 + 0.2, 1 / 3, -2.5e-310]
    from uqkit.models._templates import Template

    tmpl = Template("x = {{ x }}\n", "file")
    for v in values:
        text = tmpl.render({"x": v})
        back = float(text[4:])
        assert back.hex() == float(v).hex() and math.copysign(1, back) == math.copysign(1, v)
    # and through a real simulator: the C side parses it back with strtod
    model = uqkit.CommandModel(
        [sys.executable, "-c", "import sys; print(float(open('x.txt').read()).hex())"],
        inputs=["x"], outputs=["y"], files={"x.txt": "{{ x }}"},
        parse=_HexParser(), workdir=tmp_path)
    for v in values[:20]:
        assert model([[v]])[0, 0] == v


class _HexParser:
    def __call__(self, workdir):
        return float.fromhex((workdir / "stdout.txt").read_text().strip())


def test_single_braces_copied_verbatim(tmp_path):
    hoc = "proc f() { x = {{ a }} }\n{ y = {1, 2} }\n%% {{{b}}} {{ a }}"
    model = uqkit.CommandModel(
        [sys.executable, "-c", "print(open('m.hoc').read())"], inputs=["a", "b"],
        outputs=["y"], files={"m.hoc": hoc}, parse=parsers.regex(r"x = (\S+)"),
        workdir=tmp_path, keep="all")
    assert model([[0.5, 2.0]])[0, 0] == 0.5
    (wd,) = tmp_path.iterdir()
    assert (wd / "m.hoc").read_text() == "proc f() { x = 0.5 }\n{ y = {1, 2} }\n%% {2.0} 0.5"


def test_template_file_path_and_subdirectory(tmp_path):
    tpl = tmp_path / "input.tpl"
    tpl.write_text("a={{a}}")
    model = uqkit.CommandModel(
        [sys.executable, "-c", "print(open('conf/in.txt').read()[2:])"], inputs=["a"],
        outputs=["y"], files={"conf/in.txt": tpl}, parse=parsers.numbers("stdout.txt"),
        workdir=tmp_path / "s")
    assert model([[7.0]])[0, 0] == 7.0


def test_vector_output_from_numbers_and_table(tmp_path):
    code = "print(*[i * float(open('a').read()) for i in range(4)])"
    model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs={"V": 4},
                               files={"a": "{{a}}"}, parse=parsers.numbers("stdout.txt"),
                               workdir=tmp_path)
    assert model.outputs == ("V[0]", "V[1]", "V[2]", "V[3]")
    np.testing.assert_array_equal(model([[2.0]]), [[0.0, 2.0, 4.0, 6.0]])
    code = "a = float(open('a').read()); print('t,V'); [print(f'{i},{i * a}') for i in range(3)]"
    model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs={"V": 3},
                               files={"a": "{{a}}"}, parse=parsers.table("stdout.txt", ["V"]),
                               workdir=tmp_path)
    np.testing.assert_array_equal(model([[1.5]]), [[0.0, 1.5, 3.0]])


# ---------------------------------------------------------------- E4, E5: before any run
def test_undefined_placeholder_is_an_error(tmp_path):
    with pytest.raises(uqkit.InvalidParameterError, match=r"\{\{ c \}\} in file 'in.json'"):
        uqkit.CommandModel([sys.executable, SIM], inputs=["a", "b"], outputs=["y"],
                           files={"in.json": '{"a": {{a}}, "b": {{b}}, "c": {{ c }}}'},
                           parse=parsers.json("out.json"))
    with pytest.raises(uqkit.InvalidParameterError, match=r"argv\[2\]"):
        uqkit.CommandModel([sys.executable, SIM, "--x={{ x }}"], inputs=["a"],
                           outputs=["y"], files={"f": "{{a}}"}, parse=parsers.json("o"))


def test_malformed_placeholder_is_an_error():
    with pytest.raises(uqkit.InvalidParameterError, match="identifiers"):
        uqkit.CommandModel([sys.executable, SIM], inputs=["a"], outputs=["y"],
                           files={"in": "{{a}} {{ a-b }}"}, parse=parsers.json("o"))


def test_unused_parameter_warns():
    with pytest.warns(uqkit.UQKitWarning, match=r"\['b'\]"):
        uqkit.CommandModel([sys.executable, SIM], inputs=["a", "b"], outputs=["y"],
                           files={"in": "{{a}}"}, parse=parsers.json("o"))


def test_missing_or_non_executable_program_and_template(tmp_path):
    kw = dict(inputs=["a"], outputs=["y"], files={"in": "{{a}}"}, parse=parsers.json("o"))
    with pytest.raises(uqkit.InvalidParameterError, match="found on PATH"):
        uqkit.CommandModel(["no-such-simulator-xyz"], **kw)
    script = tmp_path / "sim.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(uqkit.InvalidParameterError, match="chmod"):
        uqkit.CommandModel([str(script)], **kw)
    with pytest.raises(uqkit.InvalidParameterError, match="existing program"):
        uqkit.CommandModel([str(tmp_path / "missing")], **kw)
    with pytest.raises(uqkit.InvalidParameterError, match="readable template"):
        uqkit.CommandModel([sys.executable], inputs=["a"], outputs=["y"],
                           files={"in": tmp_path / "nope.tpl"}, parse=parsers.json("o"))


def test_shell_string_rejected():
    with pytest.raises(uqkit.InvalidParameterError, match="never a shell"):
        uqkit.CommandModel("sim --a {{ a }}", inputs=["a"], outputs=["y"],
                           parse=parsers.json("o"))


@pytest.mark.parametrize("bad", ["a b", "a;b", "$(x)", "a`b`", "../a", "a\nb", "a\x00b", "",
                                 "1a", "a{"])
def test_bad_parameter_names_rejected(bad):
    with pytest.raises(uqkit.InvalidParameterError, match="identifier"):
        uqkit.CommandModel([sys.executable, SIM], inputs=[bad], outputs=["y"],
                           parse=parsers.json("o"))


# ---------------------------------------------------------------- security 1: no shell
def test_argv_passed_literally_without_shell(tmp_path, monkeypatch):
    """Security 1: metacharacters reach the program byte for byte; nothing is executed."""
    monkeypatch.chdir(tmp_path)
    nasty = ["; touch pwned", "$(touch pwned)", "`touch pwned`", "a\nb", "../x", "*", "'\"",
             "--v={{ v }};touch pwned", "{{v}}|touch pwned"]
    model = uqkit.CommandModel([sys.executable, str(FAKESIM / "argv.py"), *nasty],
                               inputs=["v"], outputs=["y"], parse=parsers.numbers("stdout.txt"),
                               workdir=tmp_path / "s", keep="all")
    assert model([[2.5]])[0, 0] == 1.0
    (wd,) = (tmp_path / "s").iterdir()
    got = [bytes.fromhex(h).decode() for h in json.loads((wd / "argv.json").read_text())]
    assert got == [*nasty[:7], "--v=2.5;touch pwned", "2.5|touch pwned"]
    assert not any(p.name == "pwned" for p in tmp_path.rglob("*"))


# ---------------------------------------------------------------- security 2: work dirs
def test_support_files_copied_linked_and_paths_outside_rejected(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "mesh").mkdir(parents=True)
    (project / "mesh" / "m.txt").write_text("4.0")
    (project / "table.txt").write_text("3.0")
    outside = tmp_path / "secret.txt"
    outside.write_text("0")
    monkeypatch.chdir(project)
    code = "print(float(open('table.txt').read()) * float(open('m/m.txt').read()) * {{ a }})"
    model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs=["y"],
                               parse=parsers.numbers("stdout.txt"), copy_files=["table.txt"],
                               link_files={"m": "mesh"}, workdir=tmp_path / "s")
    assert model([[0.5]])[0, 0] == 6.0
    (project / "mesh" / "m.txt").write_text("4.0")
    assert (project / "mesh" / "m.txt").exists()  # cleanup did not follow the link
    kw = dict(inputs=["a"], outputs=["y"], files={"f": "{{a}}"}, parse=parsers.json("o"))
    for bad in ("../secret.txt", str(outside), "mesh/../../secret.txt"):
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.CommandModel([sys.executable], copy_files=[bad], **kw)
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.CommandModel([sys.executable], link_files={"x": bad}, **kw)
    for bad in ("../in", "/tmp/in", "stdout.txt"):
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.CommandModel([sys.executable], inputs=["a"], outputs=["y"],
                               files={bad: "{{a}}"}, parse=parsers.json("o"))


def test_cleanup_never_follows_symlinks_out(tmp_path, monkeypatch):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    code = f"import os; os.symlink({str(precious)!r}, 'escape'); print(1.0)"
    model = uqkit.CommandModel([sys.executable, "-c", code + "#{{a}}"], inputs=["a"],
                               outputs=["y"], parse=parsers.numbers("stdout.txt"),
                               workdir=tmp_path / "s")
    model([[1.0]])
    assert (precious / "data.txt").read_text() == "keep me"
    assert list((tmp_path / "s").iterdir()) == []


# ---------------------------------------------------------------- B4, B5, B6, D3, D4
def test_nonzero_exit_records_code_stderr_and_keeps_directory(tmp_path):
    exc = failure(sim_model(tmp_path), [1.0, 2.0, 1])
    assert exc.kind == "nonzero_exit" and exc.retryable
    assert exc.details["returncode"] == 3
    assert "diverged at step 17" in exc.details["stderr_tail"]
    assert "diverged at step 17" in str(exc) and exc.details["duration"] > 0
    assert Path(exc.details["workdir"]).is_dir()  # keep="failed"


@pytest.mark.parametrize("fault,sig", [(2, 11), (3, 9)])
def test_signal_death_is_a_failure_b4(tmp_path, fault, sig):
    exc = failure(sim_model(tmp_path), [1.0, 2.0, fault])
    assert exc.kind == "signal"
    assert exc.details["signal"] == sig and exc.details["returncode"] == -sig


def test_compiled_c_program_segfault_b4(tmp_path):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "segv"
    subprocess.run([gcc, "-O0", "-o", str(exe), str(FAKESIM / "segv.c")], check=True)
    model = uqkit.CommandModel([str(exe), "{{ x }}"], inputs=["x"], outputs=["y"],
                               parse=parsers.numbers("stdout.txt"), workdir=tmp_path / "s")
    assert model([[0.25]])[0, 0] == 0.5
    exc = failure(model, [-1.0])
    assert exc.kind == "signal" and exc.details["signal"] == 11


@pytest.mark.parametrize("fault,kind", [(6, "shape_mismatch"), (7, "missing_output"),
                                        (8, "missing_output"), (9, "parse_error"),
                                        (11, "wrong_type")])
def test_bad_outputs_are_never_read_as_zeros_b5(tmp_path, fault, kind):
    model = uqkit.CommandModel(
        [sys.executable, SIM], inputs=["a", "b", "fault"], outputs=["y1", "y2"],
        files={"in.json": IN_JSON}, parse=parsers.json("out.json"), workdir=tmp_path)
    exc = failure(model, [1.0, 2.0, fault])
    assert exc.kind == kind, exc
    assert not exc.retryable


def test_shape_mismatch_names_both_shapes_d3(tmp_path):
    model = uqkit.CommandModel([sys.executable, "-c", "print(1, 2)#{{a}}"], inputs=["a"],
                               outputs=["y1", "y2", "y3"], parse=parsers.numbers("stdout.txt"),
                               workdir=tmp_path)
    exc = failure(model, [1.0])
    assert exc.kind == "shape_mismatch" and "(2,) vs" in str(exc) and "(3,)" in str(exc)


def test_nan_output_is_passed_on_not_hidden(tmp_path):
    Y = sim_model(tmp_path)([[1.0, 2.0, 5]])
    assert Y[0, 0] == 3.0 and np.isnan(Y[0, 1])


class _RaisingParser:
    def __call__(self, workdir):
        raise KeyError("column 'apd90' missing")


def test_user_parser_raising_fails_only_that_evaluation_b6(tmp_path):
    model = uqkit.CommandModel([sys.executable, SIM], inputs=["a", "b", "fault"],
                               outputs=["y"], files={"in.json": IN_JSON},
                               parse=_RaisingParser(), workdir=tmp_path)
    exc = failure(model, [1.0, 2.0, 0])
    assert exc.kind == "parse_error" and "KeyError" in str(exc) and "apd90" in str(exc)
    assert not exc.retryable


def test_keep_none_removes_failed_directories(tmp_path):
    model = sim_model(tmp_path, keep="none")
    exc = failure(model, [1.0, 2.0, 1])
    assert "workdir" not in exc.details
    assert list((tmp_path / "study").iterdir()) == []


def test_failure_pickles_with_details(tmp_path):
    exc = failure(sim_model(tmp_path), [1.0, 2.0, 1])
    back = pickle.loads(pickle.dumps(exc))  # noqa: TID251 (our own objects, not stored data)
    assert back.kind == "nonzero_exit" and back.details["returncode"] == 3


# ---------------------------------------------------------------- identity
def test_identity_tracks_executable_templates_and_command(tmp_path):
    script = tmp_path / "sim.py"
    script.write_text((FAKESIM / "sim.py").read_text())
    kw = dict(inputs=["a", "b", "fault"], outputs=["y1", "y2"], files={"in.json": IN_JSON},
              parse=parsers.json("out.json"))
    m1 = uqkit.CommandModel([sys.executable, str(script)], **kw)
    assert m1.identity == uqkit.CommandModel([sys.executable, str(script)], **kw).identity
    script.write_text(script.read_text() + "\n# patched\n")
    m2 = uqkit.CommandModel([sys.executable, str(script)], **kw)
    assert m2.identity != m1.identity  # changed simulator: never served from the old cache
    m3 = uqkit.CommandModel([sys.executable, str(script)], **{
        **kw, "files": {"in.json": IN_JSON + " "}})
    assert m3.identity not in (m1.identity, m2.identity)
    m4 = uqkit.CommandModel([sys.executable, str(script), "--fast"], **kw)
    assert m4.identity not in (m1.identity, m2.identity, m3.identity)
    m5 = uqkit.CommandModel([sys.executable, str(script)], version="2", **kw)
    assert m5.identity != m2.identity
    ids = {uqkit.models.model_identity(m)["id"] for m in (m1, m2, m3, m4, m5)}
    assert len(ids) == 5
    assert len(m1.executable_sha256) == 64


def test_picklable_for_process_pools(tmp_path):
    model = sim_model(tmp_path)
    for dumps in (pickle.dumps, cloudpickle.dumps):
        clone = pickle.loads(dumps(model))  # noqa: TID251 (our own objects, not stored data)
        np.testing.assert_array_equal(clone([[1.0, 2.0, 0]]), [[3.0, 2.0]])
        assert clone.identity == model.identity


# ---------------------------------------------------------------- security 8: env and limits
def test_environment_allowlist(tmp_path, monkeypatch):
    monkeypatch.setenv("UQKIT_SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("UQKIT_VISIBLE", "yes")
    code = ("import os, json; json.dump(dict(os.environ), open('env.json', 'w')); print(1)"
            "#{{a}}")
    kw = dict(inputs=["a"], outputs=["y"], parse=_EnvParser(), workdir=tmp_path)
    env = uqkit.CommandModel([sys.executable, "-c", code], inherit_env=["UQKIT_VISIBLE"],
                             env={"OMP_NUM_THREADS": "1"}, **kw)
    env([[1.0]])
    seen = _EnvParser.last
    assert seen.get("UQKIT_VISIBLE") == "yes" and seen.get("OMP_NUM_THREADS") == "1"
    assert "UQKIT_SECRET_TOKEN" not in seen and "HOME" not in seen
    uqkit.CommandModel([sys.executable, "-c", code], **kw)([[1.0]])
    assert _EnvParser.last.get("UQKIT_SECRET_TOKEN") == "hunter2"  # default: inherited


class _EnvParser:
    last: dict = {}

    def __call__(self, workdir):
        _EnvParser.last = json.loads((workdir / "env.json").read_text())
        return 1.0


def test_resource_limits_reach_the_simulator(tmp_path):
    code = ("import resource as r; print(r.getrlimit(r.RLIMIT_AS)[0], "
            "r.getrlimit(r.RLIMIT_NPROC)[0], r.getrlimit(r.RLIMIT_FSIZE)[0])#{{a}}")
    model = uqkit.CommandModel(
        [sys.executable, "-c", code], inputs=["a"], outputs=["as_", "nproc", "fsize"],
        parse=parsers.numbers("stdout.txt"), workdir=tmp_path,
        limits={"memory": 2**31, "processes": 4096, "output": 2**20})
    np.testing.assert_array_equal(model([[1.0]]), [[2**31, 4096, 2**20]])


def test_memory_limit_stops_a_hog(tmp_path):
    code = "x = bytearray(2 * 1024**3)#{{a}}"
    model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs=["y"],
                               parse=parsers.numbers("stdout.txt"), workdir=tmp_path,
                               limits={"memory": 512 * 2**20})
    exc = failure(model, [1.0])
    assert exc.kind == "nonzero_exit" and "MemoryError" in exc.details["stderr_tail"]


def test_output_cap_stops_a_flood(tmp_path):
    """Security 8: a per-file output cap (RLIMIT_FSIZE); SIGXFSZ or EFBIG both classified."""
    flood = uqkit.CommandModel(
        [str(FAKESIM / "flood.sh"), "{{ a }}"], inputs=["a"], outputs=["y"],
        parse=parsers.numbers("out.txt"), env={"FLOOD_BYTES": str(50 * 2**20)},
        workdir=tmp_path, limits={"output": 2**20})
    code = "import sys; sys.stdout.write('x' * (8 * 2**20)); sys.stdout.flush()#{{a}}"
    python = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs=["y"],
                                parse=parsers.numbers("stdout.txt"), workdir=tmp_path,
                                limits={"output": 2**20})
    for model in (flood, python):
        exc = failure(model, [1.0])
        assert exc.kind == "output_limit" and "output size limit" in str(exc)
        assert Path(exc.details["workdir"], "stdout.txt").stat().st_size <= 2**20
    assert exc.details["signal"] is None  # Python ignores SIGXFSZ


def test_invalid_options_rejected():
    kw = dict(inputs=["a"], outputs=["y"], files={"f": "{{a}}"}, parse=parsers.json("o"))
    for bad in (dict(timeout=0), dict(timeout=-1), dict(keep="some"), dict(env={"A": 1}),
                dict(limits={"ram": 1}), dict(limits={"memory": -5}), dict(inherit_env="PATH"),
                dict(parse=None)):
        with pytest.raises(uqkit.InvalidParameterError):
            uqkit.CommandModel([sys.executable], **{**kw, **bad})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uqkit.CommandModel([sys.executable], **kw)


def test_relative_script_path_warns_and_is_not_rewritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sim.py").write_text("print(1.0)")
    (tmp_path / "out.json").write_text("{}")  # a stray file named like an output
    with pytest.warns(uqkit.UQKitWarning, match="absolute path"):
        model = uqkit.CommandModel([sys.executable, "sim.py", "{{ a }}"], inputs=["a"],
                                   outputs=["y"], parse=parsers.numbers("stdout.txt"))
    assert model.command[1] == "sim.py"
    model = uqkit.CommandModel([sys.executable, "sim.py", "{{ a }}"], inputs=["a"],
                               outputs=["y"], parse=parsers.numbers("stdout.txt"),
                               copy_files=["sim.py"], workdir=tmp_path / "s")
    assert model([[2.0]])[0, 0] == 1.0


def test_default_study_folder_is_private(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from uqkit.models import _command_support as _command

    monkeypatch.setattr(_command, "_default_dir", {})
    hostile = tmp_path / f"uqkit-{os.getuid()}"
    hostile.mkdir(mode=0o777)
    hostile.chmod(0o777)  # pre-created by "someone else", world-writable
    model = uqkit.CommandModel([sys.executable, "-c", "print(1)#{{a}}"], inputs=["a"],
                               outputs=["y"], parse=parsers.numbers("stdout.txt"), keep="all")
    model([[1.0]])
    assert list(hostile.iterdir()) == []  # not used
    private = _command._default_dir[os.getpid()]
    assert private != hostile and stat.S_IMODE(private.stat().st_mode) == 0o700
    shutil.rmtree(private)


def test_format_specs_lossless_exact_and_lossy_warns(tmp_path):
    code = "print(open('in.txt').read())"
    kw = dict(inputs=["x", "n"], outputs=["x_back", "n_back"],
              parse=parsers.numbers("stdout.txt"), workdir=tmp_path, keep="all")
    exact = uqkit.CommandModel([sys.executable, "-c", code],
                               files={"in.txt": "{{ x:.17e }} {{n:d}}"}, **kw)
    v = 0.1 + 0.2
    np.testing.assert_array_equal(exact([[v, 12.0]]), [[v, 12.0]])
    (wd,) = tmp_path.iterdir()
    assert (wd / "in.txt").read_text() == f"{v:.17e} 12"
    with pytest.warns(uqkit.UQKitWarning, match=r"'\.6g'.*does not reproduce"):
        lossy = uqkit.CommandModel([sys.executable, "-c", code],
                                   files={"in.txt": "{{ x:.6g }} {{n:d}}"}, **kw)
    assert lossy([[v, 3.0]])[0, 0] == 0.3  # what the simulator saw
    with pytest.raises(uqkit.EvaluationFailure, match="not an integer") as info:
        exact([[v, 2.5]])
    assert info.value.kind == "invalid_input" and not info.value.retryable
    with pytest.raises(uqkit.InvalidParameterError, match="format spec"):
        uqkit.CommandModel([sys.executable, "-c", code],
                           files={"in.txt": "{{ x:.6q }} {{n}}"}, **kw)
