"""The 1978 boarding-school influenza example against an independent reference.

``tests/reference/influenza_reference.py`` implements the same posterior without uqkit
(scipy's ``odeint`` for the SIR ODE, ``scipy.stats.nbinom`` for the likelihood, scipy's
priors; data: BMJ 1(6112), 587, 4 March 1978) and writes the moments of a dense grid
to ``influenza_reference.json``. Sampling tolerances: a posterior mean estimate has
Monte-Carlo standard error ``sd / sqrt(ESS)`` at the run's own bulk ESS, an sd estimate
``sd / sqrt(2 ESS)``; each check allows 4.5 of them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit.calibration._problem import build_problem

HERE = Path(__file__).parent / "reference"
REF = json.loads((HERE / "influenza_reference.json").read_text())
Z = 4.5


def _reference_module():
    spec = importlib.util.spec_from_file_location("influenza_reference",
                                                  HERE / "influenza_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_influenza_log_posterior_matches_the_independent_reference():
    model, prior, data, noise = uqkit.examples.influenza()
    assert isinstance(noise, uqkit.NegativeBinomial) and noise.phi == "infer"
    assert data["in_bed"].tolist() == [3, 8, 26, 76, 225, 298, 258, 233, 189, 128, 68, 29, 14, 4]
    problem = build_problem(model, prior, data, noise)
    assert problem.names == ("beta", "gamma", "phi")
    # the posterior bulk, its tails, and a fast epidemic (the solver's refined steps)
    P = np.array([[1.73, 0.54, 9.5], [1.6, 0.45, 3.0], [1.9, 0.65, 40.0], [2.6, 0.3, 1.0],
                  [6.0, 3.0, 5.0]])
    Y = uqkit.Runner(progress=False).evaluate(model, P[:, :2]).Y
    ours = problem.logprior(P) + problem.loglike(P, Y)
    ref = _reference_module()
    theirs = np.diag(ref.log_posterior(P[:, 0], P[:, 1], P[:, 2]))
    # equal densities (same normalisation); RK4 at dt = 0.1 differs from LSODA by <= 1e-4
    # relative in the counts, which moves a log-likelihood by well under 0.01
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.01)


@pytest.mark.slow  # about 25 s on an idle machine: a converged run of the real example
def test_influenza_posterior_matches_the_reference():
    model, prior, data, noise = uqkit.examples.influenza()
    post = uqkit.calibrate(model, prior, data, noise=noise, max_evaluations=20_000, rng=0)
    assert post.n_failed == 0 and float(post.r_hat.max()) < 1.05
    assert REF["edge_mass"] < 1e-3  # the reference grid holds the posterior
    s = post.samples.assign(R0=post.samples["beta"] / post.samples["gamma"],
                            log_phi=np.log(post.samples["phi"]))
    ess = dict(post.ess_bulk, R0=float(post.ess_bulk[["beta", "gamma"]].min()),
               log_phi=float(post.ess_bulk["phi"]))
    # phi itself is heavy-tailed (1/phi ~ Exponential prior): its log is checked instead
    for name in ("beta", "gamma", "R0", "log_phi"):
        mean, sd = REF[name]["mean"], REF[name]["sd"]
        assert abs(s[name].mean() - mean) <= Z * sd / np.sqrt(ess[name]), name
        assert abs(s[name].std() - sd) <= Z * sd / np.sqrt(2 * ess[name]), name
