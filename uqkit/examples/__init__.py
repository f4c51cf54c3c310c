"""Example models with reference values, and biomedical multiscale examples."""

from ._analytic import Example, Reference, borehole, ishigami, sobol_g

__all__ = ["Example", "Reference", "ishigami", "sobol_g", "borehole"]
