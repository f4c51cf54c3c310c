"""Runner overhead, printed as ratios in one run.

1. A vectorized model (Ishigami) through the runner with a SQLite store, 2^17 rows, against
   calling the function directly plus writing the same rows (x and y as float64 blobs) to
   SQLite by hand in one transaction (WAL, synchronous=FULL). Target: at most 1.5x.
2. A scalar model that sleeps 50 ms (the anchor's scheduling test,
   ../shared/anchor-bench/overhead_bench.py): a 2-process pool and a 2-worker Dask
   LocalCluster through the runner, against the serial throughput. Target: at least 1.8x.
3. Per-evaluation overhead of the runner on a trivial scalar model, serial, with a store.

usage: python benchmarks/bench_runner.py [--rows 131072] [--n-sleep 40] [--n-trivial 2000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import warnings

import numpy as np

import uqkit


def ishigami(X):
    return np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])


def sleep_model(x1, x2, x3):
    time.sleep(0.05)
    return x1 + x2 + x3


def trivial(x1, x2, x3):
    return x1 + x2 + x3


def best_of(fn, reps=3):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def by_hand(X, path):
    Y = ishigami(X)[:, None]
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS r(i INTEGER PRIMARY KEY, x BLOB, y BLOB)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO r(x, y) VALUES (?, ?)",
                    ((X[i].tobytes(), Y[i].tobytes()) for i in range(len(X))))
    con.execute("COMMIT")
    con.close()


def keys_only_floor(X, path):
    """The cheapest content-addressed write: 32-byte SHA-256 keys alone, in key order,
    one transaction. Evidence that keyed storage itself costs more than by_hand()."""
    import hashlib

    keys = sorted(hashlib.sha256(row.tobytes()).digest() for row in X)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE k(key BLOB PRIMARY KEY) WITHOUT ROWID")
    con.execute("BEGIN")
    con.executemany("INSERT INTO k VALUES (?)", ((k,) for k in keys))
    con.execute("COMMIT")
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2**17)
    ap.add_argument("--n-sleep", type=int, default=40)
    ap.add_argument("--n-trivial", type=int, default=2000)
    a = ap.parse_args()
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(a.rows, rng=0)
    model = uqkit.as_model(ishigami, inputs=("x1", "x2", "x3"), vectorized=True,
                           name="bench.ishigami")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def hand():
            by_hand(X, os.path.join(tmp, f"hand{next(counter)}.db"))

        def runner():
            with uqkit.Runner(store=os.path.join(tmp, f"uq{next(counter)}.db"),
                              progress=False) as r:
                r.evaluate(model, X)

        t_hand, _ = best_of(hand)
        t_uq, _ = best_of(runner)
        cached_path = os.path.join(tmp, "cached.db")
        uqkit.Runner(store=cached_path, progress=False).evaluate(model, X)
        t_cached, _ = best_of(lambda: uqkit.Runner(store=cached_path,
                                                   progress=False).evaluate(model, X))
        t_direct, _ = best_of(lambda: ishigami(X))
        t_floor, _ = best_of(lambda: keys_only_floor(X, os.path.join(tmp, f"k{next(counter)}.db")))
        rows.append(["vectorized 2^17 rows + store (runner / by hand)", f"{t_uq:.3f}",
                     f"{t_hand:.3f}", f"{t_uq / t_hand:.2f}x", "<= 1.5x"])
        rows.append(["rerun fully cached (runner / by hand)", f"{t_cached:.3f}",
                     f"{t_hand:.3f}", f"{t_cached / t_hand:.2f}x", "-"])
        rows.append(["floor: hash + insert 32-byte keys only (no x, y)", f"{t_floor:.3f}",
                     f"{t_hand:.3f}", f"{t_floor / t_hand:.2f}x", "-"])
        rows.append(["direct function call only", f"{t_direct:.4f}", "", "", ""])

        # 2. parallel throughput on a 50 ms model
        sm = uqkit.as_model(sleep_model)
        Xs = params.sample(a.n_sleep, rng=1)
        t_serial = a.n_sleep * 0.05
        t0 = time.perf_counter()
        uqkit.Runner(progress=False).evaluate(sm, Xs)
        t_serial_meas = time.perf_counter() - t0
        with uqkit.Runner(executor=2, progress=False) as r:
            r.evaluate(sm, params.sample(4, rng=9))  # warm-up
            t0 = time.perf_counter()
            r.evaluate(sm, Xs)
            t_pool = time.perf_counter() - t0
        rows.append(["50 ms model, 2-process pool: speed-up vs serial",
                     f"{t_pool:.3f}", f"{t_serial_meas:.3f}",
                     f"{t_serial_meas / t_pool:.2f}x", ">= 1.8x"])
        try:
            import logging

            from dask.distributed import Client, LocalCluster

            warnings.filterwarnings("ignore")
            logging.getLogger("distributed").setLevel(logging.ERROR)
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None) as cl, Client(cl) as c:
                r = uqkit.Runner(executor=c, progress=False)
                r.evaluate(sm, params.sample(4, rng=8))  # warm-up
                t0 = time.perf_counter()
                r.evaluate(sm, params.sample(a.n_sleep, rng=2))
                t_dask = time.perf_counter() - t0
            rows.append(["50 ms model, Dask LocalCluster(2x1): speed-up vs serial",
                         f"{t_dask:.3f}", f"{t_serial_meas:.3f}",
                         f"{t_serial_meas / t_dask:.2f}x", ">= 1.8x"])
        except ImportError:
            rows.append(["Dask", "not installed", "", "", ""])

        # 3. per-evaluation overhead, trivial scalar model, serial, with store
        tm = uqkit.as_model(trivial)
        Xt = params.sample(a.n_trivial, rng=3)
        t_plain, _ = best_of(lambda: [trivial(*row) for row in Xt.tolist()])
        t_run, _ = best_of(lambda: uqkit.Runner(store=os.path.join(
            tmp, f"t{next(counter)}.db"), progress=False).evaluate(tm, Xt))
        t_nostore, _ = best_of(lambda: uqkit.Runner(progress=False).evaluate(tm, Xt))
        per = (t_run - t_plain) / a.n_trivial
        rows.append(["trivial scalar model, serial, with store: overhead per evaluation",
                     f"{per * 1e6:.0f} us", "", "", "report"])
        rows.append(["same, without store", f"{(t_nostore - t_plain) / a.n_trivial * 1e6:.0f} us",
                     "", "", "report"])
    print(f"uqkit {uqkit.__version__} runner benchmark (serial 50 ms x {a.n_sleep} = "
          f"{t_serial:.1f} s ideal)")
    header = ["case", "uqkit s", "reference s", "ratio", "target"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
