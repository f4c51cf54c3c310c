"""RELIABILITY A2 for the command line: SIGINT stops ``uqkit run`` cleanly (exit 130,
no row left running) and a rerun resumes with 0 model calls for the stored keys,
giving the same report as an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
from _toy import log_lines
from conftest import start_python, subprocess_env

import uqkit

STUDY = """\
[study]
name = "a2"
seed = 11

[model]
entry_point = "_studymodels:toy"

[parameters]
x1 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}
x2 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}
x3 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}

[analyses.sobol]
n = 64

[runner]
executor = "{executor}"
store = "{store}"
{workers}
[report]
path = "{report}"
"""


def indices(report_json) -> dict:
    doc = json.loads(open(report_json, encoding="utf-8").read())
    for s in doc["sections"]:
        for b in s["blocks"]:
            if b["type"] == "table" and b["name"] == "Indices of y":
                return {"index": b["index"], "data": b["data"]}
    raise KeyError("Indices of y")


def test_a2_sigint_exits_130_and_rerun_resumes(tmp_path):
    log = tmp_path / "calls.log"
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(executor="processes", workers="workers = 2",
                                  store="a2.db", report="out/report.html"))
    env = subprocess_env(UQKIT_TEST_LOG=str(log), UQKIT_TEST_SLEEP="0.01")
    proc = start_python(["-m", "uqkit.cli", "run", "-q", str(study)], env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(log_lines(log)) < 60 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"run the same command again to resume" in err
    assert b"Traceback" not in err
    first_calls = log_lines(log)
    with uqkit.Store(tmp_path / "a2.db") as store:
        assert store.info()["running_claims"] == 0
        df = store.to_dataframe()
        assert "running" not in set(df["status"])
        done = df[df["status"] == "ok"]
        stored = {np.ascontiguousarray(r, "<f8").tobytes().hex()
                  for r in done[["x1", "x2", "x3"]].to_numpy()}
    n_total = 64 * 5
    assert 0 < len(stored) < n_total
    # rerun: completes, never calls the model on a stored key
    done_run = subprocess.run([sys.executable, "-m", "uqkit.cli", "run", "-q", str(study)],
                              env=env, capture_output=True, timeout=300)
    assert done_run.returncode == 0, done_run.stderr.decode()
    second = log_lines(log)[len(first_calls):]
    assert not stored & set(second)
    assert len(stored) + len(second) == n_total  # at most the in-flight rows ran twice
    # the same indices as an uninterrupted run of the same study (in process, no sleep)
    ref_study = tmp_path / "ref.toml"
    ref_study.write_text(STUDY.format(executor="in-process", workers="", store="ref.db",
                                      report="ref/report.html"))
    ref = subprocess.run([sys.executable, "-m", "uqkit.cli", "run", "-q", str(ref_study)],
                         env=subprocess_env(UQKIT_TEST_LOG=str(tmp_path / "ref.log")),
                         capture_output=True, timeout=300)
    assert ref.returncode == 0, ref.stderr.decode()
    assert indices(tmp_path / "out" / "report.json") == indices(tmp_path / "ref" /
                                                                "report.json")
