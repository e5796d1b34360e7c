"""Value model: kinds, truthiness, coercion, comparison and string/JSON conversion.

Job: the GitHub Actions value rules in one place, shared by the interpreter and
the functions. Python values map to the six GitHub kinds: ``None`` -> null,
``bool`` -> boolean, ``int``/``float`` -> number, ``str`` -> string,
``list``/``tuple`` -> array, ``Mapping`` -> object (anything else is treated as
an opaque object: truthy, equal only to itself, no properties).

Decision: follow actions/runner's ``EvaluationResult`` exactly -- JavaScript-like
abstract equality where strings compare OrdinalIgnoreCase (``fold``: simple
upper case per character, ``ı`` and ``ſ`` excluded; ordered by UTF-16 unit),
mixed primitives are converted to numbers (null -> 0, true -> 1, strings parsed
like ``Number()``), arrays/objects compare by identity and NaN compares false with
everything.
``<=``/``>=`` are ``==`` or ``<``/``>`` as in the runner. Numbers convert to text
as GitHub prints them (``number_to_string``: 15 significant digits, ``1E+21``),
and arrays/objects convert to compact JSON (GitHub prints "Array"/"Object",
which is useless in a prompt; a deliberate difference listed in README).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import ExpressionLimitError

__all__ = [
    "MAX_RESULT_SIZE",
    "FilteredArray",
    "fold",
    "greater_than",
    "is_array",
    "is_number",
    "is_object",
    "is_primitive",
    "kind_of",
    "less_than",
    "loose_equal",
    "number_to_string",
    "parse_number",
    "to_json",
    "to_number",
    "to_string",
    "truthy",
]

MAX_RESULT_SIZE = 1_000_000
"""Largest string (characters), array (items) or JSON text an expression may build."""

MAX_VALUE_DEPTH = 200
"""Deepest array/object nesting converted to JSON (guards against cycles and RecursionError)."""

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_OCTAL = re.compile(r"0o[0-7]+\Z")
_EXACT_INT_LIMIT = 2**53
_G15_INT = 10**15


class FilteredArray(list[Any]):
    """The result of ``.*``: further ``.name`` / ``[i]`` / ``.*`` map over its elements."""

    __slots__ = ()


def kind_of(value: Any) -> str:
    """GitHub kind name of ``value`` (used in error messages too)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def is_array(value: Any) -> bool:
    return isinstance(value, list | tuple)


def is_object(value: Any) -> bool:
    return isinstance(value, Mapping)


def truthy(value: Any) -> bool:
    """false, 0, -0, NaN, '' and null are falsy; everything else (even [] and {}) is truthy."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def parse_number(text: str) -> float:
    """A string as a number, like the runner's ``ParseNumber`` (JavaScript ``Number()``)."""
    text = text.strip()
    if not text:
        return 0.0
    if _DECIMAL.match(text):
        return float(text)  # overflow gives inf, as .NET Core does
    if _HEX.match(text):
        return float(_int32(int(text[2:], 16)))
    if _OCTAL.match(text):
        return float(_int32(int(text[2:], 8)))
    if text == "Infinity" or text == "+Infinity":
        return math.inf
    if text == "-Infinity":
        return -math.inf
    return math.nan


def _int32(value: int) -> float:
    # The runner parses 0x/0o into a 32-bit signed integer; larger values do not parse.
    if value > 0xFFFFFFFF:
        return math.nan
    return value - 2**32 if value >= 2**31 else value


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return parse_number(value)
    return math.nan


def number_to_string(value: int | float) -> str:
    """A number as GitHub prints it: .NET ``ToString("G15")``, with -0 as "0".

    At most 15 significant digits (rounded, trailing zeros dropped); fixed-point
    when the decimal exponent is between -5 and 15 (exclusive), otherwise
    ``1.5E+21`` / ``1E-05`` style: upper-case ``E``, a sign, at least two digits.
    Python's ``format(x, ".15g")`` has the same rounding and thresholds.
    """
    if isinstance(value, int):
        if -_G15_INT < value < _G15_INT:  # at most 15 digits: printed exactly
            return str(value)
        value = _int_to_float(value)
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    if value == 0:
        return "0"  # also -0, as GitHub's evaluators print it
    text = format(value, ".15g")
    return text.replace("e", "E") if "e" in text else text


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def to_string(value: Any) -> str:
    """String conversion used by render, format, join, contains, ``+``."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return number_to_string(value)
    if isinstance(value, Mapping | list | tuple):
        return to_json(value, indent=None)
    return _opaque_text(value)


def _opaque_text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # an opaque object whose __str__ fails must not escape
        return f"<{type(value).__name__}>"


def fold(text: str) -> str:
    """Case folding of .NET ``OrdinalIgnoreCase``, GitHub's string comparison.

    Each character maps to its simple (one-character) upper case, culture-free:
    ``ß`` stays ``ß`` (its upper case "SS" is two characters), ``İ`` stays ``İ``,
    and the dotless ``ı`` and long ``ſ`` stay themselves, which .NET's ordinal
    casing table deliberately excludes (so ``ı`` never equals ``I``).
    """
    if text.isascii():
        return text.upper()
    return text.translate(_ORDINAL_UPPER)


class _OrdinalUpperTable(dict[int, int]):
    """``str.translate`` table filled on first use of each code point."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        upper = char.upper()
        if len(upper) != 1:
            # Only letters with a multi-character full upper case get here; their
            # simple upper case, if any, is their one-character title case (ᾳ -> ᾼ).
            title = char.title()
            upper = title if len(title) == 1 else char
        self[code] = ord(upper)
        return self[code]


