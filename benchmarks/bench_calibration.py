"""Calibration benchmark: uqkit.calibrate against emcee, tinyDA and OpenTURNS (UQpy if present).

Problems and anchor runs come from /work/shared/anchor-bench/mcmc_bench.py (same
targets, budgets, starting region and ESS definition: arviz bulk ESS, minimum over
parameters; anchors discard the first 25% of their chains). uqkit's ESS is on its
post-warm-up draws and is divided by ALL its model evaluations (warm-up included).

Also measured: framework time per evaluation on the banana ((wall - seconds inside the
model function) / evaluations, for uqkit and emcee alike), uqkit's spread over
--seeds seeds (min, median, R-hat, and the error of mean(x1) in Monte-Carlo
standard errors, which checks that the reported ESS is honest) and delayed-acceptance
savings, full-model evaluations per effective sample of plain sampling divided by that
of delayed acceptance with a polynomial-chaos surrogate, on the logistic ODE and a
3-parameter FitzHugh-Nagumo.

usage: python benchmarks/bench_calibration.py [--reps 1] [--seeds 5]
       [--problems banana,gauss10,ode] [--anchors emcee,tinyda,openturns]
       [--no-da] [--no-sampling] [--no-unrefined] [--da-ess 500]
       [--methods vague,prior_start,evidence,parallel] [--method-seeds 1] [--ode-seeds 16]
       [--banana-seeds 20] [--evidence-particles 2000]

The methods table (SMC, emcee, auto) starts from prior draws with default settings: the 10-D
correlated Gaussian under Normal(0, 100) and Normal(0, 1000) priors against emcee DE+snooker
(vague_prior_bench.py), the logistic ODE and the banana from prior draws, SMC's evidence on a
linear-Gaussian model, and SMC on 2 worker processes against serial evaluation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np


def _anchor_dir() -> Path:
    """``../shared/anchor-bench`` next to the repository (a git worktree may sit one level
    deeper, e.g. ``wt/<name>``: the nearest such folder up the tree)."""
    here = Path(__file__).resolve()
    for parent in here.parents[1:]:
        cand = parent / "shared" / "anchor-bench"
        if cand.is_dir():
            return cand
    return here.parents[2] / "shared" / "anchor-bench"


ANCHOR_DIR = _anchor_dir()
sys.path.insert(0, str(ANCHOR_DIR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")

import mcmc_bench as mb  # noqa: E402  (tinyDA and UQpy are optional there)
from common import print_table  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import uqkit  # noqa: E402

ANCHOR_TABLE = {  # the issue's anchor figures (ESS per 1000 evaluations), for reference
    "banana": {"emcee": 0.45, "tinyDA": 0.10, "UQpy DRAM": 0.97, "OpenTURNS": 0.08},
    "gauss10": {"emcee": 4.9, "tinyDA": 20.3, "UQpy DRAM": 7.3, "OpenTURNS": 0.10},
    "ode": {"emcee": 16, "tinyDA": 68, "UQpy DRAM": 33, "OpenTURNS": 84},
}


# ------------------------------------------------------------------ the problems as models
class ModelClock:
    """Seconds spent inside model functions (subtracted from wall time: framework time)."""

    seconds = 0.0

    @classmethod
    def wrap(cls, f):
        def timed(*a):
            t0 = time.perf_counter()
            try:
                return f(*a)
            finally:
                cls.seconds += time.perf_counter() - t0
        return timed


def banana_problem():
    """lp = -(100 (x2 - x1^2)^2 + (1 - x1)^2) / 20 as a Gaussian likelihood, flat prior."""
    model = uqkit.as_model(ModelClock.wrap(lambda X: np.c_[X[:, 0], X[:, 1] - X[:, 0] ** 2]),
                           inputs=("x1", "x2"), outputs=("a", "b"), vectorized=True,
                           name="banana")
    prior = uqkit.Parameters(x1=uqkit.Uniform(-1e3, 1e3), x2=uqkit.Uniform(-1e3, 1e3))
    return model, prior, [1.0, 0.0], uqkit.Gaussian([math.sqrt(10), math.sqrt(0.1)])


def gauss_problem():
    """lp = -x' P x / 2 = -|L' x|^2 / 2 with P = L L' (a linear model), flat prior."""
    L = np.linalg.cholesky(mb.G_PREC)
    names = tuple(f"x{i}" for i in range(mb.G_D))
    model = uqkit.as_model(lambda X: X @ L, inputs=names,
                           outputs=tuple(f"y{i}" for i in range(mb.G_D)), vectorized=True,
                           name="gauss10")
    prior = uqkit.Parameters({n: uqkit.Uniform(-1e3, 1e3) for n in names})
    return model, prior, np.zeros(mb.G_D), uqkit.Gaussian(1.0)


