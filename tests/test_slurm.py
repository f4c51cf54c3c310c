"""The runner on a real SLURM (one node, started by ``.ci/slurm-up``).

Skipped, with the reason, when SLURM is not installed or does not start. The test with
a run past its walltime starts first, in a thread, and is checked last: SLURM checks
time limits about every 30 s with a 1-minute granularity, so that run takes 60-90 s,
during which the other tests use the node's other CPU.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import uqkit
from uqkit import parsers
from uqkit.runner._slurm import job_tag, slurm_executor, stored_jobs

pytestmark = pytest.mark.slurm
# the test models travel to SLURM jobs by value (tests/ is not on the jobs' path)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[1]
SLURM_UP = REPO / ".ci" / "slurm-up"


def _slurm_up() -> str | None:
    """Start SLURM with the CI script (never installing anything); None when it is up."""
    if sys.platform != "linux" or not SLURM_UP.exists():
        return "SLURM tests run on Linux with .ci/slurm-up"
    try:
        out = subprocess.run([str(SLURM_UP)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "SLURM_UP_NO_INSTALL": "1"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f".ci/slurm-up failed: {exc}"
    if out.returncode != 0:
        return "SLURM is not available: " + (out.stderr.strip().splitlines() or ["?"])[-1]
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = _slurm_up()
    if reason is not None:
        pytest.skip(reason)


def _names() -> str:
    return f"uqkit-test-{uuid.uuid4().hex[:6]}"


def _scancel(name: str) -> None:
    subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM keyindex WHERE status = 0").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


class Sleeper:
    """y = a + 2 b after ``seconds``, appending ``a`` and its SLURM job to ``log``."""

    inputs = ("a", "b")
    outputs = ("y",)
    vectorized = False

    def __init__(self, log: Path, seconds: float, name: str = "sleeper") -> None:
        self.log, self.seconds, self.name = str(log), seconds, name

    def __call__(self, X):
        X = np.atleast_2d(np.asarray(X, dtype=float))
        with open(self.log, "a") as fh:
            fh.write(f"{X[0, 0]:g} {os.environ.get('SLURM_JOB_ID', '-')}\n")
        time.sleep(self.seconds)
        return X[:, :1] + 2 * X[:, 1:2]


def _calls(log: Path) -> list[tuple[float, str]]:
    if not log.exists():
        return []
    return [(float(a), j) for a, j in (line.split() for line in log.read_text().splitlines())]


# -- the walltime test runs in the background while the others run ------------------------------
@pytest.fixture(scope="module")
def walltime_run(slurm, tmp_path_factory):
    """One run of 150 s in a SLURM job of walltime 1 minute (submitit), started now."""
    tmp = tmp_path_factory.mktemp("walltime")
    name = job_tag(tmp / "w.db")  # named after its store, as `uqkit run` does
    ex = slurm_executor(backend="submitit", walltime=1, memory="200MB", max_jobs=1,
                        job_name=name, folder=tmp / "logs")
    out: dict = {"db": tmp / "w.db"}

    def run():
        with uqkit.Runner(executor=ex, store=out["db"], on_failure="skip",
                          progress=False) as runner:
            out["ev"] = runner.evaluate(Sleeper(tmp / "calls.log", 150.0), [[1.0, 2.0]])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    out["thread"] = thread
    yield out
    ex.shutdown(cancel_futures=True)
    _scancel(name)


@pytest.fixture(scope="class")
def dask_client(slurm, walltime_run, tmp_path_factory):
    """A SLURMCluster of one single-core worker job, kept at one job by adapt() (shut down
    after its class: the node has one CPU left while the walltime run holds the other)."""
    name = _names()
    client = slurm_executor(backend="dask", walltime=5, memory="1GB", min_jobs=1, max_jobs=1,
                            job_name=name, folder=tmp_path_factory.mktemp("dask") / "logs")
    client.uqkit_job_name = name
    yield client
    client.shutdown()
    _scancel(name)


class TestDaskOnSlurm:
    """Runner(executor=client) with the client of a dask_jobqueue.SLURMCluster."""

    def test_study_through_slurm_cluster(self, dask_client, tmp_path):
        db = tmp_path / "s.db"
        X = np.column_stack([np.arange(8.0), np.ones(8)])
        with uqkit.Runner(executor=dask_client, store=db, progress=False) as runner:
            assert runner.n_workers == 1
            ev = runner.evaluate(Sleeper(tmp_path / "calls.log", 0.05), X)
        np.testing.assert_array_equal(ev.Y[:, 0], X[:, 0] + 2.0)
        assert ev.n_new == 8
        with uqkit.Store(db) as store:
            df = store.to_dataframe("sleeper")
            jobs = stored_jobs(store)
        assert (df.status == "ok").sum() == 8
        # each result records the SLURM job (and node) that computed it
        assert len(jobs) == 8 and jobs.job_id.str.fullmatch(r"\d+").all()
        assert set(jobs.node) == {socket.gethostname().split(".")[0]}
        assert set(jobs.state) == {"RUNNING"}
        assert set(jobs.job_id) == {j for _, j in _calls(tmp_path / "calls.log")}


    def test_scancel_of_a_worker_job_mid_study(self, dask_client, tmp_path):
        """Nothing stored is lost or re-run; the killed job's in-flight runs are re-queued
        (recorded as ``worker_lost`` with the job id) and finish on the replacement job."""
        db, log = tmp_path / "s.db", tmp_path / "calls.log"
        X = np.column_stack([np.arange(10.0), np.zeros(10)])
        killed: dict = {}

        def kill():
            if _wait(lambda: _stored(db) >= 3, 60):
                killed["stored"] = _stored(db)
                out = subprocess.run(["squeue", "-h", "--name", dask_client.uqkit_job_name,
                                      "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True)
                killed["jobs"] = out.stdout.split()
                subprocess.run(["scancel", *killed["jobs"]], check=True)
                killed["calls"] = len(_calls(log))

        killer = threading.Thread(target=kill)
        killer.start()
        with uqkit.Runner(executor=dask_client, store=db, progress=False) as runner:
            ev = runner.evaluate(Sleeper(log, 0.4), X)
        killer.join()
        assert killed.get("jobs"), "no worker job was running to be cancelled"
        assert ev.ok.all() and ev.n_new == 10
        np.testing.assert_array_equal(ev.Y[:, 0], X[:, 0])
        calls = _calls(log)
        inputs = [a for a, _ in calls]
        assert max(inputs.count(a) for a in set(inputs)) <= 1 + 2  # re-queued at most twice
        assert len(calls) - len(set(inputs)) <= 2  # only the in-flight runs ran again
        with uqkit.Store(db) as store:
            fails = store.to_dataframe("sleeper", failures=True)
            assert (store.to_dataframe("sleeper").status == "ok").sum() == 10
        lost = fails[fails.kind == "worker_lost"]
        assert 1 <= len(lost) <= 2
        for details in lost.details:
            assert details["slurm"]["job_id"] in killed["jobs"]
            assert details["slurm"]["state"] in ("CANCELLED", "COMPLETING", "RUNNING")
        # the runs after the kill ran in another job
        assert {j for _, j in calls[killed["calls"]:]} - set(killed["jobs"])


def test_store_info_lists_the_jobs_in_flight(walltime_run, capsys):
    """While the walltime run's job is running (it holds its claim), store info shows it."""
    from uqkit.cli import main

    db = walltime_run["db"]
    assert _wait(lambda: db.exists() and "RUNNING" in subprocess.run(
        ["squeue", "-h", "--name", job_tag(db), "-o", "%T"], capture_output=True,
        text=True).stdout, 30)
    capsys.readouterr()
    assert main(["store", "info", str(db)]) == 0
    text = capsys.readouterr().out
    assert f"slurm jobs  1 in flight ({job_tag(db)})" in text
    assert "RUNNING on " in text and "of 1:00" in text


