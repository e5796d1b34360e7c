"""The run's middle layer (issue 17): one decision model, one way to build clients, one retry
budget.  Each test here is one of the issue's findings, reproduced as a user meets it."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from blocks.clients import Clients, resolve_systems
from blocks.settings import settings_from_mapping
from compiler.compile import compile_document
from compiler.executors import ExecutorSpec
from compiler.explain import explain
from tasks.base import ExecutorContext, TaskOutput
from tasks.registry import register_executor
from tests.ecosystem.forge.fakes import FakeProvider, anthropic_error
from tests.flows.helpers import probe, register, run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")
KEY = "sk-ant-api03-MIDDLE-LAYER-0123456789"


@pytest.fixture(autouse=True)
def _executors() -> None:
    register()
    probe.reset()


@pytest.fixture
def anthropic() -> Iterator[FakeProvider]:
    with FakeProvider("anthropic") as fake:
        yield fake


def forge_config(fake: FakeProvider, store: str, **forge: Any) -> dict[str, Any]:
    return {"orchestrator": {"storage": {"url": store}, "integrations": {"llm-forge": {
        "api_keys": {"anthropic": KEY}, "base_urls": {"anthropic": fake.base_url}, **forge}}}}


def ask(retry: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {"id": "ask", "executor": "llm-forge:claude-api",
                            "inputs": {"prompt": "hello", "config": {"model": "claude-haiku-4-5", "max_tokens": 20}}}
    if retry is not None:
        task["retry"] = retry
    return {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": name or "ask"},
            "spec": {"tasks": [task]}}


# -- 3. one retry budget ----------------------------------------------------------------------------


async def test_max_attempts_is_the_total_number_of_provider_calls(anthropic: FakeProvider, tmp_path: Path) -> None:
    for _ in range(12):
        anthropic.queue(anthropic_error(529, "overloaded_error", "Overloaded"))
    retry = {"maxAttempts": 4, "initialDelay": 0, "backoff": "constant", "jitter": False}
    state, data = await run(ask(retry), config=forge_config(anthropic, f"sqlite:///{tmp_path}/s.db"))
    assert state.is_failed()
    assert len(anthropic.requests) == 4  # not 4 task attempts x 3 Forge attempts
    assert data["tasks"]["ask"]["attempts"] == 4


async def test_attempts_count_every_provider_call_of_a_task_that_succeeded(anthropic: FakeProvider, tmp_path: Path) -> None:
    anthropic.queue(anthropic_error(529, "overloaded_error", "Overloaded"), anthropic_error(529, "overloaded_error", "Overloaded"))
    state, data = await run(ask(), config=forge_config(anthropic, f"sqlite:///{tmp_path}/s.db",
                                                        retry_policy={"max_attempts": 3, "initial_delay": 0}))
    assert state.is_completed(), data.get("error")
    assert len(anthropic.requests) == 3
    record = data["tasks"]["ask"]
    assert record["attempts"] == 3 and record["metadata"]["attempts"] == 3
    assert [call["outcome"] for call in record["metadata"]["calls"]] == ["error", "error", "ok"]


async def test_a_429_without_retry_after_waits_the_workflows_backoff_not_60s(anthropic: FakeProvider, tmp_path: Path) -> None:
    anthropic.queue(anthropic_error(429, "rate_limit_error", "slow down"))  # no Retry-After header
    retry = {"maxAttempts": 2, "initialDelay": "1s", "backoff": "constant", "jitter": False}
    started = time.perf_counter()
    state, data = await run(ask(retry), config=forge_config(anthropic, f"sqlite:///{tmp_path}/s.db"))
    assert state.is_completed(), data.get("error")
    calls = data["tasks"]["ask"]["metadata"]["calls"]
    assert calls[1]["waited"] == 1.0
    assert time.perf_counter() - started < 30  # 60 s would be Forge's stand-in, not the provider's hint


async def test_a_providers_retry_after_wins_over_the_backoff(anthropic: FakeProvider, tmp_path: Path) -> None:
    anthropic.queue(anthropic_error(429, "rate_limit_error", "slow down", retry_after=2))
    retry = {"maxAttempts": 2, "initialDelay": 0, "backoff": "constant", "jitter": False}
    state, data = await run(ask(retry), config=forge_config(anthropic, f"sqlite:///{tmp_path}/s.db"))
    assert state.is_completed(), data.get("error")
    assert data["tasks"]["ask"]["metadata"]["calls"][1]["waited"] == 2.0


# -- 2. the ledger and audit log are always on -------------------------------------------------------


async def test_without_a_governance_section_every_llm_call_is_metered_and_audited(tmp_path: Path) -> None:
    from ecosystem.governance import AuditQuery

    store = f"sqlite:///{tmp_path}/ledger.db"
    config = {"orchestrator": {"storage": {"url": store}, "offline": True,
                               "integrations": {"llm-forge": {"offline": True, "offline_cost": 0.25}}}}
    doc = workflow("""
    - id: each
      executor: llm-forge:claude-api
      forEach: ${{ workflow.inputs.items }}
      inputs: {prompt: "${{ item }}"}
