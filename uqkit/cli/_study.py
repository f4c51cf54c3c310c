"""Study files: TOML in, a validated :class:`Study` out, before any model run.

The file is parsed with :mod:`tomllib` (``tomli`` before Python 3.11), never
``eval``. Every key is checked against a schema; unknown keys are errors (a typo
must not be ignored silently). Errors are :class:`StudyFileError` naming the key
and its line: tomllib reports lines only for syntax errors, so the line of a key
is found in the text (:func:`find_line`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._expr import ExpressionError, check_expression
from ._keys import StudyFileError, find_line, show_key

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["StudyFileError", "Study", "load_study", "parse_study", "find_line"]

ANALYSES = ("sobol", "morris", "pce", "calibrate")
EXECUTORS = ("in-process", "processes", "threads", "dask", "slurm")
SLURM_KEYS = ("partition", "walltime", "cores", "memory", "max_jobs", "account", "backend")
POLICIES = ("raise", "skip", "nan")
DISTRIBUTIONS = ("Uniform", "Normal", "LogNormal", "LogUniform", "TruncatedNormal", "Beta",
                 "Gamma", "Triangular")
PARSERS = ("json", "table", "regex", "numbers")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:"
                    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


# -- the study ------------------------------------------------------------------------------
@dataclass
class Study:
    """A validated study file (data only; nothing has been imported or run)."""

    path: Path
    text: str
    name: str
    seed: int
    title: str
    model: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    derived: dict[str, str]
    analyses: dict[str, dict[str, Any]]
    runner: dict[str, Any]
    report: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def error(self, key: tuple[str, ...] | str, message: str) -> StudyFileError:
        key = tuple(key.split(".")) if isinstance(key, str) else tuple(key)
        return StudyFileError(message, key=key, line=find_line(self.text, key),
                              path=str(self.path))

    def resolve(self, value: str) -> Path:
        """A path of the study file, relative to its folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.directory / p)

    def spec(self) -> dict[str, Any]:
        """The JSON-serialisable study (for the store's study check and the report)."""
        return {"name": self.name, "seed": self.seed, "model": self.model,
                "parameters": self.parameters, "derived": self.derived,
                "analyses": self.analyses}


