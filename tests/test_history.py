"""History matching: NROY volume and samples, emulator variance, observations, bad input."""

import numpy as np
import pytest

import uqkit
from uqkit.history import EmptyNROYWarning


class ExactEmulator:
    """Stand-in emulator of one input column, with a fixed predictive sd (0: exact)."""

    def __init__(self, column: int, sd: float = 0.0) -> None:
        self.column, self.sd = column, sd

    def predict(self, X, return_std=False):
        mean = np.asarray(X, dtype=float)[:, self.column]
        return (mean, np.full(len(mean), self.sd)) if return_std else mean


def exact_fit(sd: float = 0.0):
    """``emulator=`` callable: the identity model's outputs are its input columns."""
    def fit(X, y):
        return ExactEmulator(0 if np.allclose(y, X[:, 0]) else 1, sd)
    return fit


class Counting:
    """The identity model (y1 = a, y2 = b) counting its calls."""

    inputs, outputs, vectorized, name = ("a", "b"), ("y1", "y2"), True, "identity2"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, X):
        self.calls += 1
        return np.asarray(X, dtype=float).copy()


PRIOR = uqkit.Parameters(a=uqkit.Uniform(0, 1), b=uqkit.Uniform(0, 1))


@pytest.mark.parametrize("side, rel_tol", [(0.2, 0.37), (1e-3, 1.0)])
def test_linear_model_nroy_volume_and_samples(side, rel_tol):
    # identity model, z = (0.5, 0.5), exact emulator: NROY is the square |x - 0.5| <= 3 sd,
    # of side 6 sd and volume side^2 (0.04, and 1e-6 where rejection sampling is hopeless).
    # Relative sd of the subset-simulation estimate over 30 seeds: 9.3 % (0.04) and 25 %
    # (1e-6), unbiased (means 0.98 and 1.01); the tolerances are 4 sd.
    v = (side / 6) ** 2
    hm = uqkit.history_match(Counting(), PRIOR, [0.5, 0.5], obs_variance=v,
                             emulator=exact_fit(), runs_per_wave=8, rng=3)
    assert hm.nroy_fraction == pytest.approx(side**2, rel=rel_tol)
    S = hm.nroy_samples(400, rng=4)
    assert S.shape == (400, 2)
    assert np.all(np.abs(S - 0.5) <= side / 2 + 1e-12)
    assert np.all(hm.in_nroy(S))
    # uniform on the square: mean 0.5 and sd side / sqrt(12) (400 correlated draws: 5 % / 10 %)
    np.testing.assert_allclose(S.mean(axis=0), 0.5, atol=0.1 * side)
    np.testing.assert_allclose(S.std(axis=0), side / np.sqrt(12), rtol=0.15)
    assert hm.stop_reason == "emulator_precise"
    assert hm.n_evaluations == 8


def test_emulator_variance_enters_implausibility():
    v, sd_em, disc = 0.01**2, 0.05, 0.02**2
    poor = uqkit.history_match(Counting(), PRIOR, {"y1": 0.5, "y2": 0.5}, obs_variance=v,
                               discrepancy_variance=disc, emulator=exact_fit(sd_em),
                               n_waves=4, runs_per_wave=8, rng=0)
    # the emulator never improves: wave 2 keeps all of wave 1's NROY, and the waves stop
    assert poor.stop_reason == "nroy_stable" and poor.n_waves == 2
    assert poor.waves["kept"].iloc[1] == 1.0
    X = np.random.default_rng(1).random((50, 2))
    expected = np.max(np.abs(X - 0.5), axis=1) / np.sqrt(sd_em**2 + v + disc)
    np.testing.assert_allclose(poor.implausibility(X), expected, rtol=1e-12)
    per = poor.implausibility(X, per_output=True)
    np.testing.assert_allclose(per["y2"], np.abs(X[:, 1] - 0.5) / np.sqrt(sd_em**2 + v + disc),
                               rtol=1e-12)
    # the poor emulator keeps a larger NROY: side 6 sqrt(sd^2 + v + disc) = 0.33
    side = 6 * np.sqrt(sd_em**2 + v + disc)
    assert poor.nroy_fraction == pytest.approx(side**2, rel=0.37)
    assert poor.waves["emulator_var_ratio_y1"].iloc[0] == pytest.approx(sd_em**2 / (v + disc))


def test_observations_by_name_with_missing_outputs():
    v = 0.05**2
    by_name = uqkit.history_match(Counting(), PRIOR, {"y1": 0.3}, obs_variance={"y1": v},
                                  emulator=exact_fit(), runs_per_wave=8, rng=0)
    with_nan = uqkit.history_match(Counting(), PRIOR, [0.3, np.nan], obs_variance=[v, 1.0],
                                   emulator=exact_fit(), runs_per_wave=8, rng=0)
    for hm in (by_name, with_nan):
        assert hm.outputs == ("y1",)
        # only y1 = a is matched: NROY is the band |a - 0.3| <= 3 * 0.05, volume 0.3 (4 sd)
        assert hm.nroy_fraction == pytest.approx(0.3, rel=0.15)
        S = hm.nroy_samples(300, rng=0)
        assert np.all(np.abs(S[:, 0] - 0.3) <= 0.15 + 1e-12)
        assert S[:, 1].min() < 0.1 and S[:, 1].max() > 0.9   # b is free
    np.testing.assert_allclose(by_name.implausibility([[0.4, 0.9]]), [2.0])


