"""Ready-made output parsers for :class:`uqkit.CommandModel`.

Each parser is called with the evaluation's work directory and returns the
outputs (a sequence in the order of the model's ``outputs``, or a mapping by
name). Parsing is strict (tests/test_command_parsers.py::test_rejected_numbers and
::test_wrong_types_fail_through_the_model):

- numbers must look like numbers: ``1,0`` (decimal comma) and ``1_000`` are
  rejected; Fortran exponents ``1.0D+00`` only with ``fortran=True``;
- a missing or empty file is ``missing_output``; anything malformed is
  ``parse_error`` naming the file, line and column, never read as zero.

Reads are bounded: a parser reads at most ``max_bytes`` of its file (default
:data:`MAX_BYTES`, 64 MiB; pass ``max_bytes=`` to a parser to change it). A larger
file is an ``output_too_large`` failure, found from the file's size before
anything is read, so a runaway simulator cannot take the driver's memory. Failure
messages quote at most a few dozen characters of the output, and are at most
:data:`MAX_MESSAGE` characters long.

Parsers are module-level classes (not closures) so models using them pickle to
process pools, and their ``repr`` is stable so it can enter the model identity.

Examples
--------
>>> from uqkit import parsers
>>> parsers.json("out.json", keys=["peak", "time"])
json('out.json', keys=['peak', 'time'])
"""

from __future__ import annotations

import json as _json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._errors import EvaluationFailure
from ._validation import fail

__all__ = ["json", "table", "regex", "numbers", "parse_number", "MAX_BYTES", "MAX_MESSAGE"]

MAX_BYTES = 64 * 2**20
"""Default read limit of every parser, in bytes (``max_bytes=`` overrides it)."""

MAX_MESSAGE = 2048
"""Longest failure message a parser raises, in characters."""

_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)", re.IGNORECASE)
_FORTRAN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)[dD][+-]?\d+")


def parse_number(token: str, *, fortran: bool = False, where: str = "") -> float:
    """Parse one number strictly.

    Accepts ``-1``, ``2.5``, ``.5``, ``1e-3``, ``nan``, ``inf``; rejects ``1,0``,
    ``1_000``, ``0x10``, empty text and Fortran ``1.0D+00`` unless ``fortran``.

    Raises
    ------
    EvaluationFailure
        ``kind="parse_error"`` with ``where`` (file, line, column) in the message.
    """
    if _NUMBER.fullmatch(token):
        return float(token)
    if _FORTRAN.fullmatch(token):
        if fortran:
            return float(token.replace("D", "e").replace("d", "e"))
        raise EvaluationFailure(
            "parse_error", f"{where}: {_show(token)} is a Fortran double-precision number; pass "
            "fortran=True to the parser to accept D exponents", retryable=False)
    hint = " (decimal comma?)" if len(token) < 100 and re.fullmatch(r"[+-]?\d+,\d+",
                                                                     token) else ""
    raise _failure("parse_error", f"{where}: {_show(token)} is not a number{hint}")


def _show(text: str, n: int = 60) -> str:
    """``repr`` of at most ``n`` characters of ``text``, saying how long it was."""
    if len(text) <= n:
        return repr(text)
    return f"{text[:n]!r}... ({len(text)} characters)"


def _clip(text: str, n: int = 200) -> str:
    """``text`` cut to ``n`` characters, saying how long it was."""
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


def _failure(kind: str, message: str, **details: Any) -> EvaluationFailure:
    if len(message) > MAX_MESSAGE:
        cut = len(message) - MAX_MESSAGE + 40
        message = f"{message[:MAX_MESSAGE - 40]}... [{cut} characters cut]"
    return EvaluationFailure(kind, message, retryable=False, **details)


def _check_max_bytes(func: str, max_bytes: Any) -> int | None:
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        fail(f"parsers.{func}", "max_bytes", "a positive number of bytes or None (the default "
             f"uqkit.parsers.MAX_BYTES = {MAX_BYTES})", max_bytes)
    return int(max_bytes)


