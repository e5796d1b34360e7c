"""Tree-walking interpreter: (tree, context, status) -> value.

Job: evaluate a parsed expression against a context mapping (``workflow``,
``tasks``, ``item``, ``index``, ``env``, ``secrets`` ...) with GitHub Actions
semantics (see ``values``) plus our extensions:

- arithmetic ``+ - * / %`` and unary ``-`` on numbers only (booleans and null are
  errors, not 0/1). ``+`` concatenates when either side is a string (the other
  side is string-converted) and when both sides are arrays. int op int stays an
  int; ``/`` is true division that returns an int when both operands are ints
  and the quotient is whole. ``%`` truncates like C/JavaScript (the result takes
  the sign of the dividend). Division or modulo by zero is an error. Integers
  beyond 2**53 become floats, as every GitHub number is a double.
- ``cond ? a : b`` and ``a ?? b`` (``b`` only when ``a`` is null), both lazy.

``&&`` / ``||`` (one ``Logical`` node per run) return the deciding operand and
evaluate nothing after it, as GitHub does; ``case()`` is lazy the same way
(``FunctionSpec.lazy``: it gets thunks, not values).

Decisions:
- Access never fails: a missing key, an out-of-range index or access on null is
  null (GitHub). Keys match exactly first, then case-insensitively (GitHub's
  contexts are case-insensitive). An unknown *top-level* name is an error with a
  did-you-mean, because that is almost always a typo.
- ``.*`` yields a ``FilteredArray``; a property, index or ``.*`` applied to it
  maps over its elements (missing keys are skipped, nested arrays flattened one
  level), exactly like the runner's ``Index`` operator. It is returned as a plain
  list.
- Python's own exceptions never escape: RecursionError, OverflowError and the
  like are translated at this boundary.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from .errors import ExpressionError, ExpressionEvaluationError, ExpressionLimitError
from .functions import FUNCTIONS, lookup
from .nodes import Binary, Call, ContextRef, Filter, Index, Literal, Logical, Node, Property, Ternary, Unary
from .parser import parse, source_of
from .values import (
    MAX_RESULT_SIZE,
    FilteredArray,
    check_size,
    fold,
    greater_than,
    is_number,
    is_primitive,
    kind_of,
    less_than,
    loose_equal,
    to_number,
    to_string,
    truthy,
)

__all__ = ["STATUSES", "evaluate"]

STATUSES = ("success", "failure", "cancelled")
_EXACT_INT_LIMIT = 2**53


def evaluate(expression: str | Node, context: Mapping[str, Any], *, status: str = "success") -> Any:
    """Evaluate a bare expression (text or tree) against ``context``."""
    if status not in STATUSES:
        raise ExpressionEvaluationError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    if not isinstance(context, Mapping):
        raise ExpressionEvaluationError(f"context must be a mapping, got {type(context).__name__}")
    if isinstance(expression, Node):
        node = expression
        source: str | None = None  # looked up only if an error needs it
    else:
        node = parse(expression)
        source = expression
    state = _State(node, source, context, status)
    try:
        value = state.visit(node)
    except ExpressionError as exc:
        if not exc.expression:
            exc.expression = state.source
        raise
    except RecursionError as exc:
        raise ExpressionLimitError(
            "evaluation nested too deeply (Python recursion limit reached)", state.source, None
        ) from exc
    if isinstance(value, FilteredArray):
        value = list(value)
    return value


class _State:
    __slots__ = ("root", "_source", "context", "status")

    def __init__(self, root: Node, source: str | None, context: Mapping[str, Any], status: str) -> None:
        self.root = root
        self._source = source
        self.context = context
        self.status = status

    @property
    def source(self) -> str:
        if self._source is None:
            self._source = source_of(self.root)
        return self._source

    def fail(self, message: str, node: Node) -> ExpressionEvaluationError:
        return ExpressionEvaluationError(message, self.source, node.column)

    def visit(self, node: Node) -> Any:
        return _DISPATCH[type(node)](self, node)

    # -- leaves ----------------------------------------------------------------

    def literal(self, node: Literal) -> Any:
        return node.value

    def context_ref(self, node: ContextRef) -> Any:
        context = self.context
        name = node.name
        if name in context:
            return context[name]
        wanted = fold(name)
        for key in context:
            if isinstance(key, str) and fold(key) == wanted:
                return context[key]
        available = sorted(str(key) for key in context)
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        listing = ", ".join(available) if available else "(none)"
        raise self.fail(f"unknown context '{name}'; available: {listing}{hint}", node)

    # -- access ----------------------------------------------------------------

    def property(self, node: Property) -> Any:
        return _index(self.visit(node.target), node.name)

    def index(self, node: Index) -> Any:
        target = self.visit(node.target)
        key = self.visit(node.index)
        return _index(target, key)

    def filter(self, node: Filter) -> Any:
        target = self.visit(node.target)
        if isinstance(target, FilteredArray):
            flat = FilteredArray()
            for item in target:
                if isinstance(item, Mapping):
                    flat.extend(item.values())
                elif isinstance(item, list | tuple):
                    flat.extend(item)
            return check_size(flat, "filter result")
        if isinstance(target, Mapping):
            return FilteredArray(target.values())
        if isinstance(target, list | tuple):
            return FilteredArray(target)
        return FilteredArray()

    # -- operators -------------------------------------------------------------

    def unary(self, node: Unary) -> Any:
        value = self.visit(node.operand)
        if node.op == "!":
            return not truthy(value)
        if node.op != "-":  # only reachable for hand-built trees
            raise self.fail(f"unknown operator '{node.op}'", node)
        if not is_number(value):
            raise self.fail(f"operator '-' cannot be applied to {kind_of(value)}", node)
        return -value

    def binary(self, node: Binary) -> Any:
        op = node.op
        left = self.visit(node.left)
        if op == "??":
            return self.visit(node.right) if left is None else left
        right = self.visit(node.right)
        comparison = _COMPARISONS.get(op)
        if comparison is not None:
            return comparison(left, right)
        return self.arithmetic(node, op, left, right)

    def logical(self, node: Logical) -> Any:
        # && gives the first falsy term (|| the first truthy one), else the last term.
        visit = self.visit
        value = None
        if node.op == "&&":
            for term in node.terms:
                value = visit(term)
                if not truthy(value):
                    return value
            return value
        for term in node.terms:
            value = visit(term)
            if truthy(value):
                return value
        return value

    def arithmetic(self, node: Binary, op: str, left: Any, right: Any) -> Any:
        if op == "+":
            if isinstance(left, str) or isinstance(right, str):
                text_left, text_right = to_string(left), to_string(right)
                if len(text_left) + len(text_right) > MAX_RESULT_SIZE:
                    raise ExpressionLimitError(
                        f"string concatenation of {len(text_left) + len(text_right)} characters "
                        f"exceeds MAX_RESULT_SIZE={MAX_RESULT_SIZE}",
                        self.source,
                        node.column,
                    )
                return text_left + text_right
            if isinstance(left, list | tuple) and isinstance(right, list | tuple):
                if len(left) + len(right) > MAX_RESULT_SIZE:
                    raise ExpressionLimitError(
                        f"array concatenation of {len(left) + len(right)} items exceeds MAX_RESULT_SIZE={MAX_RESULT_SIZE}",
                        self.source,
                        node.column,
                    )
                return [*left, *right]
        if not (is_number(left) and is_number(right)):
            raise self.fail(
                f"operator '{op}' cannot be applied to {kind_of(left)} and {kind_of(right)}"
                + (" (use + with a string or two arrays to concatenate)" if op == "+" else ""),
                node,
            )
        operation = _ARITHMETIC.get(op)
        if operation is None:  # only reachable for hand-built trees
            raise self.fail(f"unknown operator '{op}'", node)
        try:
            result = operation(left, right)
        except ZeroDivisionError:
            raise self.fail(f"{'division' if op == '/' else 'modulo'} by zero", node) from None
        except (OverflowError, ValueError) as exc:
            raise self.fail(f"arithmetic error in '{op}': {exc}", node) from exc
        if isinstance(result, int) and abs(result) > _EXACT_INT_LIMIT:
            result = float(result)
        return result

    def ternary(self, node: Ternary) -> Any:
        return self.visit(node.then) if truthy(self.visit(node.condition)) else self.visit(node.otherwise)

    def call(self, node: Call) -> Any:
        # Parsed trees carry the canonical name, so the exact lookup nearly always hits.
        spec = FUNCTIONS.get(node.name) or lookup(node.name)
        if spec is None:  # only reachable for hand-built trees
            raise self.fail(f"unknown function '{node.name}'", node)
        if len(node.args) not in spec.counts:  # only reachable for hand-built trees
            raise self.fail(spec.arity_error(len(node.args)) or "wrong number of arguments", node)
        if spec.lazy:
            args = [partial(self.visit, arg) for arg in node.args]
        else:
            args = [self.visit(arg) for arg in node.args]
        try:
            return spec.impl(args, self.status)
        except ExpressionError as exc:
            if not exc.expression:
                exc.expression = self.source
                exc.column = node.column
            raise


def _index(target: Any, key: Any) -> Any:
    """``target[key]`` with GitHub's rules (see the module docstring)."""
    if isinstance(target, FilteredArray):
        result = FilteredArray()
        for item in target:
            if isinstance(item, Mapping):
                if is_primitive(key):
                    found, value = _lookup(item, to_string(key))
                    if found:
                        result.append(value)
            elif isinstance(item, list | tuple):
                position = _position(key)
                if position is not None and position < len(item):
                    result.append(item[position])
        return result
    if isinstance(target, Mapping):
        if not is_primitive(key):
            return None
        return _lookup(target, to_string(key))[1]
    if isinstance(target, list | tuple):
        position = _position(key)
        if position is not None and position < len(target):
            return target[position]
    return None


