"""``uqkit demo``: a short study that shows the runner and the store at work."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["register", "run_demo"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run the bundled demo study and print a summary",
        description="Evaluate an example model through the runner into a SQLite store, "
                    "then rerun it to show that every stored evaluation is reused.")
    p.add_argument("--out", default="uqkit-demo", help="output folder (default: uqkit-demo)")
    p.add_argument("-n", "--n-samples", type=int, default=4096,
                   help="number of model evaluations (default: 4096)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: in process)")
    p.add_argument("--seed", type=int, default=2026)
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import numpy as np

    import uqkit

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    example = uqkit.examples.borehole()
    X = example.parameters.sample(args.n_samples, rng=args.seed)
    store_path = out / "study.db"
    t0 = time.perf_counter()
    with uqkit.Runner(executor=args.workers, store=store_path) as runner:
        ev = runner.evaluate(example.model, X)
        t1 = time.perf_counter()
        again = runner.evaluate(example.model, X)
        t2 = time.perf_counter()
    y = ev.Y[ev.ok, 0]
    se = y.std(ddof=1) / np.sqrt(len(y))
    ref = example.reference
    print(f"uqkit {uqkit.__version__} demo: {example.description}")
    print(f"store: {store_path}")
    print(f"first run:  {ev.n_new} new evaluations, {ev.n_cached} cached, "
          f"{ev.n_failed} failed ({t1 - t0:.2f} s)")
    print(f"second run: {again.n_new} new evaluations, {again.n_cached} cached "
          f"({t2 - t1:.2f} s)")
    print(f"mean flow rate: {y.mean():.3f} +- {1.96 * se:.3f} (95% CI; reference "
          f"{ref.mean:.3f})")
    print(f"variance: {y.var(ddof=1):.2f} (reference {ref.variance:.2f})")
    with uqkit.Store(store_path) as store:
        print(store.summary().to_string())
    return 0
