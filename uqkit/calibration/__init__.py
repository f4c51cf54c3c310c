"""Bayesian calibration: posterior sampling of model parameters against data."""

from __future__ import annotations

from ._calibrate import calibrate
from ._compare import compare
from ._noise import Gaussian, StudentT
from ._posterior import Posterior

__all__ = ["calibrate", "compare", "Posterior", "Gaussian", "StudentT"]