class _Checker:
    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path

    def err(self, key: tuple[str, ...], message: str) -> StudyFileError:
        return StudyFileError(message, key=key, line=find_line(self.text, key),
                              path=self.path)

    def table(self, data: Any, key: tuple[str, ...], allowed: tuple[str, ...] | None,
              required: tuple[str, ...] = ()) -> dict:
        if not isinstance(data, dict):
            raise self.err(key, f"must be a table, got {_kind(data)}")
        if allowed is not None:
            for k in data:
                if k not in allowed:
                    raise self.err((*key, k), "is not a known key here; expected one of "
                                   + ", ".join(allowed))
        for k in required:
            if k not in data:
                where = f" in [{show_key(key)}]" if key else ""
                raise self.err((*key, k), f"is required{where} but missing")
        return data

    def get(self, data: dict, key: tuple[str, ...], kind: str, default: Any = None,
            choices: tuple | None = None, minimum: float | None = None) -> Any:
        name = key[-1]
        if name not in data:
            return default
        v = data[name]
        ok = {"str": isinstance(v, str) and v != "", "bool": isinstance(v, bool),
              "int": isinstance(v, int) and not isinstance(v, bool),
              "number": isinstance(v, (int, float)) and not isinstance(v, bool),
              "strlist": isinstance(v, list) and bool(v) and all(
                  isinstance(x, str) and x for x in v),
              "table": isinstance(v, dict)}[kind]
        if not ok:
            expected = {"str": "a non-empty string", "bool": "true or false",
                        "int": "an integer", "number": "a number",
                        "strlist": "a non-empty list of strings", "table": "a table"}[kind]
            raise self.err(key, f"must be {expected}, got {_kind(v)} {_short(v)}")
        if kind == "number" and v != v:
            raise self.err(key, "must be a finite number, got nan")
        if kind == "number" and v in (float("inf"), float("-inf")):
            raise self.err(key, f"must be a finite number, got {v}")
        if choices is not None and v not in choices:
            raise self.err(key, f"must be one of {', '.join(map(repr, choices))}, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.err(key, f"must be >= {minimum:g}, got {v!r}")
        return v


def _kind(v: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a float"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (see :func:`parse_study`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyFileError(f"could not be read: {exc.strerror or exc}", key="<file>",
                             line=None, path=str(p)) from None
    except UnicodeDecodeError:
        raise StudyFileError("is not UTF-8 text", key="<file>", line=None, path=str(p)) from None
    return parse_study(text, p)


def parse_study(text: str, path: str | Path = "study.toml") -> Study:
    """Validate a study file's text. Raises :class:`StudyFileError` naming key and line."""
    path = Path(path).absolute()
    c = _Checker(text, str(path))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else (len(text.splitlines()) or None)
        raise StudyFileError(f"is not valid TOML: {exc}", key="<syntax>", line=line,
                             path=str(path)) from None
    c.table(raw, (), ("study", "model", "parameters", "derived", "analyses", "runner",
                      "report"), required=("model",))
    st = c.table(raw.get("study", {}), ("study",), ("name", "seed", "title"))
    name = c.get(st, ("study", "name"), "str", default=path.stem)
    if not _IDENT.match(name.replace("-", "_")):
        raise c.err(("study", "name"), f"must use letters, digits, '-' and '_', got {name!r}")
    seed = c.get(st, ("study", "seed"), "int", default=0, minimum=0)
    title = c.get(st, ("study", "title"), "str", default=f"uqkit study {name}")

    model = _model(c, raw["model"])
    params = _parameters(c, raw.get("parameters"), model)
    derived = _derived(c, raw.get("derived", {}), params)
    analyses = _analyses(c, raw.get("analyses"))
    runner = _runner(c, raw.get("runner", {}), path)
    report = c.table(raw.get("report", {}), ("report",), ("path", "title", "truth"))
    truth = c.get(report, ("report", "truth"), "table", default={})
    for k in truth:  # true parameter values (synthetic data), shown in the report
        c.get(truth, ("report", "truth", k), "number")
    report = {"path": c.get(report, ("report", "path"), "str", default=f"{path.stem}-report.html"),
              "title": c.get(report, ("report", "title"), "str", default=title),
              "truth": {str(k): float(v) for k, v in truth.items()}}
    if not report["path"].lower().endswith((".html", ".htm")):
        raise c.err(("report", "path"), f"must end in .html, got {report['path']!r}")
    _check_inside(c, ("report", "path"), report["path"], path.parent)
    return Study(path, text, name, seed, title, model, params, derived, analyses, runner,
                 report, raw)


def _check_file_name(c: _Checker, key: tuple[str, ...]) -> None:
    """A file written into each evaluation's work directory: a plain relative name."""
    name = key[-1]
    parts = Path(name).parts
    if not name or "\0" in name or "\\" in name or not parts or Path(name).is_absolute() \
            or any(p in (".", "..") for p in name.split("/")) or name.endswith("/"):
        raise c.err(key, f"must be a file name inside the work directory, such as 'in.txt' "
                    f"or 'input/params.json' (no '..', '.', absolute paths or NUL), got "
                    f"{name!r}")


def _check_inside(c: _Checker, key: tuple[str, ...], value: str, folder: Path) -> None:
    """A relative path must stay inside the study's folder (absolute paths are explicit)."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return
    if not (folder / p).resolve().is_relative_to(folder.resolve()):
        raise c.err(key, f"must stay inside the study's folder {str(folder)!r} when relative, "
                    f"got {value!r}; give an absolute path to write elsewhere")


def _model(c: _Checker, m: Any) -> dict[str, Any]:
    k = ("model",)
    c.table(m, k, ("entry_point", "kwargs", "command", "files", "templates", "parse",
                   "umbridge", "model_name", "inputs", "outputs", "vectorized", "name",
                   "version", "timeout"))
    kinds = [x for x in ("entry_point", "command", "umbridge") if x in m]
    if len(kinds) != 1:
        raise c.err(k, "needs exactly one of 'entry_point', 'command' or 'umbridge', got "
                    + (", ".join(kinds) or "none"))
    kind = kinds[0]
    out: dict[str, Any] = {"kind": kind}
    allowed = {"entry_point": ("entry_point", "kwargs", "inputs", "outputs", "vectorized",
                               "name", "version"),
               "command": ("command", "files", "templates", "parse", "inputs", "outputs",
                           "name", "version", "timeout"),
               "umbridge": ("umbridge", "model_name", "inputs", "outputs", "timeout")}[kind]
    for key in m:
        if key not in allowed:
            raise c.err((*k, key), f"does not apply to a model given by '{kind}'; allowed: "
                        + ", ".join(allowed))
    for key in ("inputs", "outputs"):
        v = c.get(m, (*k, key), "strlist")
        if v is not None:
            for j, nm in enumerate(v):
                if not _IDENT.match(nm) and not (key == "outputs"):
                    raise c.err((*k, key), f"must hold identifiers; item {j} is {nm!r}")
            out[key] = list(v)
    for key in ("name", "version"):
        v = c.get(m, (*k, key), "str")
        if v is not None:
            out[key] = v
    if kind == "entry_point":
        ep = c.get(m, (*k, "entry_point"), "str")
        if not _ENTRY.match(ep):
            raise c.err((*k, "entry_point"), f"must look like 'package.module:attribute', "
                        f"got {ep!r}")
        out["entry_point"] = ep
        out["kwargs"] = c.get(m, (*k, "kwargs"), "table", default={})
        for kk, vv in out["kwargs"].items():
            if not _IDENT.match(kk) or not isinstance(vv, (int, float, str, bool, list)):
                raise c.err((*k, "kwargs", kk), "must be a plain value (number, string, "
                            "boolean or array) under an identifier")
        out["vectorized"] = c.get(m, (*k, "vectorized"), "bool", default=False)
    elif kind == "command":
        out["command"] = c.get(m, (*k, "command"), "strlist")
        for key in ("inputs", "outputs"):
            if key not in out:
                raise c.err(k, f"needs '{key}' for a command model")
        files = c.get(m, (*k, "files"), "table", default={})
        for fk, fv in files.items():
            _check_file_name(c, (*k, "files", fk))
            if not isinstance(fv, str):
                raise c.err((*k, "files", fk), f"must be the template text, got {_kind(fv)}")
        templates = c.get(m, (*k, "templates"), "table", default={})
        for fk, fv in templates.items():
            _check_file_name(c, (*k, "templates", fk))
            if not isinstance(fv, str) or not fv:
                raise c.err((*k, "templates", fk), f"must be a file path, got {_kind(fv)}")
        out["files"], out["templates"] = dict(files), dict(templates)
        parse = c.table(m.get("parse"), (*k, "parse"), ("format", "file", "keys", "columns",
                                                         "pattern", "last"),
                        required=("format",))
        fmt = c.get(parse, (*k, "parse", "format"), "str", choices=PARSERS)
        pf = {"format": fmt}
        pf["file"] = c.get(parse, (*k, "parse", "file"), "str",
                           default="stdout.txt" if fmt in ("regex", "numbers") else None)
        if pf["file"] is None:
            raise c.err((*k, "parse"), f"needs the key 'file' for format {fmt!r}")
        for key in ("keys", "columns"):
            v = c.get(parse, (*k, "parse", key), "strlist")
            if v is not None:
                pf[key] = v
        if fmt == "regex":
            pf["pattern"] = c.get(parse, (*k, "parse", "pattern"), "str")
            if pf["pattern"] is None:
                raise c.err((*k, "parse"), "needs the key 'pattern' for format 'regex'")
            try:
                re.compile(pf["pattern"])
            except re.error as exc:
                raise c.err((*k, "parse", "pattern"), f"is not a valid regex: {exc}") from None
            pf["last"] = c.get(parse, (*k, "parse", "last"), "bool", default=False)
        out["parse"] = pf
        t = c.get(m, (*k, "timeout"), "number")
        if t is not None and t <= 0:
            raise c.err((*k, "timeout"), f"must be > 0 seconds, got {t!r}")
        out["timeout"] = t
    else:
        url = c.get(m, (*k, "umbridge"), "str")
        if not re.match(r"^https?://[^\s/]+", url):
            raise c.err((*k, "umbridge"), f"must be an http:// or https:// URL, got {url!r}")
        out["umbridge"] = url
        out["model_name"] = c.get(m, (*k, "model_name"), "str", default="forward")
        t = c.get(m, (*k, "timeout"), "number")
        if t is not None and t <= 0:
            raise c.err((*k, "timeout"), f"must be > 0 seconds, got {t!r}")
        out["timeout"] = t
    return out


def _parameters(c: _Checker, p: Any, model: dict) -> dict[str, dict[str, Any]]:
    if p is None:
        if model["kind"] == "entry_point":
            return {}  # taken from the entry point's Example
        raise c.err(("parameters",), "is required for a command or UM-Bridge model")
    c.table(p, ("parameters",), None)
    if not p and model["kind"] != "entry_point":
        raise c.err(("parameters",), "must name at least one parameter")
    out = {}
    folded: dict[str, str] = {}
    for name, spec in p.items():
        key = ("parameters", name)
        if not _IDENT.match(name):
            raise c.err(key, "is not a valid parameter name (^[A-Za-z_][A-Za-z0-9_]*$)")
        if name.casefold() in folded:
            raise c.err(key, f"clashes with {folded[name.casefold()]!r} (case-insensitively)")
        folded[name.casefold()] = name
        c.table(spec, key, None, required=("dist",))
        dist = c.get(spec, (*key, "dist"), "str")
        if dist not in DISTRIBUTIONS:
            near = [d for d in DISTRIBUTIONS if d.lower() == dist.lower()]
            hint = f" (names are case-sensitive: did you mean {near[0]!r}?)" if near else ""
            raise c.err((*key, "dist"), f"must be one of {', '.join(DISTRIBUTIONS)}, "
                        f"got {dist!r}{hint}")
        match = [dist]
        args = {}
        for an in spec:
            if an == "dist":
                continue
            if not _IDENT.match(an):
                raise c.err((*key, an), "is not a valid argument name")
            args[an] = c.get(spec, (*key, an), "number")
        out[name] = {"dist": match[0], **args}
    return out


def _derived(c: _Checker, d: Any, params: dict) -> dict[str, str]:
    c.table(d, ("derived",), None)
    names = set(params)
    out = {}
    for name, expr in d.items():
        key = ("derived", name)
        if not _IDENT.match(name):
            raise c.err(key, "is not a valid name (^[A-Za-z_][A-Za-z0-9_]*$)")
        if name in names:
            raise c.err(key, "is already a parameter")
        if not params:
            raise c.err(key, "needs a [parameters] table to refer to")
        try:
            check_expression(expr, names)
        except ExpressionError as exc:
            raise c.err(key, f"must be an arithmetic expression of {str(exc)}") from None
        out[name] = expr
    return out


def _analyses(c: _Checker, a: Any) -> dict[str, dict[str, Any]]:
    if a is None:
        raise c.err(("analyses",), "is required: add at least one of [analyses.sobol], "
                    "[analyses.morris], [analyses.pce], [analyses.calibrate]")
    c.table(a, ("analyses",), ANALYSES)
    if not a:
        raise c.err(("analyses",), "must hold at least one analysis")
    out: dict[str, dict[str, Any]] = {}
    k = ("analyses",)
    if "sobol" in a:
        s = c.table(a["sobol"], (*k, "sobol"), ("n", "second_order", "confidence", "method"),
                    required=("n",))
        n = c.get(s, (*k, "sobol", "n"), "int", minimum=2)
        if n & (n - 1):
            raise c.err((*k, "sobol", "n"), f"must be a power of 2 (at least 2), got {n}")
        conf = c.get(s, (*k, "sobol", "confidence"), "number", default=0.95)
        if not 0 < conf < 1:
            raise c.err((*k, "sobol", "confidence"), f"must lie in (0, 1), got {conf!r}")
        out["sobol"] = {"n": n, "second_order": c.get(s, (*k, "sobol", "second_order"), "bool",
                                                      default=False),
                        "confidence": conf,
                        "method": c.get(s, (*k, "sobol", "method"), "str",
                                        default="saltelli_2010")}
    if "morris" in a:
        s = c.table(a["morris"], (*k, "morris"), ("n_trajectories", "levels"),
                    required=("n_trajectories",))
        levels = c.get(s, (*k, "morris", "levels"), "int", default=4, minimum=2)
        if levels % 2:
            raise c.err((*k, "morris", "levels"), f"must be even, got {levels}")
        out["morris"] = {"n_trajectories": c.get(s, (*k, "morris", "n_trajectories"), "int",
                                                 minimum=2), "levels": levels}
    if "pce" in a:
        s = c.table(a["pce"], (*k, "pce"), ("n", "degree", "method", "validation"),
                    required=("n",))
        deg = s.get("degree", "auto")
        if not (deg == "auto" or (isinstance(deg, int) and not isinstance(deg, bool)
                                  and 1 <= deg <= 30)):
            raise c.err((*k, "pce", "degree"), f"must be \"auto\" or an integer in 1..30, "
                        f"got {_short(deg)}")
        out["pce"] = {"n": c.get(s, (*k, "pce", "n"), "int", minimum=2), "degree": deg,
                      "method": c.get(s, (*k, "pce", "method"), "str", default="lars",
                                      choices=("lars", "omp", "ols")),
                      "validation": c.get(s, (*k, "pce", "validation"), "int", default=0,
                                          minimum=0)}
        if out["pce"]["validation"] == 1:
            raise c.err((*k, "pce", "validation"), "must be 0 (none) or at least 2 points")
    if "calibrate" in a:
        s = c.table(a["calibrate"], (*k, "calibrate"),
                    ("data", "noise", "fixed", "n_walkers", "n_steps", "target_ess",
                     "max_evaluations", "surrogate"), required=("data", "noise"))
        cal: dict[str, Any] = {"data": c.get(s, (*k, "calibrate", "data"), "str")}
        noise = s["noise"]
        if isinstance(noise, dict):
            if not noise:
                raise c.err((*k, "calibrate", "noise"), "must name at least one output")
            for out_name, v in noise.items():
                if not _positive(v):
                    raise c.err((*k, "calibrate", "noise", out_name), "must be a positive "
                                f"noise standard deviation, got {_short(v)}")
        elif noise != "infer" and not _positive(noise):
            raise c.err((*k, "calibrate", "noise"), "must be a positive noise standard "
                        f"deviation, a table of them by output, or \"infer\", got "
                        f"{_short(noise)}")
        cal["noise"] = noise
        fixed = c.get(s, (*k, "calibrate", "fixed"), "table", default={})
        for fk in fixed:
            if not _IDENT.match(fk):
                raise c.err((*k, "calibrate", "fixed", fk), "is not a valid parameter name")
            c.get(fixed, (*k, "calibrate", "fixed", fk), "number")
        cal["fixed"] = dict(fixed)
        for key in ("n_walkers", "n_steps", "max_evaluations"):
            v = c.get(s, (*k, "calibrate", key), "int", minimum=2)
            if v is not None:
                cal[key] = v
        te = c.get(s, (*k, "calibrate", "target_ess"), "number", minimum=1)
        cal["target_ess"] = 1000 if te is None else te
        cal["surrogate"] = c.get(s, (*k, "calibrate", "surrogate"), "str",
                                 choices=("pce", "none"), default="none")
        out["calibrate"] = cal
    return out


def _positive(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf"))


def _runner(c: _Checker, r: Any, path: Path) -> dict[str, Any]:
    k = ("runner",)
    c.table(r, k, ("executor", "workers", "scheduler", "store", "on_failure", "retries",
                   "progress", *SLURM_KEYS))
    ex = c.get(r, (*k, "executor"), "str", default="in-process", choices=EXECUTORS)
    slurm = _slurm_keys(c, r, k, ex)
    workers = c.get(r, (*k, "workers"), "int", minimum=1)
    sched = c.get(r, (*k, "scheduler"), "str")
    if sched is not None:
        if ex != "dask":
            raise c.err((*k, "scheduler"), "needs executor = \"dask\"")
        if not re.match(r"^(tcp|tls|inproc|ucx)://\S+$", sched):
            raise c.err((*k, "scheduler"), f"must be a Dask address like tcp://host:8786, "
                        f"got {sched!r}")
    if workers is not None and ex == "in-process":
        raise c.err((*k, "workers"), "needs executor = \"processes\", \"threads\" or \"dask\"")
    if workers is not None and ex == "slurm":
        raise c.err((*k, "workers"), "does not apply to executor = \"slurm\"; use max_jobs")
    return {"executor": ex, "workers": workers, "scheduler": sched, "slurm": slurm,
            "store": c.get(r, (*k, "store"), "str", default=f"{path.stem}.db"),
            "on_failure": c.get(r, (*k, "on_failure"), "str", default="raise",
                                choices=POLICIES),
            "retries": c.get(r, (*k, "retries"), "int", default=0, minimum=0),
            "progress": c.get(r, (*k, "progress"), "bool", default=True)}


def _slurm_keys(c: _Checker, r: dict, k: tuple[str, ...], ex: str) -> dict[str, Any] | None:
    """The ``[runner]`` keys of ``executor = "slurm"`` (checked against SLURM at run time)."""
    given = [key for key in SLURM_KEYS if key in r]
    if ex != "slurm":
        if given:
            raise c.err((*k, given[0]), "needs executor = \"slurm\"")
        return None
    out = {"backend": c.get(r, (*k, "backend"), "str", default="dask",
                            choices=("dask", "submitit")),
           "partition": c.get(r, (*k, "partition"), "str"),
           "account": c.get(r, (*k, "account"), "str"),
           "cores": c.get(r, (*k, "cores"), "int", default=1, minimum=1),
           "max_jobs": c.get(r, (*k, "max_jobs"), "int", default=4, minimum=1),
           "memory": c.get(r, (*k, "memory"), "str", default="2GB")}
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B?|[kmgt]i?b?)?", out["memory"]):
        raise c.err((*k, "memory"), f"must be an amount like \"4GB\" or \"500MB\", got "
                    f"{out['memory']!r}")
    walltime = r.get("walltime", "01:00:00")
    if isinstance(walltime, bool) or not isinstance(walltime, (str, int)):
        raise c.err((*k, "walltime"), f"must be a string like \"01:30:00\" or a number of "
                    f"minutes, got {_kind(walltime)} {_short(walltime)}")
    from ..runner._slurm import parse_walltime

    try:
        minutes = parse_walltime(walltime)
    except ValueError:
        raise c.err((*k, "walltime"), f"must be \"HH:MM:SS\", \"D-HH:MM:SS\" or a number "
                    f"of minutes, got {walltime!r}") from None
    if minutes < 1:
        raise c.err((*k, "walltime"), f"is too short to start a job ({walltime!r}): SLURM's "
                    "smallest walltime is 1 minute (and 0 means no limit)")
    out["walltime"] = walltime
    return out
