"""External-simulator benchmarks: CommandModel overhead, process-pool scaling, UM-Bridge batches.

1. Per-evaluation overhead of uqkit.CommandModel (template rendering, a fresh 0700 work
   directory per evaluation, stdout/stderr files, process-group handling, parsing and, in
   the last row, a Store commit per result) against the bare ``subprocess.run`` loop doing
   the same file I/O: the anchor's ``ext_eval`` from /work/shared/anchor-bench
   (overhead_bench.py) on its trivial simulator ext_model.py, plus the same pair on a
   compiled C program (gcc) where process start-up no longer hides the overhead.
   Target: CommandModel <= 1.3x the bare loop.
2. A 100 ms simulator through Runner(executor=2) vs Runner() serial. Target >= 1.8x.
3. UM-Bridge: a batch of 64 evaluations of a 50 ms model served by the official
   ``umbridge.serve_models`` with 4 workers, uqkit.UMBridgeModel (concurrent requests) vs
   the reference client ``umbridge.HTTPModel`` one request at a time. Target >= 3x.
   Also against uqkit.serve(workers=4).

Usage: python benchmarks/bench_command.py [--n-ext 200] [--n-pool 40] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = Path(os.environ.get("UQKIT_ANCHOR_BENCH", "/work/shared/anchor-bench"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ANCHOR))

import numpy as np  # noqa: E402
from common import med, print_table  # noqa: E402  (anchor-bench helpers)
from overhead_bench import EXT, ext_eval  # noqa: E402  (the anchor's bare loop)

import uqkit  # noqa: E402
from uqkit import parsers  # noqa: E402

C_SIM = r"""
/* Same contract as ext_model.py: read {"x": [a, b, c]} from argv[1], write {"y": sum}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[4096]; FILE *f = fopen(argv[1], "r"); size_t n = fread(buf, 1, 4095, f);
    fclose(f); buf[n] = 0;
    char *p = strchr(buf, '['); double s = 0;
    while (p && *p && *p != ']') { char *e; p++; s += strtod(p, &e); p = strchr(e, ','); }
    f = fopen(argv[2], "w"); fprintf(f, "{\"y\": %.17g}", s); fclose(f); return 0;
}
"""
IN_TEMPLATE = '{"x": [{{ x0 }}, {{ x1 }}, {{ x2 }}]}'
# a 100 ms simulator that needs little CPU (the machine is shared): the value arrives as $1
SLEEP_SIM = ["/bin/sh", "-c", 'sleep 0.1; echo "{\\"y\\": $1}" > out.json', "sim", "{{ x }}"]


def bench(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return med(ts)


def c_eval(exe, x, workdir, i):
    """The anchor's ext_eval with the compiled simulator instead of ext_model.py."""
    fin, fout = os.path.join(workdir, f"in{i}.json"), os.path.join(workdir, f"out{i}.json")
    with open(fin, "w") as f:
        json.dump({"x": list(x)}, f)
    subprocess.run([exe, fin, fout], check=True)
    with open(fout) as f:
        return json.load(f)["y"]


def part_overhead(a, tmp: Path, rows: list):
    xs = [[0.1 * i, 1.0, 2.0] for i in range(a.n_ext)]
    X = np.array(xs)
    exe = None
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:
        (tmp / "sim.c").write_text(C_SIM)
        exe = str(tmp / "csim")
        subprocess.run([cc, "-O2", "-o", exe, str(tmp / "sim.c")], check=True)
    sims = [("ext_model.py (python)", [sys.executable, EXT],
             lambda wd: [ext_eval(x, wd, i) for i, x in enumerate(xs)])]
    if exe:
        sims.append(("compiled C", [exe], lambda wd: [c_eval(exe, x, wd, i)
                                                        for i, x in enumerate(xs)]))
    shm = Path("/dev/shm")
    if exe and shm.is_dir() and os.access(shm, os.W_OK):
        # the same, with the study folder on tmpfs: work-directory creation and removal
        # cost a few ms each on a busy disk-backed /tmp
        sims.append(("compiled C, workdir on /dev/shm", [exe], sims[-1][2], shm))
    for label, argv, bare, *where in sims:
        study = Path(tempfile.mkdtemp(dir=where[0] if where else tmp, prefix="uqkit-bench-"))
        model = uqkit.CommandModel([*argv, "in.json", "out.json"], inputs=["x0", "x1", "x2"],
                                   outputs=["y"], files={"in.json": IN_TEMPLATE},
                                   parse=parsers.json("out.json", keys=["y"]),
                                   workdir=study)
        assert model(X[1:2])[0, 0] == sum(xs[1])

        def bare_run(bare=bare, base=where[0] if where else tmp):
            with tempfile.TemporaryDirectory(dir=base) as wd:  # same filesystem as uqkit
                bare(wd)

        def direct(model=model):
            model(X)

        def runner_store(model=model):
            with tempfile.TemporaryDirectory(dir=tmp) as d, \
                    uqkit.Runner(store=Path(d) / "s.sqlite", progress=False) as r:
                r.evaluate(model, X)

        t_bare = bench(bare_run, a.reps)
        cases = [("CommandModel(X)", direct), ("Runner(store=...).evaluate", runner_store)]
        for case, fn in cases[:1] if where else cases:
            t = bench(fn, a.reps)
            rows.append([label, case, a.n_ext, f"{1e3 * t_bare / a.n_ext:.2f}",
                         f"{1e3 * t / a.n_ext:.2f}", f"{t / t_bare:.2f}x"])
            print("#", rows[-1], file=sys.stderr, flush=True)
        shutil.rmtree(study, ignore_errors=True)


def part_pool(a, tmp: Path, rows: list):
    model = uqkit.CommandModel(SLEEP_SIM, inputs=["x"],
                               outputs=["y"], parse=parsers.json("out.json", keys=["y"]),
                               workdir=tmp / "study")
    X = np.arange(a.n_pool, dtype=float)[:, None]
    assert model(X[3:4])[0, 0] == 3.0
    with uqkit.Runner(progress=False) as r:
        t_serial = bench(lambda: r.evaluate(model, X), 1)
    with uqkit.Runner(executor=2, progress=False) as r:
        r.evaluate(model, X[:2] + 0.5)  # pool up
        t_pool = bench(lambda: r.evaluate(model, X), a.reps)
    rows.append([f"{a.n_pool} x 100 ms simulator", f"{t_serial:.2f}", f"{t_pool:.2f}",
                 f"{t_serial / t_pool:.2f}x", ">= 1.8x"])
    print("#", rows[-1], file=sys.stderr, flush=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def part_umbridge(a, rows: list):
    import umbridge

    X = np.random.default_rng(0).uniform(size=(64, 3))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakesim" / "umbridge_ref_server.py"), str(port),
         "4", "0.05"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/Info", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        ref = umbridge.HTTPModel(url, "forward")
        rows_in = [[[float(r[0]), float(r[1])], [float(r[2])]] for r in X]
        t_ref = bench(lambda: [ref(p) for p in rows_in], a.reps)
        ours = uqkit.UMBridgeModel(url, max_concurrency=8)
        Y = ours(X)
        assert np.array_equal(Y[:, 0], [ref(p)[0][0] for p in rows_in[:64]])
        t_ours = bench(lambda: ours(X), a.reps)
        t_runner = bench(lambda: uqkit.Runner(progress=False).evaluate(ours, X), a.reps)
        rows.append(["umbridge.serve_models(max_workers=4)", f"{t_ref:.2f}", f"{t_ours:.2f}",
                     f"{t_ref / t_ours:.2f}x", f"{t_ref / t_runner:.2f}x"])
        print("#", rows[-1], file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait()

    def slow(x0, x1, x2):
        time.sleep(0.05)
        return x0 + x1 * x2, x0 * x1

    with uqkit.serve(uqkit.as_model(slow, outputs=["a", "b"]), port=0, workers=4,
                     block=False) as srv:
        ref = umbridge.HTTPModel(srv.url, "forward")
        t_ref = bench(lambda: [ref([list(map(float, r))]) for r in X], a.reps)
        ours = uqkit.UMBridgeModel(srv.url, max_concurrency=8)
        t_ours = bench(lambda: ours(X), a.reps)
        t_runner = bench(lambda: uqkit.Runner(progress=False).evaluate(ours, X), a.reps)
        rows.append(["uqkit.serve(workers=4)", f"{t_ref:.2f}", f"{t_ours:.2f}",
                     f"{t_ref / t_ours:.2f}x", f"{t_ref / t_runner:.2f}x"])
        print("#", rows[-1], file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-ext", type=int, default=200)
    ap.add_argument("--n-pool", type=int, default=40)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows: list = []
        part_overhead(a, tmp, rows)
        print(f"## 1. Per-evaluation overhead, {a.n_ext} serial evaluations "
              f"(median of {a.reps}; bare = anchor ext_eval loop, same file I/O)")
        print_table(["simulator", "uqkit path", "evals", "bare ms/eval", "uqkit ms/eval",
                     "ratio (target <= 1.3x)"], rows)
        rows = []
        part_pool(a, tmp, rows)
        print("## 2. 100 ms simulator, Runner(executor=2) vs serial (seconds)")
        print_table(["case", "serial s", "2 processes s", "speedup", "target"], rows)
    rows = []
    part_umbridge(a, rows)
    print("## 3. UM-Bridge, 64 evaluations of a 50 ms model, 4 server workers (seconds)")
    print_table(["server", "umbridge.HTTPModel loop s", "UMBridgeModel batch s",
                 "speedup (target >= 3x)", "speedup via Runner.evaluate"], rows)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
