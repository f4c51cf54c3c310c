"""A study driver run as a separate process by the crash/interrupt tests.

usage: python _driver.py STORE LOG N EXECUTOR SEED OUT [SLEEP] [FAULT]
Evaluates the toy model on N scrambled-Sobol' points through a Runner with the
given store and executor ("none" or a number of processes), then saves Y to OUT.
"""

import sys

import numpy as np
from _toy import ToyModel

import uqkit


def main() -> None:
    store, log, n, executor, seed, out = sys.argv[1:7]
    sleep = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    fault = sys.argv[8] if len(sys.argv) > 8 and sys.argv[8] != "none" else None
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(int(n), rng=int(seed))
    model = ToyModel(log, sleep=sleep, fault=fault)
    ex = None if executor == "none" else int(executor)
    with uqkit.Runner(executor=ex, store=store, progress=False,
                      on_failure="skip" if fault else "raise") as runner:
        ev = runner.evaluate(model, X)
    np.save(out, ev.Y)
    print("done", ev.n_new, ev.n_cached, flush=True)


if __name__ == "__main__":
    main()
