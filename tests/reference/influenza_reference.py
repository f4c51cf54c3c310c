"""Reference posterior of the 1978 boarding-school influenza example, on a dense grid.

Independent of uqkit's code: the SIR ODE is solved by scipy's ``odeint`` (LSODA,
rtol 1e-10) on every grid point at once, the likelihood is
``scipy.stats.nbinom`` (``n = phi``, ``p = phi / (phi + mu)``: Stan's
``neg_binomial_2``), the priors are scipy's ``truncnorm`` and ``invgamma``.
The posterior of (beta, gamma, phi) is tabulated on a 161 x 161 x 240 grid
(phi on a log grid, with the Jacobian), and its means, sds and those of
``R0 = beta / gamma`` are written to ``influenza_reference.json``.

Data: "Influenza in a boarding school", British Medical Journal 1(6112), 587,
4 March 1978 (763 pupils; in bed on days 1..14); as in the R package
``outbreaks`` (``influenza_england_1978_school``). Model and priors: Grinsztajn
et al. (2021), Statistics in Medicine 40(27), 6209-6234.

Run: ``python tests/reference/influenza_reference.py`` (about a minute).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.integrate import odeint

IN_BED = np.array([3, 8, 26, 76, 225, 298, 258, 233, 189, 128, 68, 29, 14, 4], float)
N = 763.0
BETA = np.linspace(1.45, 2.05, 161)
GAMMA = np.linspace(0.36, 0.76, 161)
LOG_PHI = np.linspace(np.log(0.8), np.log(400.0), 240)


def infected(beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """I(t) at days 1..14 for every (beta, gamma) pair (arrays of equal size)."""
    m = beta.size

    def rhs(y, t):
        s, i = y[:m], y[m:]
        inf = beta * s * i / N
        return np.concatenate([-inf, inf - gamma * i])

    y0 = np.concatenate([np.full(m, N - 1.0), np.ones(m)])
    sol = odeint(rhs, y0, np.arange(0.0, 15.0), rtol=1e-10, atol=1e-8)
    return sol[1:, m:].T  # (m, 14)


def log_posterior(beta: np.ndarray, gamma: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unnormalised log posterior density of (beta, gamma, phi), shape (len(beta), len(phi))."""
    mu = infected(beta, gamma)                               # (m, 14)
    ll = np.zeros((mu.shape[0], phi.size))
    for j, p in enumerate(phi):
        ll[:, j] = stats.nbinom.logpmf(IN_BED[None, :], p, p / (p + mu)).sum(axis=1)
    a = stats.truncnorm(-2.0, np.inf, loc=2.0, scale=1.0)    # N(2, 1) truncated at 0
    b = stats.truncnorm(-0.8, np.inf, loc=0.4, scale=0.5)    # N(0.4, 0.5) truncated at 0
    return (ll + a.logpdf(beta)[:, None] + b.logpdf(gamma)[:, None]
            + stats.invgamma(1.0, scale=5.0).logpdf(phi)[None, :])


def main() -> dict:
    B, G = np.meshgrid(BETA, GAMMA, indexing="ij")
    phi = np.exp(LOG_PHI)
    # density of (beta, gamma, log phi): the Jacobian phi of the log grid
    lp = log_posterior(B.ravel(), G.ravel(), phi) + LOG_PHI[None, :]
    logpost = lp.reshape(BETA.size, GAMMA.size, phi.size)
    w = np.exp(logpost - logpost.max())
    w /= w.sum()
    # the grid must hold the posterior: negligible mass on its faces
    edge = max(w[[0, -1]].sum(), w[:, [0, -1]].sum(), w[:, :, [0, -1]].sum())
    out = {"edge_mass": float(edge)}
    grids = {"beta": B[..., None], "gamma": G[..., None], "phi": phi[None, None, :],
             "log_phi": LOG_PHI[None, None, :], "R0": (B / G)[..., None]}
    for name, g in grids.items():
        g = np.broadcast_to(g, w.shape)
        m = float((w * g).sum())
        out[name] = {"mean": m, "sd": float(np.sqrt((w * (g - m) ** 2).sum()))}
    return out


if __name__ == "__main__":
    result = main()
    path = Path(__file__).with_name("influenza_reference.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
