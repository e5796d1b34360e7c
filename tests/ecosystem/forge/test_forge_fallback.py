"""The error taxonomy a fallback loop reads: which failures another model may cure, per provider."""

from __future__ import annotations

import pytest

from ecosystem.forge import (
    EmbeddedForge,
    ForgeAuthenticationFailed,
    ForgeContentFiltered,
    ForgeError,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeQuotaExhausted,
    ForgeRateLimited,
    ForgeSchemaViolation,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
    RetryPolicy,
    may_fall_back,
)
from tests.ecosystem.forge.conftest import settings_for
from tests.ecosystem.forge.fakes import (
    FakeProvider,
    Reply,
    anthropic_error,
    anthropic_message,
    gemini_blocked,
    gemini_content,
    gemini_error,
    openai_completion,
    openai_error,
)

ONE_ATTEMPT = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize(
    ("cls", "falls_back"),
    [
        (ForgeRateLimited, True),
        (ForgeServiceUnavailable, True),
        (ForgeTimeout, True),
        (ModelNotFound, True),
        (ForgeContentFiltered, True),
        (ForgeQuotaExhausted, False),
        (ForgeAuthenticationFailed, False),
        (ForgeInvalidRequest, False),
        (ForgeMalformedResponse, False),
        (ForgeSchemaViolation, False),
    ],
)
def test_falls_back_is_a_property_of_the_class(cls: type[ForgeError], falls_back: bool) -> None:
    assert cls.falls_back is falls_back
    assert may_fall_back(cls("x")) is falls_back
    assert may_fall_back(ValueError("x")) is False


CASES = [
    ("anthropic", anthropic_error(429, "rate_limit_error", "slow down"), ForgeRateLimited),
    ("anthropic", anthropic_error(529, "overloaded_error", "overloaded"), ForgeServiceUnavailable),
    ("anthropic", anthropic_error(404, "not_found_error", "model: claude-nope"), ModelNotFound),
    ("anthropic", anthropic_message("", stop_reason="refusal"), ForgeContentFiltered),
    ("anthropic", Reply(delay=1.5), ForgeTimeout),
    ("openai", openai_error(429, "Rate limit reached", error_type="requests", code="rate_limit_exceeded"),
     ForgeRateLimited),
    ("openai", openai_error(503, "The server is overloaded", error_type="server_error"), ForgeServiceUnavailable),
    ("openai", openai_error(404, "The model does not exist", code="model_not_found"), ModelNotFound),
    ("openai", openai_completion("partial", finish_reason="content_filter"), ForgeContentFiltered),
    ("openai", openai_completion(None, refusal="I can't help with that."), ForgeContentFiltered),
    ("gemini", gemini_error(429, "RESOURCE_EXHAUSTED", "quota"), ForgeRateLimited),
    ("gemini", gemini_error(503, "UNAVAILABLE", "overloaded"), ForgeServiceUnavailable),
    ("gemini", gemini_error(404, "NOT_FOUND", "models/gemini-nope is not found"), ModelNotFound),
    ("gemini", gemini_content("", finish_reason="SAFETY"), ForgeContentFiltered),
    ("gemini", gemini_blocked("PROHIBITED_CONTENT"), ForgeContentFiltered),
]
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o", "gemini": "gemini-2.5-flash"}


@pytest.mark.parametrize(("kind", "reply", "expected"), CASES)
async def test_each_provider_maps_to_the_fallback_classes(kind: str, reply: Reply, expected: type[ForgeError]) -> None:
    with FakeProvider(kind) as fake:  # type: ignore[arg-type]
        fake.queue(reply)
        settings = settings_for(fake, retry_policy=ONE_ATTEMPT, timeout=0.5)
        async with EmbeddedForge(settings) as forge:
            with pytest.raises(expected) as info:
                await forge.infer(ForgeInferenceRequest(prompt="q", model=MODELS[kind], max_attempts=1))
    assert may_fall_back(info.value)


async def test_a_bad_key_does_not_fall_back(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_error(401, "Incorrect API key provided", code="invalid_api_key"))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        with pytest.raises(ForgeAuthenticationFailed) as info:
            await forge.infer(ForgeInferenceRequest(prompt="q", model="gpt-4o"))
    assert not may_fall_back(info.value)
