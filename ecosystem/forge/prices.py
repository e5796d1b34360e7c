"""The price table: what a call cost, from token usage, a model id and a tier.

Prices are USD per million tokens for input, output, cache reads and cache writes, bundled in
``prices.json`` with the date they were taken, their sources and notes on what could not be
confirmed.  Three layers, later ones winning: the bundled table, the user's prices file
(``user_prices_path()``, written by ``llm-orchestrator prices import``; read, never downloaded),
and ``ForgeSettings.prices``.  Providers answer with dated ids (``claude-sonnet-4-5-20250929``,
``gpt-4o-mini-2024-07-18``, ``gemini-2.0-flash-001``): a gateway alias from
``ForgeSettings.model_aliases`` comes first, then the table's aliases, then a date or ``-latest``
suffix is stripped to find the family.  There is deliberately no prefix matching: ``gpt-4o-mini``
must never be priced as ``gpt-4o``.  An unknown model costs ``None``: the caller warns, nothing
crashes and nothing is guessed.

Tiers.  The prompt decides the long-context tier: when a request's prompt tokens (cached ones
included, as Anthropic and Google count them) exceed the model's ``long_context.above``, *every*
token of that request is billed at the long-context prices.  ``tier="batch"`` applies the batch
prices (explicit, or the provider's batch discount) on top, to cache prices as well.

``TokenUsage.prompt_tokens`` includes cached tokens and ``completion_tokens`` includes reasoning
tokens (see ``models.py``), so the uncached part is ``prompt - cache_read - cache_write``, reasoning
is billed at the output price without being counted twice, and a missing cache price falls back
to the input price.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ecosystem.forge.config import ModelPrice
from ecosystem.forge.models import TokenUsage

logger = logging.getLogger("ecosystem.forge")

Tier = Literal["standard", "batch"]
USER_PRICES_FILENAME = "prices.json"

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


def user_prices_path() -> Path:
    """The user's prices file, in the same data directory as the embedded store's database."""
    # Imported here: the store package pulls in SQLAlchemy and Alembic, which pricing never needs.
    from ecosystem.store.paths import data_dir

    return data_dir() / USER_PRICES_FILENAME


@lru_cache(maxsize=4)
def _read_user_table(path: str, stamp: tuple[int, int]) -> dict[str, ModelPrice]:
    """Prices of a user prices file; a file that cannot be used is logged once and ignored."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        models = data["models"] if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise ValueError("it has no 'models' object")
        return {_normalise(name): ModelPrice(**fields) for name, fields in models.items()}
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        logger.warning("ignoring the user prices file %s: %s", path, str(exc).splitlines()[0])
        return {}


def user_table(path: Path | None = None) -> dict[str, ModelPrice]:
    """The user's imported prices (empty when there is no file)."""
    target = path or user_prices_path()
    try:
        stat = os.stat(target)
    except OSError:
        return {}
    return _read_user_table(str(target), (stat.st_mtime_ns, stat.st_size))


