"""Built-in executors in real runs: alert (with a Slack-compatible webhook), json, template, assert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from ecosystem.service import serve_in_thread
from tests.flows.helpers import run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")


class Webhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()
    app = FastAPI()

    @app.post("/hook")
    async def receive(request: Request) -> Any:
        hook.received.append(await request.json())
        from fastapi.responses import JSONResponse

        return JSONResponse({"ok": hook.status < 400}, status_code=hook.status)

    with serve_in_thread(app) as base:
        yield hook, f"{base}/hook"


async def test_alert_posts_a_slack_compatible_message(webhook: tuple[Webhook, str]) -> None:
    hook, url = webhook
    doc = workflow(f"""
    - id: alert
      executor: notification:alert
      inputs:
        severity: high
        message: "Budget exceeded in workflow"
        webhook: {url}
        details: {{spent: 12.5}}
""", name="alert-demo")
    state, data = await run(doc)
    assert state.is_completed()
    assert data["tasks"]["alert"]["outputs"] == {"delivered": True, "severity": "high"}
    [message] = hook.received
    assert message["text"].startswith("*[HIGH]*") and "Budget exceeded in workflow" in message["text"]
    assert [block["type"] for block in message["blocks"]] == ["header", "section", "section", "context"]
    assert "alert-demo" in message["blocks"][-1]["elements"][0]["text"]


async def test_alert_webhook_server_errors_are_retryable_and_retried(webhook: tuple[Webhook, str]) -> None:
    hook, url = webhook
    hook.status = 503
    doc = workflow(f"""
    - id: alert
      executor: notification:alert
      retry: {{maxAttempts: 2, initialDelay: 0}}
      inputs: {{message: hello, webhook: {url}}}
""")
    state, data = await run(doc)
    assert state.is_failed()
    assert len(hook.received) == 2
    assert "HTTP 503" in data["tasks"]["alert"]["error"]


async def test_alert_without_a_webhook_only_logs() -> None:
    state, data = await run(workflow("    - {id: a, executor: notification:alert, inputs: {message: hi}}"))
    assert state.is_completed()
    assert data["tasks"]["a"]["outputs"]["delivered"] is False


async def test_json_parses_picks_and_merges() -> None:
    doc = workflow("""
    - id: parsed
      executor: orchestrator:json
      inputs:
        parse: '```json\n{"user": {"name": "Ada", "langs": ["en", "fr"]}}\n```'
        pick: {name: user.name, second: user.langs.1, missing: user.age}
        default: unknown
    - id: merged
      executor: orchestrator:json
      inputs:
        data: {a: 1}
        merge: [{b: 2}, {a: 3}]
""")
    state, data = await run(doc)
    assert state.is_completed()
    assert data["tasks"]["parsed"]["outputs"]["result"] == {"name": "Ada", "second": "fr", "missing": "unknown"}
    assert data["tasks"]["merged"]["outputs"]["result"] == {"a": 3, "b": 2}


async def test_template_substitutes_values_and_never_evaluates_them() -> None:
    doc = workflow("""
    - id: text
      executor: orchestrator:template
      inputs:
        template: "Dear {{ user.name }}, you have {{ count }} items. Note: {{ note }}"
        values:
          user: {name: Ada}
          count: 3
          note: "{{ count }} and ${{ '$' }}{{ workflow.inputs.x }} stay literal"
    - id: missing
      executor: orchestrator:template
      continueOnError: true
      inputs: {template: "{{ absent }}"}
""")
    state, data = await run(doc)
    assert data["tasks"]["text"]["outputs"]["text"] == (
        "Dear Ada, you have 3 items. Note: {{ count }} and ${{ workflow.inputs.x }} stay literal")
    assert "absent" in data["tasks"]["missing"]["error"]
