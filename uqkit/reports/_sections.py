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

from ._document import Section

__all__ = ["kind_of", "build_section", "evaluation_counts", "seeds_of"]


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


def _info(obj: Any) -> dict:
    info = getattr(obj, "info", None)
    return dict(info) if isinstance(info, Mapping) else {}


def seeds_of(obj: Any) -> Any:
    """The seed a result records (``info["seed"]``), if any."""
    return _info(obj).get("seed")


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


def _simple(info: Mapping) -> dict:
    return {k: v for k, v in info.items()
            if isinstance(v, (str, int, float, bool, np.integer, np.floating)) or v is None}


def _parameters(p: Any) -> Section:
    rows = []
    for dist in p.distributions:
        lo, hi = dist.support
        rows.append({"distribution": repr(dist), "mean": dist.mean, "std": dist.std,
                     "support low": lo, "support high": hi})
    df = pd.DataFrame(rows, index=pd.Index(list(p.names), name="parameter"))
    return Section("Parameters and distributions", "parameters").table("Input distributions", df)


def _model(m: Any) -> Section:
    from ..models import model_identity

    ident = model_identity(m)
    s = Section(f"Model: {ident['name']}", "model")
    s.facts({"name": ident["name"], "version": ident["version"], "cache id": ident["id"],
             "identity": ident["identity"], "fingerprint": ident["fingerprint"],
             "type": type(m).__name__, "vectorized": bool(getattr(m, "vectorized", False)),
             "inputs": ", ".join(map(str, m.inputs)), "outputs": ", ".join(map(str, m.outputs))})
    return s


def _sobol(r: Any, label: str) -> Section:
    from ..models import output_groups

    info = _info(r)
    s = Section(f"Sobol' indices{label}", "sobol")
    facts = {"method": getattr(r, "method", ""), "base samples (n)": getattr(r, "n_samples", None),
             "model evaluations": getattr(r, "n_evaluations", None),
             "failed evaluations": getattr(r, "n_failed", None),
             "confidence": getattr(r, "confidence", None)}
    facts.update({k: v for k, v in _simple(info).items() if k not in facts})
    s.facts(facts)
    first, total = r.first, r.total
    groups = output_groups(list(first.columns))
    for g, cols in groups.items():
        names = [first.columns[c] for c in cols]
        if len(cols) == 1:
            out = names[0]
            table = pd.DataFrame({"first": first[out], "total": total[out]})
            for order, ci in (("first", getattr(r, "first_ci", None)),
                              ("total", getattr(r, "total_ci", None))):
                if ci is not None:
                    table[f"{order} low"] = ci["low"][out]
                    table[f"{order} high"] = ci["high"][out]
            table.index.name = "input"
            s.table(f"Indices of {out}", table)
            s.figure(lambda out=out: r.plot(out), f"First and total indices of {out}")
        else:  # a series: indices per time point (rows) and input (columns)
            per_t = pd.concat({"first": first[names].T, "total": total[names].T}, axis=1)
            per_t.index.name = "output"
            s.table(f"Indices of {g} per time point", per_t)
            s.figure(lambda g=g: r.plot(g), f"Indices of {g} over time")
    agg_f, agg_t = getattr(r, "aggregated_first", None), getattr(r, "aggregated_total", None)
    if agg_f is not None and agg_t is not None:
        agg = pd.concat({"first": agg_f, "total": agg_t}, axis=1)
        agg.index.name = "input"
        s.table("Aggregated (variance-weighted) indices of vector outputs", agg)
    second = getattr(r, "second", None)
    if second is not None:
        s.table("Second-order indices", second)
    mean, var = getattr(r, "mean", None), getattr(r, "variance", None)
    if mean is not None and var is not None:
        mv = pd.DataFrame({"mean": mean, "variance": var})
        mv.index.name = "output"
        s.table("Output mean and variance", mv)
    return s


def _morris(r: Any, label: str) -> Section:
    s = Section(f"Morris screening{label}", "morris")
    s.facts({"trajectories": getattr(r, "n_trajectories", None),
             "levels": getattr(r, "levels", None),
             "model evaluations": getattr(r, "n_evaluations", None),
             "failed evaluations": getattr(r, "n_failed", None), **_simple(_info(r))})
    s.table("Elementary effects", r.to_dataframe().set_index(["input", "output"]))
    for out in list(r.mu_star.columns)[:6]:
        s.figure(lambda out=out: r.plot(out), f"Morris plane of {out}")
    return s


def _sensitivity(r: Any, label: str) -> Section:
    s = Section(f"Sensitivity measures{label}", "sensitivity")
    s.facts({"method": getattr(r, "method", ""),
             "model evaluations": getattr(r, "n_evaluations", None),
             "failed evaluations": getattr(r, "n_failed", None), **_simple(_info(r))})
    s.table("Measures", r.to_dataframe())
    s.figure(r.plot, "Sensitivity measures")
    return s


