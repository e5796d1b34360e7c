"""Prompt caching and reasoning on each provider's wire, and both in usage and cost."""

from __future__ import annotations

import pytest

from ecosystem.forge import (
    ChatMessage,
    EmbeddedForge,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
)
from tests.ecosystem.forge.conftest import settings_for
from tests.ecosystem.forge.fakes import (
    FakeProvider,
    anthropic_message,
    gemini_content,
    openai_completion,
)

HISTORY = [
    ChatMessage(role="user", content="Here is the contract: ..."),
    ChatMessage(role="assistant", content="Read it."),
]
EPHEMERAL = {"type": "ephemeral"}


# ----------------------------------------------------------------- cache marks on the wire


async def test_anthropic_marks_the_system_prompt_and_the_last_prior_turn(anthropic_fake: FakeProvider) -> None:
    request = ForgeInferenceRequest(
        prompt="Clause 4?", system="You review contracts.", messages=HISTORY, cache=["system", "messages"],
        model="claude-sonnet-4-5",
    )
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        await forge.infer(request)
    body = anthropic_fake.requests[0].json
    assert body["system"] == [{"type": "text", "text": "You review contracts.", "cache_control": EPHEMERAL}]
    assert body["messages"] == [
        {"role": "user", "content": "Here is the contract: ..."},
        {"role": "assistant", "content": [{"type": "text", "text": "Read it.", "cache_control": EPHEMERAL}]},
        {"role": "user", "content": "Clause 4?"},
    ]


async def test_anthropic_without_cache_marks_sends_plain_strings(anthropic_fake: FakeProvider) -> None:
    request = ForgeInferenceRequest(prompt="q", system="s", messages=HISTORY, model="claude-sonnet-4-5")
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        await forge.infer(request)
    body = anthropic_fake.requests[0].json
    assert body["system"] == "s"
    assert all(isinstance(m["content"], str) for m in body["messages"])


async def test_openai_and_gemini_send_nothing_extra_for_cache_but_put_the_prefix_first(
    openai_fake: FakeProvider, gemini_fake: FakeProvider
) -> None:
    request = ForgeInferenceRequest(prompt="q", system="stable prefix", messages=HISTORY, cache=["system", "messages"])
    async with EmbeddedForge(settings_for(openai_fake, gemini_fake)) as forge:
        await forge.infer(request.model_copy(update={"model": "gpt-4o"}))
        await forge.infer(request.model_copy(update={"model": "gemini-2.5-flash"}))
    openai_body = openai_fake.requests[0].json
    assert openai_body["messages"][0] == {"role": "system", "content": "stable prefix"}
    assert "cache_control" not in str(openai_body)
    gemini_body = gemini_fake.requests[0].json
    assert list(gemini_body)[:2] == ["contents", "generationConfig"]
    assert gemini_body["systemInstruction"] == {"parts": [{"text": "stable prefix"}]}
    assert "cache" not in str(gemini_body).lower()


# ----------------------------------------------------------------- cache reads priced


async def test_cache_reads_are_priced_for_all_three_providers(
    anthropic_fake: FakeProvider, openai_fake: FakeProvider, gemini_fake: FakeProvider
) -> None:
    anthropic_fake.queue(anthropic_message(input_tokens=200, output_tokens=100, cache_read=10_000, cache_write=0))
    openai_fake.queue(
        openai_completion(prompt_tokens=10_200, completion_tokens=100, cached_tokens=10_000, model="gpt-4o-2024-08-06")
    )
    gemini_fake.queue(
        gemini_content(prompt_tokens=10_200, candidates_tokens=100, cached_tokens=10_000, model="gemini-2.5-pro")
    )
    request = ForgeInferenceRequest(prompt="q", system="s", cache=["system"])
    async with EmbeddedForge(settings_for(anthropic_fake, openai_fake, gemini_fake)) as forge:
        claude = await forge.infer(request.model_copy(update={"model": "claude-sonnet-4-5"}))
        gpt = await forge.infer(request.model_copy(update={"model": "gpt-4o"}))
        gemini = await forge.infer(request.model_copy(update={"model": "gemini-2.5-pro"}))
    for response in (claude, gpt, gemini):
        assert response.usage.prompt_tokens == 10_200 and response.usage.cache_read_tokens == 10_000
    # 200 uncached at input price + 10,000 at the cache-read price + 100 output, per million
    assert claude.cost == pytest.approx((200 * 3 + 10_000 * 0.30 + 100 * 15) / 1e6)
    assert gpt.cost == pytest.approx((200 * 2.5 + 10_000 * 1.25 + 100 * 10) / 1e6)
    assert gemini.cost == pytest.approx((200 * 1.25 + 10_000 * 0.125 + 100 * 10) / 1e6)


async def test_anthropic_cache_write_then_reads_against_a_fake_that_caches() -> None:
    with FakeProvider("anthropic", prompt_cache=True) as fake:
        prefix = "x" * 12_000  # 3,000 tokens at 4 characters each
        async with EmbeddedForge(settings_for(fake)) as forge:
            first = await forge.infer(
                ForgeInferenceRequest(prompt="item 1", system=prefix, cache=["system"], model="claude-sonnet-4-5")
            )
            second = await forge.infer(
                ForgeInferenceRequest(prompt="item 2", system=prefix, cache=["system"], model="claude-sonnet-4-5")
            )
    assert (first.usage.cache_write_tokens, first.usage.cache_read_tokens) == (3000, 0)
    assert (second.usage.cache_write_tokens, second.usage.cache_read_tokens) == (0, 3000)
    assert first.cost is not None and second.cost is not None and second.cost < first.cost / 5


# ----------------------------------------------------------------- reasoning on the wire


