"""``EmbeddedAutoOptimizer``: metrics into the SQL store, recommendations computed from it, cached.

Decisions:

* **One thread hop per call.**  The store is synchronous (``ecosystem.store.engine``); storing a
  batch, or loading a history + analysing it + logging the result, each run as one
  ``asyncio.to_thread`` call, so neither the database nor numpy blocks the event loop.
* **Idempotent storage.**  Metric ids already stored are skipped (and the insert uses
  ``ON CONFLICT DO NOTHING`` on both SQLite and PostgreSQL for concurrent writers), so a
  retried batch is stored once.  ``submit_metrics`` returns how many were new.
* **What a workflow id means.**  History is keyed by workflow *name*.  The seed's
  ``request-recommendations`` passes ``${{ workflow.id }}``, which in this project is a run id, so
  ``get_recommendations`` accepts a name, a ``workflow_id`` or a ``run_id`` and resolves the last
  two to the name of the workflow that produced them.
* **The 300 s cache is the seed's**: per (workflow, include_task_level), on an injectable
  monotonic clock; new metrics do not invalidate it (every run submits metrics, which would make
  the cache useless) - ``invalidate(workflow)`` does.
* **Bounds first.**  Each call checks its arguments against the models' bounds and raises
  ``InvalidRequest`` for what the server would answer with 422.
* **Eval evidence.**  The newest eval suite run over the workflow (``ecosystem.store.evals``) is
  read with the history; a model switch cites its pass-rate difference (``analysis``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ecosystem.models import revalidated, validated
from ecosystem.optimizer.analysis import AnalysisConfig, EvalEvidence, EvalVariant, analyze
from ecosystem.optimizer.errors import OptimizerUnavailable
from ecosystem.optimizer.models import (
    AutoOptimizerSettings,
    PerformanceMetric,
    Recommendations,
    RecommendationsQuery,
    SubmitMetricsRequest,
)
from ecosystem.store import Store, StoreUnavailable
from ecosystem.store.evals import latest_suite_evidence
from ecosystem.store.models import NANOS_PER_USD, usd_to_nanos
from ecosystem.store.optimizer_models import PerformanceMetricRow, RecommendationLogRow

_CHUNK = 500


def metric_to_row(metric: PerformanceMetric, source: str, received_at: datetime) -> dict[str, Any]:
    return {
        "metric_id": metric.id,
        "source": source,
        "workflow": metric.workflow_key,
        "workflow_id": metric.workflow_id,
        "run_id": metric.run_id,
        "task_id": metric.task_id,
        "executor": metric.executor,
        "model": metric.model,
        "status": metric.status,
        "timestamp": metric.timestamp,
        "started_at": metric.started_at,
        "finished_at": metric.finished_at,
        "execution_time_ms": metric.execution_time_ms,
        "cpu_usage_percent": metric.cpu_usage_percent,
        "memory_usage_mb": metric.memory_usage_mb,
        "token_count": metric.token_count,
        "prompt_tokens": metric.prompt_tokens,
        "completion_tokens": metric.completion_tokens,
        "max_tokens": metric.max_tokens,
        "temperature": metric.temperature,
        "cost_nanos": None if metric.cost_usd is None else usd_to_nanos(metric.cost_usd),
        "quality_score": metric.quality_score,
        "input_hash": metric.input_hash,
        "depends_on": list(metric.depends_on),
        "data_dependencies": list(metric.data_dependencies),
        "custom": dict(metric.custom),
        "received_at": received_at,
    }


def row_to_metric(row: PerformanceMetricRow) -> PerformanceMetric:
    return PerformanceMetric(
        id=row.metric_id,
        workflow_id=row.workflow_id,
        workflow=row.workflow,
        run_id=row.run_id,
        task_id=row.task_id,
        executor=row.executor,
        model=row.model,
        status=row.status,  # type: ignore[arg-type]
        timestamp=row.timestamp,
        started_at=row.started_at,
        finished_at=row.finished_at,
        execution_time_ms=row.execution_time_ms,
        cpu_usage_percent=row.cpu_usage_percent,
        memory_usage_mb=row.memory_usage_mb,
        token_count=row.token_count,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        max_tokens=row.max_tokens,
        temperature=row.temperature,
        cost_usd=None if row.cost_nanos is None else row.cost_nanos / NANOS_PER_USD,
        quality_score=row.quality_score,
        input_hash=row.input_hash,
        depends_on=list(row.depends_on or []),
        data_dependencies=list(row.data_dependencies or []),
        custom=dict(row.custom or {}),
    )


@dataclass(frozen=True)
class _Cached:
    at: float
    workflow: str
    value: Recommendations


@contextmanager
def _store_guard() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable as exc:
        raise OptimizerUnavailable(f"metric store unavailable: {exc.message}", retry_after=exc.retry_after) from exc


class EmbeddedAutoOptimizer:
    """The Auto-Optimizer in this process.  ``store`` defaults to ``Store.open(settings.storage_url)``."""

    def __init__(
        self,
        settings: AutoOptimizerSettings | None = None,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or AutoOptimizerSettings()
        self._owns_store = store is None
        self.store = store if store is not None else Store.open(self.settings.storage_url)
        self.config = AnalysisConfig.from_settings(self.settings)
        self.clock = clock
        self.history_loads = 0  # how many times a history was read (cache misses)
        self._cache: dict[tuple[str, bool], _Cached] = {}

    # -- metrics --------------------------------------------------------------------------

    def store_metrics(self, metrics: Sequence[PerformanceMetric], source: str) -> int:
        unique: dict[str, PerformanceMetric] = {}
        for metric in metrics:
            unique.setdefault(metric.id, metric)
        if not unique:
            return 0
        received = datetime.now(UTC)
        inserted = 0
        with _store_guard(), self.store.session() as session:
            ids = list(unique)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                existing = set(
                    session.scalars(select(PerformanceMetricRow.metric_id).where(PerformanceMetricRow.metric_id.in_(chunk)))
                )
                rows = [metric_to_row(unique[i], source, received) for i in chunk if i not in existing]
                if not rows:
                    continue
                dialect_insert = postgresql.insert if self.store.is_postgres else sqlite.insert
                statement = dialect_insert(PerformanceMetricRow).on_conflict_do_nothing(index_elements=["metric_id"])
                session.execute(statement, rows)
                inserted += len(rows)
        return inserted

    async def submit_metrics(self, request: SubmitMetricsRequest) -> int:
        request = revalidated(request)
        return await asyncio.to_thread(self.store_metrics, request.metrics, request.source)

    # -- history and recommendations ------------------------------------------------------

    def resolve_workflow(self, workflow_id: str) -> str:
        """The workflow name for a name, a workflow_id or a run_id (the input when unknown)."""
        with _store_guard(), self.store.session(readonly=True) as session:
            known = session.scalar(
                select(PerformanceMetricRow.workflow).where(PerformanceMetricRow.workflow == workflow_id).limit(1)
            )
            if known is not None:
                return known
            named = session.scalar(
                select(PerformanceMetricRow.workflow)
                .where(or_(PerformanceMetricRow.workflow_id == workflow_id, PerformanceMetricRow.run_id == workflow_id))
                .order_by(PerformanceMetricRow.timestamp.desc())
                .limit(1)
            )
        return named if named is not None else workflow_id

    def load_history(self, workflow: str) -> list[PerformanceMetric]:
        """The newest ``history_limit`` metrics of ``workflow``, oldest first."""
        self.history_loads += 1
        with _store_guard(), self.store.session(readonly=True) as session:
            rows = session.scalars(
                select(PerformanceMetricRow)
                .where(PerformanceMetricRow.workflow == workflow)
                .order_by(PerformanceMetricRow.timestamp.desc(), PerformanceMetricRow.id.desc())
                .limit(self.settings.history_limit)
            ).all()
            return [row_to_metric(row) for row in reversed(rows)]

    def load_evals(self, workflow: str) -> EvalEvidence | None:
        """The newest eval suite run over ``workflow`` (``llm-orchestrator eval``), if any."""
        with _store_guard():
            found = latest_suite_evidence(self.store, workflow)
        if found is None or not found[1]:
            return None
        run, variants = found
        return EvalEvidence(
            suite=run.suite, suite_run_id=run.suite_run_id, finished_at=run.finished_at,
            variants=tuple(EvalVariant(
                variant_id=v.variant_id, label=v.label, models=dict(v.models),
                others=tuple((str(c[0]), str(c[1])) for c in v.choices if not str(c[0]).startswith("model.")),
                cases=v.cases, pass_rate=v.pass_rate,
            ) for v in variants),
            confidence=variants[0].confidence,
        )

    def compute(self, workflow_id: str, include_task_level: bool = True) -> tuple[str, Recommendations]:
        workflow = self.resolve_workflow(workflow_id)
        history = self.load_history(workflow)
        evals = self.load_evals(workflow) if include_task_level else None
        result = analyze(workflow, history, self.config, include_task_level=include_task_level, evals=evals)
        if result.items:
            self._log(workflow, result)
        return workflow, result

    def _log(self, workflow: str, result: Recommendations) -> None:
        with _store_guard(), self.store.session() as session:
            for item in result.items:
                kind = item.recommendation_type.kind
                session.add(
                    RecommendationLogRow(
                        recommendation_id=item.id,
                        workflow=workflow,
                        kind=kind,
                        task_id=getattr(item.recommendation_type, "task_id", None),
                        confidence=item.confidence,
                        payload=item.model_dump(mode="json"),
                        generated_at=result.generated_at,
                    )
                )

    async def get_recommendations(self, workflow_id: str, include_task_level: bool = True) -> Recommendations:
        validated(RecommendationsQuery, {"workflow_id": workflow_id, "include_task_level": include_task_level})
        key = (workflow_id, include_task_level)
        cached = self._cache.get(key)
        now = self.clock()
        if cached is not None and now - cached.at < self.settings.recommendation_cache_ttl:
            return cached.value
        workflow, result = await asyncio.to_thread(self.compute, workflow_id, include_task_level)
        self._cache[key] = _Cached(now, workflow, result)
        return result

    def invalidate(self, workflow: str | None = None) -> None:
        """Drop cached recommendations for ``workflow`` (by name or the id it was asked by), or all."""
        if workflow is None:
            self._cache.clear()
            return
        for key in [k for k, v in self._cache.items() if workflow in (k[0], v.workflow)]:
            del self._cache[key]

    async def aclose(self) -> None:
        self._cache.clear()
        if self._owns_store:
            await asyncio.to_thread(self.store.close)
