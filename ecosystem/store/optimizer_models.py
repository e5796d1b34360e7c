"""Auto-Optimizer tables: ``performance_metrics`` and ``recommendation_log`` (migration 0002).

Rows live on the store's one ``Base`` so Alembic and ``Store`` see a single schema.  Decisions:

* ``metric_id`` is unique: a batch re-submitted after a timeout (or from the buffer's spool)
  is stored once, which is what makes delivery effectively exactly-once.
* The history index is ``(workflow, task_id, timestamp)``: every analysis reads one workflow's
  newest metrics per task.  ``workflow`` is the workflow *name*; ``workflow_id`` (the seed's
  field, a run id in this project) and ``run_id`` are indexed for resolving ids to names.
* Cost is nano-dollars like the governance ledger (see ``ecosystem.store.models``); lists
  (``depends_on``, ``data_dependencies``) and ``custom`` are JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ecosystem.store.models import Base


class PerformanceMetricRow(Base):
    """One task execution's metrics."""

    __tablename__ = "performance_metrics"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    metric_id: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(100))
    workflow: Mapped[str] = mapped_column(String(200))
    workflow_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200))
    executor: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    timestamp: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    execution_time_ms: Mapped[int] = mapped_column(BigInteger)
    cpu_usage_percent: Mapped[float] = mapped_column(Float)
    memory_usage_mb: Mapped[int] = mapped_column(BigInteger)
    token_count: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    max_tokens: Mapped[int | None] = mapped_column(BigInteger)
    temperature: Mapped[float | None] = mapped_column(Float)
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger)
    quality_score: Mapped[float | None] = mapped_column(Float)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    depends_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_dependencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_performance_metrics_workflow_task_time", "workflow", "task_id", "timestamp"),
        Index("ix_performance_metrics_workflow_time", "workflow", "timestamp"),
        Index("ix_performance_metrics_workflow_id", "workflow_id"),
        Index("ix_performance_metrics_run", "run_id"),
    )


class RecommendationLogRow(Base):
    """A recommendation as it was computed (written once per fresh computation, not per cache hit)."""

    __tablename__ = "recommendation_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))
    task_id: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    generated_at: Mapped[datetime]

    __table_args__ = (Index("ix_recommendation_log_workflow_time", "workflow", "generated_at"),)


OPTIMIZER_TABLES = ("performance_metrics", "recommendation_log")
