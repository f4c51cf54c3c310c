"""Multi-fidelity Gaussian-process emulation (AR1 co-kriging and NARGP)."""

from ._fit import fit_multifidelity
from ._model import MultiFidelityGP

__all__ = ["fit_multifidelity", "MultiFidelityGP"]
