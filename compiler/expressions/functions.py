"""The function whitelist: names, arities and implementations.

Job: every callable name an expression may use, with its arity, in one registry
(``FUNCTIONS``). The parser rejects unknown names and wrong argument counts at
parse time -- so the compiler reports them before anything runs -- and the
interpreter calls ``impl(args, status)`` with already-evaluated arguments.

GitHub functions (GitHub semantics): ``case contains startsWith endsWith format
join toJSON fromJSON success failure cancelled always``; names are matched
case-insensitively, as GitHub does.
- ``case(pred1, value1, pred2, value2, ..., default)`` takes an odd number of
  arguments (3 to 255) and returns the value after the first predicate that is
  ``true``, else the default. Each predicate must be a boolean (``'yes'`` or
  ``1`` is an error, not truthy). Like the runner's ``Case`` and like ``&&``, it is
  lazy: arguments after the deciding one are never evaluated, so
  ``case(true, 'x', fromJSON('bad'))`` is ``'x'``.
- ``format`` and ``join`` convert values to text as everything else here does
  (``values.to_string``), so an array or object argument becomes compact JSON
  (``format('{0}', x)`` gives the same text as embedding ``${{ x }}``). This is a
  deliberate difference: GitHub writes the words ``Array`` / ``Object``, which
  carry nothing into a prompt.

Our extensions: ``len lower upper trim round min max sum``.
- ``len(x)``: characters of a string, items of an array, keys of an object.
- ``lower/upper/trim(x)``: on the string conversion of a primitive.
- ``round(x, digits=0)``: half away from zero on the decimal text of ``x``
  (``round(2.675, 2) == 2.68``); an int when ``digits <= 0``.
- ``min(...)``/``max(...)``: numbers as arguments, or one array of numbers; NaN
  wins (as in JavaScript); an empty list is an error.
- ``sum(array)``: numbers only; ``sum([]) == 0``.
Booleans and null are never silently numbers in the extensions.

Decision: implementations raise ``ExpressionEvaluationError`` /
``ExpressionLimitError`` without position; the interpreter adds the call's
expression and column. A ``lazy`` function receives its arguments as
zero-argument callables and evaluates only those it needs. ``arity_error`` is the
one arity rule, used by the parser (and by the interpreter for hand-built trees).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import ExpressionEvaluationError, ExpressionLimitError
from .values import (
    MAX_RESULT_SIZE,
    check_size,
    fold,
    is_array,
    is_number,
    is_primitive,
    kind_of,
    loose_equal,
    to_json,
    to_string,
)

__all__ = ["FUNCTIONS", "FunctionSpec", "lookup"]

Impl = Callable[[list[Any], str], Any]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: any number
    impl: Impl
    summary: str
    lazy: bool = False  # impl gets thunks (callables) instead of values
    odd_args: bool = False  # case(): predicate/value pairs plus a default
    counts: range = field(init=False)  # the accepted argument counts, for a fast membership test

    def __post_init__(self) -> None:
        stop = (self.max_args if self.max_args is not None else sys.maxsize - 1) + 1
        object.__setattr__(self, "counts", range(self.min_args, stop, 2 if self.odd_args else 1))

    def arity_error(self, count: int) -> str | None:
        """Why ``count`` arguments are wrong for this function, or None."""
        if count in self.counts:
            return None
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            return f"function {self.name}() takes {self.arity_text()}, got {count}"
        if self.odd_args and count % 2 == 0:
            return (
                f"function {self.name}() takes an odd number of arguments "
                f"(predicate, value pairs, then a default), got {count}"
            )
        return None

    def arity_text(self) -> str:
        if self.max_args == self.min_args:
            count = self.min_args
            return f"{count} argument{'s' if count != 1 else ''}"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


def _fail(message: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(message)


def _check_running_size(size: int, what: str) -> None:
    # Stop building early instead of materialising a huge string first.
    if size > MAX_RESULT_SIZE:
        raise ExpressionLimitError(
            f"{what} of more than {MAX_RESULT_SIZE} characters exceeds MAX_RESULT_SIZE"
        )


# --- GitHub functions -------------------------------------------------------


def _case(args: list[Any], status: str) -> Any:
    # args are thunks (lazy spec): evaluate predicates in order, then only the chosen value.
    last = len(args) - 1
    for position in range(0, last, 2):
        predicate = args[position]()
        if not isinstance(predicate, bool):
            raise _fail(
                f"case() predicate {position // 2 + 1} must evaluate to a boolean value, got {kind_of(predicate)}"
            )
        if predicate:
            return args[position + 1]()
    return args[last]()


def _contains(args: list[Any], status: str) -> bool:
    search, item = args
    if is_primitive(search):
        if not is_primitive(item):
            return False
        return fold(to_string(item)) in fold(to_string(search))
    if is_array(search):
        return any(loose_equal(element, item) for element in search)
    return False


def _starts_with(args: list[Any], status: str) -> bool:
    text, prefix = args
    if not (is_primitive(text) and is_primitive(prefix)):
        return False
    return fold(to_string(text)).startswith(fold(to_string(prefix)))


def _ends_with(args: list[Any], status: str) -> bool:
    text, suffix = args
    if not (is_primitive(text) and is_primitive(suffix)):
        return False
    return fold(to_string(text)).endswith(fold(to_string(suffix)))


def _format(args: list[Any], status: str) -> str:
    fmt = to_string(args[0])
    values = args[1:]
    out: list[str] = []
    size = 0
    index = 0
    length = len(fmt)
    while index < length:
        left = fmt.find("{", index)
        right = fmt.find("}", index)
        if left >= 0 and (right < 0 or left < right):
            if fmt.startswith("{{", left):
                out.append(fmt[index : left + 1])
                index = left + 2
                continue
            close = right
            digits = fmt[left + 1 : close] if close > left else ""
            if not digits.isdigit() or not digits.isascii() or int(digits) > 255:
                if close > left and ":" in digits:
                    raise _fail(f"format specifiers are not supported in {fmt!r}")
                raise _fail(
                    f"invalid format string {fmt!r}: '{{' must start '{{0}}'-style placeholder or be doubled"
                )
            position = int(digits)
            if position >= len(values):
                given = len(values)
                raise _fail(
                    f"format string {fmt!r} references argument {{{position}}} but only {given} "
                    f"argument{'s were' if given != 1 else ' was'} given"
                )
            out.append(fmt[index:left])
            piece = to_string(values[position])
            out.append(piece)
            size += len(piece) + left - index
            _check_running_size(size, "format() result")
            index = close + 1
        elif right >= 0:
            if fmt.startswith("}}", right):
                out.append(fmt[index : right + 1])
                index = right + 2
                continue
            raise _fail(f"invalid format string {fmt!r}: unbalanced '}}' (write '}}}}' for a literal brace)")
        else:
            out.append(fmt[index:])
            break
    return check_size("".join(out), "format() result")


def _join(args: list[Any], status: str) -> str:
    items = args[0]
    if is_array(items):
        separator = ","
        if len(args) > 1 and is_primitive(args[1]):
            separator = to_string(args[1])
        parts = []
        size = 0
        for item in items:
            text = to_string(item)
            size += len(text) + len(separator)
            _check_running_size(size - len(separator), "join() result")
            parts.append(text)
        return check_size(separator.join(parts), "join() result")
    if is_primitive(items):
        return to_string(items)
    return ""


def _to_json(args: list[Any], status: str) -> str:
    return to_json(args[0], indent=2)


def _from_json(args: list[Any], status: str) -> Any:
    value = args[0]
    if not is_primitive(value):
        raise _fail(f"fromJSON() expects a string, got {kind_of(value)}")
    text = to_string(value)
    if not text.strip():
        raise _fail("fromJSON() got an empty string, which is not JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        excerpt = text if len(text) <= 60 else text[:57] + "..."
        raise _fail(
            f"fromJSON() got invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): {excerpt!r}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise _fail(f"fromJSON() could not parse the JSON: {exc}") from exc


def _success(args: list[Any], status: str) -> bool:
    return status == "success"


def _failure(args: list[Any], status: str) -> bool:
    return status == "failure"


def _cancelled(args: list[Any], status: str) -> bool:
    return status == "cancelled"


def _always(args: list[Any], status: str) -> bool:
    return True


# --- extensions ---------------------------------------------------------------


def _len(args: list[Any], status: str) -> int:
    value = args[0]
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _fail(f"len() expects a string, array or object, got {kind_of(value)}")


def _text_arg(name: str, value: Any) -> str:
    if not is_primitive(value):
        raise _fail(f"{name}() expects a string, got {kind_of(value)}")
    return to_string(value)


def _lower(args: list[Any], status: str) -> str:
    return _text_arg("lower", args[0]).lower()


def _upper(args: list[Any], status: str) -> str:
    return check_size(_text_arg("upper", args[0]).upper(), "upper() result")


def _trim(args: list[Any], status: str) -> str:
    return _text_arg("trim", args[0]).strip()


def _round(args: list[Any], status: str) -> int | float:
    value = args[0]
    if not is_number(value):
        raise _fail(f"round() expects a number, got {kind_of(value)}")
    digits_value = args[1] if len(args) > 1 else 0
    if not is_number(digits_value) or digits_value != digits_value or digits_value != int(digits_value):
        raise _fail(f"round() digits must be a whole number, got {to_string(digits_value) or 'null'}")
    digits = int(digits_value)
    if not -308 <= digits <= 308:
        raise _fail(f"round() digits must be between -308 and 308, got {digits}")
    if isinstance(value, float) and not math.isfinite(value):
        return value
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise _fail(f"round() cannot round {to_string(value)} to {digits} digits") from exc
    if digits <= 0:
        return int(rounded)
    return float(rounded)


def _numbers(name: str, args: list[Any]) -> list[Any]:
    values = list(args[0]) if len(args) == 1 and is_array(args[0]) else args
    if not values:
        raise _fail(f"{name}() of an empty array")
    for value in values:
        if not is_number(value):
            raise _fail(f"{name}() expects numbers, got {kind_of(value)}")
    return values


def _min(args: list[Any], status: str) -> Any:
    values = _numbers("min", args)
    if any(value != value for value in values):
        return math.nan
    return min(values)


def _max(args: list[Any], status: str) -> Any:
    values = _numbers("max", args)
    if any(value != value for value in values):
        return math.nan
    return max(values)


def _sum(args: list[Any], status: str) -> Any:
    values = args[0]
    if not is_array(values):
        raise _fail(f"sum() expects an array of numbers, got {kind_of(values)}")
    total: Any = 0
    for value in values:
        if not is_number(value):
            raise _fail(f"sum() expects numbers, got {kind_of(value)}")
        total = total + value
        if isinstance(total, int) and abs(total) > 2**53:
            total = float(total)
    return total


def _spec(name: str, min_args: int, max_args: int | None, impl: Impl, summary: str, **flags: bool) -> FunctionSpec:
    return FunctionSpec(name, min_args, max_args, impl, summary, **flags)


FUNCTIONS: Mapping[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        _spec("case", 3, 255, _case, "value after the first true predicate, else the default",
              lazy=True, odd_args=True),
        _spec("contains", 2, 2, _contains, "substring (case-insensitive) or array membership"),
        _spec("startsWith", 2, 2, _starts_with, "case-insensitive prefix test"),
        _spec("endsWith", 2, 2, _ends_with, "case-insensitive suffix test"),
        _spec("format", 1, 255, _format, "replace {0}, {1}, ... with the arguments (arrays/objects as JSON)"),
        _spec("join", 1, 2, _join, "join array items with a separator (default ','; arrays/objects as JSON)"),
        _spec("toJSON", 1, 1, _to_json, "pretty-printed JSON"),
        _spec("fromJSON", 1, 1, _from_json, "parse JSON text"),
        _spec("success", 0, 0, _success, "workflow status is success"),
        _spec("failure", 0, 0, _failure, "workflow status is failure"),
        _spec("cancelled", 0, 0, _cancelled, "workflow status is cancelled"),
        _spec("always", 0, 0, _always, "always true"),
        _spec("len", 1, 1, _len, "length of a string, array or object"),
        _spec("lower", 1, 1, _lower, "lower-case string"),
        _spec("upper", 1, 1, _upper, "upper-case string"),
        _spec("trim", 1, 1, _trim, "strip surrounding whitespace"),
        _spec("round", 1, 2, _round, "round half away from zero"),
        _spec("min", 1, None, _min, "smallest number"),
        _spec("max", 1, None, _max, "largest number"),
        _spec("sum", 1, 1, _sum, "sum of an array of numbers"),
    )
}

_BY_LOWER = {name.lower(): spec for name, spec in FUNCTIONS.items()}


def lookup(name: str) -> FunctionSpec | None:
    """The function called ``name``, matched case-insensitively like GitHub."""
    return _BY_LOWER.get(name.lower())