DRIVER = """\
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
import uqkit
from test_slurm import Sleeper
from uqkit.runner._slurm import slurm_executor

client = slurm_executor(backend="dask", walltime=5, memory="1GB", min_jobs=1, max_jobs=1,
                        job_name={name!r}, folder={logs!r})
X = np.column_stack([np.arange(12.0), np.ones(12)])
runner = uqkit.Runner(executor=client, store={db!r}, progress=False)
ev = runner.evaluate(Sleeper({log!r}, 0.3), X)
np.save({out!r}, ev.Y)
client.shutdown()
"""


def test_driver_sigkilled_and_rerun(slurm, walltime_run, tmp_path):
    """The driver (and its Dask scheduler) dies by SIGKILL mid-study; the rerun evaluates
    only what was not stored: 0 re-runs of stored inputs."""
    db, log, out = tmp_path / "s.db", tmp_path / "calls.log", tmp_path / "y.npy"
    name = _names()
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(Path(__file__).parent), name=name,
                                    logs=str(tmp_path / "logs"), db=str(db), log=str(log),
                                    out=str(out)))
    try:
        proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.DEVNULL)
        assert _wait(lambda: _stored(db) >= 4, 90), "no result was stored"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stored_before = _stored(db)
        _scancel(name)  # its worker job would linger until Dask's death timeout
        with uqkit.Store(db) as store:
            done = set(store.to_dataframe("sleeper").query("status == 'ok'").a)
        n_calls = len(_calls(log))
        rerun = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    finally:
        _scancel(name)
    after = [a for a, _ in _calls(log)[n_calls:]]
    assert not set(after) & done  # 0 re-runs of stored inputs
    assert len(after) == 12 - stored_before
    np.testing.assert_array_equal(np.load(out)[:, 0], np.arange(12.0) + 2.0)


