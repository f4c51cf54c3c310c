"""Wrap a command-line simulator driven by templated input files."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal as _signal
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uqkit._errors import EvaluationFailure, UQKitWarning
from uqkit._validation import as_2d_float, check_choice, check_names, check_real, fail

from ._callable import _check_real, _code_fingerprint, _is_real_scalar, coerce_outputs
from ._command_support import (
    RESERVED,
    _check_command,
    _check_env,
    _check_inherit,
    _check_limits,
    _check_max_input_size,
    _default_study_dir,
    _last_line,
    _read_files,
    _resolve_program,
    _resolve_support,
    _short,
    _signal_name,
    _tree_hash,
)
from ._process import read_tail, run_process
from ._protocol import expand_outputs
from ._templates import MAX_RENDERED, Template, check_templates, lossy_specs

__all__ = ["CommandModel"]

_FUNC = "CommandModel"
_counter = itertools.count()


class CommandModel:
    """A command-line simulator as a :class:`uqkit.Model`.

    Each evaluation renders the input ``files`` and the ``command`` with the
    row's values, runs the program in a fresh work directory, and reads the
    outputs with ``parse``.

    Parameters
    ----------
    command : sequence of str
        The argv list (never a shell string). ``{{ name }}`` in an element is
        replaced by the input's value; the element stays one argument whatever
        it contains. The executable is looked up on ``PATH`` once, at
        construction; other elements that are absolute paths of existing files
        (scripts) are hashed into the identity. The command runs in the work
        directory, so give scripts by absolute path (a relative path to a file
        of the current directory warns).
    inputs : sequence of str
        Input names (``^[A-Za-z_][A-Za-z0-9_]*$``).
    outputs : sequence of str or mapping of str to int
        Output names, or ``{"V": 200}`` for vector outputs.
    files : mapping of str to str or pathlib.Path, optional
        Input files rendered into the work directory: file name -> template
        text, or -> ``Path`` of a template file (read now). Only ``{{ name }}``
        is substituted; single braces are copied verbatim. ``{{ name:SPEC }}``
        applies a Python format spec (``.17e``, ``12.6f``, ``d`` for integers);
        a spec that cannot reproduce every double warns at construction.
    parse : callable
        ``parse(workdir: Path)`` returning the outputs: a sequence in the order
        of ``outputs`` or a mapping by name. See :mod:`uqkit.parsers`.
        ``stdout.txt`` and ``stderr.txt`` are in the work directory.
    timeout : float, optional
        Seconds before the whole process group gets SIGTERM, then SIGKILL
        after ``grace`` seconds.
    env : mapping of str to str, optional
        Variables set for the simulator, on top of the inherited ones.
    workdir : str or Path, optional
        Study folder under which each evaluation's directory is created
        (default: ``$TMPDIR/uqkit-<uid>``).
    keep : {"failed", "all", "none"}
        Which work directories to keep after evaluation.
    name, version : str, optional
        Identity in cache keys (default name: the program's file name).
    copy_files, link_files : sequence or mapping, optional
        Support files (meshes, tables) copied or symlinked into each work
        directory: a list of paths or ``{dest_name: source}``. Sources must lie
        inside the current directory; ``..`` is rejected.
    inherit_env : bool or sequence of str
        ``True`` (default) passes the whole environment; ``False`` only
        ``env``; a sequence is an allowlist of variable names to pass.
    limits : mapping, optional
        Per-evaluation resource limits: ``memory`` (bytes, RLIMIT_AS),
        ``processes`` (RLIMIT_NPROC), ``output`` (bytes per written file,
        RLIMIT_FSIZE; also caps stdout/stderr), ``cpu`` (seconds).
    grace : float
        Seconds between SIGTERM and SIGKILL on timeout (default 3).
    max_input_size : int
        Largest rendered input file or argument, in characters (default 64 Mi).
        Checked at construction from the templates' length and their format
        specs' widths (at most 256 each), so a runaway spec such as
        ``{{ x:>3000000000 }}`` is refused before anything is rendered.

    Raises
    ------
    InvalidParameterError
        Before any run: a shell string, a missing or non-executable program,
        an unreadable template, an undefined placeholder, unsafe file names.

    Warns
    -----
    UQKitWarning
        An input that no template uses.

    Notes
    -----
    Values are written with ``repr(float)`` and parse back to the same double.
    A failed evaluation raises :class:`uqkit.EvaluationFailure` with ``kind``
    one of ``nonzero_exit``, ``signal``, ``timeout``, ``missing_output``,
    ``parse_error``, ``shape_mismatch``, ``wrong_type`` and details
    ``returncode``, ``signal``, ``stderr_tail`` (64 KiB), ``duration``,
    ``workdir`` (when kept).

    The model's ``identity`` hashes the command, the templates, the support
    files, the parser and the SHA-256 of the executable and scripts: a changed
    simulator never hits the cache of the old one.

    Examples
    --------
    >>> import sys, uqkit
    >>> model = uqkit.CommandModel(
    ...     [sys.executable, "-c", "import json; a = json.load(open('in.json'))['a'];"
    ...      "print(a * a)"],
    ...     inputs=["a"], outputs=["y"], files={"in.json": '{"a": {{ a }}}'},
    ...     parse=uqkit.parsers.numbers("stdout.txt"))
    >>> model([[3.0]])
    array([[9.]])
    """

    vectorized = False

    def __init__(
        self,
        command: Sequence[str],
        *,
        inputs: Sequence[str],
        outputs: Sequence[str] | Mapping[str, int],
        files: Mapping[str, str | Path] | None = None,
        parse: Callable[[Path], Any],
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | os.PathLike | None = None,
        keep: str = "failed",
        name: str | None = None,
        version: str | None = None,
        copy_files: Sequence | Mapping | None = None,
        link_files: Sequence | Mapping | None = None,
        inherit_env: bool | Sequence[str] = True,
        limits: Mapping[str, int] | None = None,
        grace: float = 3.0,
        max_input_size: int = MAX_RENDERED,
    ) -> None:
        root = Path.cwd()
        command = _check_command(command)
        self.inputs = check_names(_FUNC, "inputs", inputs)
        if not self.inputs:
            fail(_FUNC, "inputs", "a non-empty sequence of names", inputs)
        self.outputs, self.output_sizes = expand_outputs(outputs, _FUNC)
        if not callable(parse):
            fail(_FUNC, "parse", "a callable parse(workdir) -> outputs (see uqkit.parsers)",
                 parse)
        self.parse = parse
        self.timeout = None if timeout is None else check_real(_FUNC, "timeout", timeout,
                                                               positive=True)
        self.grace = check_real(_FUNC, "grace", grace, nonnegative=True)
        cap = _check_max_input_size(max_input_size)
        self.keep = check_choice(_FUNC, "keep", keep, ("failed", "all", "none"))
        self.env = _check_env(env)
        self.inherit_env = _check_inherit(inherit_env)
        self.limits = _check_limits(limits)
        self.workdir = None if workdir is None else Path(workdir).absolute()

        # the program and the scripts exist before any evaluation (tests/test_command.py)
        prog = _resolve_program(command, self.env, root)
        self.command = tuple(prog.argv)
        self._argv = tuple(Template(a, f"argv[{i}]", cap) for i, a in enumerate(prog.argv))
        self.files = _read_files(files)
        self._files = tuple((n, Template(t, f"file {n!r}", cap)) for n, t in self.files.items())
        self._check_templates()
        self.copy_files = _resolve_support("copy_files", copy_files, root)
        self.link_files = _resolve_support("link_files", link_files, root)
        self._check_support(prog.stray)

        self.name = name or prog.script or prog.exe.name
        self.version = None if version is None else str(version)
        self._set_identity(prog.hashes)
        self.executable_sha256 = prog.hashes[str(prog.exe)]

    def _check_templates(self) -> None:
        """Undefined placeholders raise; lossy specs and unused inputs warn (E4, I6)."""
        templates = [*self._argv, *(t for _, t in self._files)]
        unused = check_templates(templates, self.inputs, _FUNC)
        lossy = lossy_specs(templates)
        if lossy:
            name0, spec0 = next(iter(lossy.items()))
            warnings.warn(
                f"CommandModel writes {name0!r} with the format '{spec0}', which does not "
                "reproduce every double: the simulator computes with a rounded value, not the "
                "one stored with its result. Use the default {{ name }} (repr, exact) or a "
                f"lossless spec such as '.17g'. Lossy: {lossy}.", UQKitWarning, stacklevel=3)
        if unused:
            warnings.warn(
                f"CommandModel inputs {unused} appear in no template of the command or files; "
                "the simulator will not see them.", UQKitWarning, stacklevel=3)

    def _check_support(self, stray: list[str]) -> None:
        """Relative arguments naming local files warn; file names must not clash."""
        provided = set(self.files) | set(self.copy_files) | set(self.link_files)
        stray = [a for a in stray if a not in provided]
        if stray:
            warnings.warn(
                f"CommandModel argument {stray[0]!r} names a file in the current directory, "
                "but the command runs in a fresh work directory where it does not exist; give "
                "its absolute path (then its content is hashed into the model identity) or "
                "list it in copy_files.", UQKitWarning, stacklevel=3)
        clash = set(self.files) & (set(self.copy_files) | set(self.link_files))
        if clash:
            fail(_FUNC, "files", "names distinct from copy_files/link_files", sorted(clash))

    def _set_identity(self, hashes: dict[str, str]) -> None:
        """``identity`` and ``fingerprint``: command, templates, support files, parser, code."""
        parse = self.parse
        support = {d: _tree_hash(p) for d, p in {**self.copy_files, **self.link_files}.items()}
        parse_id = repr(parse) if type(parse).__module__ == "uqkit.parsers" else (
            f"{getattr(parse, '__module__', '')}.{getattr(parse, '__qualname__', type(parse))}"
            f"#{_code_fingerprint(parse)}")
        payload = json.dumps({
            "command": list(self.command), "files": self.files, "support": support,
            "executables": hashes, "parse": parse_id, "outputs": list(self.outputs),
            "version": self.version}, sort_keys=True).encode()
        digest = hashlib.sha256(payload).hexdigest()
        self.fingerprint = digest[:16]
        self.identity = f"command:{self.name}@{self.version}#sha256:{digest}"

    # ------------------------------------------------------------------ evaluation
    def __call__(self, X: Any) -> np.ndarray:
        X = as_2d_float(self.name, "X", X, len(self.inputs))
        out = np.empty((X.shape[0], len(self.outputs)))
        for i, row in enumerate(X):
            out[i] = self.evaluate_row(row)
        return out

    def evaluate_row(self, row: Sequence[float]) -> np.ndarray:
        """Run the simulator on one row of inputs; raise EvaluationFailure on failure."""
        values = dict(zip(self.inputs, map(float, row), strict=True))
        study = self._study_dir()
        wd = Path(tempfile.mkdtemp(prefix=f"eval-{os.getpid()}-{next(_counter):06d}-",
                                   dir=study))  # mode 0700, named by id, never by values
        ok = False
        try:
            for fname, tmpl in self._files:
                target = wd / fname
                if target.parent != wd:
                    target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(tmpl.render(values))
            for dest, src in self.copy_files.items():
                (wd / dest).parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, wd / dest, symlinks=True)
                else:
                    shutil.copy2(src, wd / dest)
            for dest, src in self.link_files.items():
                (wd / dest).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(src, wd / dest)
            argv = [t.render(values) for t in self._argv]
            result = run_process(argv, wd, timeout=self.timeout, grace=self.grace,
                                 env=self._environment(), limits=self.limits)
            self._check_process(result, wd)
            y = self._parse(wd, result.duration)
            ok = True
            return y
        except EvaluationFailure as exc:
            if self.keep != "none":
                exc.details.setdefault("workdir", str(wd))
            raise
        finally:
            if self.keep == "none" or (ok and self.keep == "failed"):
                shutil.rmtree(wd, ignore_errors=True)  # never follows symlinks

    def _study_dir(self) -> Path:
        if self.workdir is not None:
            if not self.workdir.is_dir():
                self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self.workdir
        return _default_study_dir()

    def _environment(self) -> dict[str, str] | None:
        if self.inherit_env is True:
            if not self.env:
                return None
            return {**os.environ, **self.env}
        base = {} if self.inherit_env is False else {
            k: os.environ[k] for k in self.inherit_env if k in os.environ}
        return {**base, **(self.env or {})}

    def _check_process(self, result, wd: Path) -> None:
        cap = (self.limits or {}).get("output")
        if result.returncode == 0 and not result.timed_out and cap is None:
            return
        details = {"returncode": result.returncode, "duration": result.duration,
                   "stderr_tail": read_tail(wd / "stderr.txt")}
        last = _last_line(details["stderr_tail"])
        if result.timed_out:
            how = "SIGKILL after the grace period" if result.killed else "SIGTERM"
            raise EvaluationFailure(
                "timeout", f"{self.name} timed out after {self.timeout:g} s (process group "
                f"stopped with {how})", retryable=True, signal=result.signal, **details)
        if cap is not None and result.returncode >= 0 and any(
                (wd / f).stat().st_size >= cap for f in RESERVED):
            # programs that ignore SIGXFSZ (Python does) see EFBIG instead of dying
            raise EvaluationFailure(
                "output_limit", f"{self.name} reached the output size limit of {cap} bytes "
                "(limits['output'])", retryable=False, signal=None, **details)
        if result.returncode < 0:
            sig = -result.returncode
            sname = _signal_name(sig)
            extra = " (output size limit exceeded)" if sig == _signal.SIGXFSZ else ""
            raise EvaluationFailure(
                "output_limit" if sig == _signal.SIGXFSZ else "signal",
                f"{self.name} was killed by signal {sig} ({sname}){extra}"
                + (f": {last}" if last else ""),
                retryable=sig in (_signal.SIGKILL, _signal.SIGTERM, _signal.SIGHUP,
                                  _signal.SIGINT),
                signal=sig, **details)
        if result.returncode != 0:
            rc = result.returncode
            hint = (f" (128+{rc - 128}: a shell reports {_signal_name(rc - 128)})"
                    if 128 < rc < 160 else "")
            raise EvaluationFailure(
                "nonzero_exit", f"{self.name} exited with code {rc}{hint}"
                + (f": {last}" if last else ""), retryable=True, signal=None, **details)

    def _parse(self, wd: Path, duration: float) -> np.ndarray:
        try:
            result = self.parse(wd)
        except EvaluationFailure as exc:
            exc.details.setdefault("duration", duration)
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except FileNotFoundError as exc:
            raise EvaluationFailure("missing_output", f"parse: {exc}", retryable=False,
                                    duration=duration) from exc
        except Exception as exc:
            text = str(exc)
            if len(text) > 2000:  # a parser's message quoting a huge output
                text = f"{text[:2000]}... [{len(text) - 2000} characters cut]"
            raise EvaluationFailure(
                "parse_error", f"parse raised {type(exc).__name__}: {text}", retryable=False,
                duration=duration, exception=type(exc).__name__) from exc
        return _to_row(result, self.outputs, self.output_sizes)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        return (f"CommandModel({self.name!r}, inputs={self.inputs}, "
                f"outputs={_short(self.outputs)})")

    def _repr_html_(self) -> str:
        from uqkit.reports._repr import card

        return card("CommandModel", self.name, facts={
            "command": " ".join(self.command), "inputs": ", ".join(self.inputs),
            "outputs": _short(self.outputs)})


# ---------------------------------------------------------------------- helpers
def _to_row(result: Any, outputs: tuple[str, ...], sizes: dict[str, int]) -> np.ndarray:
    """A flat sequence of all output columns is accepted as is; else per output group."""
    if isinstance(result, (list, tuple, np.ndarray)) and not isinstance(result, str):
        arr = np.asarray(result, dtype=object) if not isinstance(result, np.ndarray) else result
        if arr.ndim == 1 and arr.shape[0] == len(outputs) and (
                sizes or len(outputs) == 1) and all(_is_real_scalar(v) for v in arr.tolist()):
            out = np.asarray(arr.tolist())
            _check_real("outputs", out)
            return out.astype(float)
        if arr.ndim == 1 and sizes and all(_is_real_scalar(v) for v in arr.tolist()):
            raise EvaluationFailure(
                "shape_mismatch", f"parsed shape ({arr.shape[0]},) vs declared "
                f"({len(outputs)},) outputs", retryable=False)
    if result is None or isinstance(result, (str, bytes, complex)):
        raise EvaluationFailure("wrong_type", f"parse returned {type(result).__name__} "
                                f"({result!r:.60}); expected numbers", retryable=False)
    return coerce_outputs(result, outputs, sizes)