@pytest.mark.parametrize("kwargs, match", [
    ({"obs_variance": -0.1}, "non-negative"),
    ({"obs_variance": 0.1, "discrepancy_variance": {"y1": -1.0, "y2": 0.0}}, "non-negative"),
    ({"obs_variance": 0.0}, "> 0"),
    ({"obs_variance": 0.1, "rank": 3}, "rank"),
    ({"obs_variance": 0.1, "threshold": 0}, "threshold"),
    ({"obs_variance": 0.1, "emulator": "pce"}, "emulator"),
])
def test_bad_input_is_refused_before_any_run(kwargs, match):
    model = Counting()
    with pytest.raises(uqkit.InvalidParameterError, match=match):
        uqkit.history_match(model, PRIOR, [0.5, 0.5], **kwargs)
    with pytest.raises(uqkit.InvalidParameterError, match="output names"):
        uqkit.history_match(model, PRIOR, {"y3": 0.5}, obs_variance=0.1)
    assert model.calls == 0


def test_empty_nroy_warns_and_keeps_every_run(tmp_path):
    model = Counting()
    with uqkit.Store(tmp_path / "hm.db") as store, uqkit.Runner(store=store,
                                                               progress=False) as runner:
        with pytest.warns(EmptyNROYWarning, match="ruled out the whole parameter space"):
            hm = uqkit.history_match(model, PRIOR, [5.0, 0.5], obs_variance=1e-4,
                                     emulator=exact_fit(), runs_per_wave=8, rng=0,
                                     runner=runner)
        assert len(store.to_dataframe()) == 8
    assert hm.nroy_fraction == 0.0 and hm.stop_reason == "empty"
    assert hm.X.shape == (8, 2) and np.all(np.isfinite(hm.Y))
    with pytest.raises(ValueError, match="NROY space is empty"):
        hm.nroy_samples(10)
    assert "empty" in hm._repr_html_()


def test_waves_with_gp_emulators_keep_the_truth_and_hand_over_to_calibrate():
    # a nonlinear model; the truth must stay in NROY through the waves (with the default 20
    # runs per wave, 10 random truths were all kept; with 8-10 runs per wave the GPs were
    # overconfident and cut the truth on 2 of 6 seeds)
    model = uqkit.as_model(lambda a, b: (np.sin(6 * a) + b**2, a * b * np.cos(3 * b)),
                           outputs=("u", "w"))
    truth = np.array([0.4, 0.7])
    z = np.asarray(model(truth[None, :]))[0]
    hm = uqkit.history_match(model, PRIOR, z, obs_variance=0.01**2, n_waves=3,
                             runs_per_wave=12, rng=0)
    assert hm.n_waves >= 2 and hm.n_evaluations == 12 * hm.n_waves
    assert set(hm.waves["runs"]) == {12}
    assert {"nroy_fraction", "rmse_u", "outside_3sd_w"} <= set(hm.waves.columns)
    assert hm.in_nroy(truth[None, :])[0]
    assert 0 < hm.nroy_fraction < 0.01
    assert np.all(np.diff(hm.waves["nroy_fraction"]) <= 0)
    prior = hm.nroy_prior()
    assert prior.names == ("a", "b")
    lo, hi = prior.bounds.T
    assert np.all(lo <= truth) and np.all(truth <= hi) and np.all(hi - lo < 1)
    post = uqkit.calibrate(model, prior, z, noise=uqkit.Gaussian(0.01), n_walkers=8,
                           n_steps=20, target_ess=None, initial=hm.nroy_samples(8, rng=1),
                           rng=2)
    assert np.all(np.isfinite(post.samples.to_numpy()))
    assert f"HistoryMatch({hm.n_waves} waves" in repr(hm)
    from uqkit.reports._sections import build_section

    section = build_section(hm, "")
    assert section.kind == "history"
    assert any(b["type"] == "figure" for b in section.blocks)


def test_fitted_emulator_single_cut():
    class Both:
        inputs, outputs = ("a", "b"), ("y1", "y2")

        def predict(self, X, return_std=False):
            X = np.asarray(X, dtype=float)
            return (X, np.zeros_like(X)) if return_std else X

    v = (0.2 / 6) ** 2
    hm = uqkit.history_match(Both(), PRIOR, [0.5, 0.5], obs_variance=v, rng=0)
    assert hm.n_evaluations == 0 and hm.stop_reason == "fitted_emulator"
    assert hm.nroy_fraction == pytest.approx(0.04, rel=0.37)


def test_nroy_fraction_is_prior_probability_with_a_normal_prior():
    from scipy.stats import norm

    prior = uqkit.Parameters(a=uqkit.Normal(0.5, 0.2), b=uqkit.Uniform(0, 1))
    # only y1 = a observed at 0.5 with sd 0.1 / 3: NROY is |a - 0.5| <= 0.1, of prior
    # probability P(|Z| <= 0.5) = 0.383 (relative sd of the estimate about 4 % at this size)
    hm = uqkit.history_match(Counting(), prior, {"y1": 0.5}, obs_variance=(0.1 / 3) ** 2,
                             emulator=exact_fit(), runs_per_wave=8, rng=0)
    assert hm.nroy_fraction == pytest.approx(2 * norm.cdf(0.5) - 1, rel=0.15)
    box = hm.nroy_prior()
    assert box["a"].kind == "truncnormal" and box["b"].kind == "uniform"
    lo, hi = box.bounds[0]
    assert 0.38 <= lo <= 0.4 + 1e-9 and 0.6 - 1e-9 <= hi <= 0.62   # widened 5 % in CDF units
    S = hm.nroy_samples(400, rng=1)
    assert np.all(np.abs(S[:, 0] - 0.5) <= 0.1 + 1e-12)
    # the prior restricted to NROY: a normal truncated to [0.4, 0.6] has sd 0.0568
    assert S[:, 0].std() == pytest.approx(0.0568, rel=0.15)
