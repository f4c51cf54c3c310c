"""Sobol' indices: uqkit vs OpenTURNS, SALib and scipy.stats.sobol_indices, one process.

Problems (Ishigami, G8, G20) and exact indices come from the anchor benchmark
definitions (../shared/anchor-bench/common.py) so the comparison is like for like.
For each library and n = 2^k base samples we time the *framework*: sample generation +
analysis (+ for uqkit its Runner, through which every evaluation goes; no store), with
the model time excluded (uqkit and scipy call the model themselves: a wrapper measures
the time spent inside it and it is subtracted). Each library runs without and with
confidence intervals; we report max |S1 - exact| and max |ST - exact|.

The machine is shared, so the repeats are *interleaved*: each round runs every library
once (no CI, then CI) before the next round starts, and a load spike hits all of them
alike. Tables give the best and the median over the rounds; ratios are best/best and
the median over rounds of the per-round ratio (the two runs of a round are paired).

The issue's performance targets, printed at the end of each problem:
  1. uqkit framework time without CIs <= OpenTURNS' (QMC Saltelli) at every n;
  2. uqkit with bootstrap CIs (1000 resamples) <= 2x uqkit without CIs.

Usage: python benchmarks/bench_sobol.py [--problems ishigami,g8,g20] [--kmin 10]
       [--kmax 16] [--reps 5] [--cap 8] [--libs uqkit,OpenTURNS,SALib,scipy]
"""
from __future__ import annotations

import argparse
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


_SETUP: dict = {}


def run_uqkit(p, n, seed, ci):
    # the model and its parameters are defined once per problem, as a user would
    if id(p) not in _SETUP:
        model = Timed(p["f"], p["d"])
        _SETUP[id(p)] = model, uqkit.Parameters(
            {nm: uqkit.Uniform(p["lo"], p["hi"]) for nm in model.inputs})
    model, params = _SETUP[id(p)]
    model.t = 0.0
    t0 = time.perf_counter()
    r = uqkit.sobol(model, params, n, rng=seed, n_resamples=1000 if ci else 0)
    t = time.perf_counter() - t0 - model.t
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


LIBS = {"uqkit": run_uqkit, "OpenTURNS": run_ot, "SALib": run_salib, "scipy": run_scipy}
CI_NOTE = {"uqkit": "1000 resamples", "OpenTURNS": "its default bootstrap (100)",
           "SALib": "1000 resamples (no CI: 2)", "scipy": "1000 resamples"}
OT = "OpenTURNS"


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


def measure(p, ks, libs, reps, cap):
    """runs[lib, k, ci] = list of (seconds, max S1 error, max ST error), interleaved."""
    runs: dict = {}
    capped = {(lib, ci): False for lib in libs for ci in (False, True)}
    for k in ks:
        # more rounds where runs are short (and the load's noise relatively large):
        # 8x at 2^10, 4x at 2^11, 2x at 2^12
        for rep in range(reps * 2 ** min(3, max(0, 13 - k))):
            for lib in libs:
                for ci in (False, True):
                    if capped[lib, ci]:
                        continue
                    if rep and runs.get((lib, k, ci)) and runs[lib, k, ci][0][0] > cap / 2:
                        continue  # one slow run is enough
                    t, s1, st = LIBS[lib](p, 2**k, 1000 * k + rep + 1, ci)
                    s1x, stx = p["exact"]
                    runs.setdefault((lib, k, ci), []).append(
                        (t, float(np.abs(s1 - s1x).max()), float(np.abs(st - stx).max())))
        for lib in libs:
            for ci in (False, True):
                if (lib, k, ci) in runs and min(r[0] for r in runs[lib, k, ci]) > cap:
                    capped[lib, ci] = True
        print(f"#   2^{k} done", file=sys.stderr, flush=True)
    return runs


def stat(runs, key, how, i=0):
    if key not in runs:
        return None
    xs = [r[i] for r in runs[key]]
    return min(xs) if how == "best" else statistics.median(xs)


