"""``uqkit store info|check|recover``: what a store holds, a full check, and recovery."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register", "info_command", "check_command", "recover_command"]


def register(subparsers) -> None:
    p = subparsers.add_parser("store", help="inspect a study store",
                              description="Inspect a uqkit study store (SQLite).")
    sub = p.add_subparsers(dest="store_command", metavar="ACTION")
    i = sub.add_parser("info", help="progress, failures and cached evaluations",
                       description="Show the models, evaluations by status, failures, "
                                   "running claims, studies and checkpoints of a store.")
    i.add_argument("store", help="the study store (.db)")
    i.add_argument("--failures", type=int, default=10, metavar="N",
                   help="show the last N failures (default 10)")
    i.add_argument("--json", action="store_true", help="print machine-readable JSON")
    i.add_argument("--check", action="store_true",
                   help="run the full check (reads the whole file) instead of SQLite's quick one")
    i.set_defaults(func=info_command)
    c = sub.add_parser("check", help="full integrity check (every block's checksum)",
                       description="Run SQLite's integrity check and verify every stored "
                                   "block against its checksum. Exit 0 when healthy, 1 if not.")
    c.add_argument("store", help="the study store (.db)")
    c.add_argument("--json", action="store_true", help="print machine-readable JSON")
    c.set_defaults(func=check_command)
    r = sub.add_parser("recover", help="copy every verifiable row into a new store",
                       description="Copy every completed row whose block passes its checksum, "
                                   "with the models, studies, intact checkpoints and failures, "
                                   "from a damaged store into a new one. Rerunning the study on "
                                   "the new store evaluates the rest again.")
    r.add_argument("src", help="the damaged store (read only, never modified)")
    r.add_argument("dst", help="the new store to write (must not exist)")
    r.set_defaults(func=recover_command)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def info_command(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._common import CommandError, read_existing_store

    def read(store):
        info = store.info()
        studies = {}
        for sid in info["studies"]:
            row = store.conn.execute("SELECT spec, created, updated FROM studies "
                                     "WHERE study_id=?", (sid,)).fetchone()
            studies[sid] = {"spec": json.loads(row[0]), "created": row[1], "updated": row[2]}
        if args.check:
            report = store.check()
            integrity = "ok" if report["ok"] else _verdict(report)
        else:
            integrity = store.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        return (info, store.summary(), store.to_dataframe(failures=True), store.models(),
                studies, integrity, _slurm.stored_jobs(store))

    from ..runner import _slurm

    path = Path(args.store)
    try:
        info, summary, fails, models, studies, integrity, jobs = read_existing_store(path, read)
    except CommandError as exc:
        print(f"uqkit: {exc}", file=sys.stderr)
        return exc.code
    tag = _slurm.job_tag(path)
    # the study's SLURM jobs (named after the store); shown for stores with SLURM results
    # or jobs in flight
    in_flight = _slurm.jobs_in_flight(tag) if _slurm.slurm_status() is None else None
    if not len(jobs) and not in_flight:
        in_flight = None
    if args.json:
        out = {**info, "integrity": integrity, "slurm_jobs_in_flight": in_flight,
               "slurm_results": int(len(jobs)),
               "models": [{k: m[k] for k in ("id", "name", "version", "inputs", "outputs")}
                          for m in models],
               "by_status": json.loads(summary.to_json(orient="index")),
               "failures": json.loads(fails.tail(args.failures).drop(
                   columns=["traceback"], errors="ignore").to_json(orient="records")),
               "studies": studies}
        print(json.dumps(out, indent=1, default=str))
        return 0
    w = print
    w(f"store       {info['path']}")
    w(f"size        {info['size_bytes'] / 2**20:.2f} MiB, schema {info['schema_version']}, "
      f"integrity {integrity}{'' if args.check else ' (quick check; --check: full)'}")
    w(f"evaluations {info['evaluations']} stored, {info['failed_attempts']} failed attempts, "
      f"{info['running_claims']} running now")
    if in_flight is None and len(jobs):
        w(f"slurm jobs  in flight unknown (SLURM does not answer here; jobs named {tag})")
    if in_flight is not None:
        w(f"slurm jobs  {len(in_flight)} in flight ({tag})")
        for j in in_flight:
            w(f"  {j['job_id']} {j['state']} on {j['node'] or '-'}, {j['elapsed']} of "
              f"{j['walltime']}")
    if len(jobs):
        w(f"            {len(jobs)} results from {jobs.job_id.nunique()} SLURM jobs")
    w("")
    w("cached evaluations by model and status:")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        w(summary.to_string() if len(summary) else "  (none)")
    for m in models:
        w(f"  {m['name']}: id {m['id'][:16]}, inputs {', '.join(m['inputs'])}; outputs "
          f"{', '.join(m['outputs'][:8])}{' ...' if len(m['outputs']) > 8 else ''}")
    w("")
    w("studies:" if studies else "studies: (none recorded)")
    for sid, s in studies.items():
        spec = s["spec"]
        brief = {k: spec[k] for k in ("name", "seed", "method", "n", "n_base", "analyses")
                 if k in spec}
        w(f"  {sid}: {json.dumps(brief, default=str)[:200]}")
    if info["checkpoints"]:
        w("checkpoints: " + ", ".join(info["checkpoints"]))
    if len(fails):
        w("")
        w(f"last {min(args.failures, len(fails))} of {len(fails)} failures:")
        for _, f in fails.tail(args.failures).iterrows():
            msg = str(f["message"]).splitlines()[0][:100] if f["message"] else ""
            w(f"  {f['key'][:12]} {f['model']} attempt {f['attempt']} {f['kind']}: {msg}")
    return 0


def _verdict(report: dict) -> str:
    parts = []
    if report["integrity"] != "ok":
        parts.append(f"SQLite: {report['integrity']}")
    if report["damaged_blocks"]:
        parts.append(f"{len(report['damaged_blocks'])} of {report['blocks']} blocks fail their "
                     "checksum")
    if report["damaged_entries"]:
        parts.append(f"{report['damaged_entries']} of {report['index_entries']} index entries "
                     "point at damaged or missing rows")
    parts.extend(report["problems"])
    return "; ".join(parts) or "ok"


def check_command(args: argparse.Namespace) -> int:
    from .._errors import StoreError
    from ..runner._store_recover import check_file
    from ._common import CommandError, read_existing_store

    path = Path(args.store)
    try:
        read_existing_store(path, lambda store: None)  # header, schema and quick check
        opened = None
    except CommandError as exc:
        if exc.code == 2 or "not a uqkit store" in str(exc):
            print(f"uqkit: {exc}", file=sys.stderr)
            return exc.code
        opened = str(exc)
    try:
        report = check_file(path)
    except StoreError as exc:
        print(f"uqkit: {exc}", file=sys.stderr)
        return 1
    if opened and report["ok"]:
        report = {**report, "ok": False, "problems": [*report["problems"], opened]}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"store       {path}")
        print(f"blocks      {report['blocks']} ({len(report['damaged_blocks'])} damaged), "
              f"index entries {report['index_entries']} ({report['damaged_entries']} damaged)")
        print(f"integrity   {'ok' if report['ok'] else _verdict(report)}")
        if not report["ok"]:
            print(f"recovery    uqkit store recover {path} recovered.db  (copies every "
                  "verifiable row; then run the study on recovered.db)")
    return 0 if report["ok"] else 1


def recover_command(args: argparse.Namespace) -> int:
    from .._errors import StoreError
    from ..runner._store_recover import recover_store

    try:
        got = recover_store(args.src, args.dst)
    except StoreError as exc:
        print(f"uqkit: {exc}", file=sys.stderr)
        return 1
    print(f"recovered   {got['rows']} rows and {got['checkpoints']} checkpoints into {args.dst}")
    if got["damaged_blocks"]:
        print(f"skipped     {got['damaged_blocks']} damaged blocks (their rows are evaluated "
              "again when the study reruns)")
    for p in got["problems"]:
        print(f"problem     {p}")
    return 0
