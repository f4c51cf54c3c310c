"""Surrogate-accelerated calibration: exact delayed acceptance and the approximate mode.

Reference posterior: a dense grid, as in test_calibration.py; tolerances are
4.5 Monte-Carlo standard errors at the run's ESS (sd / sqrt(ESS) for means,
sd / sqrt(2 ESS) for standard deviations).
"""

from __future__ import annotations

import numpy as np
import pytest

import uqkit

T = np.linspace(0.0, 4.0, 9)
SIGMA = 0.15
DATA = 2.0 * np.exp(-0.8 * T) + SIGMA * np.random.default_rng(5).standard_normal(9)


def _decay(X):
    return X[:, :1] * np.exp(-X[:, 1:2] * T[None, :])


def _biased(X):  # a deliberately wrong cheap model: 5% high plus an offset
    return 1.05 * _decay(X) + 0.03


MODEL = uqkit.as_model(_decay, inputs=("a", "b"), outputs={"y": 9}, vectorized=True)
SURROGATE = uqkit.as_model(_biased, inputs=("a", "b"), outputs={"y": 9}, vectorized=True)
PRIOR = uqkit.Parameters(a=uqkit.Uniform(0.0, 5.0), b=uqkit.Uniform(0.0, 3.0))


def _grid(fun):
    ga, gb = np.meshgrid(np.linspace(1.0, 3.2, 500), np.linspace(0.3, 1.6, 500), indexing="ij")
    P = np.c_[ga.ravel(), gb.ravel()]
    lp = -0.5 * np.sum((DATA[None, :] - fun(P)) ** 2, axis=1) / SIGMA**2
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ P
    return mean, np.sqrt(w @ (P - mean) ** 2)


def _close(post, mean, sd, z=4.5):
    ess = post.ess_bulk.to_numpy()
    m = post.samples.mean().to_numpy()
    s = post.samples.std(ddof=1).to_numpy()
    return (np.all(np.abs(m - mean) <= z * sd / np.sqrt(ess))
            and np.all(np.abs(s - sd) <= z * sd / np.sqrt(2 * ess)))


def test_delayed_acceptance_is_exact_with_a_biased_surrogate():
    mean, sd = _grid(_decay)
    # refine=False: the biased surrogate screens as given (no refinement on full-model runs)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate=SURROGATE, target_ess=1000, rng=8, refine=False)
    assert post.mode == "delayed_acceptance" and post.converged
    assert post.n_surrogate_evaluations > post.n_model_evaluations > 0
    assert _close(post, mean, sd), (post.samples.mean(), mean, post.samples.std(), sd)
    # the surrogate's own posterior is measurably different: exactness is not vacuous
    mean_s, sd_s = _grid(_biased)
    assert np.any(np.abs(mean_s - mean) > 10 * sd / np.sqrt(post.ess_bulk.to_numpy()))
    assert "delayed acceptance" in repr(post)


def test_delayed_acceptance_matches_plain_sampling():
    kw = dict(noise=uqkit.Gaussian(SIGMA), target_ess=1000)
    plain = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, rng=9, method="ensemble", **kw)
    da = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, surrogate=SURROGATE, rng=10, **kw)
    # difference of two independent estimates: SE adds in quadrature
    sd = plain.samples.std().to_numpy()
    se = sd * np.sqrt(1 / plain.ess_bulk.to_numpy() + 1 / da.ess_bulk.to_numpy())
    assert np.all(np.abs(plain.samples.mean().to_numpy() - da.samples.mean().to_numpy())
                  <= 4.5 * se)


def test_approximate_mode_samples_the_surrogate_and_says_so(tmp_path):
    mean_s, sd_s = _grid(_biased)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate=SURROGATE, surrogate_mode="approximate",
                           target_ess=1000, rng=11)
    assert post.mode == "approximate" and post.n_model_evaluations == 0
    assert _close(post, mean_s, sd_s)
    assert "APPROXIMATE" in repr(post) and "APPROXIMATE" in post._repr_html_()
    text = open(post.report(tmp_path / "r.html"), encoding="utf-8").read()
    assert "APPROXIMATE" in text


def test_surrogate_must_match_the_model():
    bad = uqkit.as_model(_decay, inputs=("b", "a"), outputs={"y": 9}, vectorized=True)
    with pytest.raises(uqkit.InvalidParameterError, match="inputs"):
        uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA), surrogate=bad)


