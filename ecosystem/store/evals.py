"""Eval suite results in the store: written once per suite run, read by reports and the optimizer.

The records are plain frozen dataclasses (money in USD floats, converted to nano-dollars at the
edge, like ``reports``), so neither Test-Bench, which builds them, nor the Auto-Optimizer, which
reads them, touches a row class.  ``save_suite_run`` writes a run, its variants and its case runs
in one transaction and replaces a run saved before under the same id (a retried flow run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from ecosystem.store.engine import Store
from ecosystem.store.eval_models import EvalCaseRow, EvalSuiteRunRow, EvalVariantRow
from ecosystem.store.models import nanos_to_usd, usd_to_nanos


@dataclass(frozen=True)
class SuiteRunRecord:
    suite_run_id: str
    suite: str
    workflow: str
    suite_file: str
    workflow_file: str
    started_at: datetime
    finished_at: datetime
    cases: int
    variants: int
    repeat: int
    runs: int
    errored: int
    provider_calls: int
    passed: bool  # the failUnder verdict (True when there is no rule)
    gate: list[str] = field(default_factory=list)  # one sentence per variant under a rule
    fail_under: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # case metadata, warnings, ...


@dataclass(frozen=True)
class VariantRecord:
    position: int
    variant_id: str
    label: str
    models: dict[str, str]  # llm task id -> model this variant runs it on
    choices: list[list[str]]  # [dimension, value label] in matrix order
    cases: int
    runs: int
    passes: int
    errored: int
    pass_rate: float
    pass_rate_low: float
    pass_rate_high: float
    confidence: float
    mean_score: float | None
    metrics: dict[str, float | None]
    cost_total_usd: float | None
    cost_mean_usd: float | None
    cost_unknown_runs: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    on_frontier: bool
    flaky_cases: list[str]


@dataclass(frozen=True)
class CaseRunRecord:
    case_id: str
    variant_id: str
    repeat: int
    run_id: str
    state: str
    passed: bool
    errored: bool
    error: str | None
    score: float | None
    scores: dict[str, float | None]
    checks: list[dict[str, Any]]
    outputs: dict[str, Any]
    cost_usd: float | None
    spent_usd: float | None
    latency_ms: float | None
    cached_tasks: int
    provider_calls: int


def _nanos(value: float | None) -> int | None:
    return None if value is None else usd_to_nanos(value)


def _usd(value: int | None) -> float | None:
    return None if value is None else nanos_to_usd(value)


def save_suite_run(store: Store, run: SuiteRunRecord, variants: Sequence[VariantRecord],
                   cases: Sequence[CaseRunRecord]) -> None:
    """Store one suite run with its variants and case runs (one transaction)."""
    with store.session() as session:
        for table in (EvalCaseRow, EvalVariantRow):
            session.execute(delete(table).where(table.suite_run_id == run.suite_run_id))
        session.execute(delete(EvalSuiteRunRow).where(EvalSuiteRunRow.suite_run_id == run.suite_run_id))
        session.add(EvalSuiteRunRow(
            suite_run_id=run.suite_run_id, suite=run.suite, workflow=run.workflow, suite_file=run.suite_file,
            workflow_file=run.workflow_file, started_at=run.started_at, finished_at=run.finished_at, cases=run.cases,
            variants=run.variants, repeat=run.repeat, runs=run.runs, errored=run.errored,
            provider_calls=run.provider_calls, passed=run.passed, gate=list(run.gate), fail_under=dict(run.fail_under),
            details=dict(run.details),
        ))
        session.flush()  # the parent row first: the children's foreign keys point at it
        session.add_all([EvalVariantRow(
            suite_run_id=run.suite_run_id, position=v.position, variant_id=v.variant_id, label=v.label,
            models=dict(v.models), choices=[list(c) for c in v.choices], cases=v.cases, runs=v.runs, passes=v.passes,
            errored=v.errored, pass_rate=v.pass_rate, pass_rate_low=v.pass_rate_low, pass_rate_high=v.pass_rate_high,
            confidence=v.confidence, mean_score=v.mean_score, metrics=dict(v.metrics),
            cost_total_nanos=_nanos(v.cost_total_usd), cost_mean_nanos=_nanos(v.cost_mean_usd),
            cost_unknown_runs=v.cost_unknown_runs, latency_p50_ms=v.latency_p50_ms, latency_p95_ms=v.latency_p95_ms,
            on_frontier=v.on_frontier, flaky_cases=list(v.flaky_cases),
        ) for v in variants])
        session.add_all([EvalCaseRow(
            suite_run_id=run.suite_run_id, case_id=c.case_id, variant_id=c.variant_id, repeat=c.repeat,
            run_id=c.run_id, state=c.state, passed=c.passed, errored=c.errored, error=c.error, score=c.score,
            scores=dict(c.scores), checks=list(c.checks), outputs=dict(c.outputs), cost_nanos=_nanos(c.cost_usd),
            spent_nanos=_nanos(c.spent_usd), latency_ms=c.latency_ms, cached_tasks=c.cached_tasks,
            provider_calls=c.provider_calls,
        ) for c in cases])


def _run(row: EvalSuiteRunRow) -> SuiteRunRecord:
    return SuiteRunRecord(
        suite_run_id=row.suite_run_id, suite=row.suite, workflow=row.workflow, suite_file=row.suite_file,
        workflow_file=row.workflow_file, started_at=row.started_at, finished_at=row.finished_at, cases=row.cases,
        variants=row.variants, repeat=row.repeat, runs=row.runs, errored=row.errored,
        provider_calls=row.provider_calls, passed=row.passed, gate=list(row.gate or []),
        fail_under=dict(row.fail_under or {}), details=dict(row.details or {}),
    )


def suite_runs(store: Store, *, since: datetime | None = None, workflow: str | None = None, suite: str | None = None,
               limit: int = 20) -> list[SuiteRunRecord]:
    """Suite runs, newest first, optionally since a time, of one workflow or one suite."""
    r = EvalSuiteRunRow
    stmt = select(r)
    if since is not None:
        stmt = stmt.where(r.finished_at >= since)
    if workflow is not None:
        stmt = stmt.where(r.workflow == workflow)
    if suite is not None:
        stmt = stmt.where(r.suite == suite)
    stmt = stmt.order_by(r.finished_at.desc(), r.suite_run_id).limit(limit)
    with store.session(readonly=True) as session:
        return [_run(row) for row in session.scalars(stmt)]


def suite_run(store: Store, suite_run_id: str) -> SuiteRunRecord | None:
    with store.session(readonly=True) as session:
        row = session.get(EvalSuiteRunRow, suite_run_id)
        return _run(row) if row is not None else None


def suite_variants(store: Store, suite_run_id: str) -> list[VariantRecord]:
    """A suite run's variant summaries, in matrix order."""
    v = EvalVariantRow
    stmt = select(v).where(v.suite_run_id == suite_run_id).order_by(v.position)
    with store.session(readonly=True) as session:
        return [VariantRecord(
            position=row.position, variant_id=row.variant_id, label=row.label, models=dict(row.models or {}),
            choices=[list(c) for c in row.choices or []], cases=row.cases, runs=row.runs, passes=row.passes,
            errored=row.errored, pass_rate=row.pass_rate, pass_rate_low=row.pass_rate_low,
            pass_rate_high=row.pass_rate_high, confidence=row.confidence, mean_score=row.mean_score,
            metrics=dict(row.metrics or {}), cost_total_usd=_usd(row.cost_total_nanos),
            cost_mean_usd=_usd(row.cost_mean_nanos), cost_unknown_runs=row.cost_unknown_runs,
            latency_p50_ms=row.latency_p50_ms, latency_p95_ms=row.latency_p95_ms, on_frontier=row.on_frontier,
            flaky_cases=list(row.flaky_cases or []),
        ) for row in session.scalars(stmt)]