def _read_text(workdir: Path, file: str, max_bytes: int | None = None) -> tuple[Path, str]:
    path = Path(workdir) / file
    limit = MAX_BYTES if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = b"" if size > limit else f.read(limit + 1)
    except FileNotFoundError:
        raise EvaluationFailure("missing_output", f"output file {file!r} was not written",
                                retryable=False, file=file) from None
    except IsADirectoryError:
        raise EvaluationFailure("missing_output", f"output {file!r} is a directory",
                                retryable=False, file=file) from None
    if size > limit or len(data) > limit:
        raise EvaluationFailure(
            "output_too_large", f"output file {file!r} holds {max(size, len(data))} bytes, more "
            f"than the parser's limit of {limit} bytes; raise it with max_bytes=... if the "
            "file is meant to be that large", retryable=False, file=file)
    if not data.strip():
        raise EvaluationFailure("missing_output", f"output file {file!r} is empty",
                                retryable=False, file=file)
    try:
        return path, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise EvaluationFailure("parse_error", f"{file}, line {line}: not UTF-8 text",
                                retryable=False, file=file) from None


def _limit_repr(parser: Any) -> str:
    limit = getattr(parser, "max_bytes", None)  # absent on parsers pickled by older uqkit
    return "" if limit is None else f", max_bytes={limit}"


def _check_file(func: str, file: Any) -> str:
    if not isinstance(file, (str, Path)) or not str(file):
        fail(f"parsers.{func}", "file", "a file name relative to the work directory", file)
    p = Path(file)
    if p.is_absolute() or ".." in p.parts:
        fail(f"parsers.{func}", "file", "a relative path inside the work directory", str(file))
    return str(file)


class json:  # noqa: N801 - public lower-case factory name
    """Read outputs from a JSON file.

    Parameters
    ----------
    file : str
        File name relative to the work directory.
    keys : sequence of str, optional
        Keys (``"a.b.0"`` for nested objects and lists) read in order; the
        result is a sequence in that order. Without ``keys``, an object is
        returned as a mapping (keys must be the output names), a list as a
        sequence and a number as one value.
    max_bytes : int, optional
        Read limit in bytes (default :data:`MAX_BYTES`); a larger file is an
        ``output_too_large`` failure.

    Notes
    -----
    Bare ``NaN`` and ``Infinity`` tokens are accepted (the runner's non-finite
    policy handles them); strings, booleans and ``null`` are ``wrong_type``.
    """

    def __init__(self, file: str, keys: Sequence[str] | None = None, *,
                 max_bytes: int | None = None) -> None:
        self.file = _check_file("json", file)
        self.max_bytes = _check_max_bytes("json", max_bytes)
        if keys is not None:
            if isinstance(keys, str):
                keys = [keys]
            keys = list(keys)
            if not keys or not all(isinstance(k, str) and k for k in keys):
                fail("parsers.json", "keys", "a non-empty sequence of strings", keys)
        self.keys = keys

    def __call__(self, workdir: Path) -> Any:
        _, text = _read_text(workdir, self.file, self.max_bytes)
        try:
            data = _json.loads(text)
        except _json.JSONDecodeError as exc:
            raise EvaluationFailure(
                "parse_error", f"{self.file}, line {exc.lineno}, column {exc.colno}: {exc.msg}",
                retryable=False, file=self.file) from None
        if self.keys is None:
            _check_json_values(self.file, "", data)
            return data
        out = []
        for key in self.keys:
            value = data
            for part in key.split("."):
                if isinstance(value, dict) and part in value:
                    value = value[part]
                elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                    value = value[int(part)]
                else:
                    raise EvaluationFailure(
                        "parse_error", f"{self.file}: key {key!r} not found (at {part!r})",
                        retryable=False, file=self.file)
            _check_json_values(self.file, key, value)
            out.append(value)
        return out

    def __repr__(self) -> str:
        extra = "" if self.keys is None else f", keys={self.keys!r}"
        return f"json({self.file!r}{extra}{_limit_repr(self)})"