_ORDINAL_UPPER = _OrdinalUpperTable({0x131: 0x131, 0x17F: 0x17F})  # ı, ſ: kept, as in .NET
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _compare_ordinal(left: str, right: str) -> int:
    """-1, 0 or 1 in .NET's OrdinalIgnoreCase order: folded, by UTF-16 code unit."""
    left, right = fold(left), fold(right)
    if not (left.isascii() and right.isascii()) and (_ASTRAL.search(left) or _ASTRAL.search(right)):
        # A surrogate pair (D800-DFFF) sorts before U+E000-U+FFFF in UTF-16.
        units_left = left.encode("utf-16-be", "surrogatepass")
        units_right = right.encode("utf-16-be", "surrogatepass")
        return (units_left > units_right) - (units_left < units_right)
    return (left > right) - (left < right)


def _coerce(left: Any, right: Any) -> tuple[Any, str, Any, str]:
    left_kind, right_kind = kind_of(left), kind_of(right)
    while left_kind != right_kind:
        if left_kind == "number" and right_kind == "string":
            right, right_kind = to_number(right), "number"
        elif left_kind == "string" and right_kind == "number":
            left, left_kind = to_number(left), "number"
        elif left_kind in ("boolean", "null"):
            left, left_kind = to_number(left), "number"
        elif right_kind in ("boolean", "null"):
            right, right_kind = to_number(right), "number"
        else:
            break
    return left, left_kind, right, right_kind


def loose_equal(left: Any, right: Any) -> bool:
    left, left_kind, right, right_kind = _coerce(left, right)
    if left_kind != right_kind:
        return False
    if left_kind == "null":
        return True
    if left_kind == "number":
        return bool(left == right)  # NaN == NaN is already False
    if left_kind == "string":
        return left == right or fold(left) == fold(right)
    if left_kind == "boolean":
        return bool(left == right)
    return left is right


def greater_than(left: Any, right: Any) -> bool:
    left, left_kind, right, right_kind = _coerce(left, right)
    if left_kind != right_kind:
        return False
    if left_kind == "number":
        return bool(left > right)
    if left_kind == "string":
        return _compare_ordinal(left, right) > 0
    if left_kind == "boolean":
        return bool(left and not right)
    return False


def less_than(left: Any, right: Any) -> bool:
    left, left_kind, right, right_kind = _coerce(left, right)
    if left_kind != right_kind:
        return False
    if left_kind == "number":
        return bool(left < right)
    if left_kind == "string":
        return _compare_ordinal(left, right) < 0
    if left_kind == "boolean":
        return bool(not left and right)
    return False


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON text: pretty with 2-space indent (``toJSON``) or compact (embedded render)."""
    plain = _jsonable(value, 0)
    try:
        if indent is None:
            text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        else:
            text = json.dumps(plain, ensure_ascii=False, indent=indent, allow_nan=True)
    except (RecursionError, ValueError, OverflowError) as exc:  # pragma: no cover - guarded by _jsonable
        raise ExpressionLimitError(f"value cannot be converted to JSON: {exc}") from exc
    check_size(text, "JSON text")
    return text


def _jsonable(value: Any, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise ExpressionLimitError(
            f"value is nested deeper than {MAX_VALUE_DEPTH} levels; cannot convert to JSON"
        )
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**16 else _int_to_float(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e16 else value
    if isinstance(value, Mapping):
        return {_key(key): _jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if len(value) > MAX_RESULT_SIZE:
            raise ExpressionLimitError(
                f"array of {len(value)} items exceeds MAX_RESULT_SIZE={MAX_RESULT_SIZE}"
            )
        return [_jsonable(item, depth + 1) for item in value]
    return _opaque_text(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else to_string(key) if is_primitive(key) else str(key)


def check_size(value: Any, what: str) -> Any:
    """Raise ExpressionLimitError when a built string/array exceeds MAX_RESULT_SIZE."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_RESULT_SIZE:
        unit = "characters" if isinstance(value, str) else "items"
        raise ExpressionLimitError(f"{what} of {len(value)} {unit} exceeds MAX_RESULT_SIZE={MAX_RESULT_SIZE}")
    return value
