"""Batch mode against loopback fakes of the three batch APIs and the offline provider.

Submission in each wire format (field by field, bodies built by the online body builders),
polling, results in item order (the fakes answer in reverse), per-item errors mapped to the Forge
classes, expiry, whole-batch failure, splitting by size limits, cancellation, and the batch price.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ecosystem.forge import (
    ChatMessage,
    EmbeddedForge,
    ForgeError,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeServiceUnavailable,
    OpenAICompatibleEndpoint,
    PriceTable,
    TokenUsage,
)
from ecosystem.forge.batch import BatchItem, BatchJob, PollPolicy, outcome_summary, run_batch
from ecosystem.forge.errors import ForgeBatchCancelled, ForgeBatchExpired, ForgeBatchFailed
from ecosystem.forge.providers.anthropic import AnthropicProvider
from ecosystem.forge.providers.gemini import GeminiProvider
from ecosystem.forge.providers.openai import OpenAIProvider
from tests.ecosystem.forge.batch_fakes import COMPLETION_TOKENS, PROMPT_TOKENS, FakeBatches
from tests.ecosystem.forge.conftest import KEYS, settings_for

FAST = PollPolicy(first=0.001, multiplier=1.0, maximum=0.001)
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
SCHEMA = {"type": "object", "required": ["urgency"], "properties": {"urgency": {"type": "string", "enum": ["low", "high"]}}}


def requests_for(kind: str, prompts: list[str], **extra: Any) -> list[ForgeInferenceRequest]:
    return [ForgeInferenceRequest(prompt=p, model=MODELS[kind], provider=kind, max_tokens=300,
                                  metadata={"workflow": "nightly", "task_id": "summarize", "run_id": "run-1"},
                                  **extra) for p in prompts]


async def batch(fake: FakeBatches, requests: list[ForgeInferenceRequest], **settings: Any) -> tuple[BatchJob, list[BatchItem]]:
    async with EmbeddedForge(settings_for(fake, **settings)) as forge:
        return await run_batch(forge, requests, policy=FAST)


def usage() -> TokenUsage:
    return TokenUsage(prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS,
                      total_tokens=PROMPT_TOKENS + COMPLETION_TOKENS)


def assert_batch_priced(items: list[BatchItem], model: str) -> None:
    table = PriceTable()
    standard, batched = table.cost(usage(), model), table.cost(usage(), model, tier="batch")
    assert standard and batched and batched == pytest.approx(standard / 2)
    for item in items:
        assert item.response is not None
        assert item.response.cost == pytest.approx(batched)
        assert item.response.metadata["tier"] == "batch"


# ----------------------------------------------------------------- OpenAI


async def test_openai_batch_submission_polling_results_in_order() -> None:
    prompts = ["ticket one", "ticket two", "ticket three"]
    with FakeBatches("openai", polls=2) as fake:
        requests = requests_for("openai", prompts, system="Summarise.", response_schema=None)
        job, items = await batch(fake, requests)
    upload = fake.uploads[0]
    assert upload["purpose"] == "batch" and upload["filename"] == "batch.jsonl"
    entries = fake.submissions[0]
    expected = OpenAIProvider(base_url="http://x", api_key=None, timeout=1)
    for i, entry in enumerate(entries):
        assert entry["custom_id"] == f"item-{i}"
        assert entry["method"] == "POST" and entry["url"] == "/v1/chat/completions"
        assert entry["body"] == expected.build_body(requests[i].model_copy(update={"model": "gpt-4o-mini"}), "gpt-4o-mini")[0]
    create = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/batches").json
    assert create["endpoint"] == "/v1/chat/completions" and create["completion_window"] == "24h"
    assert create["input_file_id"] == "file-1"
    assert create["metadata"] == {"workflow": "nightly", "task_id": "summarize", "run_id": "run-1"}
    assert all(r.headers["authorization"] == f"Bearer {KEYS['openai']}" for r in fake.requests)
    polls = [r for r in fake.requests if r.method == "GET" and r.path.startswith("/v1/batches/")]
    assert len(polls) == 3 and job.polls == 3  # two answered in_progress, the third completed
    assert job.state == "completed" and job.ids == ["batch_2"]
    assert [i.response.text for i in items if i.response] == [f"echo: {p}" for p in prompts]
    assert_batch_priced(items, "gpt-4o-mini")


async def test_openai_batch_structured_output_uses_the_online_body() -> None:
    with FakeBatches("openai") as fake:
        await batch(fake, requests_for("openai", ["x"], response_schema=SCHEMA))
    body = fake.submissions[0][0]["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True


# ----------------------------------------------------------------- Anthropic


async def test_anthropic_message_batch_submission_and_results() -> None:
    prompts = ["a", "b", "c", "d"]
    with FakeBatches("anthropic", polls=1) as fake:
        requests = requests_for("anthropic", prompts, system="Be brief.", cache=["system"])
        job, items = await batch(fake, requests)
    create = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches")
    assert create.headers["x-api-key"] == KEYS["anthropic"] and create.headers["anthropic-version"] == "2023-06-01"
    builder = AnthropicProvider(base_url="http://x", api_key=None, timeout=1)
    for i, entry in enumerate(create.json["requests"]):
        assert entry["custom_id"] == f"item-{i}"
        assert entry["params"] == builder.build_body(requests[i], "claude-sonnet-4-5")
        assert entry["params"]["system"][0]["cache_control"] == {"type": "ephemeral"}
    results = [r for r in fake.requests if r.path.endswith("/results")]
    assert len(results) == 1 and results[0].headers["accept"] == "application/binary"
    assert job.state == "completed" and job.polls == 2
    assert [i.response.text for i in items if i.response] == [f"echo: {p}" for p in prompts]
    assert_batch_priced(items, "claude-sonnet-4-5")


# ----------------------------------------------------------------- Gemini


async def test_gemini_batch_inline_requests_and_responses() -> None:
    prompts = ["one", "two"]
    with FakeBatches("gemini", polls=3) as fake:
        requests = requests_for("gemini", prompts, response_schema=SCHEMA)
        job, items = await batch(fake, requests)
    create = next(r for r in fake.requests if r.path.endswith(":batchGenerateContent"))
    assert create.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    assert create.headers["x-goog-api-key"] == KEYS["gemini"]
    body = create.json["batch"]
    assert body["displayName"] == "nightly-summarize-run-1"
    builder = GeminiProvider(base_url="http://x", api_key=None, timeout=1)
    for i, row in enumerate(body["inputConfig"]["requests"]["requests"]):
        assert row["metadata"] == {"key": f"item-{i}"}
        assert row["request"] == builder.build_body(requests[i], "gemini-2.5-flash")
        assert row["request"]["generationConfig"]["responseMimeType"] == "application/json"
    assert [r.path for r in fake.requests if r.method == "GET"] == ["/v1beta/batches/1abc"] * 4
    assert job.state == "completed"
    assert [i.response.text for i in items if i.response] == [f"echo: {p}" for p in prompts]
    assert_batch_priced(items, "gemini-2.5-flash")


# ----------------------------------------------------------------- all three


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_per_item_errors_map_to_the_forge_taxonomy(kind: str) -> None:
    prompts = ["fine 0", "bad input 1", "fine 2", "busy 3"]
    with FakeBatches(kind, item_errors={"bad input": "invalid", "busy": "server"}) as fake:  # type: ignore[arg-type]
        job, items = await batch(fake, requests_for(kind, prompts))
    assert job.state == "completed"
    assert [i.ok for i in items] == [True, False, True, False]
    assert isinstance(items[1].error, ForgeInvalidRequest)
    assert isinstance(items[3].error, ForgeServiceUnavailable)
    assert items[0].response is not None and items[0].response.text == "echo: fine 0"
    assert KEYS[kind] not in str(items[1].error)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_expired_batch_keeps_what_was_answered(kind: str) -> None:
    with FakeBatches(kind, outcome="expired", answered=1) as fake:  # type: ignore[arg-type]
        job, items = await batch(fake, requests_for(kind, ["p0", "p1", "p2"]))
    assert job.state == "expired"
    assert items[0].ok
    assert all(isinstance(i.error, ForgeBatchExpired) for i in items[1:])
    summary = outcome_summary(job, items)
    assert "expired: 1 of 3 items answered" in summary and "2 batch_expired" in summary
    assert f"${items[0].response.cost:.6f} billed" in summary  # type: ignore[union-attr]


async def test_gemini_expired_batch_answers_nothing() -> None:
    with FakeBatches("gemini", outcome="expired") as fake:
        job, items = await batch(fake, requests_for("gemini", ["p0", "p1"]))
    assert job.state == "expired"
    assert all(isinstance(i.error, ForgeBatchExpired) for i in items)


@pytest.mark.parametrize("kind", ["openai", "gemini"])
async def test_a_batch_that_fails_as_a_whole(kind: str) -> None:
    with FakeBatches(kind, outcome="failed") as fake:  # type: ignore[arg-type]
        job, items = await batch(fake, requests_for(kind, ["p0", "p1"]))
    assert job.state == "failed"
    assert all(isinstance(i.error, ForgeBatchFailed) for i in items)
    assert "invalid" in str(items[0].error)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_split_by_request_limit_keeps_item_order(kind: str) -> None:
    prompts = [f"doc {i}" for i in range(5)]
    with FakeBatches(kind) as fake:  # type: ignore[arg-type]
        job, items = await batch(fake, requests_for(kind, prompts), batch_max_requests=2)
    assert [len(s) for s in fake.submissions] == [2, 2, 1]
    assert len(job.parts) == 3 and [p.indices for p in job.parts] == [[0, 1], [2, 3], [4]]
    assert [i.response.text for i in items if i.response] == [f"echo: {p}" for p in prompts]


async def test_split_by_bytes_when_one_item_is_too_big() -> None:
    with FakeBatches("gemini") as fake:
        async with EmbeddedForge(settings_for(fake)) as forge:
            # Within a request's bounds (2M characters a text), but 4-byte characters in three
            # turns make one item bigger than Gemini's whole inline batch.
            turns = [ChatMessage(role="user", content="\U0001f600" * 1_900_000)] * 3
            with pytest.raises(ForgeInvalidRequest, match="more than a whole batch may"):
                await forge.submit_batch(requests_for("gemini", ["x"], messages=turns))
    assert fake.submissions == []


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_cancelling_the_wait_cancels_the_provider_batch(kind: str) -> None:
    submitted = asyncio.Event()

    async def on_submitted(job: BatchJob) -> None:
        submitted.set()

    with FakeBatches(kind, polls=10_000) as fake:  # type: ignore[arg-type]
        async with EmbeddedForge(settings_for(fake)) as forge:
            waiting = asyncio.create_task(run_batch(forge, requests_for(kind, ["p"]), policy=FAST,
                                                    on_submitted=on_submitted))
            await submitted.wait()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
    cancels = [r for r in fake.requests if r.method == "POST" and "cancel" in r.path]
    assert len(cancels) == 1


async def test_an_item_whose_body_cannot_be_built_is_refused_alone() -> None:
    with FakeBatches("anthropic") as fake:
        requests = requests_for("anthropic", ["ok"]) + requests_for("anthropic", ["thinks"], thinking_budget=100)
        job, items = await batch(fake, requests)
    assert [len(s) for s in fake.submissions] == [1]
    assert items[0].ok and isinstance(items[1].error, ForgeInvalidRequest)
    assert "thinking_budget" in str(items[1].error)


async def test_one_batch_one_model_and_no_batch_api_on_compatible_endpoints() -> None:
    with FakeBatches("openai") as fake:
        async with EmbeddedForge(settings_for(fake)) as forge:
            mixed = requests_for("openai", ["a"]) + [ForgeInferenceRequest(prompt="b", model="gpt-4o")]
            with pytest.raises(ForgeInvalidRequest, match="one provider and model"):
                await forge.submit_batch(mixed)
        settings = settings_for(fake, endpoints={"local": OpenAICompatibleEndpoint(base_url=fake.base_url)})
        async with EmbeddedForge(settings) as forge:
            with pytest.raises(ForgeInvalidRequest, match="without a batch API"):
                await forge.submit_batch([ForgeInferenceRequest(prompt="b", model="local/llama")])
    assert fake.submissions == []


# ----------------------------------------------------------------- offline


async def test_offline_batch_waits_its_fake_delay_and_costs_the_batch_share() -> None:
    settings = settings_for(offline=True, offline_cost=0.002, offline_batch_delay=0.05,
                            offline_failures={"boom": {"error": "invalid_request", "message": "scripted"}})
    prompts = ["first", "boom", "third"]
    async with EmbeddedForge(settings) as forge:
        job, items = await run_batch(forge, [ForgeInferenceRequest(prompt=p) for p in prompts],
                                     policy=PollPolicy(first=0.01, multiplier=1.0, maximum=0.01))
    assert job.state == "completed" and job.polls >= 2  # at least one poll found it still running
    assert [i.response.text if i.response else None for i in items] == ["first", None, "third"]
    assert isinstance(items[1].error, ForgeError) and items[1].error.type == "invalid_request"
    assert all(i.response.cost == pytest.approx(0.001) for i in items if i.response)
    assert all(i.response.metadata["offline"] for i in items if i.response)


async def test_offline_batch_cancelled_while_waiting() -> None:
    async with EmbeddedForge(settings_for(offline=True, offline_batch_delay=3600)) as forge:
        job = await forge.submit_batch([ForgeInferenceRequest(prompt="x")])
        await forge.cancel_batch(job)
        await forge.poll_batch(job)
        items = await forge.collect_batch(job)
    assert job.state == "cancelled"
    assert isinstance(items[0].error, ForgeBatchCancelled)
