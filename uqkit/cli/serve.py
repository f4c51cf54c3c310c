"""``uqkit serve MODULE:ATTR``: serve a uqkit model over UM-Bridge."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run", "load_object"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="serve a model over the UM-Bridge protocol",
        description="Serve a uqkit model (any Model: as_model, CommandModel, Chain...) as a "
                    "UM-Bridge 1.0 server. Binds 127.0.0.1 unless --host is given. Set "
                    "UQKIT_SERVE_TOKEN to require a bearer token.")
    p.add_argument("target", metavar="MODULE:ATTR",
                   help="the model, e.g. mypkg.models:heart or path/to/file.py:model")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4242, help="TCP port (0: any free port)")
    p.add_argument("--name", default="forward", help="model name on the server")
    p.add_argument("--workers", type=int, default=None,
                   help="evaluations run at the same time (default: CPU count)")
    p.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback --host without UQKIT_SERVE_TOKEN")
    p.set_defaults(func=run)


def load_object(target: str) -> Any:
    """Import ``module:attr`` or ``path/to/file.py:attr`` (attr may be dotted)."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:ATTR, got {target!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ValueError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")
        module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def run(args: argparse.Namespace) -> int:
    from uqkit.models import serve

    try:
        model = load_object(args.target)
    except (ValueError, ImportError, AttributeError, OSError) as exc:
        print(f"uqkit serve: cannot load {args.target!r}: {exc}", file=sys.stderr)
        return 2
    token = os.environ.get("UQKIT_SERVE_TOKEN") or None
    try:
        server = serve({args.name: model}, host=args.host, port=args.port, token=token,
                       workers=args.workers, block=False, insecure=args.insecure)
    except ValueError as exc:  # InvalidParameterError: a clear message, no traceback
        print(f"uqkit serve: {exc}", file=sys.stderr)
        return 2
    print(f"uqkit serve: model {args.name!r} at {server.url} (UM-Bridge 1.0)"
          + (" with a bearer token" if token else "") + "; Ctrl-C stops", file=sys.stderr,
          flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
