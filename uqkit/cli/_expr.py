"""A restricted arithmetic evaluator for derived parameters of study files.

Study files are data: expressions are parsed with :mod:`ast` and walked by a
whitelist (numbers, parameter names, ``+ - * / ** %``, unary signs and a few
numpy functions). Attribute access, subscripts, keywords, lambdas, comprehensions
and every other node are refused, so an expression cannot reach Python objects,
import anything or run code
(tests/test_cli_fuzz.py::test_security6_expressions_cannot_run_code). Never ``eval``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ExpressionError", "check_expression", "evaluate_expression", "FUNCTIONS"]

FUNCTIONS = {"exp": np.exp, "log": np.log, "log10": np.log10, "sqrt": np.sqrt, "sin": np.sin,
             "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "abs": np.abs,
             "minimum": np.minimum, "maximum": np.maximum}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.true_divide, ast.Pow: np.power, ast.Mod: np.mod}
_UNARY = {ast.UAdd: np.positive, ast.USub: np.negative}
MAX_LENGTH = 500


class ExpressionError(ValueError):
    """An expression uses something outside the allowed grammar."""


def check_expression(text: Any, names: set[str]) -> ast.Expression:
    """Parse and check ``text``; return the tree. Raises :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"at most {MAX_LENGTH} characters, got {len(text)}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"valid arithmetic, got a syntax error: {exc.msg}") from None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(f"numbers only, got the constant {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id not in CONSTANTS:
                raise ExpressionError(
                    f"names of parameters ({', '.join(sorted(names))}) or pi, e; "
                    f"got {node.id!r}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise ExpressionError(f"+ - * / ** %, got {type(node.op).__name__}")
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ExpressionError(f"unary + or -, got {type(node.op).__name__}")
            visit(node.operand)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(
                    f"calls of {', '.join(sorted(FUNCTIONS))} only, got "
                    f"{ast.unparse(node.func)!r}")
            if node.keywords:
                raise ExpressionError("positional arguments only")
            for a in node.args:
                visit(a)
        else:
            raise ExpressionError(f"arithmetic only, got {type(node).__name__} "
                                  f"({ast.unparse(node)!r})")

    visit(tree)
    return tree


def evaluate_expression(tree: ast.Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate a checked tree on numpy columns ``values`` (name -> array)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return values[node.id] if node.id in values else np.float64(CONSTANTS[node.id])
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*[ev(a) for a in node.args])
        raise ExpressionError(type(node).__name__)  # pragma: no cover - checked before

    with np.errstate(all="ignore"):
        return ev(tree)
