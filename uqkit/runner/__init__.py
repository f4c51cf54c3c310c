"""The runner and the persistent evaluation store: the one place models are evaluated."""

from ._evaluations import Evaluations
from ._keys import canonical_inputs, make_keys
from ._runner import Runner, evaluate
from ._store import Store

__all__ = ["Runner", "Evaluations", "evaluate", "Store", "make_keys", "canonical_inputs"]
