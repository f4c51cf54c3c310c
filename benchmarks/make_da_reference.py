"""Dense-grid reference posteriors of the delayed-acceptance benchmark problems.

``bench_calibration.py`` compares delayed acceptance (and plain sampling) with these
moments rather than with another Monte-Carlo run, so a posterior difference is not
drowned in the reference's own error. Both problems have flat (uniform) priors, so
the posterior on the grid is the normalised likelihood. The grid spans the pilot
run's mean +- 8 sd (clipped to the prior box) with ``n`` points per axis; the printed
edge mass (posterior mass on the grid's boundary cells) shows the box holds it, and
two grid sizes show the quadrature has converged.

Run: ``PYTHONPATH=. python benchmarks/make_da_reference.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_calibration as bc  # noqa: E402

import uqkit  # noqa: E402

OUT = Path(__file__).parent / "reference" / "da_posteriors.json"


def grid_moments(problem, n: int, pilot_seed: int = 5) -> dict:
    model, prior, data, noise = problem()
    pilot = uqkit.calibrate(model, prior, data, noise=noise, target_ess=400, rng=pilot_seed)
    m, s = pilot.samples.mean().to_numpy(), pilot.samples.std().to_numpy()
    b = prior.bounds
    lo, hi = np.maximum(m - 8 * s, b[:, 0]), np.minimum(m + 8 * s, b[:, 1])
    axes = [np.linspace(a, z, n) for a, z in zip(lo, hi)]
    G = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(m))
    y = np.asarray(next(iter(data.values())) if isinstance(data, dict) else data, float)
    sig = float(np.atleast_1d(noise.sigma)[0])
    ll = np.empty(len(G))
    for i in range(0, len(G), 8192):
        Y = np.asarray(model(G[i:i + 8192]), float)
        ll[i:i + 8192] = -0.5 * np.sum((Y - y) ** 2, axis=1) / sig**2
    w = np.exp(ll - ll.max())
    w /= w.sum()
    mean = w @ G
    sd = np.sqrt(w @ (G - mean) ** 2)
    W = w.reshape((n,) * len(m))
    edge = sum(float(W.take(k, axis=a).sum()) for a in range(len(m)) for k in (0, -1))
    return {"names": list(prior.names), "mean": mean.tolist(), "sd": sd.tolist(),
            "grid": n, "lo": lo.tolist(), "hi": hi.tolist(), "edge_mass": edge}


def main() -> None:
    out = {}
    for name, problem, sizes in [("ode", bc.ode_problem, (200, 400)),
                                 ("fitzhugh_nagumo", bc.fhn_problem, (60, 100))]:
        runs = [grid_moments(problem, n) for n in sizes]
        a, b = runs
        change = np.max(np.abs(np.array(a["mean"]) - b["mean"]) / np.array(b["sd"]))
        print(f"{name}: mean {np.round(b['mean'], 5)} sd {np.round(b['sd'], 5)} "
              f"edge mass {b['edge_mass']:.1e}; grid {a['grid']} -> {b['grid']} moved the "
              f"means by {change:.1e} sd, the sds by "
              f"{np.max(np.abs(np.array(a['sd']) / b['sd'] - 1)):.1e}")
        out[name] = b
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
