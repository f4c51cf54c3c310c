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
                   help="validate the study file and the model without running it (a model "
                        "factory named by entry_point is not called)")
    p.add_argument("--probe", type=int, default=0, metavar="N",
                   help="with --check: build the model and run it on N design points (no "
                        "store), reporting the points that fail or give NaN/inf")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    p.set_defaults(func=run_command)


def _err(msg: str) -> None:
    print(f"uqkit: {msg}", file=sys.stderr)


_TOML_POLICY = ('set on_failure = "skip" (or "nan") in the [runner] table of the study '
                'file to record failures and continue')


def _in_toml_terms(message: str, kind: str | None) -> str:
    """A runner message with its Python options replaced by the study file's keys."""
    import re

    message, n = re.subn(
        r"pass on_failure='skip' or 'nan' to continue(, or allow_nonfinite=True to accept "
        r"them)?", _TOML_POLICY, message)
    message = re.sub(r"on_failure=(['\"])(\w+)\1", r'on_failure = "\2" ([runner])', message)
    message = message.replace("allow_nonfinite=True", "on_failure = \"nan\" ([runner])")
    if not n and kind not in (None, "circuit_breaker", "interrupted"):
        first, nl, rest = message.partition("\n")
        message = f"{first} ({_TOML_POLICY}){nl}{rest}"
    return message


def _check(study, prep, n_probe: int, probe) -> int:
    inputs = "not built" if prep.model is None else ", ".join(prep.model.inputs)
    print(f"{study.path}: OK ({', '.join(study.analyses)}; model inputs {inputs})")
    if not n_probe:
        print("the model was not run; add --probe N to run it on N design points")
        return 0
    problems = probe(prep, n_probe)
    for line in problems:
        print(f"  {line}")
    print(f"probe: {n_probe - len(problems)} of {n_probe} design points gave finite outputs")
    return 1 if problems else 0


def run_command(args: argparse.Namespace) -> int:
    from .._errors import InvalidParameterError, ModelEvaluationError, StoreError
    from ._execute import execute, prepare, probe, study_runner, write_report
    from ._study import load_study

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"uqkit: {msg}", file=sys.stderr, flush=True)

    runner_store = None
    try:
        if args.probe < 0 or (args.probe and not args.check):
            _err("--probe N needs --check and N >= 1 (e.g. uqkit run --check --probe 5 "
                 "study.toml)")
            return 2
        study = load_study(args.study)
        if args.check:
            return _check(study, prepare(study, build=bool(args.probe)), args.probe, probe)
        prep = prepare(study)
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
    except ModelEvaluationError as exc:
        _err(f"{type(exc).__name__}: {_in_toml_terms(str(exc), getattr(exc, 'kind', None))}")
        return 1
    except StoreError as exc:
        _err(f"{type(exc).__name__}: {exc}")
        return 1
