"""Write ``store_v1.db``: a store in schema 1, as uqkit up to commit a446205 wrote it.

Kept for provenance of the fixture used by ``tests/test_store_schema.py``; it only
works with that older uqkit (``git worktree``-free way: ``git archive a446205 | tar -x``
into a scratch folder and run this script there with ``PYTHONPATH=.``):

    python make_store_v1.py store_v1.db

Contents: 16 Ishigami rows, a scalar model with one failure and one non-finite
output, a vectorized model with extreme values (-0.0, 5e-324, 1.797e308, overflow to
inf), a study record, a checkpoint, and one interrupted row without inputs left by the
stale claim of a dead process.
"""

import os
import socket
import sqlite3
import sys

import numpy as np

import uqkit
from uqkit.models import model_identity
from uqkit.runner import make_keys


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
    runner.evaluate(vec, np.array([[1.0, 2.0], [-0.0, 5e-324],
                                   [1.7976931348623157e308, 0.1 + 0.2]]))
    store = runner.store
    store.check_study("study:demo", {"n": 16, "seed": 0})
    store.save_checkpoint("mcmc", {"a": np.arange(3.0)}, {"step": 3})
    # an interrupted row without inputs, as left by a stale claim of a dead process
    ident = model_identity(m2)
    key = make_keys(ident["id"], np.array([[0.4, 1.0]]))[0]
    store.conn.execute("INSERT INTO claims VALUES ('dead', ?, 'o', ?, 999999999, 0, ?)",
                       (ident["id"], socket.gethostname(), key))
    store.claim(ident["id"], [], "x")
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("VACUUM")
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