""", inputs="  inputs:\n    - {name: items, type: array, required: true}")
    state, data = await run(doc, {"items": ["a", "b"]}, config=config)
    assert state.is_completed(), data.get("error")
    assert data["total_cost"] == pytest.approx(0.5)
    clients = Clients(settings_from_mapping(config))
    try:
        events = await clients.governance.audit(AuditQuery(run_id=data["run_id"], limit=100))
    finally:
        await clients.aclose()
    settled = [e for e in events if e.kind == "settlement"]
    assert len(settled) == 2 and sum(e.amount_usd or 0 for e in settled) == pytest.approx(0.5)
    assert {e.task_id for e in settled} == {"each[0]", "each[1]"}


# -- 4, 8. explain agrees with the run; skip reasons --------------------------------------------------


async def test_explain_and_the_run_agree_that_an_empty_list_is_true() -> None:
    doc = workflow("""
    - id: maybe
      executor: test:work
      if: ${{ workflow.inputs.items }}
""", inputs="  inputs:\n    - {name: items, type: array, required: true}")
    plan = compile_document(doc).plan
    assert [step.decision for step in explain(plan, {"items": []})] == ["run"]
    state, data = await run(doc, {"items": []})
    assert data["tasks"]["maybe"]["state"] == "completed"


async def test_a_string_that_mentions_failure_does_not_make_a_task_status_aware() -> None:
    doc = workflow("""
    - id: boom
      executor: test:work
      inputs: {key: boom}
    - id: note
      executor: test:work
      dependsOn: [boom]
      if: ${{ contains(workflow.inputs.note, 'failure()') }}
""", inputs="  inputs:\n    - {name: note, type: string, default: 'on failure() page me'}")
    from tests.flows.helpers import permanent

    probe.fail_plan["boom"] = [permanent()]
    state, data = await run(doc)
    assert state.is_failed()
    assert data["tasks"]["note"]["state"] == "skipped"
    assert data["tasks"]["note"]["reason"] == "upstream boom failed"


async def test_a_branch_not_taken_says_so_even_after_another_task_failed() -> None:
    from tests.flows.helpers import permanent

    doc = workflow("""
    - id: boom
      executor: test:work
      inputs: {key: boom, sleep: 0.2}
""", extra="""  branches:
    - condition: ${{ workflow.inputs.go }}
      tasks:
        - id: taken_arm
          executor: test:work
          dependsOn: [slow]
      else:
        - id: else_arm
          executor: test:work
          dependsOn: [slow]
""", inputs="  inputs:\n    - {name: go, type: boolean, default: false}")
    doc["spec"]["tasks"].append({"id": "slow", "executor": "test:work", "inputs": {"sleep": 0.5}})
    probe.fail_plan["boom"] = [permanent()]
    state, data = await run(doc, {"go": False})
    assert data["tasks"]["taken_arm"]["reason"].startswith("branch ")
    assert "not taken (condition false" in data["tasks"]["taken_arm"]["reason"]
    assert data["tasks"]["else_arm"]["reason"].startswith("not started: workflow failed")
    state, data = await run(doc, {"go": True})
    assert data["tasks"]["else_arm"]["reason"].startswith("else of branch ")
    assert "(condition true:" in data["tasks"]["else_arm"]["reason"]


# -- 6. the CLI compiles with the config ----------------------------------------------------------


ENDPOINT_WORKFLOW = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: endpoint-run}
spec:
  tasks:
    - id: ask
      executor: llm-forge:local-vllm
      inputs: {prompt: hello}
"""


