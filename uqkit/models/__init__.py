"""Models: the wrapper protocol and adapters for Python callables, command-line
codes, UM-Bridge servers and multiscale chains."""

from ._callable import FunctionModel, as_model
from ._chain import Chain
from ._command import CommandModel
from ._protocol import Model, check_model, model_identity, output_groups
from ._server import serve
from ._umbridge import UMBridgeModel

__all__ = ["Model", "as_model", "FunctionModel", "check_model", "model_identity",
           "output_groups", "CommandModel", "UMBridgeModel", "serve", "Chain"]