def _check_json_values(file: str, key: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json_values(file, f"{key}.{k}" if key else k, v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_values(file, f"{key}.{i}" if key else str(i), v)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EvaluationFailure(
            "wrong_type", f"{file}: value at {key or 'top level'!r} is {value!r:.60}, "
            "not a number", retryable=False, file=file)


class table:  # noqa: N801
    """Read columns from a CSV or whitespace-separated table.

    Parameters
    ----------
    file : str
        File name relative to the work directory.
    columns : sequence of str, optional
        Header names to return, in output order (default: every column). Each
        column is returned as an array over the rows; a one-row table gives
        one number per column.
    delimiter : str, optional
        ``","``, ``";"``, ``"\\t"``, or ``None`` (default) to detect: a comma
        in the first line means CSV, otherwise whitespace.
    header : bool
        Whether the first non-comment line holds column names (default True).
        Without a header, ``columns`` may not be given.
    row : int, optional
        Return only this row (``-1``: the last one, e.g. a final state).
    fortran : bool
        Accept Fortran ``D`` exponents.
    max_bytes : int, optional
        Read limit in bytes (default :data:`MAX_BYTES`); a larger file is an
        ``output_too_large`` failure.

    Notes
    -----
    Lines starting with ``#`` and blank lines are skipped. Ragged rows, missing
    columns and non-numeric cells are ``parse_error`` naming the line and column.
    """

    def __init__(self, file: str, columns: Sequence[str] | None = None, *,
                 delimiter: str | None = None, header: bool = True, row: int | None = None,
                 fortran: bool = False, max_bytes: int | None = None) -> None:
        self.file = _check_file("table", file)
        self.max_bytes = _check_max_bytes("table", max_bytes)
        if isinstance(columns, str):
            columns = [columns]
        if columns is not None:
            columns = list(columns)
            if not header:
                fail("parsers.table", "columns", "None when header=False", columns)
        if delimiter not in (None, ",", ";", "\t", "|"):
            fail("parsers.table", "delimiter", "None, ',', ';', '\\t' or '|'", delimiter)
        self.columns = columns
        self.delimiter = delimiter
        self.header = bool(header)
        self.row = row
        self.fortran = bool(fortran)

    def __call__(self, workdir: Path) -> Any:
        import numpy as np

        _, text = _read_text(workdir, self.file, self.max_bytes)
        lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
                 if ln.strip() and not ln.lstrip().startswith("#")]
        delim = self.delimiter
        if delim is None:
            delim = "," if "," in lines[0][1] else None

        def split(line: str) -> list[str]:
            return [c.strip() for c in line.split(delim)] if delim else line.split()

        names: list[str] | None = None
        if self.header:
            lineno, first = lines[0]
            names = split(first)
            if len(set(names)) != len(names) or any(not n for n in names):
                raise EvaluationFailure(
                    "parse_error", f"{self.file}, line {lineno}: header {_clip(str(names))} "
                    "has empty or duplicate column names", retryable=False, file=self.file)
            if all(_NUMBER.fullmatch(n) for n in names):
                raise EvaluationFailure(
                    "parse_error", f"{self.file}, line {lineno}: expected a header line with "
                    f"column names, got numbers {first.strip()!r:.60}", retryable=False,
                    file=self.file)
            lines = lines[1:]
        if not lines:
            raise EvaluationFailure("missing_output", f"{self.file}: no data rows",
                                    retryable=False, file=self.file)
        width = len(names) if names is not None else len(split(lines[0][1]))
        rows = []
        for lineno, line in lines:
            cells = split(line)
            if len(cells) != width:
                raise EvaluationFailure(
                    "parse_error", f"{self.file}, line {lineno}: {len(cells)} columns, expected "
                    f"{width}" + (f" ({', '.join(names)})" if names else ""),
                    retryable=False, file=self.file)
            row = []
            for j, cell in enumerate(cells):
                col = f"column {j + 1}" + (f" ({names[j]!r})" if names else "")
                row.append(parse_number(cell, fortran=self.fortran,
                                        where=f"{self.file}, line {lineno}, {col}"))
            rows.append(row)
        data = np.asarray(rows, dtype=float)
        if self.row is not None:
            try:
                data = data[self.row:self.row + 1] if self.row != -1 else data[-1:]
            except IndexError:  # pragma: no cover - slicing never raises
                pass
            if data.shape[0] == 0:
                raise EvaluationFailure(
                    "parse_error", f"{self.file}: row {self.row} does not exist "
                    f"({len(rows)} rows)", retryable=False, file=self.file)
        if names is None:
            return data[0] if data.shape[0] == 1 else data.T.ravel()
        index = {n: j for j, n in enumerate(names)}
        wanted = self.columns if self.columns is not None else names
        missing = [c for c in wanted if c not in index]
        if missing:
            raise EvaluationFailure(
                "parse_error", f"{self.file}, line {lines[0][0] - 1 if self.header else 1}: "
                f"column {missing[0]!r} not in header {_clip(str(names))}",
                retryable=False, file=self.file)
        cols = {c: data[:, index[c]] for c in wanted}
        if data.shape[0] == 1:
            return {c: float(v[0]) for c, v in cols.items()}
        return cols

    def __repr__(self) -> str:
        opts = [repr(self.file)]
        if self.columns is not None:
            opts.append(f"columns={self.columns!r}")
        for k, default in (("delimiter", None), ("header", True), ("row", None),
                           ("fortran", False)):
            if getattr(self, k) != default:
                opts.append(f"{k}={getattr(self, k)!r}")
        return f"table({', '.join(opts)}{_limit_repr(self)})"


class regex:  # noqa: N801
    """Extract numbers with a regular expression.

    Parameters
    ----------
    pattern : str
        Regular expression. Named groups give a mapping by group name (name
        them like the outputs); unnamed groups give a sequence; no group gives
        the whole match as one number.
    file : str
        File to search (default: the process's ``stdout.txt``).
    last : bool
        Use the last match instead of the first (e.g. the final iteration).
    fortran : bool
        Accept Fortran ``D`` exponents.
    max_bytes : int, optional
        Read limit in bytes (default :data:`MAX_BYTES`); a larger file is an
        ``output_too_large`` failure.
    """

    def __init__(self, pattern: str, file: str = "stdout.txt", *, last: bool = False,
                 fortran: bool = False, max_bytes: int | None = None) -> None:
        self.max_bytes = _check_max_bytes("regex", max_bytes)
        if not isinstance(pattern, str) or not pattern:
            fail("parsers.regex", "pattern", "a non-empty regular expression", pattern)
        try:
            compiled = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            fail("parsers.regex", "pattern", f"a valid regular expression ({exc})", pattern)
        self.pattern = pattern
        self._re = compiled
        self.file = _check_file("regex", file)
        self.last = bool(last)
        self.fortran = bool(fortran)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_re"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._re = re.compile(self.pattern, re.MULTILINE)

    def __call__(self, workdir: Path) -> Any:
        _, text = _read_text(workdir, self.file, self.max_bytes)
        if self.last:
            match = None
            for match in self._re.finditer(text):  # noqa: B007
                pass
        else:
            match = self._re.search(text)
        if match is None:
            raise EvaluationFailure(
                "parse_error", f"{self.file}: pattern {self.pattern!r} not found",
                retryable=False, file=self.file)
        line = text.count("\n", 0, match.start()) + 1

        def num(s: str | None, what: str) -> float:
            if s is None:
                raise EvaluationFailure(
                    "parse_error", f"{self.file}, line {line}: group {what} did not match",
                    retryable=False, file=self.file)
            return parse_number(s.strip(), fortran=self.fortran,
                                where=f"{self.file}, line {line}, group {what}")

        named = match.groupdict()
        if named:
            return {k: num(v, repr(k)) for k, v in named.items()}
        if self._re.groups:
            return [num(g, str(i + 1)) for i, g in enumerate(match.groups())]
        return num(match.group(0), "0")

    def __repr__(self) -> str:
        extra = "".join(f", {k}=True" for k in ("last", "fortran") if getattr(self, k))
        return f"regex({self.pattern!r}, file={self.file!r}{extra}{_limit_repr(self)})"


class numbers:  # noqa: N801
    """Every whitespace-separated number in a file, in order.

    Parameters
    ----------
    file : str
        File name relative to the work directory.
    fortran : bool
        Accept Fortran ``D`` exponents.
    max_bytes : int, optional
        Read limit in bytes (default :data:`MAX_BYTES`); a larger file is an
        ``output_too_large`` failure.

    Notes
    -----
    Text after ``#`` on a line is a comment. Any other token that is not a
    number is a ``parse_error`` naming its line and column.
    """

    def __init__(self, file: str, *, fortran: bool = False,
                 max_bytes: int | None = None) -> None:
        self.file = _check_file("numbers", file)
        self.max_bytes = _check_max_bytes("numbers", max_bytes)
        self.fortran = bool(fortran)

    def __call__(self, workdir: Path) -> Any:
        import numpy as np

        _, text = _read_text(workdir, self.file, self.max_bytes)
        values = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            body = line.split("#", 1)[0]
            for m in re.finditer(r"\S+", body):
                values.append(parse_number(
                    m.group(0), fortran=self.fortran,
                    where=f"{self.file}, line {lineno}, column {m.start() + 1}"))
        if not values:
            raise EvaluationFailure("missing_output", f"{self.file}: no numbers found",
                                    retryable=False, file=self.file)
        return np.asarray(values, dtype=float)

    def __repr__(self) -> str:
        return (f"numbers({self.file!r}{', fortran=True' if self.fortran else ''}"
                f"{_limit_repr(self)})")