def test_the_cli_runs_and_validates_with_executors_its_config_defines(tmp_path: Path) -> None:
    from llm_orchestrator.cli import app

    workflow_file = tmp_path / "wf.yaml"
    workflow_file.write_text(ENDPOINT_WORKFLOW, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "orchestrator:\n"
        f"  storage: {{url: 'sqlite:///{tmp_path}/c.db'}}\n"
        "  integrations:\n"
        "    llm-forge:\n"
        "      offline: true\n"
        "      endpoints:\n"
        "        local-vllm: {base_url: 'http://127.0.0.1:9/v1', default_model: llama}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    without = runner.invoke(app, ["validate", str(workflow_file)])
    assert without.exit_code == 1 and "E301" in without.output
    assert runner.invoke(app, ["validate", str(workflow_file), "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["run", str(workflow_file), "--config", str(config), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert '"state": "completed"' in result.output


# -- 7. one way from settings to clients ---------------------------------------------------------


def test_offline_applies_to_all_four_systems_and_every_secret_is_collected(tmp_path: Path) -> None:
    settings = settings_from_mapping({"orchestrator": {
        "offline": True,
        "storage": {"url": "postgresql://app:db-pass-9876@127.0.0.1/x"},
        "notifications": {"webhook_url": "https://hooks.example/T000/SECRET-HOOK"},
        "integrations": {
            "llm-forge": {"endpoint": "http://forge:8080", "token": "forge-token-1234"},
            "llm-test-bench": {"endpoint": "http://bench:8081", "token": "bench-token-1234"},
            "llm-auto-optimizer": {"endpoint": "http://opt:8082", "token": "opt-token-1234"},
            "llm-governance-core": {"endpoint": "http://gov:8083", "token": "gov-token-1234", "approval_timeout": "5m"},
        }}})
    systems = resolve_systems(settings)
    assert systems.forge.endpoint is None and systems.forge.offline
    assert systems.testbench.endpoint is None
    assert systems.optimizer.endpoint is None
    assert systems.governance.endpoint is None
    assert systems.governance_run.approval_timeout == 300
    assert {"forge-token-1234", "bench-token-1234", "opt-token-1234", "gov-token-1234", "db-pass-9876",
            "https://hooks.example/T000/SECRET-HOOK"} <= systems.secrets


def test_the_systems_of_a_run_share_one_store_per_url(tmp_path: Path) -> None:
    clients = Clients(settings_from_mapping({"orchestrator": {"storage": {"url": f"sqlite:///{tmp_path}/one.db"}}}))
    try:
        governance: Any = clients.governance
        optimizer: Any = clients.optimizer
        assert governance.store is optimizer.store is clients.store()
    finally:
        asyncio.run(clients.aclose())


# -- concurrency.worker_threads ---------------------------------------------------------------------


_BLOCKING = threading.local()
_active = 0
_peak = 0
_lock = threading.Lock()


def blocking_body(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    """A plain (blocking) executor body: it must run on the run's worker threads."""
    global _active, _peak
    with _lock:
        _active += 1
        _peak = max(_peak, _active)
    try:
        time.sleep(0.2)
        return TaskOutput({"thread": threading.current_thread().name})
    finally:
        with _lock:
            _active -= 1


def test_worker_threads_sizes_the_pool_that_runs_blocking_bodies() -> None:
    global _peak
    register_executor(ExecutorSpec(reference="test:blocking", task_types=frozenset({"custom"}), inputs=None,
                                   outputs={"thread": "string"}, description="blocks"), blocking_body)
    doc = workflow("""
    - id: fan
      executor: test:blocking
      forEach: [1, 2, 3, 4]
""")
    from llm_orchestrator import run as run_workflow

    for threads, expected in ((1, 1), (4, 4)):
        _peak = 0
        config = {"orchestrator": {"concurrency": {"worker_threads": threads}}}
        settings_file = Path(os.environ["LLM_ORCHESTRATOR_HOME"]) / f"threads-{threads}.yaml"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        import yaml

        settings_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = run_workflow(doc, {}, config=settings_file)
        assert result.state == "completed", result.error
        assert all(t.startswith("llmo-worker") for t in result.tasks["fan"].outputs["thread"])
        assert _peak == expected


# -- the Python API ----------------------------------------------------------------------------------


def test_the_python_api_returns_a_run_result_and_changes_no_environment() -> None:
    from llm_orchestrator import run as run_workflow
    from tasks.hooks import Hook
    from tasks.state import RunResult

    seen: list[str] = []

    class Seen(Hook):
        async def task_finished(self, run: Any, record: Any) -> None:
            seen.append(record.id)

    before = dict(os.environ)
    doc = workflow("""
    - id: ask
      executor: llm-forge:claude-api
      inputs: {prompt: hi}
""")
    result = run_workflow(doc, {}, offline=True, hooks=[Seen()])
    assert isinstance(result, RunResult) and result.ok
    assert result.tasks["ask"].metadata.get("offline") is True
    assert seen == ["ask"]
    assert dict(os.environ) == before


async def test_a_request_a_body_cannot_build_fails_the_task_in_plain_words() -> None:
    from pydantic import BaseModel

    class Strict(BaseModel):
        count: int

    async def builds(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
        return TaskOutput({"count": Strict.model_validate({"count": inputs.get("count")}).count})

    register_executor(ExecutorSpec(reference="test:builds", task_types=frozenset({"custom"}), inputs=None,
                                   outputs={"count": "integer"}, description="builds a request"), builds)
    doc = workflow("""
    - id: build
      executor: test:builds
      inputs: {count: many}
""")
    state, data = await run(doc)
    record = data["tasks"]["build"]
    assert record["state"] == "failed" and record["error_kind"] == "invalid_request"
    assert "got inputs it cannot use: count:" in record["error"] and "ValidationError" not in record["error"]
