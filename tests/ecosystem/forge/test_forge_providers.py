"""Each adapter against a fake of its provider on loopback: request mapping, usage, errors."""

from __future__ import annotations

import time

import pytest

from ecosystem.forge import (
    ChatMessage,
    EmbeddedForge,
    ForgeAuthenticationFailed,
    ForgeContentFiltered,
    ForgeError,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeQuotaExhausted,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
    RetryPolicy,
)
from tests.ecosystem.forge.conftest import KEYS, settings_for
from tests.ecosystem.forge.fakes import (
    FakeProvider,
    Reply,
    anthropic_error,
    anthropic_message,
    gemini_content,
    gemini_error,
    openai_completion,
    openai_error,
)

NO_RETRY = RetryPolicy(max_attempts=1)


def full_request(model: str, **extra: object) -> ForgeInferenceRequest:
    return ForgeInferenceRequest(
        prompt="And now?",
        model=model,
        temperature=0.2,
        max_tokens=256,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=0.25,
        stop_sequences=["END", "STOP"],
        system="You are terse.",
        messages=[ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello.")],
        **extra,  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------- request mapping


async def test_anthropic_request_mapping(anthropic_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(
            full_request("claude-sonnet-4-5-20250929", metadata={"user_id": "u-1", "run": 7})
        )
    seen = anthropic_fake.requests[0]
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.headers["x-api-key"] == KEYS["anthropic"]
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers
    assert seen.json == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 256,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "And now?"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END", "STOP"],
        "metadata": {"user_id": "u-1"},
    }
    assert response.text == "echo: And now?"
    assert response.provider == "anthropic"


async def test_anthropic_sends_only_top_p_when_temperature_was_not_set(anthropic_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-haiku-4-5", top_p=0.5))
    body = anthropic_fake.requests[0].json
    assert body["top_p"] == 0.5 and "temperature" not in body


async def test_openai_request_mapping(openai_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        await forge.infer(full_request("gpt-4o"))
    seen = openai_fake.requests[0]
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert seen.json == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "And now?"},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "stop": ["END", "STOP"],
    }


@pytest.mark.parametrize("model", ["o3-mini", "o1", "o4-mini", "gpt-5-mini"])
async def test_openai_reasoning_models_use_max_completion_tokens(
    openai_fake: FakeProvider, model: str
) -> None:
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(full_request(model))
    body = openai_fake.requests[0].json
    assert body["max_completion_tokens"] == 256
    assert "max_tokens" not in body and "temperature" not in body and "stop" not in body
    assert set(response.metadata["dropped_parameters"]) >= {"temperature", "top_p", "stop_sequences"}


async def test_gemini_request_mapping(gemini_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        await forge.infer(full_request("gemini-2.5-flash"))
    seen = gemini_fake.requests[0]
    assert (seen.method, seen.path) == ("POST", "/v1beta/models/gemini-2.5-flash:generateContent")
    assert seen.headers["x-goog-api-key"] == KEYS["gemini"]
    assert seen.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "And now?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "generationConfig": {
            "temperature": 0.2,
            "maxOutputTokens": 256,
            "topP": 0.9,
            "stopSequences": ["END", "STOP"],
            "frequencyPenalty": 0.5,
            "presencePenalty": 0.25,
        },
    }


# ----------------------------------------------------------------- usage normalisation


async def test_anthropic_usage_adds_cache_tokens_to_prompt(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(
        anthropic_message(input_tokens=100, output_tokens=50, cache_read=1000, cache_write=200)
    )
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1300, 50, 1350)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (1000, 200)
    # 100 x 3 + 1000 x 0.30 + 200 x 3.75 + 50 x 15, per million
    assert response.cost == pytest.approx((300 + 300 + 750 + 750) / 1e6)


async def test_openai_usage_counts_cached_tokens_inside_prompt(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_completion(prompt_tokens=2000, completion_tokens=100, cached_tokens=1500))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o-mini"))
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2000, 100, 2100)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (1500, 0)
    assert response.model == "gpt-4o-mini-2024-07-18"
    # dated id priced as gpt-4o-mini: 500 x 0.15 + 1500 x 0.075 + 100 x 0.60
    assert response.cost == pytest.approx((75 + 112.5 + 60) / 1e6)


