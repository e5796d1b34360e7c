"""Eval suite tables (migration 0005): one row per suite run, per variant, per case run.

A suite run of ``llm-orchestrator eval`` is kept so that ``report --evals`` can show it again and
the Auto-Optimizer can cite it.  Decisions:

* **Three grains, each queryable**: ``eval_suite_runs`` (what ran, when, the ``failUnder`` verdict),
  ``eval_variant_results`` (the numbers a person compares: pass rate with its interval, mean
  score, cost, latency, on the frontier or not) and ``eval_case_results`` (one row per case x
  variant x repeat: verdict, per-check results, the outputs).  Summaries are stored as computed,
  not recomputed on read, so a report shows what the run said; the case rows keep everything
  needed to recompute them.
* Money is nano-dollars like the ledger (``ecosystem.store.models``); an unknown cost is NULL,
  never 0.  ``spent_nanos`` is what a case run actually cost (0 for calls served from the cache),
  ``cost_nanos`` what its calls cost when they were made, so a re-run compares like with like.
* Variant and case rows hang off their suite run (``ON DELETE CASCADE``); the newest run of a
  workflow is found by ``(workflow, finished_at)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ecosystem.store.models import Base, UTCDateTime

EVAL_TABLES = ("eval_suite_runs", "eval_variant_results", "eval_case_results")


class EvalSuiteRunRow(Base):
    __tablename__ = "eval_suite_runs"
    __table_args__ = (
        Index("ix_eval_suite_runs_workflow_finished", "workflow", "finished_at"),
        Index("ix_eval_suite_runs_suite_finished", "suite", "finished_at"),
    )

    suite_run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(200))
    workflow: Mapped[str] = mapped_column(String(200))
    suite_file: Mapped[str] = mapped_column(Text)
    workflow_file: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cases: Mapped[int] = mapped_column(Integer)
    variants: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    errored: Mapped[int] = mapped_column(Integer)
    provider_calls: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    gate: Mapped[list[str]] = mapped_column(JSON)
    fail_under: Mapped[dict[str, Any]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class EvalVariantRow(Base):
    __tablename__ = "eval_variant_results"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    suite_run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("eval_suite_runs.suite_run_id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    models: Mapped[dict[str, Any]] = mapped_column(JSON)
    choices: Mapped[list[Any]] = mapped_column(JSON)
    cases: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    passes: Mapped[int] = mapped_column(Integer)
    errored: Mapped[int] = mapped_column(Integer)
    pass_rate: Mapped[float] = mapped_column(Float)
    pass_rate_low: Mapped[float] = mapped_column(Float)
    pass_rate_high: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    mean_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost_total_nanos: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cost_mean_nanos: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cost_unknown_runs: Mapped[int] = mapped_column(Integer)
    latency_p50_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p95_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    on_frontier: Mapped[bool] = mapped_column(Boolean)
    flaky_cases: Mapped[list[Any]] = mapped_column(JSON)


class EvalCaseRow(Base):
    __tablename__ = "eval_case_results"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    suite_run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("eval_suite_runs.suite_run_id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(200))
    variant_id: Mapped[str] = mapped_column(Text)
    repeat: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    passed: Mapped[bool] = mapped_column(Boolean)
    errored: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    checks: Mapped[list[Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost_nanos: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    spent_nanos: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cached_tasks: Mapped[int] = mapped_column(Integer)
    provider_calls: Mapped[int] = mapped_column(Integer)
