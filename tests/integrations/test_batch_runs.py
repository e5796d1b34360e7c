"""Batch mode in real workflow runs (Prefect test harness, SQLite ledger, offline and loopback fakes).

What a user relies on: a ``mode: batch`` forEach runs as one Prefect task run and fills its
outputs in item order like any forEach; every item is reserved and settled at the batch price;
a per-item failure is a per-item failure (``continueOnError``); an expired batch fails the task
with a clear error and records what was billed; the run's other tasks go on while it waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy import select

from ecosystem.forge import ForgeInferenceRequest, PriceTable, TokenUsage, worst_case_cost
from ecosystem.store import Store
from ecosystem.store.models import AuditEventRow, BudgetReservationRow, CostRecordRow, nanos_to_usd
from tests.ecosystem.forge.batch_fakes import COMPLETION_TOKENS, PROMPT_TOKENS, FakeBatches
from tests.flows.helpers import run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

KEY = "sk-proj-SECRET-batch-key-0001"


def offline_config(url: str, **forge: Any) -> dict[str, Any]:
    return {"storage": {"url": url}, "offline": True,
            "integrations": {"llm-forge": {"offline": True, **forge}}}


def fake_config(url: str, fake: FakeBatches) -> dict[str, Any]:
    return {"storage": {"url": url}, "integrations": {"llm-forge": {
        "api_keys": {fake.kind: KEY}, "base_urls": {fake.kind: fake.base_url}}}}


def batch_doc(executor: str = "llm-forge:offline", *, model: str | None = None, budget: str | None = None,
              continue_on_error: bool = False, extra_tasks: str = "", parallel: int | None = None) -> dict[str, Any]:
    config = "{mode: batch, max_tokens: 100" + (f", model: {model}" if model else "") + "}"
    doc = workflow(f"""
    - id: summarize
      executor: {executor}
      forEach: ${{{{ workflow.inputs.docs }}}}
      continueOnError: {str(continue_on_error).lower()}
      inputs:
        prompt: "Summarise ${{{{ item }}}}"
        config: {config}
{extra_tasks}""", inputs="  inputs:\n    - {name: docs, type: array, required: true}",
                   extra=f"  concurrency:\n    maxParallelTasks: {parallel}" if parallel else "")
    if budget:
        doc["metadata"]["annotations"] = {"governance.budget-limit-usd": budget}
    return doc


def rows(url: str, statement: Any) -> list[Any]:
    with Store.open(url) as store, store.session(readonly=True) as session:
        return list(session.execute(statement))


def costs(url: str, run_id: str) -> dict[str, float]:
    found = rows(url, select(CostRecordRow.task_id, CostRecordRow.cost_nanos).where(CostRecordRow.run_id == run_id))
    return {task: nanos_to_usd(nanos) for task, nanos in found}


def reserved(url: str, run_id: str) -> dict[str, float]:
    found = rows(url, select(BudgetReservationRow.task_id, BudgetReservationRow.amount_nanos)
                 .where(BudgetReservationRow.run_id == run_id))
    return {task: nanos_to_usd(nanos) for task, nanos in found}


def audit(url: str, run_id: str) -> list[tuple[str, str]]:
    found = rows(url, select(AuditEventRow.kind, AuditEventRow.task_id).where(AuditEventRow.run_id == run_id)
                 .order_by(AuditEventRow.id))
    return [(kind, task) for kind, task in found]


async def task_run_names(flow_run_id: str) -> list[str]:
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name for r in runs)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


async def test_offline_batch_is_one_task_run_with_outputs_in_item_order(url: str) -> None:
    docs = [f"document {i}" for i in range(5)]
    state, data = await run(batch_doc(), {"docs": docs}, offline_config(url, offline_cost=0.01))
    assert state.is_completed(), data.get("error")
    record = data["tasks"]["summarize"]
    assert record["outputs"]["response"] == [f"Summarise {d}" for d in docs]
    assert record["items"] == 5 and record["attempts"] == 5
    assert record["metadata"]["item_costs"] == [0.005] * 5  # offline_cost at the batch share (50%)
    assert record["metadata"]["cost"] == pytest.approx(0.025)
    assert record["metadata"]["batch"]["state"] == "completed"
    assert await task_run_names(str(state.state_details.flow_run_id)) == ["summarize[batch of 5]"]
    run_id = data["run_id"]
    assert costs(url, run_id) == {f"summarize[{i}]": 0.005 for i in range(5)}
    assert reserved(url, run_id) == {f"summarize[{i}]": 0.005 for i in range(5)}  # reserved at the batch price


async def test_budget_is_reserved_at_the_batch_price(url: str) -> None:
    """$0.30 a call online, $0.15 in batch: a $1 budget holds six batch items, where three calls would fit online."""
    state, data = await run(batch_doc(budget="1.00"), {"docs": [f"d{i}" for i in range(6)]},
                            offline_config(url, offline_cost=0.30))
    assert state.is_completed(), data.get("error")
    assert sum(costs(url, data["run_id"]).values()) == pytest.approx(0.90)
    online = batch_doc(budget="1.00", continue_on_error=True)
    online["spec"]["tasks"][0]["inputs"]["config"]["mode"] = "online"
    state, data = await run(online, {"docs": [f"d{i}" for i in range(6)]}, offline_config(url, offline_cost=0.30))
    assert len(costs(url, data["run_id"])) == 3
    assert sum(1 for e in data["tasks"]["summarize"]["outputs"]["response"] if e is not None) == 3


async def test_openai_batch_in_a_run_reserves_settles_and_fails_items_alone(url: str) -> None:
    docs = ["alpha", "bad input beta", "gamma"]
    downstream = """    - id: report
      executor: orchestrator:template
      dependsOn: [summarize]
      inputs: {template: "{{ n }} summaries", values: {n: "${{ len(tasks.summarize.outputs.response) }}"}}"""
    with FakeBatches("openai", polls=0, item_errors={"bad input": "invalid"}) as fake:
        state, data = await run(batch_doc("llm-forge:openai-api", model="gpt-4o-mini", continue_on_error=True,
                                          extra_tasks=downstream), {"docs": docs}, fake_config(url, fake))
    summarize = data["tasks"]["summarize"]
    assert summarize["state"] == "failed" and summarize["allowed_failure"]
    assert summarize["error"].startswith("item 1 failed: ForgeInvalidRequest: openai:")
    assert summarize["error_kind"] == "invalid_request"
    assert summarize["outputs"]["response"] == ["echo: Summarise alpha", None, "echo: Summarise gamma"]
    assert data["tasks"]["report"]["state"] == "completed"  # continueOnError: the run goes on
    assert KEY not in str(data)
    # One upload, one batch: all three items in one submission, bodies as the online adapter builds them.
    assert [r.path for r in fake.requests if r.method == "POST"] == ["/v1/files", "/v1/batches"]
    assert [e["body"]["max_tokens"] for e in fake.submissions[0]] == [100, 100, 100]
    table = PriceTable()
    usage = TokenUsage(prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS,
                       total_tokens=PROMPT_TOKENS + COMPLETION_TOKENS)
    item_cost = table.cost(usage, "gpt-4o-mini", tier="batch")
    assert item_cost == pytest.approx(table.cost(usage, "gpt-4o-mini") / 2)  # type: ignore[operator]
    run_id = data["run_id"]
    assert costs(url, run_id) == pytest.approx({"summarize[0]": item_cost, "summarize[2]": item_cost})
    request = ForgeInferenceRequest(prompt="Summarise alpha", model="gpt-4o-mini", max_tokens=100)
    batch_worst = worst_case_cost(request, "gpt-4o-mini", tier="batch")
    assert reserved(url, run_id)["summarize[0]"] == pytest.approx(batch_worst, abs=1e-9)
    assert batch_worst == pytest.approx(worst_case_cost(request, "gpt-4o-mini") / 2)  # type: ignore[operator]
    kinds = audit(url, run_id)
    assert ("release", "summarize[1]") in kinds and ("settlement", "summarize[1]") not in kinds


async def test_an_expired_batch_fails_the_task_and_records_what_was_billed(url: str) -> None:
    with FakeBatches("anthropic", polls=0, outcome="expired", answered=1) as fake:
        state, data = await run(batch_doc("llm-forge:claude-api", model="claude-haiku-4-5"),
                                {"docs": ["one", "two", "three"]}, fake_config(url, fake))
    assert state.is_failed()
    record = data["tasks"]["summarize"]
    billed = costs(url, data["run_id"])
    assert list(billed) == ["summarize[0]"]
    assert record["error"].startswith(f"anthropic batch msgbatch_0001 expired: 1 of 3 items answered "
                                      f"(${billed['summarize[0]']:.6f} billed), 2 batch_expired; item 1 failed: "
                                      "ForgeBatchExpired")
    assert record["outputs"]["response"][0] == "echo: Summarise one" and record["outputs"]["response"][1:] == [None, None]
    assert data["error"].startswith("task 'summarize' failed: anthropic batch msgbatch_0001 expired")
    kinds = audit(url, data["run_id"])
    assert [k for k in kinds if k[0] == "release"] == [("release", "summarize[1]"), ("release", "summarize[2]")]


async def test_the_run_goes_on_while_a_batch_waits(url: str) -> None:
    """One slot: the batch gives it back once submitted, so the other task runs during the wait."""
    other = """    - id: other
      executor: llm-forge:offline
      inputs: {prompt: "meanwhile"}"""
    state, data = await run(batch_doc(extra_tasks=other, parallel=1), {"docs": ["a", "b"]},
                            offline_config(url, offline_batch_delay=1.5))
    assert state.is_completed(), data.get("error")
    tasks = data["tasks"]
    assert tasks["other"]["finished"] < tasks["summarize"]["finished"]
    assert tasks["summarize"]["metadata"]["batch"]["polls"] >= 2  # it was still running when first asked


async def test_a_remote_forge_refuses_batch_mode_clearly(url: str) -> None:
    config = {"storage": {"url": url},
              "integrations": {"llm-forge": {"endpoint": "http://127.0.0.1:9", "token": "remote-forge-token"}}}
    state, data = await run(batch_doc(), {"docs": ["a"]}, config)
    assert state.is_failed()
    assert "batch mode needs Forge embedded" in data["tasks"]["summarize"]["error"]
    assert "remote-forge-token" not in str(data)