def _lookup(mapping: Mapping[Any, Any], key: str) -> tuple[bool, Any]:
    if key in mapping:
        return True, mapping[key]
    wanted = fold(key)
    for candidate in mapping:
        if isinstance(candidate, str) and fold(candidate) == wanted:
            return True, mapping[candidate]
    return False, None


def _position(key: Any) -> int | None:
    # GitHub converts the index to a number and floors it; negative/NaN index nothing.
    number = to_number(key) if is_primitive(key) else math.nan
    if number != number or number < 0 or number == math.inf:
        return None
    return int(number)


def _divide(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise ZeroDivisionError
        quotient, remainder = divmod(left, right)
        if remainder == 0:
            return quotient
    if right == 0:
        raise ZeroDivisionError
    return left / right


def _modulo(left: Any, right: Any) -> Any:
    if right == 0:
        raise ZeroDivisionError
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    if math.isinf(left) or left != left or right != right:
        return math.nan
    return math.fmod(left, right)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "%": _modulo,
}

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": loose_equal,
    "!=": lambda a, b: not loose_equal(a, b),
    "<": less_than,
    ">": greater_than,
    "<=": lambda a, b: loose_equal(a, b) or less_than(a, b),
    ">=": lambda a, b: loose_equal(a, b) or greater_than(a, b),
}

_DISPATCH: dict[type, Callable[[_State, Any], Any]] = {
    Literal: _State.literal,
    ContextRef: _State.context_ref,
    Property: _State.property,
    Index: _State.index,
    Filter: _State.filter,
    Unary: _State.unary,
    Binary: _State.binary,
    Logical: _State.logical,
    Ternary: _State.ternary,
    Call: _State.call,
}
