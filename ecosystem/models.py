"""Base model for every ecosystem contract: strict (unknown fields are errors) and immutable.

Wire contracts are snake_case JSON, as the seed's structs are; the workflow language's camelCase
lives in ``compiler`` and never reaches this layer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
