"""Base model for every ecosystem contract, and the bounds every request field lives within.

Wire contracts are snake_case JSON, as the seed's structs are; the workflow language's camelCase
lives in ``compiler`` and never reaches this layer.

Bounds are declared once, here, as constrained types the request models use, so the same limits
appear in each service's OpenAPI document, refuse bad input with a 422 before a handler runs, and
hold for the embedded implementations too (``validated`` / ``revalidated`` at their boundary,
raising ``InvalidRequest``).  Each limit is what the store can hold, with room to spare:

* money is stored as int64 nano-dollars (at most ~9.2e9 USD) and amounts are summed per budget
  window in SQL, so one amount is at most ``MAX_USD`` (a million dollars; ~9,000 such records fit
  in one window's sum) and a budget limit at most ``MAX_LIMIT_USD``;
* token counts are PostgreSQL ``INTEGER`` columns (2**31 - 1);
* identifiers are ``VARCHAR(200)`` columns, and PostgreSQL text cannot hold NUL characters;
* free text, lists and mappings are bounded so one request cannot ask for unbounded work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ecosystem.errors import InvalidRequest


class StrictModel(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_USD = 1_000_000.0
MAX_LIMIT_USD = 1_000_000_000.0
MAX_TOKENS = 2**31 - 1
MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 2_000_000  # a prompt or response: ~500k tokens, above today's context windows
MAX_NOTE_CHARS = 10_000  # short free text that is stored (an approval's comment)
MAX_ITEMS = 1_000  # lists of names, messages, stop sequences
MAX_KEYS = 1_000  # keys of a mapping (metadata, options, inputs)
MAX_BATCH = 10_000  # metrics in one submission, evaluations in one report
MAX_DEPTH = 64  # nesting of free-form JSON values

NO_NUL = r"^[^\x00]*$"

Usd = Annotated[float, Field(ge=0, le=MAX_USD, allow_inf_nan=False)]
"""An amount of money in USD: a cost, a reservation, an estimate."""
UsdLimit = Annotated[float, Field(gt=0, le=MAX_LIMIT_USD, allow_inf_nan=False)]
"""A budget limit in USD (positive)."""
Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Identifier = Annotated[str, Field(max_length=MAX_ID_CHARS, pattern=NO_NUL)]
"""A name or id that is stored: workflow, run, task, organisation, model, executor, policy."""
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
"""A prompt, a response or other text that is processed but not stored as such."""
Note = Annotated[str, Field(max_length=MAX_NOTE_CHARS, pattern=NO_NUL)]
"""Short free text that is stored."""
Score = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Number = Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)]
"""Any other measurement (weights, percentages, megabytes): finite and storable as a double."""
Count = Annotated[int, Field(ge=0, le=2**53)]
"""A count or duration stored as int64 (milliseconds, megabytes)."""
Names = Annotated[list[Identifier], Field(max_length=MAX_ITEMS)]

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("a timestamp is an ISO 8601 date-time, not a number")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_not_a_number)]
"""A date-time as the document says: ISO 8601 (pydantic would also read a number as Unix time,
which in a request is almost always a unit mistake)."""


def _plain_json(value: Any, depth: int = 0) -> Any:
    """``value`` if it is JSON a store and a client can take: finite numbers, bounded nesting.

    Python's JSON parser accepts ``NaN`` and ``Infinity``, which no JSON column, PostgreSQL's
    included, and no strict client can read back.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (NaN and Infinity are not JSON)")
    if isinstance(value, dict):
        for item in value.values():
            _plain_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _plain_json(item, depth + 1)
    return value


Json = Annotated[Any, AfterValidator(_plain_json)]
"""Any JSON value (a response under test, an expected answer)."""
JsonObject = Annotated[dict[str, Any], Field(max_length=MAX_KEYS), AfterValidator(_plain_json)]
"""Free-form options or metadata: at most ``MAX_KEYS`` keys at the top level, plain JSON inside."""

_M = TypeVar("_M", bound=BaseModel)


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """Pydantic's error list as one plain line: ``amount: Input should be less than ...; ...``.

    Only locations and messages, never the input values: a refused field may hold a secret.
    """
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def validated(
    model: type[_M], data: Mapping[str, Any], *, error: type[InvalidRequest] = InvalidRequest
) -> _M:
    """``model`` built from ``data``, or ``error`` naming every problem (never a ``ValidationError``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{model.__name__}: {describe_errors(exc.errors())}") from None


def revalidated(value: _M, *, error: type[InvalidRequest] = InvalidRequest) -> _M:
    """``value`` checked again against its own model's bounds.

    A model made with ``model_construct`` or ``model_copy(update=...)`` skipped validation; the
    embedded implementations call this at their boundary so they refuse what a server refuses.
    ``value`` itself is returned: a rebuilt copy would lose which fields were set explicitly
    (providers send only those) and re-run default factories (a metric's id).
    """
    validated(type(value), value.model_dump(warnings=False), error=error)
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """``"60s"``, ``"5m"``, ``"250ms"`` or a number -> seconds, as the seed's config writes
    durations; anything else is left for pydantic to reject with its own message."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value