def ode_problem():
    model = uqkit.as_model(mb.ode_solve, inputs=("r", "K"), outputs={"y": 20}, vectorized=True,
                           name="logistic")
    prior = uqkit.Parameters(r=uqkit.Uniform(mb.ODE_LO[0], mb.ODE_HI[0]),
                             K=uqkit.Uniform(mb.ODE_LO[1], mb.ODE_HI[1]))
    return model, prior, {"y": mb.ODE_DATA}, uqkit.Gaussian(mb.ODE_SIG)


FHN_T = np.linspace(0.0, 40.0, 41)[1:]
FHN_TRUE, FHN_SIG = np.array([0.7, 0.8, 12.5]), 0.1


def fhn_solve(th):
    """FitzHugh-Nagumo v(t): dv = v - v^3/3 - w + 0.5, dw = (v + a - b w) / tau; (a, b, tau)."""
    th = np.atleast_2d(th)
    a, b, tau = th[:, 0], th[:, 1], th[:, 2]
    m = len(a)

    def rhs(t, y):
        v, w = y[:m], y[m:]
        return np.concatenate([v - v**3 / 3 - w + 0.5, (v + a - b * w) / tau])
    sol = solve_ivp(rhs, (0, FHN_T[-1]), np.r_[np.full(m, -1.0), np.full(m, 1.0)], t_eval=FHN_T,
                    rtol=1e-6, atol=1e-8)
    return sol.y[:m]


FHN_DATA = fhn_solve(FHN_TRUE)[0] + FHN_SIG * np.random.default_rng(7).standard_normal(len(FHN_T))


def fhn_problem():
    model = uqkit.as_model(fhn_solve, inputs=("a", "b", "tau"), outputs={"v": len(FHN_T)},
                           vectorized=True, name="fitzhugh_nagumo")
    prior = uqkit.Parameters(a=uqkit.Uniform(0.3, 1.1), b=uqkit.Uniform(0.4, 1.2),
                             tau=uqkit.Uniform(8.0, 16.0))
    return model, prior, {"v": FHN_DATA}, uqkit.Gaussian(FHN_SIG)


PROBLEMS = {"banana": banana_problem, "gauss10": gauss_problem, "ode": ode_problem}


# ------------------------------------------------------------------ runners
class _Ev:
    __slots__ = ("Y", "ok")

    def __init__(self, Y):
        self.Y = Y
        self.ok = np.all(np.isfinite(Y), axis=1)


class DirectRunner:
    """Pass-through runner (no store, no bookkeeping): isolates the sampler's own overhead."""

    store = None

    def evaluate(self, model, X):
        return _Ev(np.asarray(model(X), dtype=float))


def default_walkers(d, budget):
    """uqkit.calibrate's default number of walkers (32 when >= 1000 steps fit the budget,
    ``max(8, 2 d + 2)`` below 16,000 for d <= 4)."""
    W = max(16, 2 * d + 2)
    if budget >= 32_000:
        return max(W, 32)
    return max(8, 2 * d + 2) if d <= 4 and budget < 16_000 else W


def run_uqkit(name, budget, seed, runner=None, **kw):
    """One uqkit run from the anchors' starting region; returns (posterior, wall, model s)."""
    model, prior, data, noise = PROBLEMS[name]()
    tg = mb.TARGETS[name]
    rng = np.random.default_rng(seed)
    W = default_walkers(tg["d"], budget)
    init = mb.init_points(tg, W, rng)  # the anchors' starting region
    ModelClock.seconds = 0.0
    t0 = time.perf_counter()
    post = uqkit.calibrate(model, prior, data, noise=noise, max_evaluations=budget,
                           target_ess=None, rng=seed, initial=init, runner=runner, **kw)
    wall = time.perf_counter() - t0
    return post, wall, ModelClock.seconds


