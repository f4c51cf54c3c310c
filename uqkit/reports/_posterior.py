"""The report section of a posterior: verdict, estimates, marginals, predictive, evidence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._common import Context
from ._document import Section

__all__ = ["posterior_section", "posterior_card"]


def _verdicts(s: Section, post: Any) -> None:
    r_hat = np.asarray(post.r_hat, dtype=float)
    ess = np.asarray(post.ess_bulk, dtype=float)
    target = getattr(post, "target_ess", None)
    goal = f" (target {target:g})" if target else ""
    stop = getattr(post, "stop_reason", "?")
    if not getattr(post, "has_draws", True):
        s.verdict(False, f"No posterior draws: the budget ran out during warm-up ({stop}). "
                  "Raise n_steps or max_evaluations.", f"NOT converged ({stop}): no draws.")
    elif r_hat.size == 0 or np.isnan(r_hat).all() or np.isnan(ess).all():
        s.verdict(False, f"NOT converged ({stop}): no diagnostics (too few draws after "
                  "warm-up). Raise the budget.")
    else:
        max_r, min_ess = float(np.nanmax(r_hat)), float(np.nanmin(ess))
        if bool(getattr(post, "converged", False)):
            s.verdict(True, f"converged: every R-hat <= {max_r:.4f} (< 1.01) and the minimum "
                      f"bulk ESS is {min_ess:.0f}{goal}.",
                      f"converged (max R-hat {max_r:.4f}, minimum bulk ESS {min_ess:.0f}).")
        else:
            s.verdict(False, f"NOT converged ({stop}): max R-hat {max_r:.4f} (needs < 1.01), "
                      f"minimum bulk ESS {min_ess:.0f}{goal}. Run longer before trusting "
                      "these numbers.")
    if getattr(post, "mode", "plain") == "approximate":
        s.verdict(False, "APPROXIMATE: samples of the surrogate posterior, not the full model's.")
    n_failed = int(getattr(post, "n_failed", 0) or 0)
    if getattr(post, "cut_off", False):
        s.verdict(False, f"Cut off where the model fails: {n_failed} model runs failed, some "
                  "inside the posterior's bulk; the samples are the posterior restricted to "
                  "where the model runs.", f"cut off where the model fails ({n_failed} failed "
                  "runs).")
    elif n_failed:
        s.verdict(True, f"{n_failed} model runs failed: rejected proposals away from the "
                  "posterior's bulk.")


def posterior_card(post: Any) -> str:
    """The notebook HTML of a posterior: verdicts, sampler facts and the summary table."""
    from ._repr import card

    probe = Section("", "posterior")
    _verdicts(probe, post)
    verdicts = [(b["ok"], b["text"]) for b in probe.blocks]
    facts = {"walkers": getattr(post, "n_walkers", None),
             "draws per walker": getattr(post, "n_draws", None),
             "warm-up steps": getattr(post, "n_warmup", None),
             "model evaluations": getattr(post, "n_model_evaluations", None),
             "surrogate evaluations": getattr(post, "n_surrogate_evaluations", None),
             "mode": getattr(post, "mode", "plain")}
    log_z = float(getattr(post, "log_evidence", math.nan))
    if math.isfinite(log_z):
        facts["log evidence"] = log_z
    return card("Posterior", facts=facts, verdicts=verdicts,
                tables=[("", post.summary())])


def _prior_of(post: Any) -> Any:
    prior = getattr(post, "prior", None)
    if prior is None:
        prior = getattr(getattr(post, "_problem", None), "parameters", None)
    return prior


def posterior_section(post: Any, label: str, ctx: Context) -> Section:
    s = Section(f"Posterior{label}", "posterior")
    _verdicts(s, post)
    facts = {"walkers": getattr(post, "n_walkers", None),
             "draws per walker": getattr(post, "n_draws", None),
             "model evaluations": getattr(post, "n_model_evaluations", None),
             "stop reason": getattr(post, "stop_reason", None),
             "mode": getattr(post, "mode", "plain")}
    log_z = float(getattr(post, "log_evidence", math.nan))
    if math.isfinite(log_z):
        se = float(getattr(post, "log_evidence_se", math.nan))
        facts["log evidence"] = f"{log_z:.3f}" + (f" +- {se:.3f}" if math.isfinite(se) else "")
        s.finding(f"Log evidence of {getattr(post, 'name', None) or 'the model'}: "
                  f"{facts['log evidence']}.")
    s.facts(facts)
    s.facts({"warm-up steps": getattr(post, "n_warmup", None),
             "acceptance rate": getattr(post, "acceptance_rate", None),
             "surrogate evaluations": getattr(post, "n_surrogate_evaluations", None),
             "resumed at step": getattr(post, "resumed_at", None)},
            "sampler details", collapsed=True)
    try:
        summary = post.summary()
        s.table("Posterior summary", summary)
        _estimate_findings(s, summary, ctx)
    except Exception as exc:  # e.g. too few draws for intervals: say so, keep the rest
        s.text(f"Posterior summary unavailable: {type(exc).__name__}: {exc}")
    if getattr(post, "has_draws", True) and len(getattr(post, "samples", ())):
        _marginals(s, post, ctx)
    _predictive(s, post, ctx)
    s.figure(lambda: post.plot("pair"), "Pair plot of the posterior draws",
             alt="Corner plot: histograms and pairwise scatter of the posterior draws",
             collapsed=True)
    if not bool(getattr(post, "converged", False)):  # what to look at when it did not
        s.figure(lambda: post.plot("trace"), "Traces of the walkers after warm-up",
                 alt="Trace plots of the walkers for each parameter", collapsed=True)
    return s


def _estimate_findings(s: Section, summary: Any, ctx: Context) -> None:
    if "mean" not in summary.columns:
        return
    sd = summary["sd"] if "sd" in summary.columns else None
    parts = []
    for name in list(summary.index)[:6]:
        text = f"{name} = {summary.loc[name, 'mean']:.4g}"
        if sd is not None:
            text += f" +- {sd[name]:.2g}"
        if name in ctx.truth:
            text += f" (truth {ctx.truth[name]:.4g})"
        parts.append(text)
    s.finding("Posterior mean +- sd: " + "; ".join(parts) + ".")


def _marginals(s: Section, post: Any, ctx: Context) -> None:
    from ._figures import marginals

    truth = {k: v for k, v in ctx.truth.items() if k in post.samples.columns}
    with_truth = " and the true values (red)" if truth else ""
    s.figure(lambda: marginals(post.samples, _prior_of(post), truth),
             f"Prior (grey line) and posterior (histogram) of every parameter{with_truth}.",
             alt="Prior density and posterior histogram for each parameter"
                 + (" with the true value marked" if truth else ""))


def _predictive(s: Section, post: Any, ctx: Context) -> None:
    from ..models import output_groups
    from ._figures import predictive

    try:
        pred = post.predict(rng=0)
    except Exception as exc:
        s.text(f"Posterior predictive unavailable: {type(exc).__name__}: {exc}")
        return
    outputs = [str(o) for o in pred.index]
    groups = output_groups(outputs)
    axes = {g: ctx.axes.get(g, {}) for g in groups}
    s.figure(lambda: predictive(pred, groups, axes),
             "Posterior predictive per output, each on its own axis: model band (90 %), the "
             "band with observation noise (light), and the data (black points).",
             alt="Posterior predictive intervals per output with the observed data as points")
    s.table("Posterior predictive against the data", pred, collapsed=True)