def _has_fit_pce() -> bool:
    import importlib.util
    if importlib.util.find_spec("uqkit.pce") is None:
        return False
    import uqkit.pce
    return hasattr(uqkit.pce, "fit_pce")


@pytest.mark.skipif(not _has_fit_pce(), reason="uqkit.fit_pce not in this tree yet")
def test_pce_surrogate_path():
    mean, sd = _grid(_decay)
    post = uqkit.calibrate(MODEL, PRIOR, {"y": DATA}, noise=uqkit.Gaussian(SIGMA),
                           surrogate="pce", target_ess=1000, rng=12)
    assert post.mode == "delayed_acceptance"
    assert _close(post, mean, sd)


# -- FitzHugh-Nagumo: a prior-fitted PCE puts the posterior in the wrong place -------------
FHN_SIGMA = 0.1
FHN_PRIOR = uqkit.Parameters(a=uqkit.Uniform(0.3, 1.1), b=uqkit.Uniform(0.4, 1.2),
                             tau=uqkit.Uniform(8.0, 16.0))


def _fhn_problem(t_end, n_times):
    """FitzHugh-Nagumo v(t): dv = v - v^3/3 - w + 0.5, dw = (v + a - b w) / tau."""
    from scipy.integrate import solve_ivp
    times = np.linspace(0.0, t_end, n_times + 1)[1:]

    def solve(X):
        X = np.atleast_2d(X)
        a, b, tau = X[:, 0], X[:, 1], X[:, 2]
        m = len(a)

        def rhs(t, y):
            v, w = y[:m], y[m:]
            return np.concatenate([v - v**3 / 3 - w + 0.5, (v + a - b * w) / tau])
        sol = solve_ivp(rhs, (0, times[-1]), np.r_[np.full(m, -1.0), np.full(m, 1.0)],
                        t_eval=times, rtol=1e-6, atol=1e-8)
        return sol.y[:m]

    model = uqkit.as_model(solve, inputs=("a", "b", "tau"), outputs={"v": n_times},
                           vectorized=True, name=f"fitzhugh_nagumo_{t_end:g}")
    data = (solve(np.array([0.7, 0.8, 12.5]))[0]
            + FHN_SIGMA * np.random.default_rng(7).standard_normal(n_times))
    return model, {"v": data}


def _check_fhn(t_end, n_times, target_ess, savings):
    model, data = _fhn_problem(t_end, n_times)
    kw = dict(noise=uqkit.Gaussian(FHN_SIGMA), target_ess=target_ess)
    plain = uqkit.calibrate(model, FHN_PRIOR, data, rng=1, method="ensemble", **kw)
    da = uqkit.calibrate(model, FHN_PRIOR, data, surrogate="pce", rng=2, **kw)
    assert plain.converged and da.converged and da.mode == "delayed_acceptance"
    # two independent estimates: Monte-Carlo SEs add in quadrature; 4.5 SE (means: sd /
    # sqrt(ESS), sds: sd / sqrt(2 ESS)), from each run's own bulk ESS
    sd = plain.samples.std().to_numpy()
    inv = 1 / plain.ess_bulk.to_numpy() + 1 / da.ess_bulk.to_numpy()
    dmean = np.abs(plain.samples.mean().to_numpy() - da.samples.mean().to_numpy())
    dsd = np.abs(plain.samples.std().to_numpy() - da.samples.std().to_numpy())
    assert np.all(dmean <= 4.5 * sd * np.sqrt(inv)), (dmean / sd, np.sqrt(inv))
    assert np.all(dsd <= 4.5 * sd * np.sqrt(inv / 2)), (dsd / sd, np.sqrt(inv / 2))
    # full-model runs per effective sample, the PCE fit and its refinement included
    per_ess = lambda p: p.n_model_evaluations / p.ess_bulk.min()  # noqa: E731
    assert per_ess(da) < per_ess(plain) / savings, (per_ess(da), per_ess(plain))
    info = da.surrogate_info
    assert info["n_rounds"] >= 1 and info["n_fit_evaluations"] < da.n_model_evaluations


def _fhn_reference():
    """Plain-sampling reference of the 20-point problem (tests/reference/fhn20_posterior.json).

    Regenerate: ``model, data = _fhn_problem(20.0, 20)``; ``uqkit.calibrate(model,
    FHN_PRIOR, data, noise=uqkit.Gaussian(FHN_SIGMA), target_ess=4000, rng=123)``;
    store its sample mean, sd and bulk ESS.
    """
    import json
    from pathlib import Path
    path = Path(__file__).parent / "reference" / "fhn20_posterior.json"
    return json.loads(path.read_text())


