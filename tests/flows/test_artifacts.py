"""Run artifacts: markdown summary, cost/quality/performance tables, progress (runs over 1 s)."""

from __future__ import annotations

import json

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.artifacts import artifact_key
from tests.flows.helpers import probe, register, run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def artifacts_of(flow_run_id: str) -> dict[str, object]:
    async with get_client() as client:
        found = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {a.key: a for a in found if a.key}


async def test_every_run_publishes_summary_cost_performance_and_progress() -> None:
    register()
    probe.reset()
    doc = workflow("""
    - {id: draft, executor: test:work, inputs: {model: model-a, cost: 0.30}}
    - {id: review, executor: test:work, inputs: {model: model-b, cost: 0.10, value: "${{ tasks.draft.outputs.value }}"}}
    - {id: polish, executor: test:work, inputs: {model: model-a, cost: 0.20}, dependsOn: [review]}
""", name="artifact-demo")
    state, data = await run(doc)
    assert state.is_completed()
    found = await artifacts_of(data["run_id"])
    assert set(found) >= {artifact_key("artifact-demo", k) for k in ("summary", "cost", "cost-by-model", "performance")}

    cost_rows = json.loads(found["artifact-demo-cost"].data)
    # numbers formatted by meaning: USD with 6 decimals, shares as percentages
    assert {row["task"]: row["cost_usd"] for row in cost_rows} == {"draft": "0.300000", "review": "0.100000",
                                                                  "polish": "0.200000"}
    assert {row["task"]: row["share"] for row in cost_rows} == {"draft": "50.0%", "review": "16.7%", "polish": "33.3%"}
    by_model = {row["model"]: row["cost_usd"] for row in json.loads(found["artifact-demo-cost-by-model"].data)}
    assert by_model == {"model-a": "0.500000", "model-b": "0.100000"}
    performance = json.loads(found["artifact-demo-performance"].data)
    assert {row["attempts"] for row in performance} == {1}  # a count, not 1.0
    assert all(len(row["duration_s"].split(".")[1]) == 3 for row in performance)  # the same decimals on every row

    summary = found["artifact-demo-summary"].data
    assert "mermaid" not in summary and "<br/>" not in summary  # readable without a renderer
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert rows[0] == "| step | task | after | state | time (s) | cost (USD) |"
    assert [row.split(" | ")[:4] for row in rows[1:]] == [
        ["| 1", "draft", "", "completed"], ["| 2", "review", "draft", "completed"], ["| 3", "polish", "review", "completed"]]
    assert rows[1].endswith("| 0.300000 |")
    assert "total cost 0.600000 USD" in summary


async def test_runs_without_costs_send_no_empty_cost_tables() -> None:
    register()
    doc = workflow("""
    - {id: plain, executor: test:work}
""", name="artifact-no-cost")
    state, data = await run(doc)
    assert state.is_completed()
    found = await artifacts_of(data["run_id"])
    keys = {artifact_key("artifact-no-cost", k) for k in ("summary", "performance", "cost", "cost-by-model")}
    assert set(found) & keys == keys - {"artifact-no-cost-cost", "artifact-no-cost-cost-by-model"}
    assert "total cost 0.000000 USD" in found["artifact-no-cost-summary"].data


@pytest.mark.parametrize("after", [0.0, 0.2, 60.0], ids=["created-at-once", "created-mid-run", "run-too-short"])
async def test_one_progress_artifact_per_run_ends_at_100(after: float, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.artifacts

    monkeypatch.setattr(flows.artifacts, "PROGRESS_AFTER", after)
    register()
    name = f"artifact-progress-{int(after * 10)}"
    doc = workflow("""
    - {id: a, executor: test:work, inputs: {sleep: 0.15}}
    - {id: b, executor: test:work, inputs: {sleep: 0.15}, dependsOn: [a]}
    - {id: c, executor: test:work, inputs: {sleep: 0.15}, dependsOn: [b]}
""", name=name)
    state, data = await run(doc)
    assert state.is_completed()
    async with get_client() as client:
        found = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[data["run_id"]])))
    progress = [a for a in found if a.key == artifact_key(name, "progress")]
    if after > 1.0:  # the run (~0.5 s) was over before its progress was worth an artifact
        assert progress == []
        return
    assert len(progress) == 1
    assert float(progress[0].data) == 100.0


async def test_failed_runs_publish_the_error_and_skip_reasons() -> None:
    register()
    probe.reset()
    doc = workflow("""
    - {id: gate, executor: orchestrator:assert, inputs: {condition: false, error_message: quality too low}}
    - {id: after, executor: test:work, dependsOn: [gate]}
""", name="artifact-failure")
    state, data = await run(doc)
    assert state.is_failed()
    summary = (await artifacts_of(data["run_id"]))["artifact-failure-summary"].data
    assert "quality too low" in summary
    assert "upstream gate failed" in summary


