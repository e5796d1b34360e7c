"""Import LiteLLM's ``model_prices_and_context_window.json`` into Forge's price table format.

LiteLLM keeps USD *per token*: ``input_cost_per_token``, ``output_cost_per_token``,
``cache_read_input_token_cost``, ``cache_creation_input_token_cost``, long-context prices as
``<price>_above_<N>k_tokens`` (``input_cost_per_token_above_200k_tokens``...), batch prices as
``input_cost_per_token_batches``/``output_cost_per_token_batches``, and ``litellm_provider`` and
``mode`` per entry.  Forge keeps USD per *million* tokens, keyed by the id a provider answers with.

Decisions:

* Only ``chat`` entries (and ``embedding`` ones, for ``Forge.embed``) are kept; completion, image,
  audio, rerank... entries and the ``sample_spec`` documentation entry are skipped and counted.
  An entry without ``mode`` is taken as chat, as LiteLLM does.
* Keys lose their routing prefix (``gemini/gemini-2.5-pro`` -> ``gemini-2.5-pro``), because that
  is how Forge looks a model up.  When several entries land on one id, the vendor's own entry
  (provider openai/anthropic/gemini) wins over a reseller's (azure, bedrock, openrouter...).
* The file is the user's: read from the path given, never downloaded.  ``write_user_prices``
  writes the result where ``PriceTable`` finds it, atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ecosystem.forge.config import LongContextPrice, ModelPrice
from ecosystem.forge.errors import PriceFileError
from ecosystem.forge.prices import user_prices_path

_ABOVE = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)"
    r"_above_(\d+)k_tokens$"
)
_FIRST_PARTY = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
}
_KEPT_MODES = {"chat", "embedding"}


@dataclass
class LiteLLMImport:
    """The imported prices and what was skipped, by reason."""

    prices: dict[str, ModelPrice] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)


def _per_million(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} is {value!r}, not a price")
    return round(float(value) * 1_000_000, 9)


def _price_of(entry: dict[str, Any], mode: str) -> ModelPrice | None:
    input_price = _per_million(entry.get("input_cost_per_token"), "input_cost_per_token")
    output_price = _per_million(entry.get("output_cost_per_token"), "output_cost_per_token")
    if input_price is None or (output_price is None and mode == "chat"):
        return None
    provider = str(entry.get("litellm_provider") or "") or None
    above: dict[int, dict[str, float]] = {}
    for key, value in entry.items():
        found = _ABOVE.match(key)
        if found:
            price = _per_million(value, key)
            if price is not None:
                above.setdefault(int(found.group(2)) * 1000, {})[found.group(1)] = price
    long_context = None
    if above:
        threshold = min(above)
        tier = above[threshold]
        long_context = LongContextPrice(
            above=threshold,
            input=tier.get("input_cost_per_token", input_price),
            output=tier.get("output_cost_per_token", output_price or 0.0),
            cache_read=tier.get("cache_read_input_token_cost"),
            cache_write=tier.get("cache_creation_input_token_cost"),
        )
    return ModelPrice(
        input=input_price,
        output=output_price or 0.0,
        cache_read=_per_million(entry.get("cache_read_input_token_cost"), "cache_read_input_token_cost"),
        cache_write=_per_million(entry.get("cache_creation_input_token_cost"), "cache_creation_input_token_cost"),
        provider=_FIRST_PARTY.get(provider or "", provider),
        long_context=long_context,
        batch_input=_per_million(entry.get("input_cost_per_token_batches"), "input_cost_per_token_batches"),
        batch_output=_per_million(entry.get("output_cost_per_token_batches"), "output_cost_per_token_batches"),
        kind="embedding" if mode == "embedding" else "chat",
    )


def _rank(key: str, entry: dict[str, Any]) -> int:
    """Lower wins a name clash: the vendor's own bare id, then the vendor's prefixed id, then resellers."""
    first_party = str(entry.get("litellm_provider") or "") in _FIRST_PARTY
    return (0 if "/" not in key else 1) if first_party else 2


def read_litellm_prices(path: str | Path) -> LiteLLMImport:
    """Prices from a LiteLLM price file; ``PriceFileError`` when it is not one."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PriceFileError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PriceFileError(f"{source} is not a LiteLLM price file: the top level is not an object of models")
    result = LiteLLMImport()
    ranks: dict[str, int] = {}
    for key, entry in data.items():
        if key == "sample_spec":
            continue
        if not isinstance(entry, dict):
            result.skipped["not an object"] += 1
            continue
        mode = str(entry.get("mode") or "chat")
        if mode not in _KEPT_MODES:
            result.skipped[f"mode {mode}"] += 1
            continue
        try:
            price = _price_of(entry, mode)
        except (ValueError, ValidationError) as exc:
            raise PriceFileError(f"{source}: model {key!r}: {str(exc).splitlines()[0]}") from exc
        if price is None:
            result.skipped["no input/output price"] += 1
            continue
        name = key.strip().lower().rsplit("/", 1)[-1]
        rank = _rank(key, entry)
        if name in ranks:
            result.skipped["duplicate id"] += 1
            if ranks[name] <= rank:
                continue
        ranks[name] = rank
        result.prices[name] = price
    if not result.prices:
        raise PriceFileError(
            f"{source} holds no chat or embedding model with prices: is it LiteLLM's "
            "model_prices_and_context_window.json?"
        )
    return result


def import_litellm_prices(path: str | Path) -> dict[str, ModelPrice]:
    """Forge prices (USD per million tokens) keyed by model id, from a LiteLLM price file."""
    return read_litellm_prices(path).prices


def write_user_prices(prices: dict[str, ModelPrice], source: str, target: Path | None = None) -> Path:
    """Write ``prices`` as the user's prices file (replacing it), atomically; the path written."""
    path = target or user_prices_path()
    table = {
        "as_of": date.today().isoformat(),
        "source": source,
        "unit": "per million tokens",
        "models": {
            name: price.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            | {"input": price.input, "output": price.output}
            for name, price in sorted(prices.items())
        },
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".prices-", suffix=".json", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(table, out, indent=1, sort_keys=False)
            out.write("\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise PriceFileError(f"cannot write the prices file {path}: {exc.strerror or exc}") from exc
    return path