def sanity(name, x):
    return mb.sanity(name, x[None])


# ------------------------------------------------------------------ a PCE surrogate
class LegendrePCE:
    """Least-squares polynomial chaos (Legendre, total degree p) on a uniform box.

    Used when uqkit.fit_pce is not in this tree (it lands with the PCE issue).
    """

    def __init__(self, model, lo, hi, degree, n, rng):
        self.inputs, self.outputs = model.inputs, model.outputs
        self.name, self.vectorized = f"pce({model.name})", True
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        d = len(lo)
        self.idx = [a for a in np.ndindex(*([degree + 1] * d)) if sum(a) <= degree]
        X = self.lo + (self.hi - self.lo) * rng.random((n, d))
        ev = uqkit.Runner(progress=False).evaluate(model, X)
        self.n_model_evaluations = n
        A = self._basis(X)
        self.coef, *_ = np.linalg.lstsq(A[ev.ok], ev.Y[ev.ok], rcond=None)

    def _basis(self, X):
        from numpy.polynomial import legendre
        U = 2 * (X - self.lo) / (self.hi - self.lo) - 1
        V = [legendre.legvander(U[:, j], max(max(a) for a in self.idx)) for j in range(U.shape[1])]
        return np.stack([np.prod([V[j][:, a[j]] for j in range(len(a))], axis=0)
                         for a in self.idx], axis=1)

    def __call__(self, X):
        return self._basis(np.asarray(X, float)) @ self.coef


def make_pce(model, prior, n, degree, rng, box=None):
    if hasattr(uqkit, "__getattr__"):
        try:
            from uqkit.pce import fit_pce  # noqa: F401
            space = prior if box is None else uqkit.Parameters(
                {k: uqkit.Uniform(lo, hi) for k, (lo, hi) in zip(prior.names, box)})
            pce = uqkit.fit_pce(model, space, n=n, rng=rng)
            return pce, int(getattr(pce, "n_model_evaluations", n)), "uqkit.fit_pce"
        except ImportError:
            pass
    b = prior.bounds if box is None else np.asarray(box)
    pce = LegendrePCE(model, b[:, 0], b[:, 1], degree, n, np.random.default_rng(rng))
    return pce, n, f"Legendre PCE (degree {degree}, {n} runs; uqkit.fit_pce absent)"


# ------------------------------------------------------------------ main
def anchors(name, budget, seed, which):
    """Anchor runs: (ESS min, evaluations, wall s, sanity, seconds inside the target)."""
    out = {}
    lp = mb.TARGETS[name]["lp"]
    runs = {"emcee": lambda: mb.run_emcee(name, budget, seed, True),
            "tinyDA": lambda: mb.run_tinyda(name, budget, seed),
            "OpenTURNS": lambda: mb.run_ot(name, budget, seed)}
    for key, fn in runs.items():
        if key.lower() not in which or (key == "tinyDA" and mb.tda is None):
            continue  # a missing optional anchor skips its column
        ModelClock.seconds = 0.0
        if lp is not None:
            mb.TARGETS[name]["lp"] = ModelClock.wrap(lp)
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                ch, nev = fn()
        finally:
            if lp is not None:
                mb.TARGETS[name]["lp"] = lp
        wall = time.perf_counter() - t0
        out[key] = (mb.ess_min(ch), nev, wall, sanity(name, ch.reshape(-1, ch.shape[-1])),
                    ModelClock.seconds)
    return out


def banana_z(x, post):
    """Errors of mean(x1) and sd(x1) in Monte-Carlo standard errors (x1 ~ N(1, 10) exactly):
    sd/sqrt(ESS bulk) and sd/sqrt(2 min(ESS bulk, ESS tail))."""
    sd = math.sqrt(10)
    eb = max(float(post.ess_bulk.iloc[0]), 1.0)
    et = max(min(eb, float(post.ess_tail.iloc[0])), 1.0)
    return ((x[:, 0].mean() - 1.0) / (sd / math.sqrt(eb)),
            (x[:, 0].std() - sd) / (sd / math.sqrt(2 * et)))


