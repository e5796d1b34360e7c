"""The ``batch_mode`` recommendation: its evidence from the metric history, and its application to a plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from compiler.compile import compile_text
from compiler.optimize import apply_recommendations
from ecosystem.optimizer.analysis import analyze
from ecosystem.optimizer.models import PerformanceMetric

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def history(runs: int, *, gap: timedelta = timedelta(days=1), trigger: str = "schedule", items: int = 4,
            cost: float = 0.01, batch_cost: float = 0.005, mode: str = "online") -> list[PerformanceMetric]:
    metrics = []
    for r in range(runs):
        when = START + r * gap
        for i in range(items):
            metrics.append(PerformanceMetric(
                workflow_id=f"run-{r}", workflow="nightly", run_id=f"run-{r}", task_id="classify",
                executor="llm-forge:claude-api", execution_time_ms=900, cost_usd=cost, model="claude-haiku-4-5",
                timestamp=when, started_at=when, input_hash=f"{r}-{i}",
                custom={"index": i, "trigger": trigger, "fan_out": True, "mode": mode, "batch_cost_usd": batch_cost},
            ))
    return metrics


def batch_advice(metrics: list[PerformanceMetric]) -> tuple[list[Any], list[str]]:
    result = analyze("nightly", metrics)
    found = [r for r in result.items if r.recommendation_type.kind == "batch_mode"]
    return found, [n.kind for n in result.notes]


def test_scheduled_daily_fan_out_is_advised_batch_with_its_evidence() -> None:
    [advice], _ = batch_advice(history(5))
    evidence = advice.evidence
    assert evidence["runs"] == evidence["scheduled_runs"] == 5
    assert evidence["min_gap_between_runs_s"] == 86400 and evidence["batch_window_s"] == 86400
    assert evidence["saving_ratio"] == 0.5 and evidence["cost_per_run_usd"] == 0.04
    assert advice.expected_impact.cost_ratio == 0.5 and advice.confidence == 1.0
    assert advice.recommendation_type.task_id == "classify"


def test_no_advice_when_someone_may_wait_or_runs_come_too_often_or_too_few() -> None:
    assert batch_advice(history(5, trigger="manual")) == ([], ["not_scheduled"])
    assert batch_advice(history(5, gap=timedelta(hours=6))) == ([], ["latency_bound"])
    assert batch_advice(history(2))[0] == []
    assert batch_advice(history(5, batch_cost=0.009))[0] == []  # a 10% saving is below min_saving_ratio
    assert batch_advice(history(5, mode="batch"))[0] == []  # already batched


WORKFLOW = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: nightly}
spec:
  inputs: [{name: tickets, type: array}]
  tasks:
    - id: classify
      executor: llm-forge:claude-api
      forEach: ${{ workflow.inputs.tickets }}
      TIMEOUT
      inputs: {prompt: "${{ item }}", config: CONFIG}
"""


def plan(config: str = "{model: claude-haiku-4-5}", timeout: str = "") -> Any:
    text = WORKFLOW.replace("CONFIG", config).replace("TIMEOUT", timeout or "description: nightly")
    return compile_text(text).plan


def test_applying_sets_config_mode_batch_unless_the_user_decided() -> None:
    [advice] = batch_advice(history(5))[0]
    new, applied, skipped = apply_recommendations(plan(), [advice])
    assert new.nodes["classify"].inputs["config"] == {"model": "claude-haiku-4-5", "mode": "batch"}
    assert new.nodes["classify"].mode == "batch"
    assert applied == ["batched classify (config.mode: batch): cost -50%, 5 scheduled runs that nothing waits for"]
    _, applied, skipped = apply_recommendations(plan("{model: claude-haiku-4-5, mode: online}"), [advice])
    assert applied == [] and "sets mode 'online' itself" in skipped[0]
    _, applied, skipped = apply_recommendations(plan(timeout="timeout: 1h"), [advice])
    assert applied == [] and "shorter than the 24h batch window" in skipped[0]
