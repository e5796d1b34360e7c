"""No secret of the configuration ever shows (issue 18): a key planted in a provider's error body
and a service token planted in a scripted offline failure are searched for in every output a
person or a system reads: stdout, stderr, `--output json`, Prefect's logs, task and flow state
messages, artifacts and the audit log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from typer.testing import CliRunner

from tests.ecosystem.forge.fakes import FakeProvider, anthropic_error

pytestmark = pytest.mark.usefixtures("prefect_harness")

ANTHROPIC_KEY = "sk-ant-api03-USED-FOR-THE-CALL-0001"
OPENAI_KEY = "sk-proj-PLANTED-OPENAI-KEY-42424242"  # configured, and echoed by the wrong provider
GOVERNANCE_TOKEN = "gov-token-PLANTED-7777777"  # configured, and in a scripted failure's message
PLANTED = (OPENAI_KEY, GOVERNANCE_TOKEN, ANTHROPIC_KEY)

WORKFLOW = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: planted-secrets}
spec:
  tasks:
    - id: online
      executor: llm-forge:claude-api
      continueOnError: true
      inputs: {prompt: "hello", config: {model: claude-haiku-4-5}}
    - id: scripted
      executor: llm-forge:offline
      continueOnError: true
      inputs: {prompt: "trigger the scripted failure"}
    - id: report
      executor: orchestrator:template
      dependsOn: [online, scripted]
      inputs:
        template: "{{ a }} / {{ b }}"
        values: {a: "${{ tasks.online.error }}", b: "${{ tasks.scripted.error }}"}
  outputs:
    errors: ${{ tasks.report.outputs.text }}
"""


@pytest.fixture
def anthropic() -> Iterator[FakeProvider]:
    with FakeProvider("anthropic") as fake:
        yield fake


def write_config(tmp_path: Path, fake: FakeProvider) -> Path:
    config = {"orchestrator": {
        "storage": {"url": f"sqlite:///{tmp_path}/planted.db"},
        "integrations": {
            "llm-forge": {
                "api_keys": {"anthropic": ANTHROPIC_KEY, "openai": OPENAI_KEY},
                "base_urls": {"anthropic": fake.base_url},
                "retry_policy": {"max_attempts": 1},
                "offline_failures": {"scripted failure": {"error": "service_unavailable", "times": 5,
                                                          "message": f"upstream refused token {GOVERNANCE_TOKEN}"}},
            },
            "llm-governance-core": {"token": GOVERNANCE_TOKEN},
        },
    }}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def leaked(text: str) -> list[str]:
    return [secret for secret in PLANTED if secret in text]


def test_a_planted_key_is_in_no_output(anthropic: FakeProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from llm_orchestrator.cli import app

    anthropic.queue(anthropic_error(400, "invalid_request_error", f"this is not an Anthropic key: {OPENAI_KEY}"))
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(WORKFLOW, encoding="utf-8")
    config = write_config(tmp_path, anthropic)
    caplog.set_level(logging.DEBUG)
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    result = runner.invoke(app, ["run", str(workflow), "--config", str(config), "--output", "json"])
    assert anthropic.requests, "the provider was called"
    outputs: dict[str, Any] = json.loads(result.stdout)
    assert outputs["state"] == "completed", result.output
    errors = outputs["outputs"]["errors"]
    assert "not an Anthropic key" in errors and "upstream refused token" in errors  # the errors did surface
    assert leaked(result.stdout) == [] and leaked(result.stderr or "") == []
    assert leaked(caplog.text) == []

    text_run = runner.invoke(app, ["run", str(workflow), "--config", str(config)])
    assert leaked(text_run.stdout) == [] and leaked(text_run.stderr or "") == []

    run_id = outputs["run_id"]
    logs, flow_run, task_runs, artifacts, events = asyncio.run(_read_back(run_id, config))
    assert logs and leaked("\n".join(log.message for log in logs)) == []
    assert leaked(flow_run.state.message or "") == [] if flow_run.state else True
    assert any(t.state and t.state.is_failed() for t in task_runs)
    assert leaked(" ".join((t.state.message or "") for t in task_runs if t.state)) == []
    assert artifacts and leaked(json.dumps([a.data for a in artifacts], default=str)) == []
    assert events and leaked(json.dumps([e.model_dump(mode="json") for e in events])) == []


async def _read_back(run_id: str, config: Path) -> tuple[Any, Any, Any, Any, Any]:
    """What Prefect and the audit log hold of the run."""
    from blocks.clients import Clients
    from blocks.resolve import resolve_settings
    from ecosystem.governance import AuditQuery

    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        flow_run = await client.read_flow_run(run_id)
        task_runs = await client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])))
        artifacts = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    clients = Clients(resolve_settings(config))
    try:
        events = await clients.governance.audit(AuditQuery(run_id=run_id, limit=1000))
    finally:
        await clients.aclose()
    return logs, flow_run, task_runs, artifacts, events