def _normalise(model: str) -> str:
    return model.strip().lower().rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Rates:
    """USD per million tokens that apply to one request, after its tiers."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    long_context: bool = False
    tier: Tier = "standard"

    def cost(self, usage: TokenUsage) -> float:
        cache_read = usage.cache_read_tokens
        cache_write = usage.cache_write_tokens
        uncached = max(0, usage.prompt_tokens - cache_read - cache_write)
        total = (
            uncached * self.input
            + cache_read * self.cache_read
            + cache_write * self.cache_write
            + usage.completion_tokens * self.output
        )
        # Rounded well below a cent's millionth so sums in reports do not show float noise.
        return round(total / 1_000_000, 12)


@dataclass(frozen=True)
class Quote:
    """The priced family of a model, the rates a usage falls under, and what it costs."""

    family: str
    price: ModelPrice
    rates: Rates
    cost: float


def rates_for(price: ModelPrice, prompt_tokens: int, tier: Tier = "standard", batch_discount: float = 1.0) -> Rates:
    """The rates of ``price`` for a request with ``prompt_tokens`` in ``tier``."""
    input_price, output_price = price.input, price.output
    cache_read = price.cache_read if price.cache_read is not None else price.input
    cache_write = price.cache_write if price.cache_write is not None else price.input
    long = price.long_context
    in_long = long is not None and prompt_tokens > long.above
    if long is not None and in_long:
        scale = long.input / price.input if price.input else 1.0
        cache_read = long.cache_read if long.cache_read is not None else cache_read * scale
        cache_write = long.cache_write if long.cache_write is not None else cache_write * scale
        input_price, output_price = long.input, long.output
    if tier == "batch":
        in_factor = price.batch_input / price.input if price.batch_input is not None and price.input else batch_discount
        out_factor = (
            price.batch_output / price.output if price.batch_output is not None and price.output else batch_discount
        )
        input_price, cache_read, cache_write = input_price * in_factor, cache_read * in_factor, cache_write * in_factor
        output_price *= out_factor
    return Rates(input_price, output_price, cache_read, cache_write, in_long, tier)


class PriceTable:
    """The bundled prices, the user's file and overrides; ``quote``/``cost`` take any spelling of an id."""

    def __init__(
        self,
        overrides: Mapping[str, ModelPrice] | None = None,
        *,
        aliases: Mapping[str, str] | None = None,
        user_file: Path | None | Literal[False] = None,
    ) -> None:
        """``user_file``: None reads the user's prices file if there is one; False reads none."""
        table = bundled_table()
        self.as_of: str = table["as_of"]
        self.source: str = table["source"]
        self.batch_discounts: dict[str, float] = dict(table.get("batch_discounts", {}))
        self.prices: dict[str, ModelPrice] = {k: ModelPrice(**v) for k, v in table["models"].items()}
        self.origin: dict[str, str] = dict.fromkeys(self.prices, "bundled")
        self.aliases: dict[str, str] = dict(table["aliases"])
        if user_file is not False:
            imported = user_table(user_file)
            self.prices.update(imported)
            self.origin.update(dict.fromkeys(imported, "user file"))
        for name, price in (overrides or {}).items():
            self.prices[_normalise(name)] = price
            self.origin[_normalise(name)] = "settings"
        self.gateway_aliases = {k.strip().lower(): v for k, v in (aliases or {}).items()}

    def resolve(self, model: str) -> tuple[str, ModelPrice] | None:
        """The family id and price of ``model``, or None when it is not in the table."""
        target = self.gateway_aliases.get(model.strip().lower()) or self.gateway_aliases.get(_normalise(model))
        candidate = _normalise(target or model)
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

    def discount(self, price: ModelPrice) -> float:
        """The batch price factor for ``price`` when it has no explicit batch prices (1: none known)."""
        return self.batch_discounts.get(price.provider or "", 1.0)

    def rates(self, model: str, prompt_tokens: int, tier: Tier = "standard") -> tuple[str, Rates] | None:
        found = self.resolve(model)
        if found is None:
            return None
        family, price = found
        return family, rates_for(price, prompt_tokens, tier, self.discount(price))

    def quote(self, usage: TokenUsage, model: str, tier: Tier = "standard") -> Quote | None:
        """The price lookup: the family, the tier the usage falls in (its prompt decides), the cost."""
        found = self.resolve(model)
        if found is None:
            return None
        family, price = found
        rates = rates_for(price, usage.prompt_tokens, tier, self.discount(price))
        return Quote(family, price, rates, rates.cost(usage))

    def cost(self, usage: TokenUsage, model: str, tier: Tier = "standard") -> float | None:
        found = self.quote(usage, model, tier)
        return None if found is None else found.cost

    def aliases_of(self, family: str) -> list[str]:
        return sorted(alias for alias, target in self.aliases.items() if target == family)


def cost(
    usage: TokenUsage,
    model: str,
    overrides: Mapping[str, ModelPrice] | None = None,
    tier: Tier = "standard",
) -> float | None:
    """USD for ``usage`` on ``model``; None when the model is unknown."""
    return PriceTable(overrides).cost(usage, model, tier)
