"""The store's read side (report rows, ledger reads) and migration 0004, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text

from ecosystem.store import Store, head_revision, upgrade
from ecosystem.store.engine import _alembic_config, _create_engine
from ecosystem.store.ledger import matches_task, recorded_cost_nanos
from ecosystem.store.models import CostRecordRow
from ecosystem.store.optimizer_models import PerformanceMetricRow
from ecosystem.store.reports import cost_records, evaluation_scores, performance_metrics
from ecosystem.store.testbench_models import EvaluationScoreRow
from ecosystem.store.testing import scratch_schema

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    with scratch_schema(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@pytest.fixture
def store(empty_url: str) -> Iterator[Store]:
    upgrade(empty_url)
    with Store.open(empty_url) as opened:
        yield opened


def _cost(run_id: str, task_id: str, nanos: int, *, workflow: str = "wf", when: datetime = NOW,
          unsettled: bool = False, model: str | None = "m1") -> CostRecordRow:
    return CostRecordRow(
        id=str(uuid.uuid4()), organization_id="org", workflow_id=workflow, run_id=run_id, task_id=task_id,
        executor="llm-forge:claude-api", model=model, prompt_tokens=10, completion_tokens=5, total_tokens=15,
        cost_nanos=nanos, cached=False, unsettled=unsettled, reservation_id=None, timestamp=when, created_at=when,
    )


def test_migration_0004_adds_the_unsettled_flag_keeping_rows_and_downgrades(empty_url: str) -> None:
    assert upgrade(empty_url, "0003_testbench") == "0003_testbench"
    engine = _create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO cost_records (id, organization_id, workflow_id, run_id, task_id, prompt_tokens, "
                "completion_tokens, total_tokens, cost_nanos, cached, timestamp, created_at) VALUES "
                "('old', 'org', 'wf', 'r', 't', 0, 0, 0, 42, :false, :ts, :ts)"
            ), {"false": False, "ts": NOW.replace(tzinfo=None)})
        assert upgrade(empty_url) == head_revision()  # through 0004 (and any later revision)
        with Store.open(empty_url) as store:
            [row] = cost_records(store, since=NOW - timedelta(days=1))
            assert (row.cost_nanos, row.unsettled) == (42, False)
            indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("budget_reservations")}
            assert {"ix_budget_reservations_expiry", "ix_budget_reservations_run"} <= indexes
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0003_testbench")
        columns = {c["name"] for c in inspect(engine).get_columns("cost_records")}
        assert "unsettled" not in columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT cost_nanos FROM cost_records WHERE id = 'old'")).scalar_one() == 42
    finally:
        engine.dispose()


def test_cost_records_rows_carry_the_unsettled_flag_and_filter(store: Store) -> None:
    with store.session() as session:
        session.add_all([
            _cost("r1", "a", 1_500_000_000, when=NOW),
            _cost("r1", "b", 250_000_000, when=NOW + timedelta(minutes=1), unsettled=True, model=None),
            _cost("r2", "a", 7, workflow="other", when=NOW),
            _cost("r0", "a", 9, when=NOW - timedelta(days=2)),
        ])
    rows = cost_records(store, since=NOW - timedelta(hours=1), workflow="wf")
    assert [(r.run_id, r.task_id, r.cost_usd, r.unsettled, r.model) for r in rows] == [
        ("r1", "a", 1.5, False, "m1"), ("r1", "b", 0.25, True, None)]
    assert rows[0].timestamp == NOW and rows[0].total_tokens == 15 and rows[0].workflow == "wf"
    everything = cost_records(store, since=NOW - timedelta(days=3))
    assert [r.run_id for r in everything][::3] == ["r0", "r1"]  # oldest first, newest last
    assert sorted(r.workflow for r in everything) == ["other", "wf", "wf", "wf"]
    assert [r.task_id for r in cost_records(store, since=NOW - timedelta(days=3), run_id="r2")] == ["a"]
    assert set(dataclasses.asdict(rows[0])) >= {"workflow", "run_id", "task_id", "model", "prompt_tokens",
                                                "completion_tokens", "total_tokens", "cost_nanos", "timestamp"}


def _metric(workflow: str, task_id: str, status: str, when: datetime, **extra: object) -> PerformanceMetricRow:
    fields: dict[str, object] = {
        "metric_id": uuid.uuid4().hex, "source": "test", "workflow": workflow, "workflow_id": "run-x",
        "run_id": "run-x", "task_id": task_id, "executor": "llm-forge:claude-api", "model": "m1", "status": status,
        "timestamp": when, "started_at": None, "finished_at": None, "execution_time_ms": 120,
        "cpu_usage_percent": 1.0, "memory_usage_mb": 10, "token_count": 30, "prompt_tokens": 20,
        "completion_tokens": 10, "cost_nanos": 3_000, "quality_score": 0.8, "received_at": when,
    }
    fields.update(extra)
    return PerformanceMetricRow(**fields)


def test_performance_metrics_rows_keep_finished_runs_by_default(store: Store) -> None:
    with store.session() as session:
        session.add_all([
            _metric("wf", "a", "completed", NOW),
            _metric("wf", "b", "failed", NOW + timedelta(seconds=1), cost_nanos=None, quality_score=None),
            _metric("wf", "c", "skipped", NOW + timedelta(seconds=2)),
            _metric("other", "a", "completed", NOW),
        ])
    rows = performance_metrics(store, since=NOW - timedelta(minutes=1), workflow="wf")
    assert [(r.task_id, r.status) for r in rows] == [("a", "completed"), ("b", "failed")]
    first, second = rows
    assert (first.execution_time_ms, first.total_tokens, first.cost_usd, first.quality_score) == (120, 30, 3e-06, 0.8)
    assert second.cost_nanos is None and second.cost_usd is None and second.quality_score is None
    everything = performance_metrics(store, since=NOW - timedelta(minutes=1), statuses=None)
    assert sorted(r.status for r in everything) == ["completed", "completed", "failed", "skipped"]
    assert performance_metrics(store, since=NOW + timedelta(hours=1)) == []


def test_evaluation_scores_rows_filter_by_time_and_workflow(store: Store) -> None:
    def score(workflow: str, metric: str, value: float, when: datetime) -> EvaluationScoreRow:
        return EvaluationScoreRow(run_id="run-e", workflow=workflow, task_id="t", metric=metric, score=value,
                                  passed=value >= 0.5, overall_score=value, task_passed=value >= 0.5, created_at=when)

    with store.session() as session:
        session.add_all([score("wf", "relevance", 0.9, NOW), score("wf", "coherence", 0.4, NOW + timedelta(seconds=1)),
                         score("other", "relevance", 0.1, NOW), score("wf", "old", 0.5, NOW - timedelta(days=9))])
    rows = evaluation_scores(store, since=NOW - timedelta(days=1), workflow="wf")
    assert [(r.metric, r.score, r.passed) for r in rows] == [("relevance", 0.9, True), ("coherence", 0.4, False)]
    assert rows[0].created_at == NOW and rows[0].run_id == "run-e"
    assert len(evaluation_scores(store, since=NOW - timedelta(days=30))) == 4


def test_recorded_cost_matches_ids_and_foreach_items_only(store: Store) -> None:
    with store.session() as session:
        session.add_all([
            _cost("r1", "fan", 100), _cost("r1", "fan[0]", 10), _cost("r1", "fan[12]", 1),
            _cost("r1", "fan[x]", 1_000), _cost("r1", "fanout[1]", 10_000), _cost("r1", "fan_out", 100_000),
            _cost("r1", "a_b[1]", 5), _cost("r1", "axb[1]", 50_000_000),
            _cost("r1", "late", 3, unsettled=True), _cost("r2", "fan", 999_999),
        ])
    assert recorded_cost_nanos(store, "r1", ["fan"]) == 111
    assert recorded_cost_nanos(store, "r1", ["a_b"]) == 5  # '_' is a LIKE wildcard: escaped
    assert recorded_cost_nanos(store, "r1", ["fan", "late"]) == 114  # unsettled spend is recorded spend
    assert recorded_cost_nanos(store, "r1", ["nothing"]) is None
    assert recorded_cost_nanos(store, "r1", []) is None
    assert recorded_cost_nanos(store, "r3", ["fan"]) is None
    assert matches_task("fan[3]", ["fan"]) and not matches_task("fan[3]x", ["fan"]) and not matches_task("fan[]", ["fan"])
