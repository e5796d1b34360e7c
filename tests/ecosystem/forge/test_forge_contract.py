"""One contract, two backends: EmbeddedForge, and HttpForgeClient against the served app.

The same tests run against the embedded Forge (offline mode) and against ``create_forge_app``
serving that Forge on loopback, with and without a bearer token: results and errors (type and
``retry_after``) must be indistinguishable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from ecosystem.forge import (
    EmbeddedForge,
    Forge,
    ForgeAuthenticationFailed,
    ForgeInferenceRequest,
    ForgeInvalidRequest,
    ForgeRateLimited,
    ForgeSettings,
    HttpForgeClient,
    ModelNotFound,
    OfflineFailure,
    RetryPolicy,
    ToolError,
    ToolNotFound,
    create_forge_app,
)
from ecosystem.service import serve_in_thread

TOKEN = "contract-bearer-token"
SETTINGS = ForgeSettings(
    offline=True,
    retry_policy=RetryPolicy(max_attempts=1),
    offline_responses={"capital of France": "Paris."},
    offline_failures={"please rate limit me": OfflineFailure(error="rate_limit_exceeded", retry_after=2)},
)


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    with (
        serve_in_thread(create_forge_app(EmbeddedForge(SETTINGS))) as open_url,
        serve_in_thread(create_forge_app(EmbeddedForge(SETTINGS), token=TOKEN)) as token_url,
    ):
        yield {"open": open_url, "token": token_url}


@pytest.fixture(params=["embedded", "http", "http+token"])
async def forge(request: pytest.FixtureRequest, served: dict[str, str]) -> AsyncIterator[Forge]:
    backend: Forge
    if request.param == "embedded":
        backend = EmbeddedForge(SETTINGS)
    elif request.param == "http":
        backend = HttpForgeClient(served["open"], timeout=10)
    else:
        backend = HttpForgeClient(served["token"], token=TOKEN, timeout=10)
    yield backend
    await backend.aclose()


async def test_inference(forge: Forge) -> None:
    assert isinstance(forge, Forge)
    response = await forge.infer(
        ForgeInferenceRequest(
            prompt="What is the capital of France?", model="claude-sonnet-4-5", metadata={"task": "t1"}
        )
    )
    assert response.text == "Paris."
    assert response.model == "offline:claude-sonnet-4-5"
    assert response.provider == "offline"
    assert response.metadata["offline"] is True
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0
    assert response.cost == 0.0
    assert response.latency >= 0


async def test_inference_echo_with_system_and_defaults(forge: Forge) -> None:
    response = await forge.infer(ForgeInferenceRequest(prompt="echo me", system="sys", provider="openai"))
    assert (response.text, response.model) == ("echo me", "offline:gpt-4o-mini")


async def test_models(forge: Forge) -> None:
    models = {(m.provider, m.id): m for m in await forge.list_models()}
    sonnet = models[("anthropic", "claude-sonnet-4-5")]
    assert (sonnet.input_price, sonnet.output_price, sonnet.cache_read_price) == (3.0, 15.0, 0.3)
    assert "claude-sonnet-4-5-20250929" in sonnet.aliases and sonnet.default and sonnet.available
    assert ("offline", "echo") in models


async def test_response_formatter_tool(forge: Forge) -> None:
    outputs = await forge.run_tool(
        "response-formatter",
        {"responses": [{"model": "Claude", "text": "A"}, {"model": "GPT-4", "text": "B"}], "format": "json"},
    )
    assert json.loads(outputs["formatted_output"]) == {
        "responses": [{"model": "Claude", "text": "A"}, {"model": "GPT-4", "text": "B"}]
    }


async def test_json_extract_tool(forge: Forge) -> None:
    outputs = await forge.run_tool(
        "json-extract",
        {"text": 'Sure:\n```json\n{"a": 1}\n```', "schema": {"type": "object", "required": ["b"]}},
    )
    assert outputs["data"] == {"a": 1} and outputs["valid"] is False
    assert outputs["errors"] == ["<root>: 'b' is a required property"]


async def test_unknown_tool(forge: Forge) -> None:
    with pytest.raises(ToolNotFound, match="did you mean 'json-extract'"):
        await forge.run_tool("json-extrct", {})


async def test_tool_error(forge: Forge) -> None:
    with pytest.raises(ToolError, match="responses"):
        await forge.run_tool("response-formatter", {})


async def test_model_not_found(forge: Forge) -> None:
    with pytest.raises(ModelNotFound, match="known providers"):
        await forge.infer(ForgeInferenceRequest(prompt="x", model="no-such-model"))


async def test_rate_limit_keeps_retry_after(forge: Forge) -> None:
    with pytest.raises(ForgeRateLimited) as caught:
        await forge.infer(ForgeInferenceRequest(prompt="please rate limit me", model="gpt-4o"))
    assert caught.value.retry_after == 2
    assert caught.value.is_retryable()


async def test_invalid_request(forge: Forge) -> None:
    with pytest.raises(ForgeInvalidRequest):
        await forge.infer(ForgeInferenceRequest(prompt="", model="gpt-4o"))


async def test_missing_or_wrong_token_is_authentication_failure(served: dict[str, str]) -> None:
    for token in (None, "wrong"):
        async with HttpForgeClient(served["token"], token=token) as client:
            with pytest.raises(ForgeAuthenticationFailed):
                await client.infer(ForgeInferenceRequest(prompt="x"))


async def test_bad_body_is_invalid_request(served: dict[str, str]) -> None:
    async with HttpForgeClient(served["open"]) as client:
        with pytest.raises(ForgeInvalidRequest, match="temperature"):
            await client.request("POST", "/v1/inference", json={"prompt": "x", "temperature": 9})


async def test_out_of_bounds_request_is_invalid_on_both_backends(forge: Forge) -> None:
    request = ForgeInferenceRequest(prompt="x", model="gpt-4o")
    with pytest.raises(ForgeInvalidRequest, match="max_tokens"):
        await forge.infer(request.model_copy(update={"max_tokens": 2**40}))
    with pytest.raises(ForgeInvalidRequest, match="model"):
        await forge.infer(request.model_copy(update={"model": "m" * 201}))
    with pytest.raises(ForgeInvalidRequest, match="inputs"):
        await forge.run_tool("response-formatter", {f"k{i}": i for i in range(1001)})
    with pytest.raises(ForgeInvalidRequest, match="finite"):
        await forge.infer(request.model_copy(update={"metadata": {"score": float("nan")}}))

