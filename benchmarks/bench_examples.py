"""Cost and accuracy of the biomedical examples against straightforward baselines.

uqkit's examples are vectorized over samples (and cells), so a batch costs little more
than one run. Baselines:

1. Cardiac cable: the textbook scheme, forward Euler for both the cell model and the
   3-point diffusion on the same grid, vectorized the same way; its step is limited by
   ``dt < dx^2 / (2 D)``. uqkit solves the diffusion substep exactly in the Laplacian's
   eigenbasis (step limited by the cell dynamics only). Accuracy: relative error of
   APD90 and CV against a run with dx and dt four times smaller.
2. SIR and Hodgkin-Huxley: ``scipy.integrate.solve_ivp`` one sample at a time
   (RK45 / LSODA at tight tolerances), the way a user without vectorized code runs them.

Usage: python benchmarks/bench_examples.py [--n 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the local uqkit

import uqkit  # noqa: E402
from uqkit.examples._cardiac import MU2, TIME_SCALE_MS  # noqa: E402


def _time(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def explicit_cable(X, length=40.0, n_cells=80, duration=600.0):
    """Forward Euler for reaction and diffusion (the baseline), APD90 and CV as uqkit."""
    n = len(X)
    D, k, a, eps0, mu1 = (X[:, i:i + 1] for i in range(5))
    dx = length / n_cells
    x = (np.arange(n_cells) + 0.5) * dx
    dt = 0.9 * dx**2 / (2 * X[:, 0].max())          # stability limit of explicit diffusion
    h = dt / TIME_SCALE_MS
    u = np.where(x < 2.0, 1.0, 0.0) * np.ones((n, 1))
    v = np.zeros((n, n_cells))
    cols = [int(round(0.25 * n_cells)), n_cells // 2, int(round(0.75 * n_cells))]
    t_act = np.full((n, 3), np.nan)
    t_rep = np.full(n, np.nan)
    for step in range(1, int(duration / dt) + 1):
        lap = np.empty_like(u)
        lap[:, 1:-1] = u[:, 2:] - 2 * u[:, 1:-1] + u[:, :-2]
        lap[:, 0] = u[:, 1] - u[:, 0]
        lap[:, -1] = u[:, -2] - u[:, -1]
        du = k * u * (u - a) * (1 - u) - u * v
        dv = (eps0 + mu1 * v / (u + MU2)) * (-v - k * u * (u - a - 1))
        old = u[:, cols]
        u = u + h * du + dt * D * lap / dx**2
        v = v + h * dv
        new = u[:, cols]
        up = (new >= 0.5) & (old < 0.5) & np.isnan(t_act)
        t_act[up] = step * dt
        down = (new[:, 1] < 0.1) & (old[:, 1] >= 0.1) & np.isnan(t_rep) & ~np.isnan(t_act[:, 1])
        t_rep[down] = step * dt
    cv = (x[cols[2]] - x[cols[0]]) / (t_act[:, 2] - t_act[:, 0])
    return np.column_stack([t_rep - t_act[:, 1], cv])


def sir_scipy(X, horizon=730.0):
    out = []
    for r0, period, i0 in X:
        g = 1 / period
        b = r0 * g
        sol = solve_ivp(lambda t, y, b=b, g=g: [-b * y[0] * y[1], b * y[0] * y[1] - g * y[1]],
                        (0, horizon), [1 - i0, i0], rtol=1e-8, atol=1e-12, dense_output=True)
        tt = np.linspace(0, horizon, 4 * int(horizon) + 1)
        ii = sol.sol(tt)[1]
        out.append([ii.max(), tt[ii.argmax()], 1 - sol.y[0, -1]])
    return np.array(out)


def hh_scipy(X, duration=100.0):
    from uqkit.examples._neuron import E_K, E_L, E_NA, _rates

    out = []
    for current, g_na, g_k, g_l in X:
        an, bn, am, bm, ah, bh = (float(r) for r in _rates(np.array(-65.0)))

        def rhs(t, y, current=current, g_na=g_na, g_k=g_k, g_l=g_l):
            v, n, m, h = y
            an, bn, am, bm, ah, bh = _rates(np.array(v))
            i_ion = (g_na * m**3 * h * (v - E_NA) + g_k * n**4 * (v - E_K) + g_l * (v - E_L))
            return [current - i_ion, an * (1 - n) - bn * n, am * (1 - m) - bm * m,
                    ah * (1 - h) - bh * h]

        y0 = [-65.0, an / (an + bn), am / (am + bm), ah / (ah + bh)]
        sol = solve_ivp(rhs, (0, duration), y0, method="LSODA", rtol=1e-8, atol=1e-10,
                        max_step=0.05)
        v = sol.y[0]
        out.append([np.sum((v[1:] >= 0) & (v[:-1] < 0)), v.max()])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    rows = []

    cable, params, _ = uqkit.examples.cardiac_cable()
    X = params.sample(args.n, rng=0)
    fine, _, _ = uqkit.examples.cardiac_cable(n_cells=320, dt=0.1)
    Xs = X[:16]
    ref = fine(Xs)[:, :2]
    t1, _ = _time(lambda: cable(X[:1]))
    tb, _ = _time(lambda: cable(X), repeat=1)
    err_u = np.abs(cable(Xs)[:, :2] / ref - 1).max(axis=0)
    tb_ex, _ = _time(lambda: explicit_cable(X), repeat=1)
    t1_ex, y_ex = _time(lambda: explicit_cable(Xs), repeat=1)
    err_ex = np.abs(y_ex / ref - 1).max(axis=0)
    rows.append(("cardiac cable, 1 run (s)", t1, None))
    rows.append((f"cardiac cable, per sample in a batch of {args.n} (s)", tb / args.n,
                 tb_ex / args.n))
    rows.append(("cardiac cable, max rel. error APD90 (16 samples)", err_u[0], err_ex[0]))
    rows.append(("cardiac cable, max rel. error CV (16 samples)", err_u[1], err_ex[1]))

    sir, sparams, _ = uqkit.examples.sir()
    Xs = sparams.sample(args.n, rng=1)
    ts, Ys = _time(lambda: sir(Xs), repeat=1)
    k = min(args.n, 64)
    tsc, Ysc = _time(lambda: sir_scipy(Xs[:k]), repeat=1)
    r0, s0 = Xs[:, 0], 1 - Xs[:, 2]
    res_u = np.abs(np.log((1 - Ys[:, 2]) / s0) + r0 * Ys[:, 2]).max()
    res_s = np.abs(np.log((1 - Ysc[:, 2]) / s0[:k]) + r0[:k] * Ysc[:, 2]).max()
    rows.append(("SIR, per sample (s) [scipy RK45 rtol 1e-8, 64 samples]", ts / args.n, tsc / k))
    rows.append(("SIR, max final-size residual", res_u, res_s))
    fine_sir, _, _ = uqkit.examples.sir(dt=0.1)          # like-for-like accuracy
    tf, Yf = _time(lambda: fine_sir(Xs), repeat=1)
    res_f = np.abs(np.log((1 - Yf[:, 2]) / s0) + r0 * Yf[:, 2]).max()
    rows.append(("SIR dt=0.1 day, per sample (s) [same baseline]", tf / args.n, tsc / k))
    rows.append(("SIR dt=0.1 day, max final-size residual", res_f, res_s))

    hh, hparams, _ = uqkit.examples.hodgkin_huxley()
    Xh = hparams.sample(args.n, rng=2)
    th, Yh = _time(lambda: hh(Xh), repeat=1)
    k = min(args.n, 8)
    thc, Yhc = _time(lambda: hh_scipy(Xh[:k]), repeat=1)
    agree = np.mean(Yh[:k, 0] == Yhc[:, 0])
    rows.append(("Hodgkin-Huxley, per sample (s) [scipy LSODA, 8 samples]", th / args.n,
                 thc / k))
    rows.append(("Hodgkin-Huxley, spike counts equal to scipy's (fraction)", agree, 1.0))

    print(f"{'quantity':64s} {'uqkit':>12s} {'baseline':>12s} {'speed-up':>8s}")
    for name, ours, base in rows:
        timing = "(s)" in name
        ratio = "" if base is None or ours == 0 or not timing else f"{base / ours:8.1f}"
        base_s = "" if base is None else f"{base:12.4g}"
        print(f"{name:64s} {ours:12.4g} {base_s:>12s} {ratio:>8s}")


if __name__ == "__main__":
    main()
