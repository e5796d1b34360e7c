"""Offline: schema-conforming answers, simulated prompt caching, reasoning tokens; also over HTTP."""

from __future__ import annotations

import pytest

from ecosystem.forge import (
    ChatMessage,
    EmbeddedForge,
    ForgeInferenceRequest,
    ForgeSettings,
    HttpForgeClient,
    create_forge_app,
    validate_answer,
)
from ecosystem.service import serve_in_thread

SCHEMA = {
    "type": "object",
    "required": ["urgency", "customer", "items"],
    "properties": {
        "urgency": {"type": "string", "enum": ["low", "medium", "high"]},
        "customer": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
        "items": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2},
    },
}


async def test_offline_answers_match_the_schema_deterministically() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        first = await forge.infer(ForgeInferenceRequest(prompt="ticket 1", response_schema=SCHEMA))
        again = await forge.infer(ForgeInferenceRequest(prompt="ticket 1", response_schema=SCHEMA))
    assert validate_answer(first.parsed, SCHEMA) == []
    assert first.parsed == again.parsed and first.text == again.text
    assert first.metadata["structured_output"] == "offline:synthesized"


async def test_offline_canned_json_is_the_answer() -> None:
    settings = ForgeSettings(offline=True, offline_responses={"ticket": '{"urgency": "low"}'})
    async with EmbeddedForge(settings) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="ticket 9", response_schema=SCHEMA))
    assert response.parsed == {"urgency": "low"} and response.metadata["structured_output"] == "offline:canned"
    assert validate_answer(response.parsed, SCHEMA)  # the canned answer is not checked for the caller


async def test_offline_simulates_cache_writes_then_reads_and_shows_the_saving() -> None:
    prefix = "Company handbook. " * 700
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        calls = [
            await forge.infer(
                ForgeInferenceRequest(prompt=f"question {i}", system=prefix, cache=["system"], model="claude-sonnet-4-5")
            )
            for i in range(3)
        ]
        unmarked = await forge.infer(ForgeInferenceRequest(prompt="question 0", system=prefix, model="claude-sonnet-4-5"))
        history = await forge.infer(
            ForgeInferenceRequest(
                prompt="and then?",
                messages=[ChatMessage(role="user", content="long story " * 200), ChatMessage(role="assistant", content="ok")],
                cache=["messages"],
            )
        )
    written = calls[0].usage.cache_write_tokens
    assert written > 3000 and calls[0].usage.cache_read_tokens == 0
    assert [c.usage.cache_read_tokens for c in calls[1:]] == [written, written]
    assert unmarked.usage.cache_read_tokens == unmarked.usage.cache_write_tokens == 0
    assert history.usage.cache_write_tokens > 0
    # The saving shows at the model's list price: a read costs a tenth of the input price.
    first, second = (c.metadata["list_price_cost"] for c in calls[:2])
    assert second < first / 5
    assert calls[0].cost == 0.0  # offline calls cost what offline_cost says


async def test_offline_reports_reasoning_tokens() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        budget = await forge.infer(ForgeInferenceRequest(prompt="think", thinking_budget=2048))
        effort = await forge.infer(ForgeInferenceRequest(prompt="think", reasoning_effort="medium"))
        none = await forge.infer(ForgeInferenceRequest(prompt="think"))
    assert budget.usage.reasoning_tokens == 2048
    assert budget.usage.completion_tokens == 2048 + none.usage.completion_tokens
    assert effort.usage.reasoning_tokens == 256 and none.usage.reasoning_tokens == 0


async def test_structured_answers_and_usage_cross_http_unchanged() -> None:
    embedded = EmbeddedForge(ForgeSettings(offline=True))
    request = ForgeInferenceRequest(prompt="ticket 1", response_schema=SCHEMA, reasoning_effort="low", cache=["system"],
                                    system="stable")
    with serve_in_thread(create_forge_app(embedded)) as url:
        client = HttpForgeClient(url, timeout=10)
        try:
            remote = await client.infer(request)
        finally:
            await client.aclose()
    local = await EmbeddedForge(ForgeSettings(offline=True)).infer(request)
    assert remote.parsed == local.parsed and validate_answer(remote.parsed, SCHEMA) == []
    assert remote.usage.reasoning_tokens == local.usage.reasoning_tokens == 64
    assert remote.usage.cache_write_tokens == local.usage.cache_write_tokens > 0


@pytest.mark.parametrize("max_tokens", [1, 50])
async def test_offline_structured_answer_ignores_the_echo_truncation(max_tokens: int) -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x", response_schema=SCHEMA, max_tokens=max_tokens))
    assert validate_answer(response.parsed, SCHEMA) == []
