"""Forge inside real workflow runs: provider retry hints reach the engine; secrets never leak."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from tests.ecosystem.forge.fakes import FakeProvider, anthropic_error
from tests.flows.helpers import run

pytestmark = pytest.mark.usefixtures("prefect_harness")

SECRET = "sk-ant-api03-TOPSECRET-0123456789abcdef"


@pytest.fixture
def anthropic() -> Iterator[FakeProvider]:
    with FakeProvider("anthropic") as fake:
        yield fake


def config(fake: FakeProvider, **forge: object) -> dict[str, object]:
    return {"orchestrator": {"integrations": {"llm-forge": {
        "api_keys": {"anthropic": SECRET},
        "base_urls": {"anthropic": fake.base_url},
        "retry_policy": {"max_attempts": 1},
        **forge,
    }}}}


def document(name: str, tasks: list[dict[str, object]]) -> dict[str, object]:
    return {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"tasks": tasks, "outputs": {"answer": "${{ tasks.ask.outputs.response }}"}}}


async def test_provider_retry_after_is_honoured_by_the_engine_retry(anthropic: FakeProvider) -> None:
    anthropic.queue(anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit", retry_after=1))
    doc = document("forge-retry-after", [{
        "id": "ask", "executor": "llm-forge:claude-api",
        "retry": {"maxAttempts": 3, "initialDelay": 0, "backoff": "constant", "jitter": False},
        "inputs": {"prompt": "hello there", "config": {"model": "claude-haiku-4-5", "max_tokens": 50}},
    }])
    started = time.perf_counter()
    state, data = await run(doc, config=config(anthropic))
    elapsed = time.perf_counter() - started
    assert state.is_completed(), data.get("error")
    assert len(anthropic.requests) == 2
    gap = anthropic.requests[1].received_at - anthropic.requests[0].received_at
    assert gap >= 0.95, gap
    assert elapsed >= 1.0
    record = data["tasks"]["ask"]
    assert record["attempts"] == 2
    assert record["metadata"]["provider"] == "anthropic"
    assert record["metadata"]["cost"] > 0  # priced from the bundled table
    assert data["outputs"]["answer"].endswith("hello there")  # the fake echoes the prompt


async def test_a_non_retryable_provider_error_fails_at_once(anthropic: FakeProvider) -> None:
    anthropic.queue(anthropic_error(400, "invalid_request_error", "max_tokens: must be positive"))
    doc = document("forge-no-retry", [{
        "id": "ask", "executor": "llm-forge:claude-api", "retry": {"maxAttempts": 4, "initialDelay": 0},
        "inputs": {"prompt": "hi"},
    }])
    state, data = await run(doc, config=config(anthropic))
    assert state.is_failed()
    assert len(anthropic.requests) == 1
    assert "max_tokens: must be positive" in data["tasks"]["ask"]["error"]


async def test_api_key_never_appears_in_outputs_logs_or_artifacts(anthropic: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    # The provider echoes the rejected key in its error, as some providers do.
    anthropic.queue(anthropic_error(401, "authentication_error", f"invalid x-api-key: {SECRET}"))
    doc = document("forge-secret-masking", [
        {"id": "ask", "executor": "llm-forge:claude-api", "inputs": {"prompt": "hi"}},
        {"id": "after", "executor": "orchestrator:template", "dependsOn": ["ask"], "if": "always()",
         "inputs": {"template": "status {{ s }}", "values": {"s": "${{ tasks.ask.error }}"}}},
    ])
    caplog.set_level(logging.DEBUG)
    state, data = await run(doc, config=config(anthropic))
    assert state.is_failed()
    assert anthropic.requests[0].headers["x-api-key"] == SECRET  # the key was really used
    assert "authentication" in data["tasks"]["ask"]["error"].lower()
    assert SECRET not in json.dumps(data, default=str)
    assert SECRET not in (state.message or "")
    assert SECRET not in caplog.text
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[data["run_id"]])))
        artifacts = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[data["run_id"]])))
    assert logs, "the run's logs reached the API"
    assert all(SECRET not in log.message for log in logs)
    assert artifacts
    assert all(SECRET not in json.dumps(a.data, default=str) for a in artifacts)


@pytest.mark.parametrize("kind, variable, executor", [
    ("openai", "OPENAI_BASE_URL", "llm-forge:openai-api"),
    ("anthropic", "ANTHROPIC_BASE_URL", "llm-forge:claude-api"),
    ("gemini", "GOOGLE_GEMINI_BASE_URL", "llm-forge:gemini-api"),
])
async def test_the_sdks_base_url_variable_alone_reaches_the_provider(
        kind: str, variable: str, executor: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """The variable the provider's own SDK (and LiteLLM) reads; no base_urls in any config."""
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL",
                 "LLM_ORCHESTRATOR_OFFLINE", "LLM_FORGE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    key = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}[kind]
    monkeypatch.setenv(key, "test-key-123")
    with FakeProvider(kind) as fake:  # type: ignore[arg-type]
        monkeypatch.setenv(variable, fake.base_url + "/")  # a trailing slash, as people paste URLs
        doc = document(f"env-base-url-{kind}", [{"id": "ask", "executor": executor, "inputs": {"prompt": "ping"}}])
        state, data = await run(doc, config={"orchestrator": {"storage": {"url": f"sqlite:///{tmp_path}/s.db"}}})
        assert state.is_completed(), data.get("error")
        assert len(fake.requests) == 1 and data["outputs"]["answer"].endswith("ping")


def test_a_config_files_base_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from blocks.clients import resolve_systems
    from blocks.settings import settings_from_mapping

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:2")
    settings = settings_from_mapping({"orchestrator": {"integrations": {"llm-forge": {
        "base_urls": {"openai": "http://127.0.0.1:3/v1"}}}}})
    forge = resolve_systems(settings).forge
    assert forge.base_urls == {"openai": "http://127.0.0.1:3/v1", "anthropic": "http://127.0.0.1:2"}
