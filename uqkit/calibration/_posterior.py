"""The ``Posterior`` result of :func:`uqkit.calibrate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError
from .._validation import check_int, normalize_rng
from ._moves import MOVE_NAMES
from ._spec import R_HAT_LIMIT
from ._target import evaluate_batch

__all__ = ["Posterior"]

_MODE_LABEL = {
    "plain": "exact (full model)",
    "delayed_acceptance": "exact (delayed acceptance with a surrogate)",
    "approximate": "APPROXIMATE: surrogate posterior only, not the full model's",
}


@dataclass(frozen=True, repr=False, eq=False)
class Posterior:
    """Posterior samples of a calibration, with diagnostics.

    Attributes
    ----------
    samples : pandas.DataFrame
        Post-warm-up draws, one column per parameter (noise levels included),
        rows ordered walker by walker.
    chain : ndarray, shape (n_walkers, n_draws, d)
        The same draws by walker (arviz ``chain``) and step (``draw``).
    converged : bool
        True when the minimum bulk ESS reached ``target_ess`` with every
        R-hat below 1.01.
    stop_reason : str
        ``"converged"``, ``"max_evaluations"`` or ``"n_steps"``.
    ess_bulk, ess_tail, r_hat : pandas.Series
        Diagnostics per parameter (arviz; rank-normalised split R-hat).
    n_model_evaluations : int
        Full-model evaluations requested (a PCE fit included).
    n_surrogate_evaluations : int
        Surrogate evaluations (delayed acceptance or approximate mode).
    mode : str
        ``"plain"``, ``"delayed_acceptance"`` or ``"approximate"``.
    acceptance_rate : float
        Post-warm-up acceptance rate.
    move_probabilities : dict
        Probabilities of the sampler's moves chosen during warm-up.
    surrogate_info : dict
        With a surrogate: ``n_fit_evaluations`` (full-model runs of the PCE fit and
        its refinement, included in ``n_model_evaluations``), ``n_rounds`` and
        ``errors`` (sd of the surrogate's log-posterior error per refinement round)
        and ``refined`` (its error reached the tolerance).
    n_failed : int
        Model runs during sampling that failed or returned non-finite outputs:
        each is a rejected proposal (stored as a failure by the runner's store).
    cut_off : bool
        True when failed runs lie inside the posterior's bulk (a
        :class:`PosteriorCutOffWarning` was issued): the samples are then the
        posterior restricted to where the model runs. The check sees the failed
        proposals of this session (after a resume, those since the resume).
    log_evidence, log_evidence_se : float
        Log marginal likelihood ``log p(data)`` and its standard error, from the
        SMC stage (``method="smc"`` or ``"auto"``); NaN when the method gives none.
    method : str
        The method that ran: ``"ensemble"``, ``"smc"``, ``"emcee"`` or
        ``"smc+ensemble"`` (``"auto"``: SMC, then the ensemble sampler).
    method_reason : str
        Why that method ran (the choice of ``method="auto"``).
    """

    samples: pd.DataFrame
    chain: np.ndarray
    log_posterior: np.ndarray
    accepted: np.ndarray
    names: tuple[str, ...]
    converged: bool
    stop_reason: str
    ess_bulk: pd.Series
    ess_tail: pd.Series
    r_hat: pd.Series
    n_model_evaluations: int
    n_surrogate_evaluations: int
    n_warmup: int
    n_walkers: int
    mode: str
    target_ess: float | None
    acceptance_rate: float
    move_probabilities: dict[str, float]
    subchain_length: int
    resumed_at: int | None
    surrogate_info: dict[str, Any] = field(default_factory=dict)
    n_failed: int = 0
    cut_off: bool = False
    log_evidence: float = float("nan")
    log_evidence_se: float = float("nan")
    method: str = "ensemble"
    method_reason: str = ""
    _problem: Any = field(default=None, repr=False)
    _runner: Any = field(default=None, repr=False)
    _predictive: dict[str, Any] = field(default_factory=dict, repr=False)
    _idata: list = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def _from_run(cls, problem, result, settings, *, runner, surrogate, n_fit_evaluations,
                  rng, surrogate_info=None, log_evidence=float("nan"),
                  log_evidence_se=float("nan"), method="ensemble",
                  method_reason="", converged=None) -> Posterior:
        names = problem.names
        nw = result.n_warmup
        chain = np.ascontiguousarray(np.moveaxis(result.chain[nw:], 0, 1))  # (W, n, d)
        W, n, d = chain.shape
        samples = pd.DataFrame(chain.reshape(W * n, d), columns=list(names))
        diag = result.diagnostics
        ess_bulk = pd.Series(diag["ess_bulk"], index=list(names), name="ess_bulk")
        ess_tail = pd.Series(diag["ess_tail"], index=list(names), name="ess_tail")
        r_hat = pd.Series(diag["r_hat"], index=list(names), name="r_hat")
        target = settings.target_ess
        if converged is None:  # the method's own verdict, else ESS and R-hat decide
            converged = bool(
                n >= 4 and target is not None and _min(ess_bulk.values) >= target
                and _max(r_hat.values) < R_HAT_LIMIT)
        acc = result.accepted[nw:]
        post = cls(
            samples=samples, chain=chain,
            log_posterior=np.ascontiguousarray(result.log_posterior[nw:].T),
            accepted=np.ascontiguousarray(acc.T), names=tuple(names), converged=converged,
            stop_reason=result.stop_reason or ("converged" if converged else "n_steps"),
            ess_bulk=ess_bulk, ess_tail=ess_tail, r_hat=r_hat,
            n_model_evaluations=int(result.n_evaluations + n_fit_evaluations),
            n_surrogate_evaluations=int(result.n_surrogate_evaluations), n_warmup=nw,
            n_walkers=W, mode=settings.mode, target_ess=target,
            acceptance_rate=float(acc.mean()) if acc.size else float("nan"),
            move_probabilities=dict(zip(MOVE_NAMES, map(float, result.move_probabilities))),
            subchain_length=int(result.subchain_length), resumed_at=result.resumed_at,
            surrogate_info=dict(surrogate_info or {}), log_evidence=float(log_evidence),
            log_evidence_se=float(log_evidence_se), method=method,
            method_reason=method_reason, _problem=problem, _runner=runner,
            **_failure_fields(result, chain, names))
        post._predictive.update(_predictive_draws(problem, result, runner))
        return post

    # ------------------------------------------------------------------ views
    @property
    def n_draws(self) -> int:
        """Post-warm-up draws per walker."""
        return self.chain.shape[1]

    @property
    def parameters(self):
        """The posterior's parameters and their priors (noise levels included)."""
        return self._problem.parameters

    @property
    def n_evaluations(self) -> int:
        """Full-model evaluations the posterior cost (``n_model_evaluations``)."""
        return int(self.n_model_evaluations)

    def to_dataframe(self) -> pd.DataFrame:
        """The samples (a copy)."""
        return self.samples.copy()

    @property
    def idata(self):
        """arviz ``InferenceData``: posterior, sample_stats, observed_data, posterior_predictive."""
        if not self._idata:
            self._idata.append(_build_idata(self))
        return self._idata[0]

    @property
    def has_draws(self) -> bool:
        """False when the run stopped before any post-warm-up draw (budget spent in warm-up)."""
        return self.n_draws > 0

    def summary(self, hdi_prob: float = 0.94) -> pd.DataFrame:
        """Mean, sd, highest-density interval, ESS (bulk, tail) and R-hat per parameter.

        Without draws (:attr:`has_draws` False: the budget ran out during
        warm-up) every value is NaN and ``summary().attrs["no_draws"]`` is True.
        ``summary().attrs["n_failed"]`` is the number of failed model runs
        (rejected proposals) and ``attrs["cut_off"]`` whether they cut the
        posterior off.
        """
        lo, hi = [], []
        if self.has_draws:
            import arviz as az
            for j in range(len(self.names)):
                h = az.hdi(self.chain[:, :, j].ravel(), hdi_prob=hdi_prob)
                lo.append(h[0])
                hi.append(h[1])
        else:
            lo = hi = [np.nan] * len(self.names)
        pct = int(round(100 * hdi_prob))
        x = self.samples
        out = pd.DataFrame({
            "mean": x.mean().values, "sd": x.std(ddof=1).values,
            f"hdi_{(100 - pct) / 2:g}%": lo, f"hdi_{100 - (100 - pct) / 2:g}%": hi,
            "ess_bulk": self.ess_bulk.values, "ess_tail": self.ess_tail.values,
            "r_hat": self.r_hat.values}, index=pd.Index(self.names, name="parameter"))
        out.attrs["no_draws"] = not self.has_draws
        out.attrs["n_failed"] = self.n_failed
        out.attrs["cut_off"] = self.cut_off
        return out

    # ------------------------------------------------------------------ prediction
    def predict(self, X: Any = None, n: int = 200, *, level: float = 0.9,
                rng: Any = None) -> pd.DataFrame:
        """Posterior predictive of the model outputs, with bands.

        Parameters
        ----------
        X : array or DataFrame, optional
            Parameter rows to push through the model (``(n, d)`` over the
            posterior parameters, or a DataFrame with those columns). Default:
            ``n`` draws from the posterior samples.
        n : int
            Number of posterior draws when ``X`` is not given.
        level : float
            Central probability of the bands (default 0.9).
        rng : None, int or Generator
            Selects the draws and the noise replicates.

        Returns
        -------
        pandas.DataFrame
            Indexed by output: ``mean``, ``sd``, ``lower``, ``upper`` (model
            output band) and ``lower_obs``, ``upper_obs`` (with observation
            noise, for observed outputs), and ``observed`` (first experiment).
        """
        n = check_int("Posterior.predict", "n", n, minimum=1)
        rng = normalize_rng(rng)
        problem = self._problem
        if X is None:
            if not self.has_draws:
                raise InvalidParameterError(
                    "Posterior.predict has no posterior draws to use: the calibration stopped "
                    f"by {self.stop_reason} during warm-up. Raise the budget (n_steps or "
                    "max_evaluations), or pass parameter rows X.")
            idx = rng.choice(len(self.samples), size=min(n, len(self.samples)), replace=False)
            P = self.samples.to_numpy()[np.sort(idx)]
        else:
            if isinstance(X, pd.DataFrame):
                X = X[list(self.names)].to_numpy()
            from .._validation import as_2d_float
            P = as_2d_float("Posterior.predict", "X", X, len(self.names))
        Y, ok = evaluate_batch(self._runner, problem.model, problem.model_inputs(P))
        Y, P = Y[ok], P[ok]
        return _bands(problem, P, Y, level, rng)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        status = "converged" if self.converged else f"NOT converged ({self.stop_reason})"
        head = (f"Posterior({len(self.names)} parameters, {self.n_walkers} walkers x "
                f"{self.n_draws} draws, {status}, min ESS {_min(self.ess_bulk.values):.0f}, "
                f"max R-hat {_max(self.r_hat.values):.3f}, "
                f"{self.n_model_evaluations} model evaluations")
        if self.n_failed:
            head += f", {self.n_failed} failed"
        if self.mode != "plain":
            head += f", {_MODE_LABEL[self.mode]}"
        if self.method != "ensemble":
            head += f", method {self.method}"
        if np.isfinite(self.log_evidence):
            head += f", log evidence {self.log_evidence:.3f} +- {self.log_evidence_se:.3f}"
        lines = [head + ")"]
        if self.cut_off:
            lines.append("  CUT OFF: the posterior reaches where the model fails (see the warning)")
        if not self.has_draws:
            lines.append(f"  no posterior draws: the budget ran out during warm-up "
                         f"({self.stop_reason}); raise n_steps or max_evaluations")
            return "\n".join(lines)
        x = self.samples
        for name in self.names:
            lines.append(f"  {name}: {x[name].mean():.4g} +- {x[name].std(ddof=1):.3g}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ._report import posterior_html_table
        return posterior_html_table(self)

    def plot(self, kind: str = "pair", *, ax=None):
        """Plot the posterior: ``"pair"`` (corner), ``"trace"`` or ``"predictive"``.

        Returns
        -------
        matplotlib axes (an array of axes for ``"pair"`` and ``"trace"``).
        """
        from ._plots import plot_posterior
        return plot_posterior(self, kind, ax=ax)

    def report(self, path: Any) -> Any:
        """Write a self-contained HTML report (tables and inline PNG figures).

        Returns the path written.
        """
        from ._report import write_report
        return write_report(self, path)


def _failure_fields(result, chain: np.ndarray, names) -> dict[str, Any]:
    """``n_failed`` and ``cut_off`` of a run; warns when the failures cut the posterior off."""
    n_failed = int(getattr(result, "n_failed", 0))
    failed = getattr(result, "failed_points", None)
    if not n_failed or failed is None or not len(failed):
        return {"n_failed": n_failed, "cut_off": False}
    import warnings

    from ._failures import PosteriorCutOffWarning, cutoff_check, cutoff_message
    check = cutoff_check(chain.reshape(-1, chain.shape[-1]), failed, tuple(names),
                         int(result.n_evaluations))
    if check.warn:
        warnings.warn(cutoff_message(check, n_failed), PosteriorCutOffWarning, stacklevel=4)
    return {"n_failed": n_failed, "cut_off": check.warn}


def _min(a) -> float:
    a = np.asarray(a, float)
    return float(np.min(a)) if a.size and not np.isnan(a).any() else float("nan")


def _max(a) -> float:
    a = np.asarray(a, float)
    return float(np.max(a)) if a.size and not np.isnan(a).any() else float("nan")


def _predictive_draws(problem, result, runner) -> dict[str, Any]:
    """Model outputs at thinned post-warm-up states (at most 64 steps, all walkers).

    The outputs recorded during the run are used; steps recorded before a resume
    are evaluated again through the runner (its store returns them cached).
    """
    from ._sampler import MAX_SNAPSHOTS
    nw, T = result.n_warmup, len(result.chain)
    if T <= nw:
        return {}
    thin = 1
    while -(-(T - nw) // thin) > MAX_SNAPSHOTS:
        thin *= 2
    steps = list(range(nw, T, thin))
    snaps = dict(result.snapshots)
    missing = [s for s in steps if s not in snaps]
    if missing and result.resumed_at is not None:
        X = np.concatenate([result.chain[s] for s in missing])
        Y, ok = evaluate_batch(runner, problem.model, problem.model_inputs(X))
        Y[~ok] = np.nan
        W = result.chain.shape[1]
        for i, s in enumerate(missing):
            snaps[s] = Y[i * W:(i + 1) * W]
    steps = [s for s in steps if s in snaps]
    if not steps:
        return {}
    Y = np.stack([snaps[s] for s in steps], axis=1)  # (W, k, m)
    X = np.stack([result.chain[s] for s in steps], axis=1)  # (W, k, d)
    return {"steps": np.array(steps), "Y": Y, "X": X}


def _noise_draws(problem, X: np.ndarray, Y: np.ndarray, rng) -> np.ndarray:
    """Replicated observations drawn from the likelihood at the observed columns."""
    theta = problem.sigma_fixed if problem.sigma_index is None else X[:, problem.sigma_index]
    return problem.noise.replicate(Y[:, problem.columns], theta, rng)


def _bands(problem, P, Y, level, rng) -> pd.DataFrame:
    outputs = list(problem.model.outputs)
    a = (1 - level) / 2
    df = pd.DataFrame({"mean": Y.mean(0), "sd": Y.std(0, ddof=1) if len(Y) > 1 else np.nan,
                       "lower": np.quantile(Y, a, axis=0), "upper": np.quantile(Y, 1 - a, axis=0)},
                      index=pd.Index(outputs, name="output"))
    df["lower_obs"] = np.nan
    df["upper_obs"] = np.nan
    df["observed"] = np.nan
    if len(Y):
        rep = _noise_draws(problem, P, Y, rng)
        names = [outputs[c] for c in problem.columns]
        df.loc[names, "lower_obs"] = np.quantile(rep, a, axis=0)
        df.loc[names, "upper_obs"] = np.quantile(rep, 1 - a, axis=0)
        df.loc[names, "observed"] = problem.data[0]
    return df


def _build_idata(post: Posterior):
    import arviz as az
    problem = post._problem
    posterior = {n: post.chain[:, :, j] for j, n in enumerate(post.names)}
    stats = {"lp": post.log_posterior, "accepted": post.accepted}
    outputs = list(problem.model.outputs)
    obs_names = [outputs[c] for c in problem.columns]
    observed = {name: problem.data[:, i] for i, name in enumerate(obs_names)}
    kwargs: dict[str, Any] = {}
    pred = post._predictive
    if pred:
        W, k, _ = pred["Y"].shape
        rng = np.random.default_rng(0)
        rep = _noise_draws(problem, pred["X"].reshape(W * k, -1),
                           pred["Y"].reshape(W * k, -1), rng).reshape(W, k, -1)
        kwargs["posterior_predictive"] = {name: rep[:, :, i] for i, name in enumerate(obs_names)}
    import warnings
    with warnings.catch_warnings():  # arviz warns on zero draws (budget spent in warm-up)
        warnings.simplefilter("ignore", UserWarning)
        return az.from_dict(posterior=posterior, sample_stats=stats, observed_data=observed,
                            **kwargs)
