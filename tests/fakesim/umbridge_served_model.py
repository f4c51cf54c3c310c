"""A uqkit model for ``uqkit serve tests/fakesim/umbridge_served_model.py:model``."""
import uqkit


def _f(a, b):
    return a - b, a * b


model = uqkit.as_model(_f, outputs=["diff", "prod"], name="served")
