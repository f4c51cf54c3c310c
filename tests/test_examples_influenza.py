"""The 1978 boarding-school influenza example against its independent reference posterior.

``tests/reference/influenza_reference.json`` is written by
``tests/reference/influenza_reference.py`` (a dense grid with scipy's ODE solver and
negative-binomial pmf; data: BMJ 1(6112), 587, 4 March 1978). Tolerances: a posterior
mean estimate has Monte-Carlo standard error ``sd / sqrt(ESS)`` at the run's own bulk
ESS, an sd estimate ``sd / sqrt(2 ESS)``; each check allows 4.5 of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

import uqkit

REF = json.loads((Path(__file__).parent / "reference" / "influenza_reference.json").read_text())
Z = 4.5


def test_influenza_model_matches_an_adaptive_solver():
    model, prior, data, noise = uqkit.examples.influenza()
    assert isinstance(noise, uqkit.NegativeBinomial) and noise.phi == "infer"
    assert data["in_bed"].tolist() == [3, 8, 26, 76, 225, 298, 258, 233, 189, 128, 68, 29, 14, 4]
    X = np.array([[1.73, 0.54], [2.5, 0.3]])
    got = uqkit.Runner(progress=False).evaluate(model, X).Y
    for row, (b, g) in zip(got, X):
        def rhs(t, y, b=b, g=g):
            return [-b * y[0] * y[1] / 763, b * y[0] * y[1] / 763 - g * y[1]]

        ref = solve_ivp(rhs, (0, 14), [762.0, 1.0], t_eval=np.arange(1, 15), rtol=1e-11, atol=1e-9,
                        method="DOP853").y[1]
        np.testing.assert_allclose(row, ref, rtol=1e-4)  # RK4, dt = 0.1 day


def test_influenza_posterior_matches_the_reference():
    model, prior, data, noise = uqkit.examples.influenza()
    post = uqkit.calibrate(model, prior, data, noise=noise, max_evaluations=4000, rng=0)
    assert post.names == ("beta", "gamma", "phi") and post.n_failed == 0
    assert float(post.r_hat.max()) < 1.05
    assert REF["edge_mass"] < 1e-3  # the reference grid holds the posterior
    s = post.samples.assign(R0=post.samples["beta"] / post.samples["gamma"])
    ess = dict(post.ess_bulk, R0=float(post.ess_bulk[["beta", "gamma"]].min()))
    for name in ("beta", "gamma", "phi", "R0"):
        mean, sd = REF[name]["mean"], REF[name]["sd"]
        assert abs(s[name].mean() - mean) <= Z * sd / np.sqrt(ess[name]), name
        if name != "phi":  # phi's sd estimate is heavy-tailed (1/phi ~ Exponential prior)
            assert abs(s[name].std() - sd) <= Z * sd / np.sqrt(2 * ess[name]), name