def suite_cases(store: Store, suite_run_id: str) -> list[CaseRunRecord]:
    """A suite run's case runs, in the order they were saved."""
    c = EvalCaseRow
    stmt = select(c).where(c.suite_run_id == suite_run_id).order_by(c.id)
    with store.session(readonly=True) as session:
        return [CaseRunRecord(
            case_id=row.case_id, variant_id=row.variant_id, repeat=row.repeat, run_id=row.run_id, state=row.state,
            passed=row.passed, errored=row.errored, error=row.error, score=row.score, scores=dict(row.scores or {}),
            checks=list(row.checks or []), outputs=dict(row.outputs or {}), cost_usd=_usd(row.cost_nanos),
            spent_usd=_usd(row.spent_nanos), latency_ms=row.latency_ms, cached_tasks=row.cached_tasks,
            provider_calls=row.provider_calls,
        ) for row in session.scalars(stmt)]


def latest_suite_evidence(store: Store, workflow: str) -> tuple[SuiteRunRecord, list[VariantRecord]] | None:
    """The newest suite run over ``workflow`` (by name) with its variants; None when there is none."""
    found = suite_runs(store, workflow=workflow, limit=1)
    if not found:
        return None
    return found[0], suite_variants(store, found[0].suite_run_id)


__all__ = [
    "CaseRunRecord",
    "SuiteRunRecord",
    "VariantRecord",
    "latest_suite_evidence",
    "save_suite_run",
    "suite_cases",
    "suite_run",
    "suite_runs",
    "suite_variants",
]