def test_fitzhugh_nagumo_delayed_acceptance_matches_the_full_model_posterior():
    ref = _fhn_reference()
    model, data = _fhn_problem(20.0, 20)
    da = uqkit.calibrate(model, FHN_PRIOR, data, noise=uqkit.Gaussian(FHN_SIGMA),
                         surrogate="pce", target_ess=400, rng=2)
    assert da.converged and da.mode == "delayed_acceptance"
    sd = np.array(ref["sd"])
    # 4.5 Monte-Carlo SEs of the difference: sd / sqrt(ESS) (means), sd / sqrt(2 ESS)
    # (sds) of the DA run and of the reference, added in quadrature
    inv = 1 / da.ess_bulk.to_numpy() + 1 / np.array(ref["ess_bulk"])
    dmean = np.abs(da.samples.mean().to_numpy() - ref["mean"])
    dsd = np.abs(da.samples.std().to_numpy() - sd)
    assert np.all(dmean <= 4.5 * sd * np.sqrt(inv)), (dmean / sd, np.sqrt(inv))
    assert np.all(dsd <= 4.5 * sd * np.sqrt(inv / 2)), (dsd / sd, np.sqrt(inv / 2))
    # the reference cost 38,263 runs for ESS >= 4000 (about 9 per ESS): DA must need
    # at least 3x fewer, its PCE fit and refinement included
    per_ess = da.n_model_evaluations / da.ess_bulk.min()
    assert per_ess < ref["n_model_evaluations"] / min(ref["ess_bulk"]) / 3, per_ess
    info = da.surrogate_info
    assert info["n_rounds"] >= 1 and 0 < info["n_fit_evaluations"] < da.n_model_evaluations


@pytest.mark.slow
def test_fitzhugh_nagumo_benchmark_case_equals_plain_and_saves_3x():
    _check_fhn(40.0, 40, target_ess=400, savings=3)


@pytest.mark.parametrize("seed", [pytest.param(4, marks=pytest.mark.slow), 5,
                                  pytest.param(6, marks=pytest.mark.slow)])
def test_fitzhugh_nagumo_delayed_acceptance_matches_the_dense_grid(seed):
    """The 40-point problem against its dense-grid posterior (tests/reference/fhn40_grid.json,
    written by benchmarks/make_da_reference.py; grid error < 0.004 sd).

    Before the refinement's frontier search and the defensive screening density, the
    sds came out 1-11 % narrow on 12/12 seeds (on 2 of them by more than 4.5, up to
    8.8, Monte-Carlo SEs): the surrogate missed a long tail of the posterior that
    delayed acceptance then rarely entered. Tolerance: 4.5 Monte-Carlo SEs of this
    run (sd / sqrt(ESS) for means, sd / sqrt(2 ESS) for sds). When the refinement kept
    the round with the smallest measured error rather than its last fit, seeds 3-10
    gave 7/8 within it: on seed 5 a walker stuck in the tail for a long stretch, the
    sds came out 5 SEs (5 %) wide, and seeds 3 and 5 took 25,000-50,000 runs. With the
    last fit: 8/8, worst error 2.6 SEs, errors of both signs, 2,100-7,300 runs each;
    with the frontier search widened as well (16 points per round, level 0.99999):
    8/8, worst 2.9 SEs, 2,100-4,800 runs.
    Seed 5 is kept here as the regression case.
    """
    import json
    from pathlib import Path
    ref = json.loads((Path(__file__).parent / "reference" / "fhn40_grid.json").read_text())
    model, data = _fhn_problem(40.0, 40)
    da = uqkit.calibrate(model, FHN_PRIOR, data, noise=uqkit.Gaussian(FHN_SIGMA),
                         surrogate="pce", target_ess=1000, rng=seed)
    assert da.converged and da.mode == "delayed_acceptance"
    sd, ess = np.array(ref["sd"]), da.ess_bulk.to_numpy()
    dmean = np.abs(da.samples.mean().to_numpy() - ref["mean"]) / sd
    dsd = np.abs(da.samples.std().to_numpy() / sd - 1)
    assert np.all(dmean <= 4.5 / np.sqrt(ess)), (dmean, 1 / np.sqrt(ess))
    assert np.all(dsd <= 4.5 / np.sqrt(2 * ess)), (dsd, 1 / np.sqrt(2 * ess))