async def test_openai_reasoning_effort_and_budget(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_completion("4", model="o3-mini", prompt_tokens=20, completion_tokens=900,
                                        reasoning_tokens=880))
    request = ForgeInferenceRequest(
        prompt="2+2?", model="o3-mini", max_tokens=100, thinking_budget=2000, reasoning_effort="high", temperature=0.2
    )
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(request)
    body = openai_fake.requests[0].json
    assert body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 2100
    assert "max_tokens" not in body and "temperature" not in body
    assert response.usage.reasoning_tokens == 880 and response.usage.completion_tokens == 900
    # Reasoning is billed as output once: 900 completion tokens at o3-mini's $4.40.
    assert response.cost == pytest.approx((20 * 1.1 + 900 * 4.4) / 1e6)


async def test_openai_non_reasoning_model_drops_reasoning_effort(openai_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="q", model="gpt-4o", reasoning_effort="low"))
    body = openai_fake.requests[0].json
    assert "reasoning_effort" not in body and body["max_tokens"] == 1000
    assert response.metadata["dropped_parameters"] == ["reasoning_effort"]


async def test_anthropic_extended_thinking(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(
        anthropic_message(
            content=[
                {"type": "thinking", "thinking": "Let me add.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "4"},
            ],
            input_tokens=30,
            output_tokens=1500,
            thinking_tokens=1490,
        )
    )
    request = ForgeInferenceRequest(prompt="2+2?", model="claude-sonnet-4-5", max_tokens=500,
                                    thinking_budget=4096, temperature=0.3)
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(request)
    body = anthropic_fake.requests[0].json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 4596 > body["thinking"]["budget_tokens"]
    assert "temperature" not in body and "top_p" not in body
    assert response.metadata["dropped_parameters"] == ["temperature"]
    assert response.text == "4"
    assert (response.usage.reasoning_tokens, response.usage.completion_tokens) == (1490, 1500)
    assert response.cost == pytest.approx((30 * 3 + 1500 * 15) / 1e6)


async def test_anthropic_adaptive_models_and_effort(anthropic_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        await forge.infer(ForgeInferenceRequest(prompt="q", model="claude-opus-4-7", thinking_budget=2048))
        await forge.infer(ForgeInferenceRequest(prompt="q", model="claude-sonnet-4-6", reasoning_effort="minimal"))
        old = await forge.infer(ForgeInferenceRequest(prompt="q", model="claude-sonnet-4-5", reasoning_effort="high"))
    adaptive, effort, plain = (r.json for r in anthropic_fake.requests)
    assert adaptive["thinking"] == {"type": "adaptive"} and adaptive["max_tokens"] == 1000 + 2048
    assert "temperature" not in adaptive
    assert effort["thinking"] == {"type": "adaptive"} and effort["output_config"] == {"effort": "low"}
    assert "thinking" not in plain and "output_config" not in plain and plain["temperature"] == 0.7
    assert old.metadata["dropped_parameters"] == ["reasoning_effort"]


async def test_anthropic_refuses_a_budget_below_its_minimum(anthropic_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        with pytest.raises(ForgeInvalidRequest, match="1024"):
            await forge.infer(ForgeInferenceRequest(prompt="q", model="claude-sonnet-4-5", thinking_budget=500))
    assert anthropic_fake.requests == []


async def test_gemini_thinking_budget_and_level(gemini_fake: FakeProvider) -> None:
    gemini_fake.queue(gemini_content("4", prompt_tokens=10, candidates_tokens=5, thoughts_tokens=300,
                                     model="gemini-2.5-flash"))
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        budget = await forge.infer(
            ForgeInferenceRequest(prompt="2+2?", model="gemini-2.5-flash", max_tokens=100, thinking_budget=1024)
        )
        await forge.infer(ForgeInferenceRequest(prompt="q", model="gemini-3-pro-preview", reasoning_effort="low"))
        old = await forge.infer(ForgeInferenceRequest(prompt="q", model="gemini-2.5-flash", reasoning_effort="low"))
    first, level, plain = (r.json["generationConfig"] for r in gemini_fake.requests)
    assert first["thinkingConfig"] == {"thinkingBudget": 1024} and first["maxOutputTokens"] == 1124
    assert level["thinkingConfig"] == {"thinkingLevel": "LOW"}
    assert "thinkingConfig" not in plain and old.metadata["dropped_parameters"] == ["reasoning_effort"]
    # Thoughts are not in candidatesTokenCount but are billed as output.
    assert (budget.usage.reasoning_tokens, budget.usage.completion_tokens) == (300, 305)
    assert budget.cost == pytest.approx((10 * 0.3 + 305 * 2.5) / 1e6)


async def test_malformed_reasoning_and_cache_counts_are_malformed_responses(
    openai_fake: FakeProvider, gemini_fake: FakeProvider
) -> None:
    bad_openai = openai_completion("4")
    bad_openai.body["usage"]["completion_tokens_details"] = {"reasoning_tokens": "lots"}
    openai_fake.queue(bad_openai)
    bad_gemini = gemini_content("4")
    bad_gemini.body["usageMetadata"]["thoughtsTokenCount"] = [1]
    gemini_fake.queue(bad_gemini)
    async with EmbeddedForge(settings_for(openai_fake, gemini_fake)) as forge:
        with pytest.raises(ForgeMalformedResponse, match="not a number"):
            await forge.infer(ForgeInferenceRequest(prompt="q", model="o3-mini", reasoning_effort="low"))
        with pytest.raises(ForgeMalformedResponse, match="not a number"):
            await forge.infer(ForgeInferenceRequest(prompt="q", model="gemini-2.5-flash", thinking_budget=512))
