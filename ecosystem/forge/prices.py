"""The price table: what a call cost, from token usage and a model id.

Prices are USD per million tokens for input, output, cache reads and cache writes, bundled in
``prices.json`` with the date they were taken and their source.  Settings' ``prices`` override
or extend them.  Providers answer with dated ids (``claude-sonnet-4-5-20250929``,
``gpt-4o-mini-2024-07-18``, ``gemini-2.0-flash-001``): explicit aliases come first, then a date
or ``-latest`` suffix is stripped to find the family.  There is deliberately no prefix matching:
``gpt-4o-mini`` must never be priced as ``gpt-4o``.  An unknown model costs ``None``: the caller
warns, nothing crashes and nothing is guessed.

``TokenUsage.prompt_tokens`` includes cached tokens (see ``models.py``), so the uncached part is
``prompt - cache_read - cache_write``; a missing cache price falls back to the input price.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from ecosystem.forge.config import ModelPrice
from ecosystem.forge.models import TokenUsage

_SUFFIXES = (
    re.compile(r"-\d{8}$"),  # Anthropic: -20250929
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI: -2024-07-18
    re.compile(r"-latest$"),
    re.compile(r"-\d{3}$"),  # Gemini: -001
    re.compile(r"-preview-\d{2}-\d{4}$"),  # Gemini: -preview-09-2025
)


@lru_cache(maxsize=1)
def bundled_table() -> dict[str, Any]:
    text = resources.files("ecosystem.forge").joinpath("prices.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _normalise(model: str) -> str:
    return model.strip().lower().rsplit("/", 1)[-1]


class PriceTable:
    """The bundled prices plus overrides; ``cost`` and ``resolve`` accept any spelling of an id."""

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        table = bundled_table()
        self.as_of: str = table["as_of"]
        self.source: str = table["source"]
        self.prices: dict[str, ModelPrice] = {k: ModelPrice(**v) for k, v in table["models"].items()}
        self.aliases: dict[str, str] = dict(table["aliases"])
        for name, price in (overrides or {}).items():
            self.prices[_normalise(name)] = price

    def resolve(self, model: str) -> tuple[str, ModelPrice] | None:
        """The family id and price of ``model``, or None when it is not in the table."""
        candidate = _normalise(model)
        for _ in range(len(_SUFFIXES) + 1):
            if candidate in self.prices:
                return candidate, self.prices[candidate]
            alias = self.aliases.get(candidate)
            if alias is not None and alias in self.prices:
                return alias, self.prices[alias]
            stripped = candidate
            for suffix in _SUFFIXES:
                stripped = suffix.sub("", stripped)
            if stripped == candidate:
                return None
            candidate = stripped
        return None

    def cost(self, usage: TokenUsage, model: str) -> float | None:
        found = self.resolve(model)
        if found is None:
            return None
        _, price = found
        cache_read = usage.cache_read_tokens
        cache_write = usage.cache_write_tokens
        uncached = max(0, usage.prompt_tokens - cache_read - cache_write)
        total = (
            uncached * price.input
            + cache_read * (price.cache_read if price.cache_read is not None else price.input)
            + cache_write * (price.cache_write if price.cache_write is not None else price.input)
            + usage.completion_tokens * price.output
        )
        # Rounded well below a cent's millionth so sums in reports do not show float noise.
        return round(total / 1_000_000, 12)

    def aliases_of(self, family: str) -> list[str]:
        return sorted(alias for alias, target in self.aliases.items() if target == family)


def cost(usage: TokenUsage, model: str, overrides: Mapping[str, ModelPrice] | None = None) -> float | None:
    """USD for ``usage`` on ``model``; None when the model is unknown."""
    return PriceTable(overrides).cost(usage, model)
