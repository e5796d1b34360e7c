"""The price table: known prices, dated ids, cache tokens, tiers, LiteLLM import, the worst case for budgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecosystem.forge import (
    ForgeInferenceRequest,
    ModelPrice,
    PriceTable,
    TokenUsage,
    cost,
    estimate_prompt_tokens,
    worst_case_cost,
)
from ecosystem.forge.errors import PriceFileError
from ecosystem.forge.litellm_prices import import_litellm_prices, read_litellm_prices, write_user_prices
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


# ----------------------------------------------------------------- tiers


def test_gemini_2_5_pro_long_context_tier_above_200k() -> None:
    table = PriceTable(user_file=False)
    below = table.quote(usage(200_000, 1_000), "gemini-2.5-pro")
    above = table.quote(usage(200_001, 1_000), "gemini-2.5-pro")
    assert below is not None and above is not None
    assert not below.rates.long_context and above.rates.long_context
    assert below.cost == pytest.approx((200_000 * 1.25 + 1_000 * 10) / 1e6)
    # Every token of the long request, output included, is at the long-context price.
    assert above.cost == pytest.approx((200_001 * 2.50 + 1_000 * 15) / 1e6)
    # The flat price under-prices such a call by about half (issue 15: 46-49%).
    flat = (200_001 * 1.25 + 1_000 * 10) / 1e6
    assert 0.45 < 1 - flat / above.cost < 0.5
    cached = table.quote(usage(300_000, 0, cache_read=250_000), "gemini-2.5-pro")
    assert cached is not None
    assert cached.cost == pytest.approx((50_000 * 2.50 + 250_000 * 0.25) / 1e6)


def test_claude_sonnet_long_context_counts_cached_tokens_toward_the_threshold() -> None:
    # 150k read from the cache + 60k new: the prompt is 210k, so the long-context tier applies.
    found = PriceTable(user_file=False).quote(usage(210_000, 100, cache_read=150_000), "claude-sonnet-4-5-20250929")
    assert found is not None and found.family == "claude-sonnet-4-5" and found.rates.long_context
    assert found.cost == pytest.approx((60_000 * 6 + 150_000 * 0.6 + 100 * 22.5) / 1e6)


def test_batch_tier_halves_every_price() -> None:
    table = PriceTable(user_file=False)
    mixed = usage(10_000, 2_000, cache_read=4_000, cache_write=1_000)
    for model in ("claude-sonnet-4-5", "gpt-4o", "gemini-2.5-flash"):
        standard, batch = table.cost(mixed, model), table.cost(mixed, model, "batch")
        assert standard is not None and batch == pytest.approx(standard / 2), model
    long_batch = table.quote(usage(300_000, 0), "gemini-2.5-pro", "batch")
    assert long_batch is not None and long_batch.cost == pytest.approx(300_000 * 1.25 / 1e6)


def test_reasoning_tokens_are_billed_once_as_output() -> None:
    with_reasoning = TokenUsage(prompt_tokens=100, completion_tokens=1_000, total_tokens=1_100, reasoning_tokens=900)
    assert cost(with_reasoning, "o3") == pytest.approx((100 * 2 + 1_000 * 8) / 1e6)


def test_gateway_aliases_price_an_alias_as_its_model() -> None:
    table = PriceTable(aliases={"fast": "gpt-4o-mini", "gw/smart": "claude-sonnet-4-5"}, user_file=False)
    assert table.cost(usage(1_000_000, 0), "fast") == pytest.approx(0.15)
    assert table.cost(usage(100_000, 0), "gw/smart") == pytest.approx(0.3)
    assert PriceTable(user_file=False).resolve("fast") is None


# ----------------------------------------------------------------- LiteLLM import and the user's file

FIXTURE = Path(__file__).parent / "fixtures" / "litellm_prices.json"


def test_import_litellm_prices() -> None:
    prices = import_litellm_prices(FIXTURE)
    assert set(prices) == {
        "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "llama-3.1-8b-instruct", "text-embedding-3-small"
    }
    gpt = prices["gpt-4o"]  # OpenAI's own entry, not Azure's dearer one
    assert (gpt.input, gpt.output, gpt.cache_read, gpt.batch_input, gpt.batch_output) == (2.5, 10.0, 1.25, 1.25, 5.0)
    assert gpt.provider == "openai"
    claude = prices["claude-sonnet-4-5"]
    assert claude.long_context is not None
    assert (claude.long_context.above, claude.long_context.input, claude.long_context.output) == (200_000, 6.0, 22.5)
    assert (claude.long_context.cache_read, claude.long_context.cache_write) == (0.6, 7.5)
    assert prices["text-embedding-3-small"].kind == "embedding"
    assert prices["text-embedding-3-small"].input == pytest.approx(0.02)
    detail = read_litellm_prices(FIXTURE)
    assert detail.skipped == {"mode image_generation": 1, "mode completion": 1, "mode rerank": 1, "duplicate id": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"sample_spec": {}, "x": {"mode": "image_generation"}}', "no chat or embedding model"),
        ('{"m": {"mode": "chat", "input_cost_per_token": "cheap", "output_cost_per_token": 1e-6}}', "'m'"),
    ],
)
def test_bad_litellm_files_are_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text(content)
    with pytest.raises(PriceFileError, match=message):
        import_litellm_prices(bad)
    with pytest.raises(PriceFileError, match="cannot read"):
        import_litellm_prices(tmp_path / "missing.json")


def test_the_user_prices_file_is_layered_over_the_bundled_table(tmp_path: Path) -> None:
    prices = import_litellm_prices(FIXTURE)
    path = write_user_prices({"gpt-4o": prices["gpt-4o"].model_copy(update={"input": 9.0})}, "test", tmp_path / "p.json")
    table = PriceTable(user_file=path)
    assert table.cost(usage(1_000_000, 0), "gpt-4o") == pytest.approx(9.0)
    assert table.origin["gpt-4o"] == "user file" and table.origin["gpt-4o-mini"] == "bundled"
    # Settings still win over the user's file.
    assert PriceTable({"gpt-4o": ModelPrice(input=1, output=1)}, user_file=path).cost(
        usage(1_000_000, 0), "gpt-4o"
    ) == pytest.approx(1.0)
    # A broken user file is ignored (and logged), never a crash.
    path.write_text("{broken")
    assert PriceTable(user_file=path).cost(usage(1_000_000, 0), "gpt-4o") == pytest.approx(2.5)


# ----------------------------------------------------------------- worst case for budgets


def test_worst_case_cost_bounds_the_real_cost() -> None:
    request = ForgeInferenceRequest(prompt="a" * 4_000, system="b" * 400, max_tokens=500, thinking_budget=2_000)
    prompt = estimate_prompt_tokens(request, "anthropic")
    assert prompt >= 1_100
    worst = worst_case_cost(request, "claude-sonnet-4-5")
    assert worst == pytest.approx((prompt * 3 + 2_500 * 15) / 1e6)
    # Any real answer within the caps costs no more.
    real = cost(usage(1_100, 2_500), "claude-sonnet-4-5")
    assert real is not None and worst is not None and real <= worst
    assert worst_case_cost(request, "no-such-model") is None
    assert worst_case_cost(request, "claude-sonnet-4-5", "batch") == pytest.approx(worst / 2)


def test_worst_case_cost_applies_the_long_context_tier_when_the_estimate_crosses_it() -> None:
    short = ForgeInferenceRequest(prompt="x" * 700_000, max_tokens=1_000)
    long = ForgeInferenceRequest(prompt="x" * 900_000, max_tokens=1_000)
    short_cost, long_cost = worst_case_cost(short, "gemini-2.5-pro"), worst_case_cost(long, "gemini-2.5-pro")
    assert short_cost == pytest.approx((estimate_prompt_tokens(short) * 1.25 + 1_000 * 10) / 1e6)
    assert long_cost == pytest.approx((estimate_prompt_tokens(long) * 2.5 + 1_000 * 15) / 1e6)


def test_worst_case_cost_counts_schema_cache_writes_and_non_ascii() -> None:
    plain = ForgeInferenceRequest(prompt="summarise", system="s" * 4_000, max_tokens=10)
    with_schema = plain.model_copy(update={"response_schema": {"type": "object", "properties": {"a": {"type": "string"}}}})
    cached = plain.model_copy(update={"cache": ["system"]})
    base = worst_case_cost(plain, "claude-sonnet-4-5")
    assert base is not None
    assert (worst_case_cost(with_schema, "claude-sonnet-4-5") or 0) > base
    # The first call of a marked prefix writes the cache at 1.25x the input price.
    assert (worst_case_cost(cached, "claude-sonnet-4-5") or 0) == pytest.approx(
        (estimate_prompt_tokens(cached) * 3.75 + 10 * 15) / 1e6
    )
    assert estimate_prompt_tokens(ForgeInferenceRequest(prompt="日本語のテキスト")) > estimate_prompt_tokens(
        ForgeInferenceRequest(prompt="abcdefgh")
    )
