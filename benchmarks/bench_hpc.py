"""uqkit on a real SLURM (the local one of ``.ci/slurm-up``) against a local process pool.

1. 100 runs of a 1-second model: 2 single-core SLURM worker jobs (Dask, dask-jobqueue)
   against a 2-process pool, timed after the workers started; the job start latency
   (cluster created -> both workers connected) is reported separately. Target: <= 1.15x.
2. Scheduler overhead per run through Dask on SLURM: worker time not spent in the model,
   per run, with a 10 ms model (target: <= 20 ms), next to the same through a Dask
   LocalCluster (Dask's own cost: on a loaded machine both grow together).
3. submitit (one job per run): overhead per job array (sbatch of the array, and from
   submission to the last result of an array of no-op runs).

Every configuration evaluates through ``uqkit.Runner`` with a store, as a study does.
Run as ``python benchmarks/bench_hpc.py`` (``--quick``: 20 runs instead of 100).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import uqkit
from uqkit.runner._slurm import slurm_executor, slurm_status

REPO = Path(__file__).resolve().parents[1]


def sleeper(seconds: float):
    def f(a, b):
        time.sleep(seconds)
        return a + b

    return uqkit.as_model(f, name=f"sleep{seconds:g}")


def design(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, 2))


def timed(runner, model, X) -> tuple[float, float]:
    """Wall seconds of one evaluate, and the model seconds it contained."""
    t0 = time.perf_counter()
    ev = runner.evaluate(model, X)
    wall = time.perf_counter() - t0
    assert ev.ok.all() and ev.n_new == len(X)
    durations = runner.store.to_dataframe(model).duration.to_numpy()
    return wall, float(np.nansum(durations))


def dask_on_slurm(n: int, tmp: Path) -> dict:
    name = "uqkit-bench-hpc"
    t0 = time.perf_counter()
    client = slurm_executor(backend="dask", walltime=30, cores=1, memory="1GB", min_jobs=2,
                            max_jobs=2, job_name=name, folder=tmp / "logs")
    try:
        client.wait_for_workers(2, timeout=300)
        start_latency = time.perf_counter() - t0
        with uqkit.Runner(executor=client, store=tmp / "dask.db", progress=False) as runner:
            runner.evaluate(sleeper(0.0), design(4, 99))  # the model reaches the workers
            wall_1s, model_1s = timed(runner, sleeper(1.0), design(n, 1))
            m = 4 * n
            wall_10ms, model_10ms = timed(runner, sleeper(0.01), design(m, 2))
        return {"start_latency": start_latency, "wall_1s": wall_1s, "model_1s": model_1s,
                "overhead_per_run": (2 * wall_10ms - model_10ms) / m, "n_overhead": m}
    finally:
        client.shutdown()
        subprocess.run(["scancel", "--name", name], capture_output=True)


def pool(n: int, tmp: Path) -> dict:
    with uqkit.Runner(executor=2, store=tmp / "pool.db", progress=False) as runner:
        runner.evaluate(sleeper(0.0), design(4, 99))
        wall_1s, model_1s = timed(runner, sleeper(1.0), design(n, 1))
        m = 4 * n
        wall_10ms, model_10ms = timed(runner, sleeper(0.01), design(m, 2))
    return {"wall_1s": wall_1s, "model_1s": model_1s,
            "overhead_per_run": (2 * wall_10ms - model_10ms) / m}


def dask_local(n: int, tmp: Path) -> dict:
    """The same overhead through a Dask LocalCluster of 2 processes (the Dask cost alone)."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client, \
            uqkit.Runner(executor=client, store=tmp / "local.db", progress=False) as runner:
        runner.evaluate(sleeper(0.0), design(4, 99))
        m = 4 * n
        wall_10ms, model_10ms = timed(runner, sleeper(0.01), design(m, 2))
    return {"overhead_per_run": (2 * wall_10ms - model_10ms) / m}


def submitit_arrays(k: int, repeats: int, tmp: Path) -> dict:
    name = "uqkit-bench-hpc-arrays"
    ex = slurm_executor(backend="submitit", walltime=5, cores=1, memory="200MB", max_jobs=k,
                        job_name=name, folder=tmp / "logs-submitit")
    ends = []
    try:
        with uqkit.Runner(executor=ex, store=tmp / "submitit.db", progress=False) as runner:
            for r in range(repeats):
                t0 = time.perf_counter()
                ev = runner.evaluate(sleeper(0.0), design(k, 10 + r))
                ends.append(time.perf_counter() - t0)
                assert ev.ok.all()
    finally:
        ex.shutdown(cancel_futures=True)
        subprocess.run(["scancel", "--name", name], capture_output=True)
    sizes = [size for size, _ in ex.arrays]
    return {"arrays": len(ex.arrays), "mean_size": float(np.mean(sizes)),
            "sbatch_per_array": float(np.mean([s for _, s in ex.arrays])),
            "end_to_end_per_array": float(np.median(ends)), "k": k}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 runs instead of 100")
    args = ap.parse_args()
    reason = slurm_status()
    if reason is not None:
        up = subprocess.run([str(REPO / ".ci" / "slurm-up")], capture_output=True, text=True)
        reason = slurm_status() if up.returncode == 0 else up.stderr.strip()
    if reason is not None:
        print(f"SLURM is not available ({reason}); nothing to measure.")
        return 0
    n = 20 if args.quick else 100
    tmp = Path(tempfile.mkdtemp(prefix="uqkit-bench-hpc-", dir=Path.cwd()))
    try:
        p = pool(n, tmp)
        d = dask_on_slurm(n, tmp)
        loc = dask_local(n, tmp)
        s = submitit_arrays(8, 3, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{n} runs of a 1 s model, 2 workers (model runs: {n} each)")
    print(f"  2-process pool           {p['wall_1s']:7.2f} s")
    ratio = d["wall_1s"] / p["wall_1s"]
    print(f"  2 SLURM jobs (Dask)      {d['wall_1s']:7.2f} s   ratio {ratio:.3f}  (target <= 1.15)")
    print(f"  SLURM job start latency  {d['start_latency']:7.2f} s   (cluster created -> 2 "
          "workers connected; not in the ratio)")
    print(f"scheduler overhead per run ({d['n_overhead']} runs of a 10 ms model, worker time "
          "not spent in the model)")
    print(f"  Dask on SLURM            {1e3 * d['overhead_per_run']:7.2f} ms  (target <= 20 ms)")
    print(f"  Dask LocalCluster        {1e3 * loc['overhead_per_run']:7.2f} ms  (SLURM / local "
          f"{d['overhead_per_run'] / max(loc['overhead_per_run'], 1e-9):.2f})")
    print(f"  2-process pool           {1e3 * p['overhead_per_run']:7.2f} ms")
    print(f"submitit job arrays ({s['arrays']} arrays, {s['mean_size']:.1f} jobs each, no-op "
          "runs)")
    print(f"  sbatch per array         {1e3 * s['sbatch_per_array']:7.1f} ms")
    print(f"  submit -> last result    {s['end_to_end_per_array']:7.2f} s per array of "
          f"{s['k']} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
