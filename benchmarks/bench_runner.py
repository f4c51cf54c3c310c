"""Runner overhead, printed as ratios in one run.

1. A vectorized model (Ishigami) through the runner with a SQLite store, 2^17 rows, against
   calling the function directly plus writing the same rows (x and y as float64 blobs) to
   SQLite by hand in one transaction (WAL, synchronous=FULL). Target: at most 1.5x.
   The two are run alternately, ``--rounds`` times; the table gives the minimum times and
   the minimum and median of the per-round ratios (the machine's load drifts, a ratio of
   neighbouring runs does not). The rerun of the same study (every row served from the
   store) is measured the same way, and so is the floor of the schema-1 layout (32-byte
   SHA-256 keys as a WITHOUT ROWID primary key, no x or y), which alone cost 1.1-1.8x the
   hand-written insert.
2. A scalar model that sleeps 50 ms (the anchor's scheduling test,
   ../shared/anchor-bench/overhead_bench.py): a 2-process pool and a 2-worker Dask
   LocalCluster through the runner, against the serial throughput. Target: at least 1.8x.
3. Per-evaluation overhead of the runner on a trivial scalar model, serial, with a store.
4. ``--memory 1048576,8388608``: peak RSS of the driver (``resource.getrusage`` in a fresh
   subprocess per size) evaluating a 3-input vectorized model through a store, with the
   design as one array (``Runner.evaluate``: its lookups and writes are streamed in
   chunks) and as batches of 2^16 rows (``Runner.evaluate_batches``: the design is
   streamed too). Target: at most 200 MB. The array of a 2^23-row design alone is
   200 MB, so only the batch form can meet it there.

usage: python benchmarks/bench_runner.py [--rows 131072] [--rounds 5] [--n-sleep 100]
                                         [--n-trivial 2000] [--only-store]
                                         [--memory SIZES] [--only-memory]
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
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
    """The schema-1 floor: 32-byte SHA-256 keys alone as a WITHOUT ROWID primary key, in
    key order, one transaction. Evidence that this keyed layout cost more than by_hand()."""
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


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def rss_child(rows: int, mode: str) -> None:
    """Run in a fresh process: evaluate ``rows`` rows through a store, print the peak RSS."""
    model = uqkit.as_model(lambda X: X.sum(axis=1), inputs=("a", "b", "c"), vectorized=True,
                           name="bench.sum")
    with tempfile.TemporaryDirectory() as tmp:
        runner = uqkit.Runner(store=os.path.join(tmp, "s.db"), progress=False)
        t0 = time.perf_counter()
        if mode == "array":
            X = np.random.default_rng(0).random((rows, 3))
            n_ok = int(runner.evaluate(model, X).ok.sum())
        else:
            rng = np.random.default_rng(0)
            chunks = (rng.random((min(2**16, rows - s), 3)) for s in range(0, rows, 2**16))
            n_ok = sum(int(ev.ok.sum()) for ev in runner.evaluate_batches(model, chunks))
        seconds = time.perf_counter() - t0
        runner.store.close()
    assert n_ok == rows
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{peak:.0f} {seconds:.3f}")


def memory_rows(sizes: list[int]) -> list[list[str]]:
    rows = []
    for n in sizes:
        for mode in ("array", "batches"):
            out = subprocess.run([sys.executable, __file__, "--_rss-child", str(n), mode],
                                 capture_output=True, text=True, check=True).stdout.split()
            peak, seconds = float(out[0]), float(out[1])
            rows.append([f"peak RSS, {n} rows through a store ({mode})", f"{peak:.0f} MB",
                         "", f"{seconds / n * 1e6:.1f} us/row", "", "<= 200 MB"])
    return rows


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--_rss-child":
        rss_child(int(sys.argv[2]), sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2**17)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-sleep", type=int, default=100)  # the anchor overhead_bench.py default
    ap.add_argument("--n-trivial", type=int, default=2000)
    ap.add_argument("--only-store", action="store_true", help="run part 1 only")
    ap.add_argument("--memory", default="", metavar="SIZES",
                    help="comma-separated design sizes for the peak-RSS part (e.g. 1048576)")
    ap.add_argument("--only-memory", action="store_true", help="run part 4 only")
    a = ap.parse_args()
    sizes = [int(v) for v in a.memory.split(",") if v]
    if a.only_memory:
        _print(a, memory_rows(sizes or [2**20]))
        return
    _, params, _ = uqkit.examples.ishigami()
    X = params.sample(a.rows, rng=0)
    model = uqkit.as_model(ishigami, inputs=("x1", "x2", "x3"), vectorized=True,
                           name="bench.ishigami")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def hand():
            by_hand(X, os.path.join(tmp, f"hand{next(counter)}.db"))

        def runner(path=None, cached=False):
            with uqkit.Runner(store=path or os.path.join(tmp, f"uq{next(counter)}.db"),
                              progress=False) as r:
                ev = r.evaluate(model, X)
            assert ev.ok.all() and ev.n_new == (0 if cached else len(X))

        cached_path = os.path.join(tmp, "cached.db")
        runner(None)  # warm-up (imports, page cache)
        runner(cached_path)  # the study to rerun
        t = {"hand": [], "uq": [], "cached": [], "floor": []}
        for _ in range(a.rounds):
            t["hand"].append(timed(hand))
            t["uq"].append(timed(runner))
            t["cached"].append(timed(lambda: runner(cached_path, cached=True)))
            t["floor"].append(timed(lambda: keys_only_floor(
                X, os.path.join(tmp, f"k{next(counter)}.db"))))
        t_direct, _ = best_of(lambda: ishigami(X))

        def row(case, key, target="-"):
            ratios = [u / h for u, h in zip(t[key], t["hand"])]
            return [case, f"{min(t[key]):.3f}", f"{min(t['hand']):.3f}",
                    f"{min(ratios):.2f}x", f"{statistics.median(ratios):.2f}x", target]

        rows.append(row(f"vectorized {a.rows} rows + store (runner / by hand)", "uq",
                        "<= 1.5x"))
        rows.append(row("rerun fully cached (runner / by hand)", "cached"))
        rows.append(row("schema-1 floor: 32-byte keys WITHOUT ROWID, no x, y", "floor"))
        rows.append(["direct function call only", f"{t_direct:.4f}", "", "", "", ""])
        if a.only_store:
            _print(a, rows)
            return

        # 2. parallel throughput on a 50 ms model
        sm = uqkit.as_model(sleep_model)
        Xs = params.sample(a.n_sleep, rng=1)
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
                     f"{t_serial_meas / t_pool:.2f}x", "", ">= 1.8x"])
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
                # dask alone (the anchor's client.map/gather), same tasks, same cluster
                xs = [tuple(row) for row in params.sample(a.n_sleep, rng=3)]
                t0 = time.perf_counter()
                c.gather(c.map(lambda x: sleep_model(*x), xs, pure=False))
                t_raw = time.perf_counter() - t0
            rows.append(["50 ms model, Dask LocalCluster(2x1): speed-up vs serial",
                         f"{t_dask:.3f}", f"{t_serial_meas:.3f}",
                         f"{t_serial_meas / t_dask:.2f}x", "", ">= 1.8x"])
            rows.append(["  same tasks, dask client.map alone (no runner): speed-up",
                         f"{t_raw:.3f}", f"{t_serial_meas:.3f}",
                         f"{t_serial_meas / t_raw:.2f}x", "", "reference"])
        except ImportError:
            rows.append(["Dask", "not installed", "", "", "", ""])

        # 3. per-evaluation overhead, trivial scalar model, serial, with store
        tm = uqkit.as_model(trivial)
        Xt = params.sample(a.n_trivial, rng=3)
        t_plain, _ = best_of(lambda: [trivial(*row) for row in Xt.tolist()])
        t_run, _ = best_of(lambda: uqkit.Runner(store=os.path.join(
            tmp, f"t{next(counter)}.db"), progress=False).evaluate(tm, Xt))
        t_nostore, _ = best_of(lambda: uqkit.Runner(progress=False).evaluate(tm, Xt))
        per = (t_run - t_plain) / a.n_trivial
        rows.append(["trivial scalar model, serial, with store: overhead per evaluation",
                     f"{per * 1e6:.0f} us", "", "", "", "report"])
        rows.append(["same, without store", f"{(t_nostore - t_plain) / a.n_trivial * 1e6:.0f} us",
                     "", "", "", "report"])
    _print(a, rows + memory_rows(sizes))


def _print(a, rows) -> None:
    print(f"uqkit {uqkit.__version__} runner benchmark (serial 50 ms x {a.n_sleep} = "
          f"{a.n_sleep * 0.05:.1f} s ideal)")
    header = ["case", "uqkit s", "reference s", "ratio (min)", "ratio (median)", "target"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(6)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
