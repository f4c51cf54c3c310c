"""Sobol' indices: uqkit vs OpenTURNS, SALib and scipy.stats.sobol_indices, one process.

Problems (Ishigami, G8, G20) and exact indices come from the anchor benchmark
definitions (../shared/anchor-bench/common.py) so the comparison is like for like.
For each library and n = 2^k base samples we time sample generation + analysis with
the model time excluded (for uqkit and scipy, which call the model themselves, the
time spent inside the model is measured by a wrapper and subtracted), without and
with confidence intervals, and report max |S1 - exact| and max |ST - exact|.
uqkit's time includes its Runner (validation, deduplication, bookkeeping).

Usage: python benchmarks/bench_sobol.py [--problems ishigami,g8,g20] [--kmin 10]
       [--kmax 16] [--reps 3] [--cap 8] [--anchor-dir ../shared/anchor-bench]
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the local uqkit

import uqkit  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)


def load_common(anchor_dir):
    sys.path.insert(0, anchor_dir)
    import common  # noqa: F401  (anchor problem definitions)

    return common


class Timed:
    """A vectorized uqkit model that accumulates the time spent in the model."""

    def __init__(self, f, d):
        self.f, self.inputs, self.outputs = f, tuple(f"x{i}" for i in range(d)), ("y",)
        self.vectorized, self.name, self.version, self.t = True, "bench", "1", 0.0

    def __call__(self, X):
        t0 = time.perf_counter()
        y = self.f(X)
        self.t += time.perf_counter() - t0
        return y


def problems(c):
    return {
        "ishigami": dict(d=3, lo=-math.pi, hi=math.pi, f=c.ishigami, exact=c.ishigami_sobol()),
        "g8": dict(d=8, lo=0.0, hi=1.0, f=lambda x: c.gfun(x, c.G8_A), exact=c.gfun_sobol(c.G8_A)),
        "g20": dict(d=20, lo=0.0, hi=1.0, f=lambda x: c.gfun(x, c.G20_A),
                    exact=c.gfun_sobol(c.G20_A)),
    }


RUNNER_T = [0.0]


def _timed_evaluate(model, X, runner):
    t0 = time.perf_counter()
    out = _evaluate(model, X, runner)
    RUNNER_T[0] += time.perf_counter() - t0
    return out


_sobol_mod = importlib.import_module("uqkit.sensitivity._sobol")
_evaluate = _sobol_mod.evaluate
_sobol_mod.evaluate = _timed_evaluate  # measures the Runner's share (model time subtracted)


def run_uqkit(p, n, seed, ci, without_runner=False):
    model = Timed(p["f"], p["d"])
    params = uqkit.Parameters({nm: uqkit.Uniform(p["lo"], p["hi"]) for nm in model.inputs})
    RUNNER_T[0] = 0.0
    t0 = time.perf_counter()
    r = uqkit.sobol(model, params, n, rng=seed, n_resamples=1000 if ci else 0)
    t = time.perf_counter() - t0 - (RUNNER_T[0] if without_runner else model.t)
    return t, r.first["y"].to_numpy(), r.total["y"].to_numpy()


def run_ot(p, n, seed, ci):
    import openturns as ot

    ot.RandomGenerator.SetSeed(seed)
    d = p["d"]
    t0 = time.perf_counter()
    dist = ot.JointDistribution([ot.Uniform(p["lo"], p["hi"])] * d)
    lde = ot.LowDiscrepancyExperiment(ot.SobolSequence(d), dist, n, True)
    lde.setRandomize(True)
    Xo = ot.SobolIndicesExperiment(lde, False).generate()
    X = np.asarray(Xo)
    ts = time.perf_counter() - t0
    Y = p["f"](X)
    t0 = time.perf_counter()
    a = ot.SaltelliSensitivityAlgorithm(Xo, ot.Sample(Y[:, None]), n)
    s1, st = np.array(a.getFirstOrderIndices()), np.array(a.getTotalOrderIndices())
    if ci:
        a.getFirstOrderIndicesInterval(), a.getTotalOrderIndicesInterval()
    return ts + time.perf_counter() - t0, s1, st


def run_salib(p, n, seed, ci):
    from SALib.analyze import sobol as sa
    from SALib.sample import sobol as ss

    problem = {"num_vars": p["d"], "names": [f"x{i}" for i in range(p["d"])],
               "bounds": [[p["lo"], p["hi"]]] * p["d"]}
    t0 = time.perf_counter()
    X = ss.sample(problem, n, calc_second_order=False, seed=seed)
    ts = time.perf_counter() - t0
    Y = p["f"](X)
    t0 = time.perf_counter()
    S = sa.analyze(problem, Y, calc_second_order=False, num_resamples=1000 if ci else 2,
                   seed=seed + 1)
    return ts + time.perf_counter() - t0, np.asarray(S["S1"]), np.asarray(S["ST"])


def run_scipy(p, n, seed, ci):
    from scipy import stats

    tm = [0.0]

    def func(x):  # scipy passes (d, n)
        t0 = time.perf_counter()
        y = p["f"](x.T)[None, :]
        tm[0] += time.perf_counter() - t0
        return y

    dists = [stats.uniform(p["lo"], p["hi"] - p["lo"])] * p["d"]
    t0 = time.perf_counter()
    try:
        r = stats.sobol_indices(func=func, n=n, dists=dists, rng=seed)
    except TypeError:  # scipy < 1.15
        r = stats.sobol_indices(func=func, n=n, dists=dists, random_state=seed)
    if ci:
        r.bootstrap(n_resamples=1000)
    return (time.perf_counter() - t0 - tm[0], np.asarray(r.first_order).ravel(),
            np.asarray(r.total_order).ravel())


LIBS = {"uqkit": run_uqkit,
        "uqkit excl. Runner": lambda p, n, s, ci: run_uqkit(p, n, s, ci, without_runner=True),
        "OpenTURNS QMC Saltelli": run_ot, "SALib": run_salib,
        "scipy.sobol_indices": run_scipy}
CI_NOTE = {"uqkit": "1000 resamples", "OpenTURNS QMC Saltelli": "OT default bootstrap (100)",
           "SALib": "1000 resamples (no CI: 2)", "scipy.sobol_indices": "1000 resamples"}


def fmt_t(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    return f"{s * 1e3:.1f}ms" if s < 1 else f"{s:.2f}s"


def table(header, rows):
    cols = [header] + [[str(x) for x in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in cols[1:]:
        print(line(r))
    print(flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", default="ishigami,g8,g20")
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated library names")
    ap.add_argument("--kmin", type=int, default=10)
    ap.add_argument("--kmax", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cap", type=float, default=8.0,
                    help="stop increasing n for a library once one run exceeds this (s)")
    ap.add_argument("--anchor-dir", default=os.path.join(HERE, "..", "..", "..", "shared",
                                                         "anchor-bench"))
    args = ap.parse_args()
    anchor = args.anchor_dir if os.path.isdir(args.anchor_dir) else "/work/shared/anchor-bench"
    probs = problems(load_common(anchor))
    ks = list(range(args.kmin, args.kmax + 1))
    libs = [lib for lib in args.libs.split(",") if lib in LIBS]
    for lib in libs:  # warm-up: imports and first-call costs are not part of the timings
        LIBS[lib](probs["ishigami"], 256, 1, False)
    print(f"# uqkit {uqkit.__version__}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    for pname in args.problems.split(","):
        p = probs[pname]
        s1x, stx = p["exact"]
        res = {}
        for lib in libs:
            capped = {False: False, True: False}
            for k in ks:
                for ci in (False, True):
                    if capped[ci]:
                        continue
                    runs = []
                    for rep in range(args.reps):
                        t, s1, st = LIBS[lib](p, 2**k, 1000 * k + rep + 1, ci)
                        runs.append((t, np.abs(s1 - s1x).max(), np.abs(st - stx).max()))
                        if t > args.cap / 3:
                            break
                    res[lib, k, ci] = tuple(statistics.median(x) for x in zip(*runs))
                    if res[lib, k, ci][0] > args.cap:
                        capped[ci] = True
                print(f"# {pname} {lib} 2^{k}: " + ", ".join(
                    f"{'CI' if ci else 'noCI'} {fmt_t(res[lib, k, ci][0])}"
                    for ci in (False, True) if (lib, k, ci) in res), file=sys.stderr,
                    flush=True)
        hdr = ["library"] + [f"2^{k}" for k in ks]
        get = lambda lib, k, ci, i, f, res=res: (  # noqa: E731
            f(res[lib, k, ci][i]) if (lib, k, ci) in res else "-")
        print(f"## {pname} (d={p['d']}): framework time without CIs (sample generation + "
              "analysis, model time excluded; median of reps)")
        table(hdr, [[lib] + [get(lib, k, False, 0, fmt_t) for k in ks] for lib in libs])
        print(f"## {pname}: framework time with CIs ({'; '.join(f'{a}: {b}' for a, b in CI_NOTE.items() if a in libs)})")  # noqa: E501
        table(hdr, [[lib] + [get(lib, k, True, 0, fmt_t) for k in ks] for lib in libs])
        ratio_rows = []
        ref = "OpenTURNS QMC Saltelli"
        if "uqkit" in libs:
            for other in [lib for lib in libs if not lib.startswith("uqkit")]:
                ratio_rows.append([f"uqkit / {other} (no CI)"] + [
                    f"{res['uqkit', k, False][0] / res[other, k, False][0]:.2f}"
                    if (other, k, False) in res and ("uqkit", k, False) in res else "-"
                    for k in ks])
            if "uqkit excl. Runner" in libs and ref in libs:
                ratio_rows.append(["uqkit excl. Runner / OT (no CI)"] + [
                    f"{res['uqkit excl. Runner', k, False][0] / res[ref, k, False][0]:.2f}"
                    if (ref, k, False) in res and ("uqkit excl. Runner", k, False) in res
                    else "-" for k in ks])
            ex = "uqkit excl. Runner"
            if ex in libs:
                ratio_rows.append(["uqkit excl. Runner: CI / no CI"] + [
                    f"{res[ex, k, True][0] / res[ex, k, False][0]:.2f}"
                    if (ex, k, True) in res else "-" for k in ks])
            ratio_rows.append(["uqkit CI / uqkit no CI"] + [
                f"{res['uqkit', k, True][0] / res['uqkit', k, False][0]:.2f}"
                if ("uqkit", k, True) in res else "-" for k in ks])
            if ref in libs:
                ratio_rows.append(["uqkit CI / OT CI"] + [
                    f"{res['uqkit', k, True][0] / res[ref, k, True][0]:.2f}"
                    if (ref, k, True) in res and ("uqkit", k, True) in res else "-" for k in ks])
            print(f"## {pname}: time ratios (< 1: uqkit faster)")
            table(hdr, ratio_rows)
        print(f"## {pname}: max |S1 - exact| / max |ST - exact| (no-CI runs, median of reps)")
        table(hdr, [[lib] + [
            f"{res[lib, k, False][1]:.1e} / {res[lib, k, False][2]:.1e}"
            if (lib, k, False) in res else "-" for k in ks] for lib in libs])
        print(f"## {pname}: model evaluations per run: n (d + 2) = "
              + ", ".join(f"2^{k}: {2**k * (p['d'] + 2)}" for k in ks) + " (all libraries)\n")


if __name__ == "__main__":
    main()
