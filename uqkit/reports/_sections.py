"""Report sections for each kind of result, chosen by duck typing (never ``eval``).

Each builder reads only public attributes and methods of the result
(``to_dataframe()``, ``plot()``, ``summary()``, ``first``/``total``...), so a
new result type joins the report by offering the same attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._common import Context, info_of, seeds_of, split_facts
from ._document import Section
from ._posterior import posterior_section as _posterior
from ._quality import pce_section as _pce
from ._sobol import sobol_section as _sobol

__all__ = ["Context", "kind_of", "build_section", "evaluation_counts", "seeds_of"]


def kind_of(obj: Any) -> str | None:
    """The report kind of an object, from the attributes it offers.

    A result type that builds its own section offers ``_report_section(label)``
    returning a :class:`~uqkit.reports._document.Section`; its kind is ``"own"``.
    """
    if callable(getattr(obj, "_report_section", None)):
        return "own"
    if isinstance(obj, pd.DataFrame):
        return "table"
    if hasattr(obj, "r_hat") and hasattr(obj, "samples") and hasattr(obj, "summary"):
        return "posterior"
    if hasattr(obj, "coefficients") and hasattr(obj, "loo_error"):
        return "pce"
    if hasattr(obj, "first") and hasattr(obj, "total") and hasattr(obj, "to_dataframe"):
        return "sobol"
    if hasattr(obj, "mu_star") and hasattr(obj, "sigma"):
        return "morris"
    if hasattr(obj, "measures") and hasattr(obj, "to_dataframe"):
        return "sensitivity"
    if hasattr(obj, "n_new") and hasattr(obj, "status") and hasattr(obj, "n_cached"):
        return "evaluations"
    if hasattr(obj, "summary") and hasattr(obj, "info") and hasattr(obj, "models"):
        return "store"
    if hasattr(obj, "distributions") and hasattr(obj, "names") and hasattr(obj, "to_dict"):
        return "parameters"
    if hasattr(obj, "inputs") and hasattr(obj, "outputs") and callable(obj):
        return "model"
    if isinstance(obj, Mapping):
        return "facts"
    return None


def evaluation_counts(obj: Any) -> tuple[int, int] | None:
    """``(model evaluations, failed)`` a result cost, when it says."""
    kind = kind_of(obj)
    if kind == "posterior":
        return int(obj.n_model_evaluations), int(getattr(obj, "n_failed", 0) or 0)
    if kind == "evaluations":
        return int(obj.n_new), int(obj.n_failed)
    if hasattr(obj, "n_evaluations"):
        return int(obj.n_evaluations), int(getattr(obj, "n_failed", 0) or 0)
    return None


def _parameters(p: Any, label: str = "") -> Section:
    rows = []
    for dist in p.distributions:
        lo, hi = dist.support
        rows.append({"distribution": repr(dist), "mean": dist.mean, "std": dist.std,
                     "support low": lo, "support high": hi})
    df = pd.DataFrame(rows, index=pd.Index(list(p.names), name="parameter"))
    return Section(f"Parameters and distributions{label}", "parameters").table(
        "Input distributions", df)


def _short_outputs(outputs: list[str]) -> str:
    """``apd, cv, activation[0..39]``: vector outputs named by their range."""
    from ..models import output_groups

    parts = []
    for g, cols in output_groups(outputs).items():
        parts.append(outputs[cols[0]] if len(cols) == 1 else f"{g}[0..{len(cols) - 1}]")
    return ", ".join(parts)


def _model(m: Any, label: str = "") -> Section:
    from ..models import model_identity

    ident = model_identity(m)
    s = Section(f"Model{label}", "model")
    s.facts({"name": ident["name"], "type": type(m).__name__,
             "inputs": ", ".join(map(str, m.inputs)),
             "outputs": _short_outputs(list(map(str, m.outputs)))})
    s.facts({"version": ident["version"], "cache id": ident["id"],
             "identity": ident["identity"], "fingerprint": ident["fingerprint"],
             "vectorized": bool(getattr(m, "vectorized", False))},
            "identity (cache id, fingerprint)", collapsed=True)
    return s


def _morris(r: Any, label: str, ctx: Context) -> Section:
    s = Section(f"Morris screening{label}", "morris")
    split_facts(s, {"trajectories": getattr(r, "n_trajectories", None),
                     "levels": getattr(r, "levels", None),
                     "model evaluations": getattr(r, "n_evaluations", None),
                     "failed evaluations": getattr(r, "n_failed", None),
                     "seed": seeds_of(r)}, info_of(r))
    for out in list(r.mu_star.columns)[:3]:
        s.figure(lambda out=out: r.plot(out), f"Morris plane of {out}: sigma against mu*",
                 alt=f"Scatter of Morris sigma against mu* for each input, output {out}")
        s.finding(f"Morris, {out}: most influential inputs "
                  + ", ".join(r.ranking(out)[:3]) + ".")
    s.table("Elementary effects", r.to_dataframe().set_index(["input", "output"]),
            collapsed=True)
    return s


def _sensitivity(r: Any, label: str, ctx: Context) -> Section:
    s = Section(f"Sensitivity measures{label}", "sensitivity")
    split_facts(s, {"method": getattr(r, "method", ""),
                     "model evaluations": getattr(r, "n_evaluations", None),
                     "failed evaluations": getattr(r, "n_failed", None)}, info_of(r))
    s.figure(r.plot, "Sensitivity measures", alt="Bar chart of the sensitivity measures")
    s.table("Measures", r.to_dataframe(), collapsed=True)
    return s


def _evaluations(ev: Any, label: str, ctx: Context) -> Section:
    status = pd.Series(np.asarray(ev.status)).value_counts().sort_index()
    s = Section(f"Evaluations{label}", "evaluations")
    s.facts({"rows": int(len(ev.status)), "model calls": int(ev.n_new),
             "from the store": int(ev.n_cached), "failed": int(ev.n_failed)})
    s.table("Rows by status", status.rename("rows").to_frame().rename_axis("status"))
    return s


def _store(st: Any, label: str, ctx: Context) -> Section:
    info = st.info()
    s = Section(f"Store{label}", "store")
    s.facts({k: info[k] for k in ("path", "evaluations", "failed_attempts") if k in info})
    s.facts({k: (", ".join(map(str, v)) if isinstance(v, list) else v)
             for k, v in info.items()}, "store details", collapsed=True)
    s.table("Evaluations by model and status", st.summary())
    fails = st.to_dataframe(failures=True)
    if len(fails):
        show = fails[["key", "model", "attempt", "kind", "message"]].head(50).copy()
        show["key"] = show["key"].str[:12]
        s.table(f"Failures (first {len(show)} of {len(fails)})", show, index=False,
                collapsed=True)
    return s


def _facts(d: Mapping, label: str, ctx: Context) -> Section:
    return Section(f"Study{label}", "facts").facts(
        {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
         for k, v in d.items() if k != "truth"})


def _table(df: pd.DataFrame, label: str, ctx: Context) -> Section:
    from ._quality import validation_section

    title = str(df.attrs.get("title", "Table")) + label
    if "q2" in df.columns and "rmse" in df.columns:
        return validation_section(df, title, ctx)
    s = Section(title, "table")
    s.table(title, df, collapsed=len(df) > 15)
    return s


_BUILDERS = {"sobol": _sobol, "morris": _morris, "sensitivity": _sensitivity, "pce": _pce,
             "posterior": _posterior, "evaluations": _evaluations, "store": _store,
             "facts": _facts, "table": _table}


def build_section(obj: Any, label: str = "", context: Context | None = None) -> Section:
    """The section of one result (``label`` distinguishes several of a kind)."""
    kind = kind_of(obj)
    if kind == "own":
        return obj._report_section(label)
    if kind == "parameters":
        return _parameters(obj, label)
    if kind == "model":
        return _model(obj, label)
    return _BUILDERS[kind](obj, label, context or Context())
