"""Base model for every ecosystem contract: strict (unknown fields are errors) and immutable.

Wire contracts are snake_case JSON, as the seed's structs are; the workflow language's camelCase
lives in ``compiler`` and never reaches this layer.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
