"""Example models with reference values, and biomedical multiscale examples."""

from ._analytic import Example, Reference, borehole, ishigami, sobol_g
from ._cardiac import cardiac_cable
from ._epidemic import sir
from ._influenza import CalibrationExample, influenza
from ._multifidelity import (
    MultiFidelityExample,
    borehole_fidelities,
    cardiac_cable_fidelities,
    nonlinear_fidelities,
)
from ._neuron import hodgkin_huxley

__all__ = ["Example", "Reference", "ishigami", "sobol_g", "borehole", "cardiac_cable",
           "hodgkin_huxley", "sir", "influenza", "CalibrationExample", "MultiFidelityExample",
           "borehole_fidelities", "nonlinear_fidelities", "cardiac_cable_fidelities"]
