"""``uqkit report study.db``: rebuild a study's HTML report (and JSON) from its store.

``uqkit run`` keeps the whole report document (tables, facts and figures as
data) in the store as the checkpoint ``study:<name>:report``; this command
renders it again, without importing or running the model. The store holds data
only (JSON and numbers), so opening a store received from someone else runs no
code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "report_command", "stored_reports"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="rebuild the HTML report of a study from its store",
        description="Render the report kept in a study store again (no model runs).")
    p.add_argument("store", help="the study store (.db)")
    p.add_argument("-o", "--output", default=None,
                   help="HTML file to write (default: <store stem>-report.html beside it)")
    p.add_argument("--study", default=None, help="which study, when the store holds several")
    p.set_defaults(func=report_command)


def stored_reports(store) -> dict[str, dict]:
    """Study name -> stored report meta, for every study with a finished report."""
    out = {}
    for name in store.info()["checkpoints"]:
        if name.startswith("study:") and name.endswith(":report"):
            loaded = store.load_checkpoint(name)
            if loaded is not None:
                out[name[len("study:"):-len(":report")]] = loaded[1]
    return out


def report_command(args: argparse.Namespace) -> int:
    from ..reports._document import document_from_dict
    from ..reports._report import write_document
    from ._common import CommandError, read_existing_store

    path = Path(args.store)
    try:
        reports, studies = read_existing_store(path, lambda store: (
            stored_reports(store),
            [s for s in store.info()["studies"] if s.startswith("study:")]))
    except CommandError as exc:
        print(f"uqkit: {exc}", file=sys.stderr)
        return exc.code
    if not reports:
        hint = (" The study " + ", ".join(repr(s[6:]) for s in studies) + " has not finished;"
                " run `uqkit run <study file>` again to complete it." if studies else
                " It was not written by `uqkit run`; build a report in Python with "
                "uqkit.report(...).")
        print(f"uqkit: {path} holds no study report.{hint}", file=sys.stderr)
        return 1
    if args.study is None and len(reports) > 1:
        print(f"uqkit: {path} holds several studies ({', '.join(sorted(reports))}); "
              "choose one with --study", file=sys.stderr)
        return 2
    name = args.study or next(iter(reports))
    if name not in reports:
        print(f"uqkit: no study {name!r} in {path} (have: {', '.join(sorted(reports))})",
              file=sys.stderr)
        return 2
    doc = document_from_dict(reports[name]["document"])
    out = Path(args.output) if args.output else path.with_name(f"{path.stem}-report.html")
    html_path, json_path = write_document(doc, out)
    print(f"report: {html_path}")
    print(f"numbers: {json_path}")
    return 0
