"""Expected task failures log one line, with no traceback, in the terminal and in the UI's log.

A failed quality gate, a budget refusal, a policy denial and a provider error after its retries
each end the task Failed with ``task <id> failed: <kind>: <message>``; only a crash of code
(an executor raising something that is not a workflow error) says ``crashed``, with its
traceback at DEBUG level.  Every record Prefect's loggers emit is captured as the console
formats it (exception text included), and the records sent to the API are read back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from tests.ecosystem.forge.fakes import FakeProvider, anthropic_error
from tests.flows.helpers import probe, register, run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies" / "sensitive-topics.yaml"


class Captured(logging.Handler):
    """Every record under the ``prefect`` logger, formatted as a console handler would."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, self.format(record)))

    def text(self, below: int = logging.CRITICAL + 1, at_least: int = logging.INFO) -> str:
        return "\n".join(line for level, line in self.lines if at_least <= level < below)


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger("prefect")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def api_logs(run_id: str) -> str:
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return "\n".join(log.message for log in logs)


async def check_one_line(captured: Captured, state: Any, data: dict[str, Any], task: str, kind: str, text: str) -> None:
    assert state.is_failed()
    line = f"task {task} failed: {kind}: "
    terminal = captured.text()
    assert line in terminal and text in terminal, terminal[-3000:]
    assert "Traceback" not in terminal and "NoneType: None" not in terminal
    ui = await api_logs(data["run_id"])
    assert line in ui and text in ui, ui[-3000:]
    assert "Traceback" not in ui
    assert text in data["tasks"][task]["error"]


async def test_a_failed_quality_gate_is_one_line(captured: Captured) -> None:
    doc = workflow("""
    - id: gate
      executor: orchestrator:assert
      inputs: {condition: false, error_message: Quality score below threshold}
""")
    state, data = await run(doc)
    await check_one_line(captured, state, data, "gate", "assertion_failed", "Quality score below threshold")


async def test_a_budget_refusal_is_one_line(captured: Captured, tmp_path: Path) -> None:
    doc = workflow("""
    - id: ask
      executor: llm-forge:claude-api
      inputs: {prompt: hello, config: {max_tokens: 20}}
""")
    doc["metadata"]["annotations"] = {"governance.budget-limit-usd": "0.01"}
    config = {"orchestrator": {"offline": True, "storage": {"url": f"sqlite:///{tmp_path}/gov.db"}, "integrations": {
        "llm-forge": {"offline": True, "offline_latency": 0, "offline_cost": 0.10}}}}
    state, data = await run(doc, config=config)
    await check_one_line(captured, state, data, "ask", "budget_exceeded", "budget")


async def test_a_policy_denial_is_one_line(captured: Captured, tmp_path: Path) -> None:
    doc = workflow("""
    - id: ask
      executor: llm-forge:claude-api
      inputs: {prompt: "here is my key -----BEGIN RSA PRIVATE KEY----- abc", config: {max_tokens: 20}}
""")
    doc["metadata"]["annotations"] = {"governance.enforce-policies": "true"}
    config = {"orchestrator": {"offline": True, "storage": {"url": f"sqlite:///{tmp_path}/gov.db"}, "integrations": {
        "llm-forge": {"offline": True, "offline_latency": 0},
        "llm-governance-core": {"enforce_policies": True, "policy_files": [str(POLICIES)]}}}}
    state, data = await run(doc, config=config)
    await check_one_line(captured, state, data, "ask", "policy_violation", "private key material")


async def test_a_provider_error_after_its_retries_is_one_line(captured: Captured, tmp_path: Path) -> None:
    with FakeProvider("anthropic") as fake:
        for _ in range(2):
            fake.queue(anthropic_error(529, "overloaded_error", "Overloaded"))
        doc = workflow("""
    - id: ask
      executor: llm-forge:claude-api
      retry: {maxAttempts: 2, initialDelay: 0, backoff: constant, jitter: false}
      inputs: {prompt: hello, config: {model: claude-haiku-4-5, max_tokens: 20}}
""")
        config = {"orchestrator": {"storage": {"url": f"sqlite:///{tmp_path}/gov.db"}, "integrations": {"llm-forge": {
            "api_keys": {"anthropic": "sk-ant-test"}, "base_urls": {"anthropic": fake.base_url}}}}}
        state, data = await run(doc, config=config)
        assert len(fake.requests) == 2  # the retries happened, then the task failed
    await check_one_line(captured, state, data, "ask", "service_unavailable", "Overloaded")


async def test_a_crash_says_so_and_keeps_its_traceback_at_debug_level(captured: Captured) -> None:
    register()
    probe.reset()
    probe.fail_plan["boom"] = [RuntimeError("an executor bug")]
    doc = workflow("""
    - id: boom
      executor: test:work
""")
    state, data = await run(doc)
    assert state.is_failed()
    terminal = captured.text()
    assert "task boom crashed: RuntimeError: an executor bug (traceback at DEBUG level)" in terminal
    assert "Traceback" not in terminal  # INFO and above
    debug = captured.text(below=logging.INFO, at_least=logging.DEBUG)
    assert "Traceback" in debug and "RuntimeError: an executor bug" in debug
