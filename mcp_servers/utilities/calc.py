"""``calculate``: a safe arithmetic evaluator built on ``ast`` (no ``eval``).

Only numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses, the constants ``pi``/``e`` and a
short list of functions are accepted; everything else (names, attributes, strings, comparisons,
lambdas, subscripts…) is refused before anything runs. Sizes are bounded so that no expression can
exhaust CPU or memory: expression length, node count, exponent size and integer magnitude.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

MAX_EXPRESSION_LENGTH = 500
MAX_NODES = 300
MAX_EXPONENT = 10_000
MAX_INT_DIGITS = 1_000  # results beyond 10**1000 are refused (ints) or overflow (floats)
MAX_ROUND_DIGITS = 15
MAX_ARGS = 100

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _round(value: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise ToolError(
            f"round(x, n): n must be an integer between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}"
        )
    return round(value, ndigits)


def _log(value: Number, base: Number | None = None) -> float:
    return math.log(value) if base is None else math.log(value, base)


# name -> (function, min args, max args)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "log": (_log, 1, 2),
    "exp": (math.exp, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (min, 1, MAX_ARGS),
    "max": (max, 1, MAX_ARGS),
}


def _check_size(value: Number) -> Number:
    if isinstance(value, complex):
        raise ToolError("the result is a complex number (e.g. a fractional power of a negative number)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_DIGITS * 3.33:
        raise ToolError(f"the result is too large (more than about {MAX_INT_DIGITS} digits)")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponent {exponent} is too large (at most {MAX_EXPONENT} in absolute value)")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # Estimate the result's digits before computing it: 9**9999 is fine, (10**900)**50 is not.
        if exponent * math.log10(abs(base)) > MAX_INT_DIGITS:
            raise ToolError(f"the result is too large (more than about {MAX_INT_DIGITS} digits)")
    return base**exponent


class _Evaluator:
    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST) -> Number:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ToolError(f"the expression is too complex (more than {MAX_NODES} parts)")
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ToolError(f"only numbers are allowed, not {node.value!r}")
            return _check_size(node.value)
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise ToolError(f"operator {type(node.op).__name__} is not allowed (use + - * / // % **)")
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.op, ast.Pow):
                return _check_size(_power(left, right))
            return _check_size(op(left, right))
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise ToolError(f"operator {type(node.op).__name__} is not allowed")
            return unary(self.eval(node.operand))
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise ToolError(f"unknown name {node.id!r} (constants: {', '.join(sorted(_CONSTANTS))})")
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ToolError(f"{type(node).__name__} is not allowed in an arithmetic expression")

    def _call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ToolError(f"unknown function {shown!r} (allowed: {', '.join(sorted(_FUNCTIONS))})")
        if node.keywords:
            raise ToolError(f"{node.func.id}() takes no keyword arguments")
        fn, low, high = _FUNCTIONS[node.func.id]
        if not low <= len(node.args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise ToolError(f"{node.func.id}() takes {expected} argument(s), got {len(node.args)}")
        args = [self.eval(arg) for arg in node.args]
        return _check_size(fn(*args))


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression; raises ``ToolError`` with a readable message."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError(f"the expression is too long (at most {MAX_EXPRESSION_LENGTH} characters)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"invalid expression: {exc.msg} (at column {exc.offset})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ToolError("invalid expression: too deeply nested or malformed") from None
    try:
        return _Evaluator().eval(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    except RecursionError:
        raise ToolError("the expression is too deeply nested") from None
    except (ValueError, TypeError) as exc:
        raise ToolError(f"math error: {exc}") from None


class CalculationResult(BaseModel):
    expression: str
    result: int | float = Field(description="The value (an integer when the arithmetic is exact)")


def calculate(
    expression: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_EXPRESSION_LENGTH,
            description=(
                "Arithmetic expression: numbers, + - * / // % ** (power), unary minus, parentheses, "
                "constants pi and e, functions sqrt sin cos tan log exp abs round min max. "
                "Example: 2*(3+4) or sqrt(2)**2 or log(8, 2)"
            ),
        ),
    ],
) -> CalculationResult:
    """Evaluate an arithmetic expression safely (no code execution) and return its value."""
    return CalculationResult(expression=expression, result=evaluate(expression))
