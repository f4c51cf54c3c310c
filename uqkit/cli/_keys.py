"""Errors of study files, and the line of a key in the TOML text.

tomllib reports lines only for syntax errors; a semantic error (a wrong value, an
unknown key) is located here by scanning the text for the key's table header,
dotted key or inline-table entry.
"""

from __future__ import annotations

import json
import re

from .._errors import InvalidParameterError

__all__ = ["StudyFileError", "show_key", "find_line"]


class StudyFileError(InvalidParameterError):
    """A study file is invalid.

    Attributes
    ----------
    key : str
        The dotted key as written in TOML (parts that are not bare keys quoted).
    key_path : tuple of str
        The key's parts.
    line : int or None
        1-based line of the key (or of its nearest parent found in the file).
    path : str
        The study file.
    """

    def __init__(self, message: str, *, key: str | tuple[str, ...], line: int | None,
                 path: str = "") -> None:
        parts = (key,) if isinstance(key, str) else tuple(key)
        shown = show_key(parts)
        where = f"{path}:{line}" if path and line else (f"line {line}" if line else path)
        super().__init__(f"{where}: the key '{shown}' {message}" if where
                         else f"The key '{shown}' {message}")
        self.key = shown
        self.key_path = parts
        self.line = line
        self.path = path


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def show_key(parts: tuple[str, ...]) -> str:
    """A dotted TOML key; parts that are not bare keys are quoted with escapes."""
    if parts in (("<syntax>",), ("<file>",)):
        return parts[0]
    return ".".join(p if _BARE.match(p) else json.dumps(p) for p in parts)


# -- finding a key's line -------------------------------------------------------------------
_PART = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_HEADER = re.compile(r"^\s*\[\[?\s*(" + _PART + r"(?:\s*\.\s*" + _PART + r")*)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*(" + _PART + r"(?:\s*\.\s*" + _PART + r")*)\s*=")
_PARTS = re.compile(_PART)


def _split_key(text: str) -> list[str]:
    out = []
    for tok in _PARTS.findall(text):
        if tok.startswith('"'):
            try:
                tok = json.loads(tok)
            except ValueError:
                tok = tok[1:-1]
        elif tok.startswith("'"):
            tok = tok[1:-1]
        out.append(tok)
    return out


def find_line(text: str, key: tuple[str, ...]) -> int | None:
    """The 1-based line defining ``key`` (or its nearest defined parent), or None."""
    best: tuple[int, int] | None = None  # (matched depth, line)
    table: list[str] = []
    in_multiline = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if in_multiline:
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = False
            continue
        m = _HEADER.match(line)
        if m and not _KEYLINE.match(line):
            table = _split_key(m.group(1))
            path = table
        else:
            m = _KEYLINE.match(line)
            if not m:
                continue
            path = table + _split_key(m.group(1))
            rest = line[m.end():]
            if rest.count('"""') % 2 == 1 or rest.count("'''") % 2 == 1:
                in_multiline = True
            # keys of an inline table on this line: {a = 1, "b" = 2}
            for sub in re.findall(r"[{,]\s*(" + _PART + r")\s*=", rest):
                sub_path = [*path, *_split_key(sub)]
                depth = _common(sub_path, key)
                if depth == len(sub_path) and (best is None or depth > best[0]):
                    best = (depth, lineno)
        depth = _common(path, key)
        if depth == len(path) and depth > 0 and (best is None or depth > best[0]):
            best = (depth, lineno)
    return None if best is None else best[1]


def _common(path: list[str], key: tuple[str, ...]) -> int:
    n = 0
    for a, b in zip(path, key):
        if a != b:
            break
        n += 1
    return n