def test_submitit_job_arrays_and_srun_inside(slurm, walltime_run, tmp_path):
    """One SLURM job per run, submitted as job arrays; a CommandModel calling ``srun``
    inside its job works; each result records its array job id, node and state."""
    name = _names()
    model = uqkit.CommandModel(
        ["srun", "--ntasks=1", sys.executable, "-c",
         "import os; print('y =', float(open('x.txt').read()) * 2, os.environ['SLURM_STEP_ID'])"],
        inputs=["x"], outputs=["y"], files={"x.txt": "{{ x }}"},
        parse=parsers.regex(r"y = (\S+)"), workdir=tmp_path / "runs", name="srun2x")
    ex = slurm_executor(backend="submitit", walltime=2, memory="200MB", max_jobs=4,
                        job_name=name, folder=tmp_path / "logs")
    try:
        with uqkit.Runner(executor=ex, store=tmp_path / "s.db", progress=False) as runner:
            ev = runner.evaluate(model, [[1.0], [2.0], [3.0], [4.0]])
        assert ev.ok.all()
        np.testing.assert_array_equal(ev.Y[:, 0], [2.0, 4.0, 6.0, 8.0])
        assert ex.arrays and max(n for n, _ in ex.arrays) >= 2  # batched into arrays
        assert sum(n for n, _ in ex.arrays) == 4
        with uqkit.Store(tmp_path / "s.db") as store:
            jobs = stored_jobs(store)
        assert len(jobs) == 4 and jobs.job_id.str.fullmatch(r"\d+_\d+").all()
        assert set(jobs.state) == {"COMPLETED"}
    finally:
        ex.shutdown(cancel_futures=True)
        _scancel(name)


STUDY = """\
[study]
name = "toy"
seed = 5

[model]
entry_point = "_studymodels:toy"

[parameters]
x1 = { dist = "Uniform", low = -3.14, high = 3.14 }
x2 = { dist = "Uniform", low = -3.14, high = 3.14 }
x3 = { dist = "Uniform", low = -3.14, high = 3.14 }

[analyses.morris]
n_trajectories = 2

[runner]
executor = "slurm"
backend = "dask"
walltime = "00:05:00"
memory = "500MB"
max_jobs = 1
store = "toy.db"

[report]
path = "out/report.html"
"""


def _study_text(extra: str = "") -> str:
    """The study above with the ``[runner]`` line ``extra`` replacing its key's line."""
    lines = STUDY.splitlines(keepends=True)
    if extra:
        key = extra.split("=")[0].strip()
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        lines.insert(next(i for i, line in enumerate(lines) if line.startswith("store =")),
                     extra)
    return "".join(lines)


