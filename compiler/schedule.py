"""Static checks of ``spec.schedule``: cron syntax and IANA time zones.

Cron strings are checked here, without Prefect, against the same grammar Prefect's scheduler
accepts (five fields, optional sixth for seconds is not accepted; names for months and days;
``*``, lists, ranges, steps; the ``@daily``-style macros).  A test keeps this in step with
Prefect's own validator.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def cron_problem(expression: str) -> str | None:
    """None when ``expression`` is a valid cron string, else what is wrong with it."""
    text = expression.strip().lower()
    if text in MACROS:
        return None
    parts = text.split()
    if len(parts) != 5:
        return f"a cron string has 5 fields (minute hour day-of-month month day-of-week), found {len(parts)}"
    for value, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        for item in value.split(","):
            match = _ITEM.match(item)
            if not match:
                return f"invalid {name} field '{value}'"
            span, step = match.groups()
            if step is not None and int(step) == 0:
                return f"step of 0 in {name} field '{value}'"
            if span == "*":
                continue
            bounds = span.split("-")
            numbers = []
            for bound in bounds:
                number = names.get(bound) if bound in names else (int(bound) if bound.isdigit() else None)
                if number is None or not low <= number <= high:
                    return f"'{bound}' is out of range for the {name} field ({low}-{high})"
                numbers.append(number)
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                return f"range '{span}' in the {name} field runs backwards"
    return None


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}' (use an IANA name such as 'UTC' or 'Europe/Paris')"
    return None
