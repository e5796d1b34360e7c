"""Test-Bench tables: each run's test report and its per-task, per-metric scores.

One row per (run, task, metric) makes quality queryable across runs (``llm-orchestrator
report``: mean score per task and metric, pass rates); the whole report is kept as JSON beside
it so nothing the report said is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ecosystem.store.models import Base, UTCDateTime


class TestReportRow(Base):
    __tablename__ = "test_reports"
    __test__ = False

    run_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(200), index=True)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    mean_overall_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvaluationScoreRow(Base):
    __tablename__ = "evaluation_scores"
    __table_args__ = (Index("ix_evaluation_scores_workflow_created", "workflow", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(200), index=True)
    workflow: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    overall_score: Mapped[float] = mapped_column(Float)
    task_passed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
