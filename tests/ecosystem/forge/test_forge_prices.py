"""The price table: known prices, dated ids, cache tokens, unknown models, overrides."""

from __future__ import annotations

import pytest

from ecosystem.forge import ModelPrice, PriceTable, TokenUsage, cost
from ecosystem.forge.prices import bundled_table


def usage(prompt: int, completion: int, cache_read: int = 0, cache_write: int = 0) -> TokenUsage:
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def test_claude_sonnet_4_5_prices() -> None:
    # 100k-token prompts: under the 200k long-context threshold.
    assert cost(usage(100_000, 0), "claude-sonnet-4-5") == pytest.approx(0.3)
    assert cost(usage(0, 1_000_000), "claude-sonnet-4-5") == pytest.approx(15.0)
    assert cost(usage(100_000, 0, cache_read=100_000), "claude-sonnet-4-5") == pytest.approx(0.030)
    assert cost(usage(100_000, 0, cache_write=100_000), "claude-sonnet-4-5") == pytest.approx(0.375)
    mixed = usage(1_500, 400, cache_read=1_000, cache_write=200)
    assert cost(mixed, "claude-sonnet-4-5") == pytest.approx(
        (300 * 3 + 1000 * 0.3 + 200 * 3.75 + 400 * 15) / 1e6
    )


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic/claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("GPT-4o", "gpt-4o"),
    ],
)
def test_dated_ids_and_aliases_resolve_to_their_family(model: str, family: str) -> None:
    found = PriceTable().resolve(model)
    assert found is not None and found[0] == family


def test_no_prefix_guessing() -> None:
    table = PriceTable()
    assert table.resolve("gpt-4o-mini-custom") is None
    assert table.resolve("llama3") is None
    assert cost(usage(100, 100), "mystery-model") is None


def test_same_family_different_price_is_not_conflated() -> None:
    table = PriceTable()
    assert table.cost(usage(1_000_000, 0), "gpt-4o-mini") == pytest.approx(0.15)
    assert table.cost(usage(1_000_000, 0), "gpt-4o") == pytest.approx(2.5)
    assert table.cost(usage(1_000_000, 0), "gpt-4o-2024-05-13") == pytest.approx(5.0)


def test_missing_cache_price_falls_back_to_input_price() -> None:
    assert cost(usage(1_000_000, 0, cache_read=1_000_000), "gpt-4-turbo") == pytest.approx(10.0)


def test_overrides_replace_and_extend() -> None:
    overrides = {
        "claude-sonnet-4-5": ModelPrice(input=1, output=1),
        "llama3": ModelPrice(input=0.1, output=0.2),
    }
    # An override without a long-context tier is flat, whatever the prompt size.
    assert cost(usage(1_000_000, 1_000_000), "claude-sonnet-4-5-20250929", overrides) == pytest.approx(2.0)
    assert cost(usage(1_000_000, 1_000_000), "llama3", overrides) == pytest.approx(0.3)


def test_bundled_table_is_dated_sourced_and_consistent() -> None:
    table = bundled_table()
    assert table["as_of"] and "pricing" in table["source"]
    for alias, target in table["aliases"].items():
        assert target in table["models"], alias
    for name, price in table["models"].items():
        assert price["provider"] in {"anthropic", "openai", "gemini"}, name
        if price.get("kind", "chat") == "chat":
            assert price["output"] >= price["input"] > 0, name
        else:
            assert price["input"] > 0 and price["output"] == 0, name
        tier = price.get("long_context")
        if tier:
            assert tier["input"] > price["input"] and tier["output"] >= price["output"], name