async def test_gemini_usage_counts_cached_and_thinking_tokens(gemini_fake: FakeProvider) -> None:
    gemini_fake.queue(
        gemini_content(prompt_tokens=1200, candidates_tokens=80, cached_tokens=1000, thoughts_tokens=20)
    )
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x", model="gemini-2.5-flash"))
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1200, 100, 1300)
    assert usage.cache_read_tokens == 1000
    assert response.finish_reason == "STOP"


# ----------------------------------------------------------------- error mapping

ANTHROPIC_ERRORS = [
    (anthropic_error(400, "invalid_request_error", "max_tokens: too large"), ForgeInvalidRequest),
    (anthropic_error(401, "authentication_error", "invalid x-api-key"), ForgeAuthenticationFailed),
    (anthropic_error(403, "permission_error", "no access"), ForgeAuthenticationFailed),
    (anthropic_error(404, "not_found_error", "model: claude-nope"), ModelNotFound),
    (
        anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
        ForgeRateLimited,
    ),
    (anthropic_error(500, "api_error", "Internal server error"), ForgeServiceUnavailable),
    (anthropic_error(529, "overloaded_error", "Overloaded"), ForgeServiceUnavailable),
    (anthropic_message(stop_reason="refusal"), ForgeContentFiltered),
]
OPENAI_ERRORS = [
    (openai_error(400, "Invalid value for 'temperature'", param="temperature"), ForgeInvalidRequest),
    (openai_error(401, "Incorrect API key provided", code="invalid_api_key"), ForgeAuthenticationFailed),
    (openai_error(404, "The model `gpt-9` does not exist", code="model_not_found"), ModelNotFound),
    (
        openai_error(429, "Rate limit reached for gpt-4o", error_type="requests", code="rate_limit_exceeded"),
        ForgeRateLimited,
    ),
    (
        openai_error(
            429, "You exceeded your current quota", error_type="insufficient_quota", code="insufficient_quota"
        ),
        ForgeQuotaExhausted,
    ),
    (openai_error(500, "The server had an error", error_type="server_error"), ForgeServiceUnavailable),
    (openai_error(503, "Service unavailable", error_type="server_error"), ForgeServiceUnavailable),
    (openai_completion("", finish_reason="content_filter"), ForgeContentFiltered),
    (openai_completion(None, refusal="I can't help with that."), ForgeContentFiltered),
]
GEMINI_ERRORS = [
    (gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload"), ForgeInvalidRequest),
    (
        gemini_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
        ForgeAuthenticationFailed,
    ),
    (
        gemini_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials"),
        ForgeAuthenticationFailed,
    ),
    (gemini_error(403, "PERMISSION_DENIED", "Permission denied"), ForgeAuthenticationFailed),
    (gemini_error(404, "NOT_FOUND", "models/gemini-9 is not found"), ModelNotFound),
    (gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), ForgeRateLimited),
    (gemini_error(503, "UNAVAILABLE", "The model is overloaded"), ForgeServiceUnavailable),
    (gemini_error(504, "DEADLINE_EXCEEDED", "Deadline exceeded"), ForgeTimeout),
    (Reply(body={"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}), ForgeContentFiltered),
    (gemini_content("", finish_reason="SAFETY"), ForgeContentFiltered),
]
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}


@pytest.mark.parametrize(
    ("kind", "reply", "expected"),
    [("anthropic", r, e) for r, e in ANTHROPIC_ERRORS]
    + [("openai", r, e) for r, e in OPENAI_ERRORS]
    + [("gemini", r, e) for r, e in GEMINI_ERRORS],
)
async def test_provider_errors_map_to_forge_errors(
    kind: str, reply: Reply, expected: type[ForgeError]
) -> None:
    with FakeProvider(kind) as fake:  # type: ignore[arg-type]
        fake.queue(reply)
        async with EmbeddedForge(settings_for(fake, retry_policy=NO_RETRY)) as forge:
            with pytest.raises(expected) as caught:
                await forge.infer(ForgeInferenceRequest(prompt="x", model=MODELS[kind]))
    assert type(caught.value) is expected
    assert caught.value.is_retryable() == expected.retryable
    assert len(fake.requests) == 1


@pytest.mark.parametrize("kind", ["anthropic", "openai", "gemini"])
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(raw=b'{"id": "msg_1", "content": [{"type": "text", "te'), ForgeMalformedResponse),
        (
            Reply(raw=b"<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"}),
            ForgeMalformedResponse,
        ),
        (Reply(body={"unexpected": True}), ForgeMalformedResponse),
        (Reply(drop=True, body={"padding": "x" * 400}), ForgeServiceUnavailable),
    ],
    ids=["truncated-json", "non-json", "missing-fields", "dropped-connection"],
)
async def test_broken_answers(kind: str, reply: Reply, expected: type[ForgeError]) -> None:
    with FakeProvider(kind) as fake:  # type: ignore[arg-type]
        fake.queue(reply)
        async with EmbeddedForge(settings_for(fake, retry_policy=NO_RETRY)) as forge:
            with pytest.raises(expected) as caught:
                await forge.infer(ForgeInferenceRequest(prompt="x", model=MODELS[kind]))
    assert isinstance(caught.value.__cause__, Exception) or expected is ForgeMalformedResponse


