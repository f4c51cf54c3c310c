"""The ``uqkit`` command line.

Subcommands live in their own modules under :mod:`uqkit.cli` (one concept per
module); each defines ``register(subparsers)`` that adds its parser and sets
``func`` (a callable taking the parsed arguments and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._version import __version__

__all__ = ["main"]

# subcommand modules, in help order; a missing module (not yet built) is skipped
_SUBCOMMANDS = ("demo", "run", "report", "store", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uqkit", description="Uncertainty quantification for multiscale simulators.")
    parser.add_argument("--version", action="version", version=f"uqkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"uqkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"uqkit.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``uqkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
