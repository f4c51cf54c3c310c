"""uqkit: uncertainty quantification and sensitivity analysis for multiscale simulators.

One model wrapper (:class:`Model`, :func:`as_model`, :class:`CommandModel`,
:class:`UMBridgeModel`, :class:`Chain`) plugs into every method: Sobol and other
sensitivity indices (:func:`sobol`, :func:`morris`, :func:`sensitivity`),
polynomial chaos (:func:`fit_pce`) and Bayesian calibration (:func:`calibrate`).
Every model evaluation goes through one :class:`Runner` and is committed to a
:class:`Store` as it arrives, so studies are cached, resumable and parallel.

``import uqkit`` is cheap: the public names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

# public name -> module that defines it (imported lazily on first attribute access)
_EXPORTS: dict[str, str] = {
    # distributions and parameters
    "Distribution": "uqkit.distributions",
    "Uniform": "uqkit.distributions",
    "Normal": "uqkit.distributions",
    "LogNormal": "uqkit.distributions",
    "LogUniform": "uqkit.distributions",
    "TruncatedNormal": "uqkit.distributions",
    "Beta": "uqkit.distributions",
    "Gamma": "uqkit.distributions",
    "Triangular": "uqkit.distributions",
    "Parameters": "uqkit.parameters",
    # errors
    "InvalidParameterError": "uqkit._errors",
    "ModelEvaluationError": "uqkit._errors",
    "EvaluationFailure": "uqkit._errors",
    "StoreError": "uqkit._errors",
    "StoreCorruptedError": "uqkit._errors",
    "NotAStoreError": "uqkit._errors",
    "StoreCorruptedWarning": "uqkit._errors",
    "StudyMismatchError": "uqkit._errors",
    "UQKitWarning": "uqkit._errors",
    # models
    "Model": "uqkit.models",
    "as_model": "uqkit.models",
    "CommandModel": "uqkit.models",
    "UMBridgeModel": "uqkit.models",
    "Chain": "uqkit.models",
    "serve": "uqkit.models",
    # runner and store
    "Runner": "uqkit.runner",
    "Evaluations": "uqkit.runner",
    "evaluate": "uqkit.runner",
    "Store": "uqkit.runner",
    "slurm_executor": "uqkit.runner._slurm",
    "SubmititExecutor": "uqkit.runner._submitit",
    # sensitivity
    "sobol": "uqkit.sensitivity",
    "SobolResult": "uqkit.sensitivity",
    "morris": "uqkit.sensitivity",
    "MorrisResult": "uqkit.sensitivity",
    "sensitivity": "uqkit.sensitivity",
    "sensitivity_from_data": "uqkit.sensitivity",
    "SensitivityResult": "uqkit.sensitivity",
    # polynomial chaos
    "fit_pce": "uqkit.pce",
    "PolynomialChaos": "uqkit.pce",
    "PoorSurrogateWarning": "uqkit.pce",
    # Gaussian-process emulators
    "fit_gp": "uqkit.gp",
    "GaussianProcess": "uqkit.gp",
    # calibration
    "calibrate": "uqkit.calibration",
    "compare": "uqkit.calibration",
    "Posterior": "uqkit.calibration",
    "Gaussian": "uqkit.calibration",
    "StudentT": "uqkit.calibration",
    "LogGaussian": "uqkit.calibration",
    "Poisson": "uqkit.calibration",
    "NegativeBinomial": "uqkit.calibration",
    "Likelihood": "uqkit.calibration",
    "PosteriorCutOffWarning": "uqkit.calibration",
    # multi-fidelity emulation and history matching
    "fit_multifidelity": "uqkit.multifidelity",
    "MultiFidelityGP": "uqkit.multifidelity",
    "history_match": "uqkit.history",
    "HistoryMatch": "uqkit.history",
    # reports
    "report": "uqkit.reports",
}

_SUBMODULES = ("examples", "parsers", "distributions", "parameters", "models", "runner",
               "sensitivity", "pce", "calibration", "reports", "cli")

__all__ = sorted([*_EXPORTS, *_SUBMODULES[:2], "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        value = importlib.import_module(f"uqkit.{name}")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'uqkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