def bench_sampling(args):
    speed_rows = []
    for name in args.problems.split(","):
        budget = 6000 if name == "ode" else args.budget
        reps = max(args.reps, args.seeds)
        rows = []
        res: dict[str, list] = {}
        conv: list[tuple] = []
        for rep in range(reps):
            seed = 1 + rep
            post, wall, tm = run_uqkit(name, budget, seed)
            x = post.samples.to_numpy()
            res.setdefault("uqkit", []).append(
                (post.ess_bulk.min(), post.n_model_evaluations, wall, sanity(name, x), tm))
            conv.append((1000 * post.ess_bulk.min() / post.n_model_evaluations,
                         float(post.r_hat.max()),
                         banana_z(x, post) if name == "banana" else None))
            if name == "banana":
                post2, wall2, tm2 = run_uqkit(name, budget, seed, runner=DirectRunner())
                res.setdefault("uqkit (pass-through runner)", []).append(
                    (post2.ess_bulk.min(), post2.n_model_evaluations, wall2,
                     sanity(name, post2.samples.to_numpy()), tm2))
            # every seed runs emcee right after uqkit (framework time measured under the same
            # machine load); the slower anchors run on the first --reps seeds only
            which = args.anchors if rep < args.reps else "emcee"
            for key, v in anchors(name, budget, seed, which).items():
                res.setdefault(key, []).append(v)
        if mb.DRAM is None:
            res["UQpy"] = None
        best_anchor = max((np.median([1000 * r[0] / r[1] for r in v]) for k, v in res.items()
                           if v and not k.startswith("uqkit")), default=float("nan"))
        best_issue = max(ANCHOR_TABLE[name].values())
        for key, v in res.items():
            if v is None:
                rows.append([key, "", "unavailable (not installed)", "", "",
                             "", "", "", ""])
                continue
            ess = np.median([r[0] for r in v])
            e1k = np.median([1000 * r[0] / r[1] for r in v])
            us = np.median([1e6 * r[2] / r[1] for r in v])
            fw = np.median([1e6 * (r[2] - r[4]) / r[1] for r in v])
            rows.append([key, f"{len(v)}", f"{int(np.median([r[1] for r in v]))}", f"{ess:.0f}",
                         f"{e1k:.2f}", f"{e1k / best_issue:.2f}x", f"{us:.1f}", f"{fw:.1f}",
                         v[len(v) // 2][3]])
        print(f"## {name}: budget {budget} evaluations, median over seeds; best anchor "
              f"measured here {best_anchor:.2f} ESS/1k, best in the issue's table {best_issue}")
        print_table(["sampler", "seeds", "evals", "ESS bulk min", "ESS/1k evals",
                     "vs best anchor (issue)", "us/eval (wall)", "us/eval (framework)",
                     "sanity"], rows)
        e = np.array([c[0] for c in conv])
        rh = np.array([c[1] for c in conv])
        line = (f"uqkit over {len(conv)} seeds: ESS/1k min {e.min():.2f}, median "
                f"{np.median(e):.2f}, max {e.max():.2f} (anchor {best_issue}); R-hat < 1.01 in "
                f"{int((rh < 1.01).sum())}/{len(conv)}, < 1.05 in {int((rh < 1.05).sum())}"
                f"/{len(conv)} (max R-hat per seed {', '.join(f'{r:.3f}' for r in rh)})")
        if name == "banana":
            line += ("; errors of mean(x1), sd(x1) in MC standard errors per seed "
                     + ", ".join(f"({c[2][0]:+.1f}, {c[2][1]:+.1f})" for c in conv)
                     + " (an honest ESS gives |z| < 3)")
        print(line)
        print()
        if name == "banana" and "emcee" in res:
            fw = {k: np.array([1e6 * (r[2] - r[4]) / r[1] for r in v])
                  for k, v in res.items() if v}
            for key, label in (("uqkit", "uqkit (default Runner)"),
                               ("uqkit (pass-through runner)", "uqkit (pass-through runner)"),
                               ("emcee", "emcee vectorize=True (32 walkers)")):
                ratio = fw[key] / fw["emcee"][: len(fw[key])]  # seed by seed, same load
                speed_rows.append([label, f"{np.median(fw[key]):.1f}",
                                   f"{np.median(ratio):.2f}x",
                                   f"{ratio.min():.2f}x .. {ratio.max():.2f}x",
                                   ", ".join(f"{r:.2f}" for r in ratio)])
    if speed_rows:
        print("## framework time per evaluation (banana; (wall - time inside the model) / "
              "evaluations; target <= 1.2x emcee vectorized; ratios of runs made one after the "
              "other, seed by seed)")
        print_table(["sampler", "us/eval (median)", "ratio to emcee (median)", "range",
                     "ratio per seed"], speed_rows)


def _da_reference() -> dict:
    """Dense-grid posterior moments (``benchmarks/make_da_reference.py``)."""
    import json
    from pathlib import Path
    path = Path(__file__).parent / "reference" / "da_posteriors.json"
    if not path.exists():
        sys.exit(f"{path} is missing: run PYTHONPATH=. python benchmarks/make_da_reference.py")
    return json.loads(path.read_text())


def bench_da(args):
    """Full-model evaluations per effective sample: plain sampling vs delayed acceptance.

    DA variants: ``surrogate="pce"`` (automatic: a PCE on a small prior design, refined
    on full-model runs near the posterior, then exact DA), and a user PCE fitted on the
    prior (``make_pce``) with and without that refinement (``refine=False`` is the
    surrogate used as given). Every full-model run is counted, the fits' included.
    Posteriors (plain and DA alike) are compared with a dense-grid reference, so the
    differences carry only the run's own Monte-Carlo error (``1/sqrt(ESS)`` sd for
    means, ``1/sqrt(2 ESS)`` relative for sds).
    """
    rows, cost = [], []  # table rows and their exact evaluations per ESS
    ref = _da_reference()
    cases = [("ode", ode_problem, 200, "ode"),
             ("fitzhugh_nagumo (3 params)", fhn_problem, 400, "fitzhugh_nagumo")]
    worst = []

    def compare(post, key):
        r = ref[key]
        sd = np.asarray(r["sd"])
        ess = post.ess_bulk.to_numpy()
        dmean = np.abs(post.samples.mean().to_numpy() - r["mean"]) / sd
        dsd = np.abs(post.samples.std().to_numpy() / sd - 1)
        # in units of the run's own Monte-Carlo standard error
        z = max(np.max(dmean * np.sqrt(ess)), np.max(dsd * np.sqrt(2 * ess)))
        return float(np.max(dmean)), float(np.max(dsd)), z

    for label, make, n_fit, key in cases:
        model, prior, data, noise = make()
        first = len(rows)
        plain_cost = []
        for rep in range(args.reps):
            seed = 100 + rep
            kw = dict(noise=noise, target_ess=args.da_ess, max_evaluations=40_000)
            t0 = time.perf_counter()
            plain = uqkit.calibrate(model, prior, data, rng=seed, method="ensemble", **kw)
            wp = time.perf_counter() - t0
            fp = plain.n_model_evaluations / plain.ess_bulk.min()
            plain_cost.append(fp)
            dm, ds, z = compare(plain, key)
            cost.append(fp)
            rows.append([label, "plain", f"{plain.n_model_evaluations}",
                         f"{plain.ess_bulk.min():.0f}", f"{fp:.2f}", "1.00x", f"{dm:.3f}",
                         f"{100 * ds:.1f}%", f"{z:.1f}", "", f"{wp:.1f}"])
            pce, n_used, how = make_pce(model, prior, n_fit, 6, seed)
            variants = [('surrogate="pce" (auto)', dict(surrogate="pce"), 0),
                        (f"prior PCE ({n_used} runs), refined", dict(surrogate=pce), n_used),
                        (f"prior PCE ({n_used} runs), refine=False",
                         dict(surrogate=pce, refine=False), n_used)]
            if args.no_unrefined:
                variants = variants[:2]
            for name, extra, n_pre in variants:
                t0 = time.perf_counter()
                da = uqkit.calibrate(model, prior, data, rng=seed + 1000, **kw, **extra)
                wd = time.perf_counter() - t0
                n_da = da.n_model_evaluations + n_pre
                fd = n_da / da.ess_bulk.min()
                dm, ds, z = compare(da, key)
                worst.append([label, name, fp / fd, dm, ds, da.converged, fd])
                info = da.surrogate_info
                cost.append(fd)
                rows.append([label, name, f"{n_da}", f"{da.ess_bulk.min():.0f}", f"{fd:.2f}",
                             f"{fp / fd:.2f}x", f"{dm:.3f}", f"{100 * ds:.1f}%", f"{z:.1f}",
                             f"fit {info['n_fit_evaluations'] + n_pre}, "
                             f"{info['n_rounds']} rounds, L={da.subchain_length}, "
                             f"acc {da.acceptance_rate:.2f}", f"{wd:.1f}"])
        # plain sampling's cost per ESS is a property of the problem: its mean over the seeds
        # is a less noisy denominator than the one paired (arbitrarily) with each DA seed
        pooled = float(np.mean(plain_cost))
        for row, f in zip(rows[first:], cost[first:]):
            row.insert(6, f"{pooled / f:.2f}x" if row[1] != "plain" else "")
        for w in worst:
            if w[0] == label:
                w.append(pooled / w[6])
        print(f"   {label}: user surrogate {how}; plain sampling {pooled:.2f} evaluations per "
              f"ESS (mean of {len(plain_cost)} seeds)")
    print("## delayed acceptance (DA) vs plain uqkit sampling, target ESS "
          f"{args.da_ess:g}, seeds 100.. (plain) and 1100.. (DA), one row per seed "
          "(evaluations include every PCE fit); posteriors against a dense grid")
    print_table(["problem", "sampler", "full evals", "ESS bulk min", "evals per ESS",
                 "savings vs plain (same rep)", "savings vs plain (mean of seeds)",
                 "max |dmean|/sd", "max |sd ratio - 1|",
                 "max error / MC SE",
                 "surrogate (fit runs, rounds, sub-chain, 2nd-stage acceptance)",
                 "wall s"], rows)
    auto = [w for w in worst if w[1].startswith('surrogate="pce"')]
    for label, *_ in cases:
        auto = [w for w in worst if w[0] == label and w[1].startswith('surrogate="pce"')]
        if not auto:
            continue
        same = sum(w[2] >= 5 and w[3] <= 0.1 and w[4] <= 0.1 and w[5] for w in auto)
        pool = sum(w[7] >= 5 and w[3] <= 0.1 and w[4] <= 0.1 and w[5] for w in auto)
        print(f'{label}, surrogate="pce": savings >= 5x with max |dmean|/sd <= 0.1 and '
              f"max |sd ratio - 1| <= 10% (against the grid) on {same}/{len(auto)} runs "
              f"(same-rep plain), {pool}/{len(auto)} (plain's mean cost); savings vs the "
              f"mean: min {min(w[7] for w in auto):.2f}x, "
              f"median {float(np.median([w[7] for w in auto])):.2f}x; posterior error max "
              f"{max(w[3] for w in auto):.3f} sd (means), {100 * max(w[4] for w in auto):.1f}% "
              "(sds)")


# ------------------------------------------------------------------ methods (SMC, emcee, auto)
def _vague_anchor_module():
    """vague_prior_bench.py's problem and emcee runner, without running its module-level loop."""
    src = (ANCHOR_DIR / "vague_prior_bench.py").read_text()
    ns: dict = {"__name__": "vague_prior_bench"}
    exec(compile(src[: src.index("\nfor s in")], "vague_prior_bench.py", "exec"), ns)
    return types.SimpleNamespace(**ns)


def _row(label, value, target, ratio, note=""):
    return [label, value, target, f"{ratio:.2f}x" if np.isfinite(ratio) else "", note]


def bench_vague(args, rows):
    """10-D correlated Gaussian from prior draws N(0, s^2), default settings (method="auto")."""
    vb = _vague_anchor_module()
    D, P = vb.D, vb.P
    L = np.linalg.cholesky(P)
    names = tuple(f"x{i}" for i in range(D))
    model = uqkit.as_model(lambda X: X @ L, inputs=names,
                           outputs=tuple(f"y{i}" for i in range(D)), vectorized=True,
                           name="gauss10_vague")
    import emcee
    for s in (100, 1000):
        prior = uqkit.Parameters({n: uqkit.Normal(0, s) for n in names})
        exact = np.sqrt(np.diag(np.linalg.inv(P + np.eye(D) / s**2)))
        for seed in range(args.method_seeds):
            t0 = time.perf_counter()
            post = uqkit.calibrate(model, prior, np.zeros(D), noise=uqkit.Gaussian(1.0),
                                   rng=seed)
            wall = time.perf_counter() - t0
            e1k = 1000 * post.ess_bulk.min() / post.n_model_evaluations
            sd = post.samples.std().to_numpy() / exact
            out = io.StringIO()
            t1 = time.perf_counter()
            with contextlib.redirect_stdout(out):
                vb.run(s, [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)],
                       "emcee DE+snooker", seed=seed)
            wall_a = time.perf_counter() - t1
            text = out.getvalue()
            anchor = float(text.split("ESS/1k evals")[1]) if "ESS/1k evals" in text else np.nan
            runs_a = (int(text.split("converged by ")[1].split()[0]) if "converged by" in text
                      else np.nan)
            ok = post.converged and np.all(np.abs(sd - 1) < 0.1) and e1k >= 20
            rows.append(_row(
                f"10-D Gaussian, Normal(0, {s}) prior, seed {seed} ({post.method})",
                f"{'converged' if post.converged else 'NOT converged'}, sd ratio "
                f"{sd.min():.3f}..{sd.max():.3f}, ESS/1k {e1k:.1f}, "
                f"{post.n_model_evaluations} runs, {wall:.0f} s",
                "converged, sds within 10%, ESS/1k >= 20", e1k / anchor,
                f"{'PASS' if ok else 'FAIL'}; vs emcee DE+snooker {anchor:.1f} ESS/1k "
                f"({runs_a} runs, {wall_a:.0f} s)"))


def bench_prior_start(args, rows):
    """Logistic ODE (6,000 runs) and banana (100,000 runs) from prior draws: R-hat < 1.01."""
    for name, budget, seeds, goal in (("ode", 6000, args.ode_seeds, 15 / 16),
                                      ("banana", 100_000, args.banana_seeds, 19 / 20)):
        if seeds == 0:
            continue
        model, prior, data, noise = PROBLEMS[name]()
        rh, e1k = [], []
        for seed in range(1, seeds + 1):
            post = uqkit.calibrate(model, prior, data, noise=noise, max_evaluations=budget,
                                   target_ess=None, rng=seed)
            rh.append(float(post.r_hat.max()))
            e1k.append(1000 * post.ess_bulk.min() / post.n_model_evaluations)
        rh = np.array(rh)
        n_ok = int((rh < 1.01).sum())
        rows.append(_row(f"{name} from prior draws, {budget} runs, {seeds} seeds ({post.method})",
                         f"R-hat < 1.01 on {n_ok}/{seeds}; median ESS/1k {np.median(e1k):.1f}",
                         f">= {goal * seeds:.0f}/{seeds}", n_ok / (goal * seeds),
                         "max R-hat per seed " + ", ".join(f"{r:.3f}" for r in rh)))


def bench_evidence(args, rows):
    """SMC's log evidence on a linear-Gaussian model against the closed form, 20,000 runs."""
    from scipy import stats
    A = np.array([[1.0, 0.5], [0.2, -1.0], [1.5, 0.3], [-0.4, 0.8], [0.7, 0.7]])
    m0, s0, sigma = np.array([0.5, -0.3]), np.array([1.0, 2.0]), 0.4
    data = A @ np.array([1.0, -0.5]) + sigma * np.random.default_rng(0).standard_normal(5)
    model = uqkit.as_model(lambda X: X @ A.T, inputs=("a", "b"),
                           outputs=tuple(f"y{i}" for i in range(5)), vectorized=True)
    prior = uqkit.Parameters(a=uqkit.Normal(m0[0], s0[0]), b=uqkit.Normal(m0[1], s0[1]))
    cov = A @ np.diag(s0**2) @ A.T + sigma**2 * np.eye(5)
    exact = stats.multivariate_normal(A @ m0, cov).logpdf(data)
    err, se, runs = [], [], []
    for seed in range(args.method_seeds * 4):
        post = uqkit.calibrate(model, prior, data, noise=uqkit.Gaussian(sigma), method="smc",
                               n_walkers=args.evidence_particles, max_evaluations=20_000,
                               target_ess=None, rng=seed)
        err.append(post.log_evidence - exact)
        se.append(post.log_evidence_se)
        runs.append(post.n_model_evaluations)
    err, se = np.array(err), np.array(se)
    worst = float(np.max(np.abs(err)))
    rows.append(_row(f"linear-Gaussian log evidence, method='smc', {args.evidence_particles} "
                     f"particles, {len(err)} seeds",
                     f"max |error| {worst:.3f} nats (median {np.median(np.abs(err)):.3f}), "
                     f"max {max(runs)} runs", "<= 0.1 nats within 20,000 runs", worst / 0.1,
                     f"|error| <= 2 SE on {int((np.abs(err) <= 2 * se).sum())}/{len(err)}; "
                     f"median SE {np.median(se):.3f}"))


def _slow_model(a, b):
    time.sleep(0.05)
    return a + b, a - b


def bench_parallel(args, rows):
    """SMC with a 50 ms model: 2 worker processes against serial evaluation."""
    model = uqkit.as_model(_slow_model, inputs=("a", "b"), outputs=("s", "d"), name="slow")
    prior = uqkit.Parameters(a=uqkit.Normal(0, 1), b=uqkit.Normal(0, 1))
    walls = {}
    for label, executor in (("serial", None), ("2 workers", 2)):
        runner = uqkit.Runner(executor=executor, progress=False)
        t0 = time.perf_counter()
        post = uqkit.calibrate(model, prior, [1.0, 0.2], noise=uqkit.Gaussian(0.3),
                               method="smc", n_walkers=100, target_ess=None, rng=0,
                               runner=runner)
        walls[label] = (time.perf_counter() - t0, post.n_model_evaluations)
    speed = walls["serial"][0] / walls["2 workers"][0]
    rows.append(_row("SMC, 50 ms model, 100 particles", f"serial {walls['serial'][0]:.1f} s, "
                     f"2 workers {walls['2 workers'][0]:.1f} s ({walls['serial'][1]} runs)",
                     ">= 1.8x faster", speed / 1.8, f"speed-up {speed:.2f}x"))


def bench_methods(args):
    rows: list = []
    parts = {"vague": bench_vague, "prior_start": bench_prior_start,
             "evidence": bench_evidence, "parallel": bench_parallel}
    for key in args.methods.split(","):
        parts[key](args, rows)
    print("## sampling methods from prior draws (default settings unless stated; every run "
          "counted; ratio: value / target, or uqkit / anchor)")
    print_table(["problem", "uqkit", "target", "ratio", "notes"], rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=5, help="uqkit and emcee seeds per problem")
    ap.add_argument("--budget", type=int, default=100_000)
    ap.add_argument("--problems", default="banana,gauss10,ode")
    ap.add_argument("--anchors", default="emcee,tinyda,openturns")
    ap.add_argument("--da-ess", type=float, default=1000)
    ap.add_argument("--no-da", action="store_true")
    ap.add_argument("--no-unrefined", action="store_true",
                    help="skip the DA rows with refine=False (slow: they exhaust the budget)")
    ap.add_argument("--no-sampling", action="store_true")
    ap.add_argument("--methods", default="vague,prior_start,evidence,parallel",
                    help="rows of the methods table ('' skips it)")
    ap.add_argument("--method-seeds", type=int, default=1)
    ap.add_argument("--evidence-particles", type=int, default=2000)
    ap.add_argument("--ode-seeds", type=int, default=16)
    ap.add_argument("--banana-seeds", type=int, default=20)
    args = ap.parse_args()
    args.anchors = args.anchors.lower()
    import arviz  # noqa: F401  (import cost outside the timings)
    if not args.no_sampling:
        bench_sampling(args)
    if not args.no_da:
        bench_da(args)
    if args.methods:
        bench_methods(args)


if __name__ == "__main__":
    main()
