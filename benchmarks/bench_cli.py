"""The cost of the study-file path (``uqkit run`` + report) against a hand-written script.

Same problem for everyone: Sobol' first and total indices of the Ishigami function
(``../shared/anchor-bench/common.py``), X ~ U(-pi, pi)^3, N = 2^k base samples,
no second order.

Rows:
1. SALib script: ``saltelli.sample`` + numpy evaluation + ``sobol.analyze`` (the
   anchor: what a user writes by hand, no store, no report).
2. ``uqkit.sobol`` in Python (no store).
3. ``uqkit run study.toml``: a fresh process, the study file parsed and checked, every
   evaluation committed to the SQLite store, the HTML report (figures) and JSON
   written, the report document kept in the store.
4. the same command again: every evaluation from the store (0 model calls).
5. ``uqkit report study.db``: the report rebuilt from the store alone.
6. ``uqkit.report`` on the result of row 2 (HTML + JSON, in process).

Also printed: the largest |S - S_exact| of each method (same estimator family; the
accuracy comparison of the estimators themselves is benchmarks/bench_sobol.py).

usage: python benchmarks/bench_cli.py [--n 4096] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the local uqkit
import uqkit  # noqa: E402

sys.path.insert(0, "/work/shared/anchor-bench")
try:
    from common import ishigami, ishigami_sobol, print_table
except ImportError:  # pragma: no cover - outside this machine
    def ishigami(x, a=7.0, b=0.1):
        x = np.atleast_2d(x)
        return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])

    def ishigami_sobol(a=7.0, b=0.1):
        pi = math.pi
        v1, v2 = 0.5 * (1 + b * pi**4 / 5) ** 2, a**2 / 8
        v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
        v = v1 + v2 + v13
        return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v

    def print_table(header, rows):
        print(" | ".join(header))
        for r in rows:
            print(" | ".join(map(str, r)))

STUDY = """\
[study]
name = "bench"
seed = 1
[model]
entry_point = "bench_cli_model:model"
[parameters]
x1 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}
x2 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}
x3 = {{ dist = "Uniform", low = -3.141592653589793, high = 3.141592653589793 }}
[analyses.sobol]
n = {n}
[runner]
store = "bench.db"
progress = false
[report]
path = "report.html"
"""

MODEL = """\
import numpy as np
import uqkit


def _f(X):
    return np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])


model = uqkit.as_model(_f, inputs=("x1", "x2", "x3"), outputs=("y",), vectorized=True,
                       name="ishigami", version="1")
"""


def salib(n):
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as ss

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-math.pi, math.pi]] * 3}
    X = ss.sample(problem, n, calc_second_order=False, seed=1)
    Y = ishigami(X)
    res = sa.analyze(problem, Y, calc_second_order=False, seed=1)
    return np.asarray(res["S1"]), np.asarray(res["ST"]), len(X)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.n
    s1_exact, st_exact = ishigami_sobol()
    params = uqkit.Parameters({f"x{i}": uqkit.Uniform(-math.pi, math.pi) for i in (1, 2, 3)})
    model = uqkit.as_model(lambda X: ishigami(X), inputs=("x1", "x2", "x3"), outputs=("y",),
                           vectorized=True, name="ishigami", version="1")
    times: dict[str, list[float]] = {k: [] for k in ("salib", "py", "run", "rerun", "report",
                                                     "pyreport")}
    errs: dict[str, float] = {}
    evals: dict[str, int] = {}
    import warnings

    warnings.filterwarnings("ignore")
    for _ in range(args.repeat):
        t = time.perf_counter()
        s1, st, ne = salib(n)
        times["salib"].append(time.perf_counter() - t)
        errs["salib"] = float(max(np.abs(s1 - s1_exact).max(), np.abs(st - st_exact).max()))
        evals["salib"] = ne
        t = time.perf_counter()
        res = uqkit.sobol(model, params, n, rng=1)
        times["py"].append(time.perf_counter() - t)
        errs["py"] = float(max(np.abs(res.first["y"].to_numpy() - s1_exact).max(),
                               np.abs(res.total["y"].to_numpy() - st_exact).max()))
        evals["py"] = res.n_evaluations
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "bench_cli_model.py").write_text(MODEL)
            (tmp / "study.toml").write_text(STUDY.format(n=n))
            cmd = [sys.executable, "-m", "uqkit.cli", "run", "-q", str(tmp / "study.toml")]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
            for key in ("run", "rerun"):
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=env)
                times[key].append(time.perf_counter() - t)
            with uqkit.Store(tmp / "bench.db") as store:
                evals["run"] = int(store.summary()["total"].sum())
            evals["rerun"] = 0
            doc = json.loads((tmp / "report.json").read_text())
            rows = {b["name"]: b for s in doc["sections"] for b in s["blocks"]
                    if b["type"] == "table"}
            b = rows["Indices of y"]
            f = np.array([r[b["columns"].index("first")] for r in b["data"]])
            tt = np.array([r[b["columns"].index("total")] for r in b["data"]])
            errs["run"] = errs["rerun"] = float(max(np.abs(f - s1_exact).max(),
                                                    np.abs(tt - st_exact).max()))
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "uqkit.cli", "report", str(tmp / "bench.db"),
                            "-o", str(tmp / "again.html")], check=True, capture_output=True,
                           env=env)
            times["report"].append(time.perf_counter() - t)
            t = time.perf_counter()
            uqkit.report(params, model, res, path=tmp / "py.html")
            times["pyreport"].append(time.perf_counter() - t)
    base = statistics.median(times["salib"])
    labels = {"salib": "SALib script (sample, evaluate, analyze)",
              "py": "uqkit.sobol in Python (no store)",
              "run": "uqkit run study.toml (store + HTML/JSON report)",
              "rerun": "uqkit run again (all from the store)",
              "report": "uqkit report study.db (rebuild)",
              "pyreport": "uqkit.report(...) in process"}
    rows = []
    for k, label in labels.items():
        med = statistics.median(times[k])
        rows.append([label, f"{med:.3f}", f"{med / base:.2f}", evals.get(k, "-"),
                     f"{errs[k]:.4f}" if k in errs else "-"])
    print(f"Ishigami, N = {n}, median of {args.repeat} (2-core machine shared with other "
          f"jobs; load average {open('/proc/loadavg').read().split()[0]})")
    print_table(["what", "seconds", "x SALib", "model evaluations", "max |S - exact|"], rows)


if __name__ == "__main__":
    main()
