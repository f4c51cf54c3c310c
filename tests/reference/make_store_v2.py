"""Write ``store_v2.db``: a store in schema 2, as uqkit up to commit 8751b1f wrote it.

Kept for provenance of the fixture used by ``tests/test_store_checksums.py``; it only
works with that older uqkit (``git archive 8751b1f uqkit | tar -x`` into a scratch
folder and run this script there with ``PYTHONPATH=.``):

    python make_store_v2.py store_v2.db

Contents: 16 Ishigami rows, a scalar model with one failure and one non-finite output,
a vectorized model of 600 rows (two blocks) with extreme values (-0.0, 5e-324,
1.797e308), a study record and a checkpoint.
"""

import os
import sqlite3
import sys

import numpy as np

import uqkit


def flaky(a, b):
    if a > 0.5:
        raise ValueError("a too large")
    return a / b if b else float("nan")


def main(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    model, params, _ = uqkit.examples.ishigami()
    runner = uqkit.Runner(store=path, progress=False, on_failure="skip")
    runner.evaluate(model, params.sample(16, rng=0))
    m2 = uqkit.as_model(flaky, name="flaky", version="2")
    runner.evaluate(m2, [[0.1, 2.0], [0.9, 1.0], [0.2, 0.0], [0.3, 4.0]])
    vec = uqkit.as_model(lambda X: X[:, :1] * 2, inputs=("u", "v"), outputs={"V": 1},
                         vectorized=True, name="vec")
    X = np.column_stack([np.arange(600.0), np.linspace(0, 1, 600)])
    X[:3] = [[-0.0, 5e-324], [1.7976931348623157e308, 0.1 + 0.2], [1.0, 2.0]]
    runner.evaluate(vec, X)
    store = runner.store
    store.check_study("study:demo", {"n": 16, "seed": 0})
    store.save_checkpoint("mcmc", {"a": np.arange(3.0)}, {"step": 3})
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("VACUUM")
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
