"""Eval suite results in the store (migration 0005): saved, replaced, read back newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect

from ecosystem.store import Store, head_revision, upgrade
from ecosystem.store.engine import _alembic_config
from ecosystem.store.eval_models import EVAL_TABLES
from ecosystem.store.evals import (
    CaseRunRecord,
    SuiteRunRecord,
    VariantRecord,
    latest_suite_evidence,
    save_suite_run,
    suite_cases,
    suite_runs,
)

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _run(run_id: str, workflow: str = "triage", at: datetime = T0, **changes: object) -> SuiteRunRecord:
    fields: dict[str, object] = dict(
        suite_run_id=run_id, suite="triage-quality", workflow=workflow, suite_file="suite.yaml",
        workflow_file="triage.yaml", started_at=at - timedelta(seconds=5), finished_at=at, cases=2, variants=1,
        repeat=1, runs=2, errored=0, provider_calls=2, passed=True, fail_under={"pass_rate": 0.9})
    fields.update(changes)
    return SuiteRunRecord(**fields)  # type: ignore[arg-type]


def _variant(cost: float | None = 0.0012) -> VariantRecord:
    return VariantRecord(
        position=0, variant_id="model.classify=gpt-4o-mini", label="classify=gpt-4o-mini",
        models={"classify": "gpt-4o-mini"}, choices=[["model.classify", "gpt-4o-mini"]], cases=2, runs=2, passes=1,
        errored=0, pass_rate=0.5, pass_rate_low=0.09, pass_rate_high=0.91, confidence=0.95, mean_score=0.5,
        metrics={"category.exact_match": 0.5}, cost_total_usd=cost, cost_mean_usd=None if cost is None else cost / 2,
        cost_unknown_runs=0 if cost is not None else 2, latency_p50_ms=120.0, latency_p95_ms=190.0,
        on_frontier=True, flaky_cases=[])


def _case(case_id: str, passed: bool) -> CaseRunRecord:
    return CaseRunRecord(
        case_id=case_id, variant_id="model.classify=gpt-4o-mini", repeat=0, run_id=f"run-{case_id}",
        state="completed", passed=passed, errored=False, error=None, score=1.0 if passed else 0.0,
        scores={"category.exact_match": 1.0 if passed else 0.0},
        checks=[{"name": "category.exact_match", "passed": passed}], outputs={"category": "billing"},
        cost_usd=0.0006, spent_usd=0.0, latency_ms=100.0, cached_tasks=1, provider_calls=0)


def test_migration_0005_creates_the_eval_tables_and_downgrades(sqlite_url: str) -> None:
    assert upgrade(sqlite_url, "0004") == "0004"
    assert upgrade(sqlite_url) == head_revision() == "0005"
    with Store.open(sqlite_url) as store:
        assert set(EVAL_TABLES) <= set(inspect(store.engine).get_table_names())
        engine = store.engine
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0004")
        assert not set(EVAL_TABLES) & set(inspect(engine).get_table_names())


def test_a_saved_run_reads_back_with_money_exact_and_unknown_cost_kept_unknown(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        save_suite_run(store, _run("r1"), [_variant(cost=None)], [_case("a", True), _case("b", False)])
        found = latest_suite_evidence(store, "triage")
        assert found is not None
        run, variants = found
        assert run.suite_run_id == "r1" and run.fail_under == {"pass_rate": 0.9}
        assert variants[0].cost_total_usd is None and variants[0].cost_unknown_runs == 2
        cases = suite_cases(store, "r1")
        assert [c.case_id for c in cases] == ["a", "b"]
        assert cases[0].cost_usd == 0.0006 and cases[0].spent_usd == 0.0


def test_saving_a_run_again_replaces_it_and_runs_come_newest_first(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        save_suite_run(store, _run("old", at=T0), [_variant()], [_case("a", True)])
        save_suite_run(store, _run("new", at=T0 + timedelta(hours=1)), [_variant()], [_case("a", True)])
        save_suite_run(store, _run("new", at=T0 + timedelta(hours=1), passed=False, gate=["under"]), [_variant()],
                       [_case("a", False), _case("b", False)])
        assert [r.suite_run_id for r in suite_runs(store)] == ["new", "old"]
        assert suite_runs(store, workflow="other") == []
        assert [c.passed for c in suite_cases(store, "new")] == [False, False]
        found = latest_suite_evidence(store, "triage")
        assert found is not None and found[0].gate == ["under"] and len(found[1]) == 1
