"""The rows ``llm-orchestrator report`` aggregates, read from the store as plain dataclasses.

Three sources, one function each, all filtered by time (``since``, inclusive) and optionally by
workflow name:

* ``cost_records`` - the Governance ledger, one row per incurred cost, including reservations
  that lapsed unsettled (``unsettled=True``, counted at their reserved amount);
* ``performance_metrics`` - the Auto-Optimizer's per-task-run metrics (latency, tokens, cost,
  quality), by default only runs that finished (``completed`` or ``failed``);
* ``evaluation_scores`` - Test-Bench's per (run, task, metric) scores.

Field names are the report's column names, so ``pandas.DataFrame(map(dataclasses.asdict, rows))``
is the frame it used to read with SQL.  Money comes as exact ``cost_nanos`` and as ``cost_usd``.
Rows are ordered by time, then id, so output is stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ecosystem.store.engine import Store
from ecosystem.store.models import CostRecordRow, nanos_to_usd
from ecosystem.store.optimizer_models import PerformanceMetricRow
from ecosystem.store.testbench_models import EvaluationScoreRow

FINISHED = ("completed", "failed")


@dataclass(frozen=True)
class CostRow:
    workflow: str
    run_id: str | None
    task_id: str
    model: str | None
    executor: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_nanos: int
    cost_usd: float
    cached: bool
    unsettled: bool
    timestamp: datetime


@dataclass(frozen=True)
class MetricRow:
    workflow: str
    run_id: str | None
    task_id: str
    model: str | None
    status: str
    timestamp: datetime
    execution_time_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost_nanos: int | None
    cost_usd: float | None
    quality_score: float | None


@dataclass(frozen=True)
class ScoreRow:
    workflow: str
    run_id: str
    task_id: str
    metric: str
    score: float
    passed: bool
    created_at: datetime


def cost_records(
    store: Store, *, since: datetime, workflow: str | None = None, run_id: str | None = None
) -> list[CostRow]:
    """Ledger cost records at or after ``since`` (by their timestamp)."""
    c = CostRecordRow
    stmt = select(c).where(c.timestamp >= since)
    if workflow is not None:
        stmt = stmt.where(c.workflow_id == workflow)
    if run_id is not None:
        stmt = stmt.where(c.run_id == run_id)
    stmt = stmt.order_by(c.timestamp, c.id)
    with store.session(readonly=True) as session:
        return [
            CostRow(
                workflow=row.workflow_id, run_id=row.run_id, task_id=row.task_id, model=row.model,
                executor=row.executor, prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
                total_tokens=row.total_tokens, cost_nanos=row.cost_nanos, cost_usd=nanos_to_usd(row.cost_nanos),
                cached=row.cached, unsettled=row.unsettled, timestamp=row.timestamp,
            )
            for row in session.scalars(stmt)
        ]


def performance_metrics(
    store: Store, *, since: datetime, workflow: str | None = None, statuses: Sequence[str] | None = FINISHED
) -> list[MetricRow]:
    """Per-task-run metrics at or after ``since``; ``statuses=None`` keeps every status."""
    m = PerformanceMetricRow
    stmt = select(m).where(m.timestamp >= since)
    if workflow is not None:
        stmt = stmt.where(m.workflow == workflow)
    if statuses is not None:
        stmt = stmt.where(m.status.in_(list(statuses)))
    stmt = stmt.order_by(m.timestamp, m.id)
    with store.session(readonly=True) as session:
        return [
            MetricRow(
                workflow=row.workflow, run_id=row.run_id, task_id=row.task_id, model=row.model, status=row.status,
                timestamp=row.timestamp, execution_time_ms=row.execution_time_ms, prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens, total_tokens=row.token_count, cost_nanos=row.cost_nanos,
                cost_usd=None if row.cost_nanos is None else nanos_to_usd(row.cost_nanos),
                quality_score=row.quality_score,
            )
            for row in session.scalars(stmt)
        ]


def evaluation_scores(store: Store, *, since: datetime, workflow: str | None = None) -> list[ScoreRow]:
    """Test-Bench metric scores created at or after ``since``."""
    e = EvaluationScoreRow
    stmt = select(e).where(e.created_at >= since)
    if workflow is not None:
        stmt = stmt.where(e.workflow == workflow)
    stmt = stmt.order_by(e.created_at, e.id)
    with store.session(readonly=True) as session:
        return [
            ScoreRow(
                workflow=row.workflow, run_id=row.run_id, task_id=row.task_id, metric=row.metric,
                score=row.score, passed=row.passed, created_at=row.created_at,
            )
            for row in session.scalars(stmt)
        ]


__all__ = ["FINISHED", "CostRow", "MetricRow", "ScoreRow", "cost_records", "evaluation_scores", "performance_metrics"]
