"""EmbeddedForge: routing, defaults, keys, endpoints, the offline provider and cost on responses."""

from __future__ import annotations

import logging
import pickle

import pytest
from pydantic import SecretStr

from ecosystem.forge import (
    ChatMessage,
    EmbeddedForge,
    ForgeAuthenticationFailed,
    ForgeError,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeSettings,
    ForgeTimeout,
    HttpForgeClient,
    ModelNotFound,
    OfflineFailure,
    OpenAICompatibleEndpoint,
    RetryPolicy,
    build_forge,
)
from ecosystem.forge.embedded import provider_for_model
from tests.ecosystem.forge.conftest import settings_for
from tests.ecosystem.forge.fakes import FakeProvider, openai_completion


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("claude-3-5-haiku-latest", "anthropic"),
        ("gpt-4o-mini", "openai"),
        ("gpt-4-turbo", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("o1", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini", "openai"),
        ("gemini-2.5-flash", "gemini"),
        ("models/gemini-2.0-flash", "gemini"),
        ("llama3", None),
        ("omni-model", None),
    ],
)
def test_provider_for_model(model: str, provider: str | None) -> None:
    assert provider_for_model(model) == provider


def test_route_by_hint_prefix_endpoint_and_default() -> None:
    settings = ForgeSettings(
        endpoints={
            "vllm": OpenAICompatibleEndpoint(
                base_url="http://127.0.0.1:1/v1", default_model="meta-llama/Llama-3.1-8B"
            ),
        }
    )
    forge = EmbeddedForge(settings)
    route = forge.route
    assert route(ForgeInferenceRequest(prompt="x", model="gpt-4o")) == ("openai", "gpt-4o")
    assert route(ForgeInferenceRequest(prompt="x", provider="claude")) == ("anthropic", "claude-sonnet-4-5")
    assert route(ForgeInferenceRequest(prompt="x", provider="gemini-api")) == ("gemini", "gemini-2.5-flash")
    assert route(ForgeInferenceRequest(prompt="x", provider="openai")) == ("openai", "gpt-4o-mini")
    assert route(ForgeInferenceRequest(prompt="x")) == ("anthropic", "claude-sonnet-4-5")
    assert route(ForgeInferenceRequest(prompt="x", model="vllm/qwen2.5")) == ("vllm", "qwen2.5")
    assert route(ForgeInferenceRequest(prompt="x", provider="openai-compatible")) == (
        "vllm",
        "meta-llama/Llama-3.1-8B",
    )
    assert route(ForgeInferenceRequest(prompt="x", model="meta-llama/Llama-3.1-8B")) == (
        "vllm",
        "meta-llama/Llama-3.1-8B",
    )
    assert route(ForgeInferenceRequest(prompt="x", model="anthropic/claude-opus-4-1")) == (
        "anthropic",
        "claude-opus-4-1",
    )


def test_unknown_model_and_provider_name_the_known_providers() -> None:
    forge = EmbeddedForge(ForgeSettings())
    with pytest.raises(ModelNotFound, match="anthropic, openai, gemini"):
        forge.route(ForgeInferenceRequest(prompt="x", model="llama3"))
    with pytest.raises(ModelNotFound, match="unknown provider 'mistral'"):
        forge.route(ForgeInferenceRequest(prompt="x", provider="mistral"))


async def test_missing_key_fails_before_any_request() -> None:
    async with EmbeddedForge(ForgeSettings()) as forge:
        with pytest.raises(ForgeAuthenticationFailed, match="ANTHROPIC_API_KEY"):
            await forge.infer(ForgeInferenceRequest(prompt="x", model="claude-sonnet-4-5"))


async def test_empty_request_is_invalid() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        with pytest.raises(ForgeInvalidRequest):
            await forge.infer(ForgeInferenceRequest(prompt="", model="gpt-4o"))


async def test_openai_compatible_endpoint_without_key_and_with_headers() -> None:
    with FakeProvider("openai") as fake:
        fake.queue(openai_completion("local answer", model="llama3.1:8b"))
        settings = settings_for(
            endpoints={
                "ollama": OpenAICompatibleEndpoint(
                    base_url=fake.base_url, headers={"X-Team": "research"}, default_model="llama3.1:8b"
                )
            }
        )
        async with EmbeddedForge(settings) as forge:
            response = await forge.infer(ForgeInferenceRequest(prompt="hi", provider="ollama"))
    seen = fake.requests[0]
    assert seen.path == "/v1/chat/completions"
    assert "authorization" not in seen.headers
    assert seen.headers["x-team"] == "research"
    assert seen.json["model"] == "llama3.1:8b"
    assert (response.provider, response.text) == ("ollama", "local answer")
    assert response.cost is None  # no price for a self-hosted model: null, never a guess


async def test_openai_compatible_endpoint_with_key() -> None:
    with FakeProvider("openai") as fake:
        settings = settings_for(
            endpoints={
                "litellm": OpenAICompatibleEndpoint(base_url=fake.base_url, api_key=SecretStr("sk-litellm"))
            }
        )
        async with EmbeddedForge(settings) as forge:
            response = await forge.infer(ForgeInferenceRequest(prompt="hi", model="litellm/gpt-4o"))
    assert fake.requests[0].headers["authorization"] == "Bearer sk-litellm"
    assert response.cost is not None  # the proxied model is a known one


