"""JSON as RFC 8259 defines it, for the JSON metrics; and which JSON Schema ``format``s are enforced.

Python's ``json.loads`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` (JavaScript literals, not
JSON) and turns ``1e400`` into ``inf``.  A metric that asks "is this valid JSON?" must refuse all
four: the next parser in a pipeline (JavaScript's ``JSON.parse``, Go, Rust's serde) rejects them,
and ``NaN`` compares false with everything, so it slips through ``{"type": "number", "minimum": 0}``.
``parse_strict`` parses with placeholders for them, then reports the first one by its JSON Pointer,
so the explanation says where (``/scores/2``), not only that.  ``first_non_finite`` applies the
same rule to values that arrive already parsed (a workflow output that is a Python float).

Formats: JSON Schema makes ``format`` an annotation unless a validator opts in.  We opt in for the
formats that can be checked with the standard library alone, so a result never depends on which
optional packages happen to be installed (jsonschema enforces ``date-time`` only when
``rfc3339-validator`` is importable, ``uri`` only with ``rfc3987``...).  ``ENFORCED_FORMATS``
lists them; every other format is a label, and ``unchecked_formats`` names those a schema uses so
the metric's explanation can say so.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import jsonschema

__all__ = [
    "ENFORCED_FORMATS",
    "FORMAT_CHECKER",
    "NotStrictJson",
    "first_non_finite",
    "parse_strict",
    "unchecked_formats",
]

NON_JSON_NUMBERS = "RFC 8259 JSON numbers are finite: NaN, Infinity and -Infinity are not JSON"


class NotStrictJson(ValueError):
    """The text parses as Python's JSON but is not RFC 8259 JSON (a non-finite number)."""


@dataclass(frozen=True, slots=True)
class _Placeholder:
    text: str  # the token as written: NaN, Infinity, -Infinity or an overflowing number


def _constant(text: str) -> _Placeholder:
    return _Placeholder(text)


def _number(text: str) -> float | _Placeholder:
    value = float(text)
    return _Placeholder(text) if math.isinf(value) else value


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _walk(value: Any) -> Iterator[tuple[list[str | int], Any]]:
    # Iterative: a deeply nested document must not exhaust the Python stack here.
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        if isinstance(item, dict):
            stack.extend(([*path, k], v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend(([*path, i], v) for i, v in reversed(list(enumerate(item))))


def first_non_finite(value: Any) -> tuple[str, str] | None:
    """(JSON Pointer, token) of the first non-finite number in ``value``, or None."""
    for path, item in _walk(value):
        if isinstance(item, _Placeholder):
            return _pointer(path), item.text
        if isinstance(item, float) and not math.isfinite(item):
            return _pointer(path), "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
    return None


def describe_non_finite(where: str, token: str) -> str:
    place = f"at {where}" if where else "at the top level"
    if token in ("NaN", "Infinity", "-Infinity"):
        return f"{token} {place} is not JSON ({NON_JSON_NUMBERS})"
    return f"number {token} {place} overflows a 64-bit float to infinity ({NON_JSON_NUMBERS})"


def parse_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, -Infinity and overflowing numbers (``NotStrictJson``).

    Syntax errors raise ``json.JSONDecodeError`` as usual.
    """
    value = json.loads(text, parse_constant=_constant, parse_float=_number)
    found = first_non_finite(value)
    if found is not None:
        raise NotStrictJson(describe_non_finite(*found))
    return value


# -- formats ---------------------------------------------------------------------------------

# jsonschema's own checkers for these use only the standard library (ipaddress, uuid, re, datetime).
_STDLIB_FORMATS = ("date", "email", "idn-email", "ipv4", "ipv6", "uuid", "regex")
_TIME = r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))"
_DATE_TIME = re.compile(rf"(\d{{4}})-(\d{{2}})-(\d{{2}})[Tt]{_TIME}")
_FULL_TIME = re.compile(_TIME)


def _time_ok(hour: str, minute: str, second: str, off_hour: str | None, off_minute: str | None) -> bool:
    # RFC 3339 5.6/5.7: a leap second (60) is allowed; offsets are at most 23:59.
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return False
    return off_hour is None or (int(off_hour) <= 23 and int(off_minute or 0) <= 59)


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True  # formats constrain strings only
    match = _DATE_TIME.fullmatch(instance)
    if match is None:
        return False
    year, month, day, *clock = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return _time_ok(*clock)


def _is_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _FULL_TIME.fullmatch(instance)
    return match is not None and _time_ok(*match.groups())


def _build_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=_STDLIB_FORMATS)
    checker.checks("date-time")(_is_date_time)
    checker.checks("time")(_is_time)
    return checker


FORMAT_CHECKER = _build_checker()
ENFORCED_FORMATS: tuple[str, ...] = tuple(sorted(FORMAT_CHECKER.checkers))


def unchecked_formats(schema: Any) -> list[str]:
    """The ``format`` values a schema uses that are labels here (not in ``ENFORCED_FORMATS``)."""
    found: dict[str, None] = {}
    for path, item in _walk(schema):
        if isinstance(item, dict):
            value = item.get("format")
            # `properties: {format: {...}}` names a property, it is not the keyword.
            if isinstance(value, str) and value not in FORMAT_CHECKER.checkers and (not path or path[-1] != "properties"):
                found[value] = None
    return list(found)
