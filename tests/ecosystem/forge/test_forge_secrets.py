"""API keys never show: not in reprs, error messages, logs or server responses."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from ecosystem.forge import (
    EmbeddedForge,
    ForgeAuthenticationFailed,
    ForgeInferenceRequest,
    ForgeServiceUnavailable,
    ForgeSettings,
    HttpForgeClient,
    OpenAICompatibleEndpoint,
    create_forge_app,
)
from ecosystem.service import serve_in_thread
from tests.ecosystem.forge.conftest import KEYS, settings_for
from tests.ecosystem.forge.fakes import FakeProvider, openai_error


def test_settings_repr_and_dump_hide_keys() -> None:
    settings = settings_for(
        endpoints={
            "gw": OpenAICompatibleEndpoint(
                base_url="http://127.0.0.1:1/v1", api_key=SecretStr("gw-SECRET-key")
            )
        },
        token=SecretStr("forge-SECRET-token"),
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in [*KEYS.values(), "gw-SECRET-key", "forge-SECRET-token"]:
        assert secret not in shown
    assert "**********" in shown


def test_from_env_reads_provider_keys() -> None:
    settings = ForgeSettings.from_env(
        {"ANTHROPIC_API_KEY": "a-key", "OPENAI_API_KEY": "o-key", "GOOGLE_API_KEY": "g-key"}, timeout="30s"
    )
    assert {k: v.get_secret_value() for k, v in settings.api_keys.items()} == {
        "anthropic": "a-key",
        "openai": "o-key",
        "gemini": "g-key",
    }
    assert settings.timeout == 30
    assert (
        ForgeSettings.from_env({"GEMINI_API_KEY": "first", "GOOGLE_API_KEY": "second"})
        .api_keys["gemini"]
        .get_secret_value()
        == "first"
    )


async def test_echoed_key_is_redacted_from_errors_logs_and_responses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = KEYS["openai"]
    with FakeProvider("openai") as fake:
        rejected = openai_error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        unavailable = openai_error(503, f"upstream refused key {key}", error_type="server_error")
        fake.queue(rejected, unavailable, unavailable, unavailable, rejected)
        forge = EmbeddedForge(settings_for(fake))
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(ForgeAuthenticationFailed) as auth:
                await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))
            with pytest.raises(ForgeServiceUnavailable) as down:
                await forge.infer(ForgeInferenceRequest(prompt="x", model="gpt-4o"))
            with serve_in_thread(create_forge_app(forge)) as url:
                async with HttpForgeClient(url) as client:
                    response = await client._client.post(
                        "/v1/inference", json={"prompt": "x", "model": "gpt-4o"}
                    )
        await forge.aclose()
    assert "Incorrect API key provided" in str(auth.value)
    assert response.status_code == 401
    for text in (str(auth.value), repr(auth.value), str(down.value), response.text, caplog.text, repr(forge)):
        assert key not in text