def report(pname, p, ks, libs, runs):
    hdr = ["library"] + [f"2^{k}" for k in ks]

    def cell(lib, k, ci):
        b, m = stat(runs, (lib, k, ci), "best"), stat(runs, (lib, k, ci), "median")
        return "-" if b is None else f"{fmt_t(b)} / {fmt_t(m)}"

    for ci in (False, True):
        what = ("with CIs (" + "; ".join(f"{a}: {b}" for a, b in CI_NOTE.items() if a in libs)
                + ")") if ci else "without CIs"
        print(f"## {pname} (d={p['d']}): framework time {what}; best / median of the "
              "interleaved rounds (more at small n), model time excluded")
        table(hdr, [[lib] + [cell(lib, k, ci) for k in ks] for lib in libs])

    def ratio(num, den, how):
        """best/best, or the median over rounds of the per-round ratio (paired: the two
        runs of a round ran back to back, under the same load)."""
        out = []
        for k in ks:
            a, b = runs.get((num[0], k, num[1])), runs.get((den[0], k, den[1]))
            if not a or not b:
                out.append("-")
            elif how == "best":
                out.append(f"{min(r[0] for r in a) / min(r[0] for r in b):.2f}")
            else:
                out.append(f"{statistics.median(x[0] / y[0] for x, y in zip(a, b)):.2f}")
        return out

    if "uqkit" in libs:
        rows = []
        if OT in libs:
            for how in ("best", "median"):
                rows.append([f"T1 uqkit / OpenTURNS, no CI ({how}) [<= 1]"]
                            + ratio(("uqkit", False), (OT, False), how))
        for how in ("best", "median"):
            rows.append([f"T2 uqkit CI / uqkit no CI ({how}) [<= 2]"]
                        + ratio(("uqkit", True), ("uqkit", False), how))
        for other in [lib for lib in libs if lib != "uqkit"]:
            rows.append([f"uqkit / {other}, no CI (median)"]
                        + ratio(("uqkit", False), (other, False), "median"))
            rows.append([f"uqkit / {other}, CI (median)"]
                        + ratio(("uqkit", True), (other, True), "median"))
        print(f"## {pname}: time ratios (< 1: uqkit faster)")
        table(hdr, rows)
    print(f"## {pname}: max |S1 - exact| / max |ST - exact| (no-CI runs, median of rounds)")
    table(hdr, [[lib] + [
        f"{stat(runs, (lib, k, False), 'median', 1):.1e} / "
        f"{stat(runs, (lib, k, False), 'median', 2):.1e}"
        if (lib, k, False) in runs else "-" for k in ks] for lib in libs])
    print(f"## {pname}: model evaluations per run: n (d + 2) = "
          + ", ".join(f"2^{k}: {2**k * (p['d'] + 2)}" for k in ks) + " (all libraries)\n",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", default="ishigami,g8,g20")
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated: " + ", ".join(LIBS))
    ap.add_argument("--kmin", type=int, default=10)
    ap.add_argument("--kmax", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cap", type=float, default=8.0,
                    help="stop increasing n for a library once its best run exceeds this (s)")
    ap.add_argument("--anchor-dir", default=os.path.join(HERE, "..", "..", "..", "shared",
                                                         "anchor-bench"))
    args = ap.parse_args()
    anchor = args.anchor_dir if os.path.isdir(args.anchor_dir) else "/work/shared/anchor-bench"
    probs = problems(load_common(anchor))
    ks = list(range(args.kmin, args.kmax + 1))
    libs = [lib for lib in args.libs.split(",") if lib in LIBS]
    for lib in libs:  # warm-up: imports and first-call costs are not part of the timings
        for ci in (False, True):
            LIBS[lib](probs["ishigami"], 256, 1, ci)
    print(f"# uqkit {uqkit.__version__}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores at the start", flush=True)
    for pname in args.problems.split(","):
        p = probs[pname]
        runs = measure(p, ks, libs, args.reps, args.cap)
        report(pname, p, ks, libs, runs)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
