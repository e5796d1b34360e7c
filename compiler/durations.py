"""Durations as users write them (``30s``, ``5m``, ``1h30m``, ``250ms``, ``2d``) -> seconds.

A bare number is seconds.  Kept separate because the config loader (``blocks``) parses the
seed's ``timeout: 60s`` with the same rules as workflows.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


class DurationError(ValueError):
    """A duration that does not parse; the message says what is accepted."""


def parse_duration(value: object) -> float:
    if isinstance(value, bool):
        raise DurationError(f"invalid duration {value!r}: use e.g. '30s', '5m', '1h'")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise DurationError(f"invalid duration {value!r}: use e.g. '30s', '5m', '1h'")
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _WHOLE.fullmatch(text):
        raise DurationError(f"invalid duration {value!r}: use a number with a unit: ms, s, m, h or d (e.g. '30s', '1h30m')")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    if seconds < 1 and seconds > 0:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