def _pce(p: Any, label: str) -> Section:
    s = Section(f"Polynomial chaos surrogate{label}", "pce")
    s.facts({"method": p.method, "terms": int(p.n_terms), "inputs": len(p.inputs),
             "model evaluations": p.n_evaluations, "failed evaluations": p.n_failed,
             "max degree": int(np.asarray(p.multi_indices).sum(axis=1).max()),
             **_simple(_info(p))})
    mom = pd.DataFrame({"mean": p.mean, "std": p.std, "variance": p.variance,
                        "LOO error": p.loo_error})
    if getattr(p, "degree", None) is not None:
        mom["degree"] = p.degree
    mom.index.name = "output"
    s.table("Moments and validation error (corrected leave-one-out)", mom)
    try:
        sob = p.sobol()
        if len(p.outputs) <= 50:
            idx = pd.concat({"first": sob.first, "total": sob.total}, axis=1)
            idx.index.name = "input"
            s.table("Sobol' indices from the coefficients", idx)
    except Exception as exc:  # report why the indices are missing
        s.text(f"Sobol' indices from the coefficients unavailable: {exc}")
    s.figure(p.plot, "Coefficient spectrum and predicted vs model on the design")
    return s


def _posterior(post: Any, label: str) -> Section:
    s = Section(f"Posterior{label}", "posterior")
    r_hat = np.asarray(post.r_hat, dtype=float)
    ess = np.asarray(post.ess_bulk, dtype=float)
    target = getattr(post, "target_ess", None)
    converged = bool(getattr(post, "converged", False))
    mode = getattr(post, "mode", "plain")
    goal = f" (target {target:g})" if target else ""
    if r_hat.size == 0 or np.isnan(r_hat).all() or np.isnan(ess).all():
        s.verdict(False, f"NOT converged ({getattr(post, 'stop_reason', '?')}): no "
                  "diagnostics (too few draws after warm-up). Raise the budget.")
    else:
        max_r, min_ess = float(np.nanmax(r_hat)), float(np.nanmin(ess))
        if converged:
            s.verdict(True, f"converged: every R-hat <= {max_r:.4f} (< 1.01) and the minimum "
                      f"bulk ESS is {min_ess:.0f}{goal}.")
        else:
            s.verdict(False, f"NOT converged ({getattr(post, 'stop_reason', '?')}): max R-hat "
                      f"{max_r:.4f} (needs < 1.01), minimum bulk ESS {min_ess:.0f}{goal}. Run "
                      "longer before trusting these numbers.")
    if mode == "approximate":
        s.verdict(False, "APPROXIMATE: samples of the surrogate posterior, not the full model's.")
    s.facts({"walkers": getattr(post, "n_walkers", None),
             "draws per walker": getattr(post, "n_draws", None),
             "warm-up steps": getattr(post, "n_warmup", None),
             "stop reason": getattr(post, "stop_reason", None), "mode": mode,
             "acceptance rate": getattr(post, "acceptance_rate", None),
             "model evaluations": getattr(post, "n_model_evaluations", None),
             "surrogate evaluations": getattr(post, "n_surrogate_evaluations", None),
             "resumed at step": getattr(post, "resumed_at", None)})
    try:
        s.table("Posterior summary", post.summary())
    except Exception as exc:  # e.g. too few draws for intervals: say so, keep the rest
        s.text(f"Posterior summary unavailable: {type(exc).__name__}: {exc}")
    s.figure(lambda: post.plot("pair"), "Pair plot of the posterior")
    s.figure(lambda: post.plot("trace"), "Traces")
    try:
        pred = post.predict(rng=0)
        s.table("Posterior predictive vs data", pred)
    except Exception as exc:
        s.text(f"Posterior predictive unavailable: {type(exc).__name__}: {exc}")
    s.figure(lambda: post.plot("predictive"), "Posterior predictive vs data")
    return s


def _evaluations(ev: Any, label: str) -> Section:
    status = pd.Series(np.asarray(ev.status)).value_counts().sort_index()
    s = Section(f"Evaluations{label}", "evaluations")
    s.facts({"rows": int(len(ev.status)), "model calls": int(ev.n_new),
             "from the store": int(ev.n_cached), "failed": int(ev.n_failed)})
    s.table("Rows by status", status.rename("rows").to_frame().rename_axis("status"))
    return s


def _store(st: Any, label: str) -> Section:
    info = st.info()
    s = Section(f"Store{label}", "store")
    s.facts({k: (", ".join(map(str, v)) if isinstance(v, list) else v)
             for k, v in info.items()})
    s.table("Evaluations by model and status", st.summary())
    fails = st.to_dataframe(failures=True)
    if len(fails):
        show = fails[["key", "model", "attempt", "kind", "message"]].head(50).copy()
        show["key"] = show["key"].str[:12]
        s.table(f"Failures (first {len(show)} of {len(fails)})", show, index=False)
    return s


def _facts(d: Mapping, label: str) -> Section:
    return Section(f"Study{label}", "facts").facts(
        {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
         for k, v in d.items()})


def _table(df: pd.DataFrame, label: str) -> Section:
    title = str(df.attrs.get("title", "Table")) + label
    return Section(title, "table").table(title, df)


_BUILDERS = {"sobol": _sobol, "morris": _morris, "sensitivity": _sensitivity, "pce": _pce,
             "posterior": _posterior, "evaluations": _evaluations, "store": _store,
             "facts": _facts, "table": _table}


def build_section(obj: Any, label: str = "") -> Section:
    """The section of one result (``label`` distinguishes several of a kind)."""
    kind = kind_of(obj)
    if kind == "own":
        return obj._report_section(label)
    if kind == "parameters":
        return _parameters(obj)
    if kind == "model":
        return _model(obj)
    return _BUILDERS[kind](obj, label)
