"""``{{ name }}`` templates for command lines and input files.

Only ``{{ identifier }}`` (spaces optional) is a placeholder; everything else,
single braces included (JSON, C, hoc, Fortran namelists), is copied verbatim.
Values are written with ``repr(float)``, the shortest text that parses back to
the same double, so the number a simulator reads is exactly the number keyed in
the store (tests/test_command.py::test_values_round_trip_exactly_i6).
``{{ name:SPEC }}`` applies a Python format spec
(``{{ dt:.17e }}``, ``{{ n_cells:d }}``) for codes that need fixed layouts; a
spec that loses digits is reported by :func:`lossy_specs` so the model can warn.

Sizes are bounded: a format spec's width and precision are at most
:data:`MAX_FIELD` characters (checked by parsing the spec, never by rendering it),
and a rendered file is at most ``max_bytes`` long (``CommandModel(max_input_size=)``,
default :data:`MAX_RENDERED`): the bound is checked when the model is built, from
the template's length and its fields' widths, and again on every render.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["Template", "format_value", "PLACEHOLDER", "lossy_specs", "MAX_FIELD",
           "MAX_RENDERED", "spec_problem"]

MAX_FIELD = 256
"""Largest width or precision accepted in a ``{{ name:SPEC }}`` format spec."""

MAX_RENDERED = 64 * 2**20
"""Default cap on the size of one rendered input file or argument, in characters."""

# Python's format-spec mini-language for numbers
_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?"
                   r"[bcdeEfFgGnosxX%]?\Z", re.DOTALL)
# widest text a double takes in any spec with small width and precision ("%" of 1e308)
_FIELD_SLACK = 340

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::([^{}:]*?))?\s*\}\}")
# something that looks like a placeholder but is not a valid name: "{{ 1x }}", "{{a-b}}"
_SUSPICIOUS = re.compile(r"\{\{\s*([^{}\s][^{}]*?)\s*\}\}")


def format_value(value: float) -> str:
    """Shortest decimal text that round-trips to the same binary64 (``repr``).

    ``-0.0`` keeps its sign; integers are written as floats (``3.0``).
    """
    return repr(float(value))


def _format(value: float, spec: str | None) -> str:
    if spec is None:
        return repr(float(value))
    if spec.endswith("d"):
        if not float(value).is_integer():
            from uqkit._errors import EvaluationFailure

            raise EvaluationFailure(
                "invalid_input", f"{value!r} is not an integer but its placeholder has the "
                f"integer format '{spec}'", retryable=False)
        return format(int(value), spec)
    return format(float(value), spec)


def spec_problem(spec: str) -> str | None:
    """Why ``spec`` is refused (without formatting anything), or None if it is fine."""
    m = _SPEC.match(spec)
    if m is None:
        return "not a Python format spec for numbers (e.g. .17g, 12.6f, d)"
    for part in ("width", "precision"):
        if m.group(part) is not None and int(m.group(part)) > MAX_FIELD:
            return (f"its {part} {int(m.group(part))} is larger than {MAX_FIELD}; a number "
                    "needs at most 17 significant digits")
    return None


def field_bound(spec: str | None) -> int:
    """Upper bound on the characters one placeholder renders to (valid specs only)."""
    if spec is None:
        return 32  # repr of a double
    m = _SPEC.match(spec)
    width = int(m.group("width") or 0)
    precision = int(m.group("precision") or 0)
    return max(width, precision + _FIELD_SLACK)


# doubles that any lossless spec must reproduce exactly
_PROBES = (0.1, 1 / 3, -2.718281828459045e-7, 12345.678901234567, 6.02214076e23, 7.0,
           -0.0, 5e-324)


def lossy_specs(templates) -> dict[str, str]:
    """``{placeholder: spec}`` for format specs that do not round-trip every double."""
    out: dict[str, str] = {}
    for t in templates:
        for name, spec in t.specs:
            if spec is None or name in out or spec.endswith("d"):
                continue  # integer specs refuse non-integers at render time instead
            for v in _PROBES:
                text = _format(v, spec)
                try:
                    back = float(text)
                except ValueError:
                    back = None
                if back is None or repr(back) != repr(v):
                    out[name] = spec
                    break
    return out


class Template:
    """A compiled template: literal chunks and placeholder names, rendered by ``join``.

    Parameters
    ----------
    text : str
        The template text.
    where : str
        Description used in error messages (``"argv[2]"``, ``"file 'in.json'"``).
    """

    __slots__ = ("text", "where", "_parts", "names", "specs", "max_chars")

    def __init__(self, text: str, where: str, max_chars: int = MAX_RENDERED) -> None:
        self.text = text
        self.where = where
        self.max_chars = max_chars
        parts: list[tuple[str | None, str | None, str]] = []  # (name, spec, literal)
        pos = 0
        for m in PLACEHOLDER.finditer(text):
            if m.start() > pos:
                parts.append((None, None, text[pos:m.start()]))
            spec = m.group(2).strip() if m.group(2) is not None else None
            parts.append((m.group(1), spec or None, ""))
            pos = m.end()
        if pos < len(text):
            parts.append((None, None, text[pos:]))
        self._parts = tuple(parts)
        self.names = frozenset(name for name, _, _ in parts if name is not None)
        self.specs = tuple((name, spec) for name, spec, _ in parts if name is not None)

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

    def bound(self) -> int:
        """Upper bound on the rendered length (the specs must have passed ``spec_problem``)."""
        return sum(len(lit) if name is None else field_bound(spec)
                   for name, spec, lit in self._parts)

    def render(self, values: Mapping[str, float]) -> str:
        """Substitute ``values`` (name -> number): ``repr(float)`` or the placeholder's spec."""
        if not self.names:
            return self.text
        text = "".join(lit if name is None else _format(values[name], spec)
                       for name, spec, lit in self._parts)
        if len(text) > self.max_chars:  # pragma: no cover - bound() is checked at build time
            from uqkit._errors import EvaluationFailure

            raise EvaluationFailure(
                "input_too_large", f"{self.where} renders to {len(text)} characters, more "
                f"than max_input_size={self.max_chars}", retryable=False)
        return text

    def __getstate__(self):
        return (self.text, self.where, self.max_chars)

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
        for name, spec in t.specs:
            problem = None if spec is None else spec_problem(spec)
            if problem is not None:
                fail(func, "command" if t.where.startswith("argv") else "files",
                     "placeholders with a valid format spec ({{ x:.17g }})",
                     f"{{{{ {name}:{spec[:40]} }}}} in {t.where}", f"The spec is {problem}.")
            if spec is not None:
                try:
                    _format(1.0, spec)
                except (ValueError, TypeError) as exc:
                    fail(func, "command" if t.where.startswith("argv") else "files",
                         "placeholders with a valid format spec ({{ x:.17g }})",
                         f"{{{{ {name}:{spec} }}}} in {t.where}", str(exc))
        if len(t.text) > t.max_chars or t.bound() > t.max_chars:
            fail(func, "command" if t.where.startswith("argv") else "files",
                 f"templates that render to at most max_input_size={t.max_chars} characters",
                 f"{t.where} with up to {max(len(t.text), t.bound())} characters",
                 "Pass a larger max_input_size, or ship large constant files with "
                 "copy_files.")
        bad = t.suspicious()
        if bad:
            fail(func, "command" if t.where.startswith("argv") else "files",
                 "templates whose placeholders are identifiers ({{ name }})",
                 f"{bad[0]} in {t.where}")
        used |= t.names
    return [name for name in inputs if name not in used]
