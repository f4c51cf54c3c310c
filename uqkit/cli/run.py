"""``uqkit run study.toml``: run a study file end to end and write its report."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_command"]

EXIT_INTERRUPTED = 130


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a study file (TOML) and write its report",
        description="Run the analyses of a study file (model, parameters, analyses, runner, "
                    "report) through a resumable store. Ctrl-C stops cleanly; run the same "
                    "command again to resume from the store.")
    p.add_argument("study", help="the study file (.toml)")
    p.add_argument("--check", action="store_true",
                   help="validate the study file and the model, run nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    p.set_defaults(func=run_command)


def _err(msg: str) -> None:
    print(f"uqkit: {msg}", file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    from .._errors import InvalidParameterError, ModelEvaluationError, StoreError
    from ._execute import execute, prepare, study_runner, write_report
    from ._study import load_study

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"uqkit: {msg}", file=sys.stderr, flush=True)

    runner_store = None
    try:
        study = load_study(args.study)
        prep = prepare(study)
        if args.check:
            print(f"{study.path}: OK ({', '.join(study.analyses)}; model inputs "
                  f"{', '.join(prep.model.inputs)})")
            return 0
        with study_runner(study, progress=not args.quiet) as runner:
            runner_store = runner.store
            log(f"study {study.name!r}: store {runner.store.path}")
            results = execute(prep, runner, log=log)
            html_path, json_path = write_report(prep, runner, results)
        if not args.quiet:
            for r in results:
                if not hasattr(r, "attrs"):  # results, not the validation tables
                    print(repr(r))
        print(f"report: {html_path}")
        print(f"numbers: {json_path}")
        return 0
    except KeyboardInterrupt:
        where = f" in {runner_store.path}" if runner_store is not None else ""
        _err(f"interrupted. Every finished evaluation is stored{where}; run the same "
             "command again to resume.")
        return EXIT_INTERRUPTED
    except InvalidParameterError as exc:
        _err(str(exc))
        return 2
    except (ModelEvaluationError, StoreError) as exc:
        _err(f"{type(exc).__name__}: {exc}")
        return 1