def test_study_file_runs_on_slurm(slurm, walltime_run, tmp_path, monkeypatch, capsys):
    from uqkit.cli import main

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv("UQKIT_TEST_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("UQKIT_TEST_SLEEP", "0")
    # the study's model module imports tests/_toy.py: the jobs find it through PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    study = tmp_path / "study.toml"
    study.write_text(_study_text())
    name = job_tag(tmp_path / "toy.db")
    try:
        assert main(["run", str(study), "--quiet"]) == 0
    finally:
        _scancel(name)
    with uqkit.Store(tmp_path / "toy.db") as store:
        jobs = stored_jobs(store)
        n = (store.to_dataframe("toy").status == "ok").sum()
    assert n == 8 and len(jobs) == 8 and set(jobs.state) == {"RUNNING"}
    capsys.readouterr()
    assert main(["store", "info", str(tmp_path / "toy.db")]) == 0
    text = capsys.readouterr().out
    assert f"slurm jobs  0 in flight ({name})" in text
    assert "8 results from 1 SLURM jobs" in text


@pytest.mark.parametrize("extra, key, words", [
    ('partition = "nosuch"\n', "runner.partition", "unknown partition 'nosuch'"),
    ('cores = 512\n', "runner.cores", "exceeds the"),
])
def test_bad_slurm_configuration_in_a_study_file(slurm, tmp_path, capsys, extra, key, words):
    """Checked against sinfo before anything is submitted; the error names key and line."""
    from uqkit.cli import main

    study = tmp_path / "study.toml"
    study.write_text(_study_text(extra))
    line = 1 + _study_text(extra).splitlines().index(extra.strip())
    assert main(["run", str(study), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert key in err and words in err and f"study.toml:{line}:" in err, err
    assert not (tmp_path / "toy.db").exists() or _stored(tmp_path / "toy.db") == 0


def test_bad_slurm_configuration_in_python(slurm, tmp_path):
    with pytest.raises(uqkit.InvalidParameterError, match="'partition'.*unknown partition"):
        slurm_executor(partition="nosuch", folder=tmp_path)
    with pytest.raises(uqkit.InvalidParameterError, match="'walltime'.*too short to start"):
        slurm_executor(walltime="00:00:00", folder=tmp_path)
    with pytest.raises(uqkit.InvalidParameterError, match="'memory'.*exceeds"):
        slurm_executor(memory="100TB", folder=tmp_path)


def test_run_past_its_walltime_is_a_timeout_failure(walltime_run):
    """Checked last: the run started with the module (see walltime_run)."""
    walltime_run["thread"].join(timeout=150)
    assert not walltime_run["thread"].is_alive(), "the job was not killed at its walltime"
    ev = walltime_run["ev"]
    assert ev.status.tolist() == ["failed"] and ev.errors[0].startswith("timeout:")
    with uqkit.Store(walltime_run["db"]) as store:
        fails = store.to_dataframe(failures=True)
    assert fails.kind.tolist() == ["timeout"]
    slurm = fails.details[0]["slurm"]
    assert slurm["state"] == "TIMEOUT" and slurm["job_id"].isdigit()
    assert slurm["job_id"] in fails.message[0]


# -- without SLURM or without the extra -----------------------------------------------------
@pytest.mark.parametrize("backend, module", [("dask", "dask_jobqueue"),
                                             ("submitit", "submitit")])
def test_missing_extra_names_it(backend, module, monkeypatch, tmp_path):
    import uqkit.runner._slurm as sl

    monkeypatch.setitem(sys.modules, module, None)  # import fails
    monkeypatch.setattr(sl, "slurm_status", lambda: None)
    monkeypatch.setattr(sl, "check_request", lambda **kw: [])
    with pytest.raises(ImportError, match=r"uqkit\[hpc\]"):
        sl.slurm_executor(backend=backend, folder=tmp_path)


def test_study_file_slurm_keys_are_checked(tmp_path):
    from uqkit.cli._study import StudyFileError, parse_study

    def parse(extra, executor='"slurm"'):
        text = _study_text(extra).replace('executor = "slurm"', f"executor = {executor}")
        return parse_study(text, tmp_path / "s.toml")

    assert parse("").runner["slurm"]["backend"] == "dask"
    for extra, key, words in [('walltime = "00:00:00"\n', "runner.walltime", "too short"),
                              ('backend = "mpi"\n', "runner.backend", "must be one of"),
                              ('memory = "lots"\n', "runner.memory", "like \"4GB\""),
                              ('max_jobs = 0\n', "runner.max_jobs", ">= 1"),
                              ('workers = 2\n', "runner.workers", "max_jobs")]:
        with pytest.raises(StudyFileError, match=words) as info:
            parse(extra)
        line = 1 + _study_text(extra).splitlines().index(extra.strip())
        assert key in str(info.value) and f"s.toml:{line}:" in str(info.value)
    with pytest.raises(StudyFileError, match="needs executor"):
        parse("", executor='"processes"')
