"""Bayesian calibration: posterior sampling of model parameters against data."""

from __future__ import annotations

from ._calibrate import calibrate
from ._compare import compare
from ._counts import NegativeBinomial, Poisson
from ._failures import PosteriorCutOffWarning
from ._likelihood import Likelihood
from ._noise import Gaussian, LogGaussian, StudentT
from ._posterior import Posterior

__all__ = ["calibrate", "compare", "Posterior", "Gaussian", "StudentT", "LogGaussian",
           "Poisson", "NegativeBinomial", "Likelihood", "PosteriorCutOffWarning"]
