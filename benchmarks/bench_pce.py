"""Polynomial chaos: uqkit vs OpenTURNS and chaospy on the anchor problems, in one process.

Problems and designs are those of /work/shared/anchor-bench/pce_bench.py (Ishigami
on U(-pi, pi)^3; borehole with log(r) ~ N(7.71, 1.0056) so every library has
normal/uniform marginals; the same Monte Carlo training designs, seeded
``100 * n + rep``; validation on 10^5 independent points). UQpy is not installable
with numpy 2.4, so its column is reported as unavailable.

Tables:
1. accuracy per model evaluation at n = 100, 200, 500: uqkit ``degree="auto"``
   (LARS) vs OpenTURNS LARS with the anchor's candidate degree (Ishigami 12,
   borehole 4); relative L2 validation error and the largest index errors;
2. fit time at n = 1000 with ~500 candidates (Ishigami degree 12: 455 terms,
   borehole degree 4: 495 terms), and uqkit with ``degree="auto"``;
3. Sobol' indices from a fitted expansion: uqkit (coefficient masks) vs OpenTURNS,
   chaospy's coefficient functions and chaospy's symbolic ``Sens_m`` / ``Sens_t``
   (the latter on a small case, in a child process with a time limit);
4. prediction time on 10^5 points;
5. (uqkit only) a 100-point field output: principal-component regression vs one
   LARS per output.

Every table prints ratios uqkit / best anchor (below 1 = uqkit better).

Usage: python benchmarks/bench_pce.py [--reps 3] [--skip-slow] [--sens-timeout 120]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ANCHOR = Path("/work/shared/anchor-bench")
sys.path.insert(0, str(ANCHOR))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chaospy  # noqa: I001
import openturns as ot
from common import (BOREHOLE_NORMAL, BOREHOLE_UNIFORM, borehole, borehole_sample, fmt_t,
                    ishigami, ishigami_sobol, med, print_table, timed)

import uqkit

warnings.filterwarnings("ignore")
ot.Log.Show(ot.Log.NONE)


# ------------------------------------------------------------------ problems (anchor's)
def ishigami_sample(n, rng):
    return rng.uniform(-math.pi, math.pi, (n, 3))


def borehole_marginals():
    m = {i: ("n",) + v for i, v in BOREHOLE_NORMAL.items()}
    m.update({i: ("u",) + v for i, v in BOREHOLE_UNIFORM.items()})
    return [m[i] for i in range(8)]


def borehole_reference():
    # same indices as the anchor's SALib estimate (log-reparametrisation leaves them unchanged)
    ref = uqkit.examples.borehole().reference
    return ref.first.to_numpy(), ref.total.to_numpy()


PROBLEMS = {
    "ishigami": dict(d=3, f=ishigami, sample=ishigami_sample,
                     marg=[("u", -math.pi, math.pi)] * 3, cand_deg=12, ref=ishigami_sobol),
    "borehole": dict(d=8, f=borehole, sample=borehole_sample, marg=borehole_marginals(),
                     cand_deg=4, ref=borehole_reference),
}


def uq_params(marg):
    return uqkit.Parameters({f"x{i}": (uqkit.Normal(a, b) if k == "n" else uqkit.Uniform(a, b))
                             for i, (k, a, b) in enumerate(marg)})


# ------------------------------------------------------------------ OpenTURNS (anchor code)
def fit_ot(pb, X, Y, deg, lars=True):
    dist = ot.JointDistribution([ot.Normal(a, b) if k == "n" else ot.Uniform(a, b)
                                 for k, a, b in pb["marg"]])
    d = pb["d"]
    enum = ot.LinearEnumerateFunction(d)
    basis = ot.OrthogonalProductPolynomialFactory(
        [ot.StandardDistributionPolynomialFactory(dist.getMarginal(i)) for i in range(d)], enum)
    P = enum.getBasisSizeFromTotalDegree(deg)
    proj = (ot.LeastSquaresStrategy(ot.LeastSquaresMetaModelSelectionFactory(
        ot.LARS(), ot.CorrectedLeaveOneOut())) if lars else ot.LeastSquaresStrategy())
    algo = ot.FunctionalChaosAlgorithm(ot.Sample(X), ot.Sample(Y[:, None]), dist,
                                       ot.FixedStrategy(basis, P), proj)
    algo.run()
    return algo.getResult()


def sobol_ot(res, d):
    s = ot.FunctionalChaosSobolIndices(res)
    return (np.array([s.getSobolIndex(i) for i in range(d)]),
            np.array([s.getSobolTotalIndex(i) for i in range(d)]))


def predict_ot(res, X):
    return np.asarray(res.getMetaModel()(ot.Sample(X))).ravel()


# ------------------------------------------------------------------ chaospy (anchor code)
def cp_dist(marg):
    return chaospy.J(*[chaospy.Normal(a, b) if k == "n" else chaospy.Uniform(a, b)
                       for k, a, b in marg])


def fit_cp(pb, X, Y, deg):
    dist = cp_dist(pb["marg"])
    expansion = chaospy.generate_expansion(deg, dist, normed=True)
    model, coef = chaospy.fit_regression(expansion, X.T, Y, retall=1)
    return dict(model=model, coef=coef, expansion=expansion, dist=dist)


# ------------------------------------------------------------------ uqkit
def fit_uq(pb, X, Y, degree="auto"):
    return uqkit.fit_pce(X=X, Y=Y, parameters=uq_params(pb["marg"]), degree=degree)


def errors(pce_sobol, s1x, stx):
    s1, st = pce_sobol
    return float(np.abs(s1 - s1x).max()), float(np.abs(st - stx).max())


def uq_sobol(pce):
    s = pce.sobol()
    return s.first.iloc[:, 0].to_numpy(), s.total.iloc[:, 0].to_numpy()


def ratio(a, b):
    return f"{a / b:.2g}" if b > 0 else "-"


# ------------------------------------------------------------------ table 1: accuracy
def accuracy_table(pname, sizes, reps, Xv, Yv):
    pb = PROBLEMS[pname]
    s1x, stx = pb["ref"]()
    rows = []
    var_v = np.var(Yv)
    for n in sizes:
        res = {"uqkit auto (MC design)": [], "OT LARS": [], "uqkit auto (own Sobol' design)": []}
        for rep in range(reps):
            rng = np.random.default_rng(100 * n + rep)
            X = pb["sample"](n, rng)
            Y = pb["f"](X)
            pce, t = timed(fit_uq, pb, X, Y)
            l2 = math.sqrt(np.mean((Yv - pce(Xv)[:, 0]) ** 2) / var_v)
            res["uqkit auto (MC design)"].append((l2, *errors(uq_sobol(pce), s1x, stx), t,
                                                  pce.n_terms))
            m, t = timed(fit_ot, pb, X, Y, pb["cand_deg"])
            l2 = math.sqrt(np.mean((Yv - predict_ot(m, Xv)) ** 2) / var_v)
            res["OT LARS"].append((l2, *errors(sobol_ot(m, pb["d"]), s1x, stx), t,
                                   m.getIndices().getSize()))
            model = uqkit.as_model(pb["f"], inputs=[f"x{i}" for i in range(pb["d"])],
                                   vectorized=True, name=pname)
            pce, t = timed(uqkit.fit_pce, model, uq_params(pb["marg"]), n=n, rng=rep)
            l2 = math.sqrt(np.mean((Yv - pce(Xv)[:, 0]) ** 2) / var_v)
            res["uqkit auto (own Sobol' design)"].append(
                (l2, *errors(uq_sobol(pce), s1x, stx), t, pce.n_terms))
        ot_med = [med([r[k] for r in res["OT LARS"]]) for k in range(5)]
        for name, runs in res.items():
            mm = [med([r[k] for r in runs]) for k in range(5)]
            ratios = "" if name == "OT LARS" else " / ".join(
                ratio(mm[k], ot_med[k]) for k in range(3))
            rows.append([n, name, int(mm[4]), f"{mm[0]:.2e}", f"{mm[1]:.1e}", f"{mm[2]:.1e}",
                         fmt_t(mm[3]), ratios])
        print("#", pname, n, "done", file=sys.stderr, flush=True)
    print(f"## Accuracy per model evaluation: {pname} (medians over {reps} MC designs; "
          f"validation on {len(Yv)} points; OT candidate degree {pb['cand_deg']})")
    print_table(["n", "config", "terms", "rel L2 val", "max|dS1|", "max|dST|", "t_fit",
                 "ratio to OT (L2 / dS1 / dST)"], rows)


# ------------------------------------------------------------------ table 2: fit time
def fit_time_table(n, reps, skip_slow):
    rows = []
    for pname, pb in PROBLEMS.items():
        rng = np.random.default_rng(100 * n)
        X = pb["sample"](n, rng)
        Y = pb["f"](X)
        deg = pb["cand_deg"]
        t_fixed = med([timed(fit_uq, pb, X, Y, deg)[1] for _ in range(reps)])
        pce_auto, _ = timed(fit_uq, pb, X, Y)
        t_auto = med([timed(fit_uq, pb, X, Y)[1] for _ in range(reps)])
        t_ot = None if skip_slow else timed(fit_ot, pb, X, Y, deg)[1]
        P = math.comb(deg + pb["d"], pb["d"])
        cands = pce_auto.info["candidates"]
        rows.append([pname, n, f"{P} (degree {deg})", fmt_t(t_fixed),
                     f"{fmt_t(t_auto)} (degrees 1-{max(cands)}, up to {max(cands.values())})",
                     fmt_t(t_ot) if t_ot else "skipped",
                     ratio(t_fixed, t_ot) if t_ot else "-"])
        print("#", pname, "fit times done", file=sys.stderr, flush=True)
    print(f"## Fit time at n = {n} (uqkit LARS: fixed candidate degree, and degree='auto')")
    print_table(["problem", "n", "candidates", "uqkit LARS fixed", "uqkit LARS auto",
                 "OT LARS fixed", "ratio uqkit/OT"], rows)


# ------------------------------------------------------------------ table 3: Sobol indices
def _sens_child(q, deg, which):
    pb = PROBLEMS["ishigami"]
    X = pb["sample"](2 * math.comb(deg + 3, 3), np.random.default_rng(7))
    m = fit_cp(pb, X, pb["f"](X), deg)
    fn = chaospy.Sens_m if which == "Sens_m" else chaospy.Sens_t
    t0 = time.perf_counter()
    fn(m["model"], m["dist"])
    q.put(time.perf_counter() - t0)


def time_sens(deg, which, timeout):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_sens_child, args=(q, deg, which))
    p.start()
    p.join(timeout + 30)
    if p.is_alive():
        p.terminate()
        p.join()
        return None
    return q.get() if not q.empty() else None


def sobol_table(sens_deg, timeout):
    """Same OLS expansion (Ishigami, degree sens_deg) in every library."""
    pb = PROBLEMS["ishigami"]
    rows = []
    for deg in (sens_deg, 8):
        n = 2 * math.comb(deg + 3, 3)
        X = pb["sample"](n, np.random.default_rng(7))
        Y = pb["f"](X)
        pce = uqkit.fit_pce(X=X, Y=Y, parameters=uq_params(pb["marg"]), degree=deg,
                            method="ols")
        t_arr = med([timed(pce._sobol_arrays)[1] for _ in range(200)])
        t_res = med([timed(pce.sobol)[1] for _ in range(50)])
        mo = fit_ot(pb, X, Y, deg, lars=False)
        t_ot = med([timed(sobol_ot, mo, 3)[1] for _ in range(20)])
        mc = fit_cp(pb, X, Y, deg)
        t_cpf = med([timed(lambda m=mc: (chaospy.FirstOrderSobol(m["expansion"], m["coef"]),
                                         chaospy.TotalOrderSobol(m["expansion"], m["coef"])))[1]
                     for _ in range(5)])
        if deg == sens_deg:
            t_m = time_sens(deg, "Sens_m", timeout)
            t_t = time_sens(deg, "Sens_t", timeout)
            sens = (fmt_t(t_m) if t_m else f">{timeout:.0f}s",
                    fmt_t(t_t) if t_t else f">{timeout:.0f}s")
            sym = (t_m or timeout) + (t_t or timeout)
        else:
            sens = ("35s (issue anchor)", "42s (issue anchor)")
            sym = 77.0
        best = min(t_ot, t_cpf)
        rows.append([deg, pce.n_terms, fmt_t(t_arr), fmt_t(t_res), fmt_t(t_ot), fmt_t(t_cpf),
                     *sens, ratio(t_arr, best), ratio(t_res, best), f"{sym / t_res:.0f}x"])
        print("#", "sobol", deg, "done", file=sys.stderr, flush=True)
    print("## Sobol' indices (first + total, all inputs) from a fitted expansion, Ishigami")
    print_table(["degree", "terms", "uqkit arrays", "uqkit .sobol() (SobolResult)",
                 "OT FunctionalChaosSobolIndices", "chaospy First/TotalOrderSobol",
                 "chaospy Sens_m", "chaospy Sens_t", "arrays / best", ".sobol() / best",
                 "Sens_m+t / uqkit"], rows)


# ------------------------------------------------------------------ table 4: prediction
def predict_table(n, Xvs):
    rows = []
    for pname, pb in PROBLEMS.items():
        Xv = Xvs[pname]
        rng = np.random.default_rng(100 * n)
        X = pb["sample"](n, rng)
        Y = pb["f"](X)
        deg = pb["cand_deg"]
        pce = fit_uq(pb, X, Y, deg)
        t_uq = med([timed(pce, Xv)[1] for _ in range(5)])
        mo = fit_ot(pb, X[:200], Y[:200], deg)  # any fitted sparse model serves for timing
        t_ot = med([timed(predict_ot, mo, Xv)[1] for _ in range(2)])
        ols_deg = 6 if pname == "ishigami" else 3
        mc = fit_cp(pb, X, Y, ols_deg)
        t_cp = med([timed(lambda m=mc, x=Xv: np.asarray(m["model"](*x.T)))[1]
                    for _ in range(2)])
        best = min(t_ot, t_cp)
        rows.append([pname, pce.n_terms, fmt_t(t_uq), f"{mo.getIndices().getSize()}: "
                     f"{fmt_t(t_ot)}", f"{len(mc['expansion'])}: {fmt_t(t_cp)}",
                     ratio(t_uq, best)])
    print(f"## Prediction on {len(Xv)} points (terms: time)")
    print_table(["problem", "uqkit terms", "uqkit", "OT", "chaospy", "ratio uqkit/best"],
                rows)


# ------------------------------------------------------------------ table 5: field outputs
def field_table(n, m):
    """A field of m outputs: principal-component regression vs one regression per output."""
    from uqkit.pce._blas import single_threaded_blas
    from uqkit.pce._select import fit_regression, union

    pb = PROBLEMS["borehole"]
    params = uq_params(pb["marg"])
    t = np.linspace(0, 1, m)

    def field(X):
        y = pb["f"](X)
        return y[:, None] * (1 + t) + (X[:, [3]] - 1000) * np.sin(3 * t)

    X = pb["sample"](n, np.random.default_rng(3))
    Y = field(X)
    Xv = pb["sample"](20000, np.random.default_rng(4))
    Yv = field(Xv)
    pce, t_pca = timed(uqkit.fit_pce, X=X, Y=Y, parameters=params)
    err_pca = float(pce.validate(Xv, Yv)["relative_error"].max())
    basis = pce._basis

    def per_output():
        with single_threaded_blas():
            fits, _ = fit_regression(basis, X, Y, degree="auto", q_norm=1.0,
                                     max_interaction=None, method="lars")
        return union(fits, 8)

    (alphas, coef), t_each = timed(per_output)
    each = uqkit.PolynomialChaos(params, pce.outputs, alphas, coef)
    err_each = float(each.validate(Xv, Yv)["relative_error"].max())
    print(f"## Field output: borehole x {m} time points, n = {n} (uqkit only)")
    print_table(["strategy", "t_fit", "max rel L2 val over outputs", "ratio"],
                [[f"principal components ({pce.info['compression']['components']} kept)",
                  fmt_t(t_pca), f"{err_pca:.2e}", ratio(t_pca, t_each)],
                 ["one LARS per output", fmt_t(t_each), f"{err_each:.2e}", "1"]])


# ------------------------------------------------------------------ table 6: BLAS threads
def blas_table(n, reps):
    """The same fits with BLAS limited to one thread (uqkit's default) and with its default.

    ``uqkit.pce._blas.single_threaded_blas`` exists for this row: the LAR path makes
    hundreds of small products on which threaded OpenBLAS only spins, most of all on a
    loaded machine. Run it on a loaded machine too (e.g. beside another benchmark).
    """
    from contextlib import nullcontext
    from unittest import mock

    rows = []
    for pname in ("ishigami", "borehole"):
        pb = PROBLEMS[pname]
        X = pb["sample"](n, np.random.default_rng(0))
        Y = pb["f"](X)
        params = uq_params(pb["marg"])
        t_one = med([timed(uqkit.fit_pce, X=X, Y=Y, parameters=params)[1] for _ in range(reps)])
        with mock.patch("uqkit.pce._fit.single_threaded_blas", nullcontext):
            t_all = med([timed(uqkit.fit_pce, X=X, Y=Y, parameters=params)[1]
                         for _ in range(reps)])
        rows.append([pname, fmt_t(t_one), fmt_t(t_all), ratio(t_one, t_all)])
    print(f"## fit_pce, n = {n}: BLAS on one thread vs its default threads "
          f"(load average {os.getloadavg()[0]:.1f})")
    print_table(["problem", "one thread (uqkit)", "default threads", "ratio"], rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,200,500")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--nval", type=int, default=100_000)
    ap.add_argument("--fit-n", type=int, default=1000)
    ap.add_argument("--sens-degree", type=int, default=4)
    ap.add_argument("--sens-timeout", type=float, default=120.0)
    ap.add_argument("--skip-slow", action="store_true",
                    help="skip OpenTURNS fits at n=1000 (about a minute)")
    ap.add_argument("--tables", default="accuracy,fit,sobol,predict,field,blas")
    args = ap.parse_args()
    tables = args.tables.split(",")
    print(f"# machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          "UQpy: unavailable (not installable with numpy 2.4)")
    Xvs = {p: pb["sample"](args.nval, np.random.default_rng(12345))
           for p, pb in PROBLEMS.items()}
    if "accuracy" in tables:
        for pname, pb in PROBLEMS.items():
            accuracy_table(pname, [int(s) for s in args.sizes.split(",")], args.reps,
                           Xvs[pname], pb["f"](Xvs[pname]))
    if "fit" in tables:
        fit_time_table(args.fit_n, args.reps, args.skip_slow)
    if "sobol" in tables:
        sobol_table(args.sens_degree, args.sens_timeout)
    if "predict" in tables:
        predict_table(args.fit_n, Xvs)
    if "field" in tables:
        field_table(300, 100)
    if "blas" in tables:
        blas_table(args.fit_n, args.reps)
    print(f"# load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
