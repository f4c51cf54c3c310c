"""Lognormal inputs: uqkit's isoprobabilistic map (Hermite in log x) against chaospy's
polynomials orthogonal in x itself (``generate_expansion``, Stieltjes), on one design
with one least-squares fit, so only the basis differs.

This is the measurement behind the choice of basis: polynomials in x are exact when
the model is a polynomial in x, but the lognormal moment problem is indeterminate, so
they are not dense in L2 and their error grows with the degree on any other model;
Hermite polynomials in log x converge on all three. chaospy is therefore a benchmark
anchor (``pip install -e ".[bench]"``), not a dependency of uqkit.

Run: ``python benchmarks/bench_lognormal_basis.py`` (about a minute).
"""

from __future__ import annotations

import argparse

import chaospy
import numpy as np

import uqkit


def problems(s: float):
    params = uqkit.Parameters(a=uqkit.LogNormal(0.0, s), b=uqkit.LogNormal(0.0, s))
    dist = chaospy.J(chaospy.LogNormal(0, s), chaospy.LogNormal(0, s))
    return params, dist, {
        "polynomial in x": lambda X: X[:, 0] ** 2 * X[:, 1] + X[:, 1],
        "smooth in log x": lambda X: np.log(X[:, 0]) * np.sin(np.log(X[:, 1])),
        "rational in x": lambda X: 1 / (1 + X[:, 0] * X[:, 1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigma", type=float, default=0.5, help="log-sd of both inputs")
    ap.add_argument("--sizes", default="30,60,120")
    ap.add_argument("--degrees", default="2,3,4,5")
    args = ap.parse_args()
    params, dist, funcs = problems(args.sigma)
    Xv = params.sample(20000, method="random", rng=9)
    print("| model | n | degree | uqkit (Hermite in log x) | chaospy (orthogonal in x) "
          "| ratio uqkit/chaospy |")
    print("|---|---|---|---|---|---|")
    for name, f in funcs.items():
        Yv = f(Xv)
        for n in map(int, args.sizes.split(",")):
            X = params.sample(n, method="random", rng=1)
            Y = f(X)
            for deg in map(int, args.degrees.split(",")):
                expansion = chaospy.generate_expansion(deg, dist, normed=True)
                coef = np.linalg.lstsq(expansion(*X.T).T, Y, rcond=None)[0]
                err_cp = np.sqrt(np.mean((expansion(*Xv.T).T @ coef - Yv) ** 2)) / Yv.std()
                pce = uqkit.fit_pce(X=X, Y=Y[:, None], parameters=params, degree=deg,
                                    method="ols")
                err_uq = float(pce.validate(Xv, Yv[:, None])["relative_error"].iloc[0])
                print(f"| {name} | {n} | {deg} | {err_uq:.2e} | {err_cp:.2e} "
                      f"| {err_uq / err_cp:.3g} |")


if __name__ == "__main__":
    main()
