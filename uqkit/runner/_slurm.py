"""SLURM: Dask workers in SLURM jobs (dask-jobqueue) or one SLURM job per run (submitit).

Two engines the HPC community already uses, behind the runner's executor interface:

- a ``dask.distributed.Client`` of a ``dask_jobqueue.SLURMCluster``: long-lived
  worker jobs pull runs; the runner's Dask path (:mod:`._executors`) handles it,
  with the loss of a worker job reported to the runner (this module's
  :func:`job_lost`) instead of being retried silently by the scheduler;
- a ``submitit`` executor wrapped by :class:`._submitit.SubmititExecutor`: one SLURM
  job per run, submissions gathered into job arrays, job states read with ``squeue``.

Every result or failure that comes back from a SLURM job carries the job's id, node
and state (``job_meta``); the runner stores it with the result (the store's ``jobs``
table) or in the failure's details (``details["slurm"]``).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import shutil
import subprocess
from typing import Any

from .._errors import InvalidParameterError

__all__ = ["slurm_executor", "HPC_EXTRA", "require_hpc", "slurm_status",
           "run_in_job", "job_meta", "job_state", "parse_walltime", "check_request",
           "partitions", "put_jobs", "stored_jobs", "job_tag", "jobs_in_flight"]

HPC_EXTRA = "pip install 'uqkit[hpc]'"

#: job states after which a job produces nothing more
TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED",
                      "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})
#: terminal states in which the run was not at fault: the run is re-queued
LOST_STATES = frozenset({"CANCELLED", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "REVOKED"})


def require_hpc(module: str, what: str) -> Any:
    """Import ``module`` (dask_jobqueue, submitit) or fail naming the ``hpc`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs the {module!r} package, which is not installed. "
                          f"Install uqkit's HPC extra: {HPC_EXTRA} (it brings dask-jobqueue "
                          "and submitit).") from None


# -- talking to SLURM -----------------------------------------------------------------------------
def _slurm(*args: str, timeout: float = 15.0) -> str | None:
    """Output of a SLURM command, or None when it is missing or fails."""
    if shutil.which(args[0]) is None:
        return None
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def slurm_status() -> str | None:
    """None when a SLURM controller answers ``sinfo``; otherwise why not (a sentence)."""
    if shutil.which("sinfo") is None:
        return "SLURM is not installed here (no 'sinfo' on PATH)"
    out = _slurm("sinfo", "-h", "-o", "%P %a", timeout=10)
    if out is None:
        return "'sinfo' did not answer (no SLURM controller reachable)"
    if not out.strip():
        return "'sinfo' lists no partition"
    return None


def partitions() -> dict[str, dict[str, Any]]:
    """The partitions ``sinfo`` lists: max walltime (minutes, None = unlimited), CPUs and
    memory (MB) of their largest node, availability, and whether it is the default."""
    out = _slurm("sinfo", "-h", "-o", "%P|%l|%c|%m|%a")
    parts: dict[str, dict[str, Any]] = {}
    for line in (out or "").splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        name, limit, cpus, mem, avail = fields
        default = name.endswith("*")
        name = name.rstrip("*")
        p = parts.setdefault(name, {"max_minutes": None, "cpus": 0, "memory_mb": 0,
                                    "up": False, "default": default})
        with contextlib.suppress(InvalidParameterError):
            p["max_minutes"] = None if limit in ("infinite", "UNLIMITED") \
                else parse_walltime(limit, "sinfo")
        p["cpus"] = max(p["cpus"], _int(cpus))
        p["memory_mb"] = max(p["memory_mb"], _int(mem))
        p["up"] = p["up"] or avail == "up"
    return parts


def _int(text: str) -> int:
    m = re.match(r"\d+", text)
    return int(m.group()) if m else 0


def job_state(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, node)}`` from ``squeue`` (recently ended jobs included)."""
    if not job_ids:
        return {}
    out = _slurm("squeue", "-h", "--states=all", "-j", ",".join(job_ids), "-o", "%i|%T|%N")
    found: dict[str, tuple[str, str]] = {}
    for line in (out or "").splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            found[parts[0]] = (parts[1].split()[0] if parts[1] else "UNKNOWN", parts[2])
    return found


def job_meta(state: str | None = None) -> dict[str, str] | None:
    """This process's SLURM job: id (``array_task`` form in an array), node and ``state``;
    None outside SLURM."""
    env = os.environ
    job = env.get("SLURM_JOB_ID")
    if job is None:
        return None
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    meta = {"job_id": job, "node": env.get("SLURMD_NODENAME", "")}
    if state is not None:
        meta["state"] = state
    return meta


def run_in_job(fn: Any, *args: Any, state: str = "RUNNING") -> Any:
    """Run ``fn(*args)`` (the runner's ``run_batch``) and attach this SLURM job's id, node and
    ``state`` to what it returns: a 6th element of an ``("ok", ...)`` result, or
    ``details["slurm"]`` of a failure. Unchanged outside SLURM."""
    res = fn(*args)
    meta = job_meta(state)
    if meta is None or not isinstance(res, tuple) or not res:
        return res
    if res[0] == "ok":
        return (*res[:5], meta)
    if res[0] == "fail" and isinstance(res[5], dict):
        res[5]["slurm"] = meta
    return res


# -- validation of a request before anything is submitted ----------------------------------------
_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_walltime(value: Any, arg: str = "walltime") -> int:
    """Minutes (rounded up, as SLURM does) of a walltime: minutes as a number, or
    ``"MM"``, ``"HH:MM:SS"``, ``"D-HH:MM:SS"``, ``"D-HH"``."""
    if isinstance(value, bool):
        raise InvalidParameterError(f"The {arg!r} parameter must be a walltime; got {value!r}.")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidParameterError(f"The {arg!r} parameter must be finite; got {value!r}.")
        return math.ceil(value)
    m = _WALLTIME.match(str(value).strip())
    if m is None:
        raise InvalidParameterError(
            f"The {arg!r} parameter must be a walltime like '00:30:00' (HH:MM:SS), "
            f"'1-00:00:00' (D-HH:MM:SS) or a number of minutes; got {value!r}.")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # MM:SS
        seconds = int(a) * 60 + int(b)
    else:  # MM
        seconds = int(a) * 60
    return math.ceil(seconds / 60)


def check_request(*, partition: str | None, walltime: Any, cores: int, memory_mb: int | None,
                  account: str | None = None) -> list[tuple[str, str]]:
    """Problems of a SLURM request, as ``(key, message)``, checked against ``sinfo``:
    an unknown or down partition, a walltime too short to start a job or above the
    partition's limit, more cores or memory than any node has; then by ``sbatch
    --test-only`` (an account or QOS the controller refuses). Empty when fine."""
    problems: list[tuple[str, str]] = []
    minutes = parse_walltime(walltime)
    if minutes < 1:
        problems.append(("walltime", f"is too short to start a job ({walltime!r}): SLURM's "
                         "smallest walltime is 1 minute (and 0 means no limit)"))
    parts = partitions()
    if not parts:
        return problems
    if partition is None:
        partition = next((n for n, p in parts.items() if p["default"]), None)
        if partition is None:
            problems.append(("partition", "is needed: this cluster has no default partition "
                             f"(partitions: {', '.join(sorted(parts))})"))
            return problems
    p = parts.get(partition)
    if p is None:
        problems.append(("partition", f"names an unknown partition {partition!r}; sinfo "
                         f"lists {', '.join(sorted(parts))}"))
        return problems
    if not p["up"]:
        problems.append(("partition", f"{partition!r} is not up (sinfo)"))
    if p["max_minutes"] is not None and minutes > p["max_minutes"]:
        problems.append(("walltime", f"of {minutes} min exceeds the {p['max_minutes']} min "
                         f"limit of partition {partition!r}: the job would never start"))
    if p["cpus"] and cores > p["cpus"]:
        problems.append(("cores", f"= {cores} exceeds the {p['cpus']} CPUs of the largest node "
                         f"of partition {partition!r}: the job would never start"))
    if memory_mb is not None and p["memory_mb"] and memory_mb > p["memory_mb"]:
        problems.append(("memory", f"of {memory_mb} MB exceeds the {p['memory_mb']} MB of the "
                         f"largest node of partition {partition!r}: the job would never start"))
    if not problems:
        problems.extend(_test_only(partition, minutes, cores, memory_mb, account))
    return problems


def _test_only(partition: str, minutes: int, cores: int, memory_mb: int | None,
               account: str | None) -> list[tuple[str, str]]:
    """Ask the controller whether it would accept the job (``sbatch --test-only``)."""
    if shutil.which("sbatch") is None:
        return []
    args = ["sbatch", "--test-only", f"--partition={partition}", f"--time={minutes}",
            f"--cpus-per-task={cores}", "--output=/dev/null", "--wrap=true"]
    if memory_mb is not None:
        args.append(f"--mem={memory_mb}M")
    if account:
        args.append(f"--account={account}")
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode == 0:
        return []
    msg = (out.stderr.strip().splitlines() or ["sbatch --test-only refused the job"])[-1]
    low = msg.lower()
    key = next((k for w, k in (("account", "account"), ("qos", "account"),
                                ("memory", "memory"), ("partition", "partition"),
                                ("time", "walltime")) if w in low), "partition")
    return [(key, f"is refused by SLURM (sbatch --test-only: {msg})")]


# -- building an executor from a SLURM request ----------------------------------------------
def _memory_mb(memory: Any) -> int | None:
    if memory is None:
        return None
    from dask.utils import parse_bytes

    try:
        return math.ceil(parse_bytes(memory) / 2**20) if isinstance(memory, str) \
            else math.ceil(float(memory))
    except (ValueError, TypeError):
        raise InvalidParameterError(f"The 'memory' parameter of slurm_executor must be an "
                                    f"amount like '2GB' or '500MB'; got {memory!r}.") from None


def _hhmmss(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def slurm_executor(*, backend: str = "dask", partition: str | None = None,
                   walltime: Any = "01:00:00", cores: int = 1, memory: Any = "2GB",
                   max_jobs: int = 4, account: str | None = None, job_name: str = "uqkit",
                   folder: Any = "slurm-logs", min_jobs: int = 0, check: bool = True) -> Any:
    """An executor that runs the runner's evaluations on SLURM.

    Pass the result to :class:`uqkit.Runner` (``executor=``) in place of a local pool;
    call its ``shutdown()`` when done (it cancels the SLURM jobs it started).

    Parameters
    ----------
    backend : {"dask", "submitit"}
        ``"dask"``: a ``dask_jobqueue.SLURMCluster`` whose worker jobs (one process of
        ``cores`` threads each) are scaled between ``min_jobs`` and ``max_jobs`` with
        ``cluster.adapt``; returns its ``dask.distributed.Client``. ``"submitit"``: one
        SLURM job per run (for MPI codes that need a whole allocation), submitted in job
        arrays; returns a :class:`SubmititExecutor`.
    partition, account : str, optional
        SLURM partition (``--partition``; default: the cluster's default) and account.
    walltime : str or number
        Per job: ``"HH:MM:SS"``, ``"D-HH:MM:SS"`` or minutes. For ``"dask"`` a worker job
        serves many runs; when it hits its walltime its in-flight runs are re-queued.
    cores : int
        CPUs per job (``--cpus-per-task``).
    memory : str
        Memory per job, e.g. ``"4GB"``.
    max_jobs : int
        Jobs running at once, at most.
    job_name : str
        SLURM job name (``squeue --name``).
    folder : path
        Logs (and submitit's pickles), on a file system the compute nodes share.
    check : bool
        Check the request with ``sinfo`` first (unknown partition, a walltime too short
        to start or above the partition's limit, more cores or memory than a node has).

    Raises
    ------
    ImportError
        dask-jobqueue or submitit missing (``pip install 'uqkit[hpc]'``).
    InvalidParameterError
        A request SLURM could never start, naming the argument.
    """
    from .._validation import check_choice, check_int

    func = "slurm_executor"
    check_choice(func, "backend", backend, ("dask", "submitit"))
    cores = check_int(func, "cores", cores, minimum=1)
    max_jobs = check_int(func, "max_jobs", max_jobs, minimum=1)
    min_jobs = check_int(func, "min_jobs", min_jobs, minimum=0)
    minutes = parse_walltime(walltime)
    if check:
        reason = slurm_status()
        if reason is not None:
            raise RuntimeError(f"slurm_executor: {reason}. Run on a SLURM login node, or use "
                               "a local executor (executor='processes').")
        problems = check_request(partition=partition, walltime=walltime, cores=cores,
                                 memory_mb=_memory_mb(memory), account=account)
        if problems:
            key, msg = problems[0]
            raise InvalidParameterError(f"The {key!r} parameter of {func} {msg}.")
    folder = os.path.abspath(os.fspath(folder))
    os.makedirs(folder, exist_ok=True)
    if backend == "submitit":
        submitit = require_hpc("submitit", "slurm_executor(backend='submitit')")
        ex = submitit.AutoExecutor(folder=os.path.join(folder, "%j"), cluster="slurm")
        # the run is the batch script itself (no srun around it), so that the model may
        # call srun or mpirun; and no early USR2 (submitit's checkpoint signal): it would
        # reach those steps and kill them
        params: dict[str, Any] = {"timeout_min": minutes, "cpus_per_task": cores,
                                  "name": job_name, "slurm_array_parallelism": max_jobs,
                                  "slurm_use_srun": False, "slurm_signal_delay_s": 0}
        if partition:
            params["slurm_partition"] = partition
        if memory is not None:
            params["mem_gb"] = _memory_mb(memory) / 1024
        if account:
            params["slurm_account"] = account
        ex.update_parameters(**params)
        from ._submitit import SubmititExecutor

        return SubmititExecutor(ex, max_jobs=max_jobs)
    dask_jobqueue = require_hpc("dask_jobqueue", "slurm_executor(backend='dask')")
    import dask
    from dask.distributed import Client

    # a worker job that died (walltime, scancel) is replaced after this delay instead of
    # Dask's default 15 s (read when the worker leaves, hence set globally)
    dask.config.set({"distributed.deploy.lost-worker-timeout": "2s"})
    cluster = dask_jobqueue.SLURMCluster(
        queue=partition, account=account, cores=cores, processes=1, memory=memory,
        walltime=_hhmmss(minutes), job_name=job_name, log_directory=folder,
        scheduler_options={"dashboard_address": "127.0.0.1:0"})
    # the runner keeps about two runs per worker queued, so adapt() sees little pending
    # work: a short target duration lets it scale up to max_jobs on that
    cluster.adapt(minimum_jobs=min_jobs, maximum_jobs=max_jobs, target_duration="1s",
                  interval="500ms")
    return Client(cluster)


# -- the store's record of batch jobs --------------------------------------------------------
_JOBS_TABLE = ("CREATE TABLE IF NOT EXISTS jobs(key BLOB PRIMARY KEY, model_id TEXT, "
               "job_id TEXT, node TEXT, state TEXT, time REAL) WITHOUT ROWID")


def put_jobs(conn: Any, model_id: str, keys: Any, jobs: Any, now: float) -> None:
    """Record the batch job of each stored result (inside the caller's transaction).

    The ``jobs`` table is created the first time a result arrives from a batch job, so
    stores that never saw one are unchanged. The first record of a key wins, like the
    result it describes.
    """
    if isinstance(jobs, dict):
        jobs = [jobs] * len(keys)
    rows = [(bytes(k), model_id, j.get("job_id"), j.get("node"), j.get("state"), now)
            for k, j in zip(keys, jobs) if j]
    if rows:
        conn.execute(_JOBS_TABLE)
        conn.executemany("INSERT OR IGNORE INTO jobs VALUES (?,?,?,?,?,?)", rows)


def stored_jobs(store: Any):
    """The ``jobs`` table of a store as a DataFrame (``key`` as hex), empty without one."""
    import pandas as pd

    cols = ["key", "model_id", "job_id", "node", "state", "time"]
    conn = store.conn
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='jobs'").fetchone() is None:
        return pd.DataFrame(columns=cols)
    rows = [(bytes(r[0]).hex(), *r[1:]) for r in conn.execute(
        "SELECT key, model_id, job_id, node, state, time FROM jobs ORDER BY time")]
    return pd.DataFrame(rows, columns=cols)


def job_tag(store_path: Any) -> str:
    """The SLURM job name uqkit gives a study's jobs: ``uqkit-`` and 8 hex digits of the
    store's absolute path (``uqkit store info`` lists the jobs in flight by it)."""
    import hashlib

    path = os.path.abspath(os.fspath(store_path))
    return "uqkit-" + hashlib.sha256(path.encode()).hexdigest()[:8]


def jobs_in_flight(name: str) -> list[dict[str, str]] | None:
    """Pending and running SLURM jobs named ``name`` (None when SLURM does not answer)."""
    out = _slurm("squeue", "-h", "--name", name, "-o", "%i|%T|%N|%M|%l")
    if out is None:
        return None
    jobs = []
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5:
            jobs.append(dict(zip(("job_id", "state", "node", "elapsed", "walltime"), parts)))
    return jobs