async def test_slow_provider_times_out(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(Reply(delay=2.0, body={}))
    async with EmbeddedForge(settings_for(anthropic_fake, timeout=0.2, retry_policy=NO_RETRY)) as forge:
        started = time.monotonic()
        with pytest.raises(ForgeTimeout) as caught:
            await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    assert time.monotonic() - started < 1.5
    assert caught.value.__cause__ is not None


async def test_connection_refused_is_unavailable() -> None:
    with FakeProvider("openai") as fake:
        url = fake.base_url
    settings = settings_for(retry_policy=NO_RETRY, base_urls={"openai": url})
    async with EmbeddedForge(settings) as forge:
        with pytest.raises(ForgeServiceUnavailable):
            await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))


# ----------------------------------------------------------------- retries


async def test_rate_limit_retry_waits_for_retry_after(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(anthropic_error(429, "rate_limit_error", "slow down", retry_after=1))
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="again", model="claude-sonnet-4-5"))
    first, second = anthropic_fake.requests
    assert second.received_at - first.received_at >= 0.95
    assert response.text == "echo: again"
    assert response.metadata["attempts"] == 2
    assert response.latency >= 0.95


async def test_openai_retry_after_ms_wins_over_retry_after(openai_fake: FakeProvider) -> None:
    openai_fake.queue(
        openai_error(
            429,
            "Rate limit reached",
            error_type="requests",
            code="rate_limit_exceeded",
            headers={"retry-after": "20", "retry-after-ms": "150"},
        )
    )
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        started = time.monotonic()
        await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))
    assert 0.14 <= time.monotonic() - started < 2
    assert len(openai_fake.requests) == 2


async def test_gemini_retry_info_sets_retry_after(gemini_fake: FakeProvider) -> None:
    retry_info = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]
    gemini_fake.queue(gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", details=retry_info))
    async with EmbeddedForge(settings_for(gemini_fake, retry_policy=NO_RETRY)) as forge:
        with pytest.raises(ForgeRateLimited) as caught:
            await forge.infer(ForgeInferenceRequest(prompt="x", model="gemini-2.5-pro"))
    assert caught.value.retry_after == 37


async def test_overloaded_529_is_retried_then_succeeds(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_error(529, "overloaded_error", "Overloaded"),
    )
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    assert len(anthropic_fake.requests) == 3
    assert response.metadata["attempts"] == 3


async def test_exhausted_retries_keep_retry_after(anthropic_fake: FakeProvider) -> None:
    limited = anthropic_error(429, "rate_limit_error", "slow down", retry_after=0.1)
    anthropic_fake.queue(limited, limited, limited)
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        with pytest.raises(ForgeRateLimited) as caught:
            await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    assert len(anthropic_fake.requests) == 3
    assert caught.value.retry_after == pytest.approx(0.1)
    assert "3 attempts" in str(caught.value)


async def test_retry_after_is_capped_by_max_retry_after(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(anthropic_error(429, "rate_limit_error", "slow down", retry_after=3600))
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01, max_retry_after=0.2)
    async with EmbeddedForge(settings_for(anthropic_fake, retry_policy=policy)) as forge:
        started = time.monotonic()
        await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "reply",
    [
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        anthropic_error(400, "invalid_request_error", "bad"),
    ],
)
async def test_non_retryable_errors_fail_at_once(anthropic_fake: FakeProvider, reply: Reply) -> None:
    anthropic_fake.queue(reply)
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        with pytest.raises(ForgeError):
            await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))
    assert len(anthropic_fake.requests) == 1


async def test_quota_exhausted_is_not_retried(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_error(429, "quota", error_type="insufficient_quota", code="insufficient_quota"))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        with pytest.raises(ForgeQuotaExhausted):
            await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))
    assert len(openai_fake.requests) == 1