async def test_unknown_price_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with FakeProvider("openai") as fake:
        fake.queue(openai_completion(model="gpt-99"), openai_completion(model="gpt-99"))
        async with EmbeddedForge(settings_for(fake)) as forge:
            with caplog.at_level(logging.WARNING, logger="ecosystem.forge"):
                first = await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-99"))
                second = await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-99"))
    assert first.cost is None and second.cost is None
    warnings = [r for r in caplog.records if "no price" in r.getMessage()]
    assert len(warnings) == 1 and "gpt-99" in warnings[0].getMessage()


async def test_price_override_applies_to_responses() -> None:
    with FakeProvider("openai") as fake:
        fake.queue(openai_completion(model="gpt-4o", prompt_tokens=1_000_000, completion_tokens=0))
        settings = settings_for(fake, prices={"gpt-4o": {"input": 1.0, "output": 2.0}})
        async with EmbeddedForge(settings) as forge:
            response = await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))
    assert response.cost == pytest.approx(1.0)


# ----------------------------------------------------------------- offline


async def test_offline_echoes_and_is_labelled() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        response = await forge.infer(
            ForgeInferenceRequest(prompt="Summarise the report", model="claude-sonnet-4-5", system="be brief")
        )
    assert response.text == "Summarise the report"
    assert response.model == "offline:claude-sonnet-4-5"
    assert response.provider == "offline"
    assert response.metadata["offline"] is True
    assert response.cost == 0.0
    assert (
        response.usage.prompt_tokens == 8
    )  # "be brief\nSummarise the report": 29 chars, 4 a token, rounded up
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


async def test_offline_canned_responses_by_substring_and_model_with_cost() -> None:
    settings = ForgeSettings(
        offline=True,
        offline_responses={
            "weather": "It is sunny.",
            "gpt-4o": "canned for gpt-4o",
            "weather in Paris": "Rainy.",
        },
        offline_cost=0.25,
    )
    async with EmbeddedForge(settings) as forge:
        general = await forge.infer(
            ForgeInferenceRequest(prompt="The weather today?", model="claude-haiku-4-5")
        )
        specific = await forge.infer(
            ForgeInferenceRequest(prompt="weather in Paris?", model="claude-haiku-4-5")
        )
        by_model = await forge.infer(ForgeInferenceRequest(prompt="anything", model="gpt-4o"))
    assert (general.text, specific.text, by_model.text) == ("It is sunny.", "Rainy.", "canned for gpt-4o")
    assert general.cost == 0.25
    assert general.metadata["canned"] is True


async def test_offline_still_rejects_unknown_models() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        with pytest.raises(ModelNotFound):
            await forge.infer(ForgeInferenceRequest(prompt="x", model="clade-sonet"))
        response = await forge.infer(ForgeInferenceRequest(prompt="x", model="anything", provider="offline"))
    assert response.model == "offline:anything"


async def test_offline_latency_is_reported() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True, offline_latency=0.05)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="x"))
    assert response.latency >= 0.05


async def test_offline_scripted_failures_are_retried() -> None:
    settings = ForgeSettings(
        offline=True,
        retry_policy=RetryPolicy(max_attempts=3, initial_delay=0.01),
        offline_failures={"flaky": OfflineFailure(error="service_unavailable", times=2)},
    )
    async with EmbeddedForge(settings) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="a flaky call", model="gpt-4o"))
    assert response.metadata["attempts"] == 3


async def test_messages_with_prompt_become_the_conversation() -> None:
    request = ForgeInferenceRequest(
        prompt="third",
        messages=[ChatMessage(role="system", content="sys"), ChatMessage(role="user", content="first")],
    )
    assert [m.content for m in request.conversation()] == ["sys", "first", "third"]
    assert request.system_text() == "sys"
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        assert (await forge.infer(request)).text == "third"


# ----------------------------------------------------------------- errors and build_forge


@pytest.mark.parametrize(
    "error",
    [
        ForgeRateLimited("slow", retry_after=2.5),
        ForgeTimeout("late"),
        ForgeServiceUnavailable("down", retry_after=1),
        ModelNotFound("nope"),
    ],
)
def test_errors_pickle_with_retry_after(error: ForgeError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.message, again.retry_after, again.is_retryable()) == (
        error.message,
        error.retry_after,
        error.retryable,
    )


def test_rate_limit_without_hint_uses_seed_default() -> None:
    error = ForgeRateLimited("limit")
    assert error.retry_after == 60.0 and not error.hinted
    assert ForgeRateLimited("limit", retry_after=3).hinted


async def test_build_forge_picks_backend() -> None:
    embedded = build_forge(ForgeSettings(offline=True))
    remote = build_forge(ForgeSettings(endpoint="http://127.0.0.1:9/", token=SecretStr("t")))
    assert isinstance(embedded, EmbeddedForge) and isinstance(remote, HttpForgeClient)
    await embedded.aclose()
    await remote.aclose()
