"""Builders for metric histories whose right answer is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ecosystem.optimizer import PerformanceMetric, input_hash

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def metric(task_id: str, *, run: int, workflow: str = "wf", at: datetime | None = None, **fields: Any) -> PerformanceMetric:
    when = at or T0 + timedelta(minutes=run)
    values: dict[str, Any] = {
        "workflow_id": f"run-{run}",
        "workflow": workflow,
        "run_id": f"run-{run}",
        "task_id": task_id,
        "executor": "llm-forge:claude-api",
        "timestamp": when,
        "execution_time_ms": 1000,
    }
    values.update(fields)
    return PerformanceMetric(**values)


def model_history(
    *, runs: int, current: str, cheap: str, current_quality: list[float], cheap_quality: list[float],
    current_cost: float = 0.01, cheap_cost: float = 0.002, task_id: str = "summarise",
) -> list[PerformanceMetric]:
    """Both models answered the same inputs (paired); the expensive model is the most recent."""
    metrics = []
    for i in range(runs):
        h = input_hash({"prompt": f"document {i}"})
        metrics.append(metric(task_id, run=2 * i, model=cheap, input_hash=h, cost_usd=cheap_cost,
                              quality_score=cheap_quality[i % len(cheap_quality)]))
        metrics.append(metric(task_id, run=2 * i + 1, model=current, input_hash=h, cost_usd=current_cost,
                              quality_score=current_quality[i % len(current_quality)]))
    return metrics


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
