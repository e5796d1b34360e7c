"""Migration 0002 creates the optimizer tables on SQLite and PostgreSQL, and the store round-trips on both."""

from __future__ import annotations

from pathlib import Path

from optimizer_histories import model_history  # type: ignore[import-not-found]
from sqlalchemy import inspect

from ecosystem.optimizer import AutoOptimizerSettings, EmbeddedAutoOptimizer, SubmitMetricsRequest
from ecosystem.store import Store, current_revision, head_revision, upgrade
from ecosystem.store.optimizer_models import OPTIMIZER_TABLES
from ecosystem.store.testing import scratch_schema

QUALITY = [0.80, 0.85, 0.90, 0.82, 0.88, 0.86, 0.84, 0.81]


def _check_schema(store: Store) -> None:
    inspector = inspect(store.engine)
    assert set(OPTIMIZER_TABLES) <= set(inspector.get_table_names())
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("performance_metrics")}
    assert indexes["ix_performance_metrics_workflow_task_time"] == ["workflow", "task_id", "timestamp"]


async def _round_trip(store: Store) -> None:
    optimizer = EmbeddedAutoOptimizer(AutoOptimizerSettings(), store)
    metrics = model_history(runs=8, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics)) == 16
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics)) == 0
    history = optimizer.load_history("wf")
    assert [m.id for m in history] == [m.id for m in metrics]
    assert history[0] == metrics[0]
    recs = await optimizer.get_recommendations("wf")
    assert [r.recommendation_type.kind for r in recs.items] == ["model_switch"]


async def test_upgrade_to_head_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert upgrade(url) == head_revision()
    with Store.open(url) as store:
        _check_schema(store)
        await _round_trip(store)


async def test_upgrade_to_head_on_postgres(optimizer_postgres_server: str) -> None:
    with scratch_schema(optimizer_postgres_server, prefix="llmo_opt") as url:
        assert upgrade(url) == head_revision()
        assert current_revision(url) == head_revision()
        with Store.open(url) as store:
            _check_schema(store)
            await _round_trip(store)


def test_the_head_revision_the_store_checks_without_alembic_is_alembics_head() -> None:
    """``Store.open`` skips Alembic for a database at ``HEAD_REVISION``; a new migration must move it."""
    from ecosystem.store.engine import HEAD_REVISION

    assert HEAD_REVISION == head_revision()


def test_opening_a_store_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'at-head.db'}"
    upgrade(url)
    probe = ("import sys\nfrom ecosystem.store import Store\nStore.open(sys.argv[1]).close()\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    done = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
