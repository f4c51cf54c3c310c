"""``{{ name }}`` templates for command lines and input files.

Only ``{{ identifier }}`` (spaces optional) is a placeholder; everything else,
single braces included (JSON, C, hoc, Fortran namelists), is copied verbatim.
Values are written with ``repr(float)``, the shortest text that parses back to
the same double, so the number a simulator reads is exactly the number keyed in
the store (RELIABILITY I6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["Template", "format_value", "PLACEHOLDER"]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# something that looks like a placeholder but is not a valid name: "{{ 1x }}", "{{a-b}}"
_SUSPICIOUS = re.compile(r"\{\{\s*([^{}\s][^{}]*?)\s*\}\}")


def format_value(value: float) -> str:
    """Shortest decimal text that round-trips to the same binary64 (``repr``).

    ``-0.0`` keeps its sign; integers are written as floats (``3.0``).
    """
    return repr(float(value))


class Template:
    """A compiled template: literal chunks and placeholder names, rendered by ``join``.

    Parameters
    ----------
    text : str
        The template text.
    where : str
        Description used in error messages (``"argv[2]"``, ``"file 'in.json'"``).
    """

    __slots__ = ("text", "where", "_parts", "names")

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        parts: list[tuple[bool, str]] = []
        pos = 0
        for m in PLACEHOLDER.finditer(text):
            if m.start() > pos:
                parts.append((False, text[pos:m.start()]))
            parts.append((True, m.group(1)))
            pos = m.end()
        if pos < len(text):
            parts.append((False, text[pos:]))
        self._parts = tuple(parts)
        self.names = frozenset(name for is_name, name in parts if is_name)

    def suspicious(self) -> list[str]:
        """Placeholder-like fragments that are not valid names (likely typos)."""
        out = []
        for m in _SUSPICIOUS.finditer(self.text):
            if not PLACEHOLDER.fullmatch(m.group(0)):
                inner = m.group(1)
                # JSON/C nested braces such as {{1, 2}, {3, 4}} are not placeholders
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-\s]*", inner):
                    out.append(m.group(0))
        return out

    def render(self, values: Mapping[str, str]) -> str:
        """Substitute pre-formatted ``values`` (name -> text)."""
        if not self.names:
            return self.text
        return "".join(values[chunk] if is_name else chunk for is_name, chunk in self._parts)

    def __getstate__(self):
        return (self.text, self.where)

    def __setstate__(self, state):
        self.__init__(*state)

    def __repr__(self) -> str:
        return f"Template({self.where}, names={sorted(self.names)})"


def check_templates(templates: Iterable[Template], inputs: tuple[str, ...], func: str):
    """Undefined placeholders raise; returns the inputs used nowhere (caller warns)."""
    from uqkit._validation import fail

    used: set[str] = set()
    for t in templates:
        unknown = sorted(t.names - set(inputs))
        if unknown:
            fail(func, "command" if t.where.startswith("argv") else "files",
                 f"templates whose placeholders are all inputs {list(inputs)}",
                 f"{{{{ {unknown[0]} }}}} in {t.where}",
                 "Add the name to 'inputs' or fix the placeholder.")
        bad = t.suspicious()
        if bad:
            fail(func, "command" if t.where.startswith("argv") else "files",
                 "templates whose placeholders are identifiers ({{ name }})",
                 f"{bad[0]} in {t.where}")
        used |= t.names
    return [name for name in inputs if name not in used]
