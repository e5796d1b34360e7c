from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from ecosystem.store import (
    MigrationRequired,
    Store,
    current_revision,
    default_url,
    head_revision,
    normalize_url,
    upgrade,
)
from ecosystem.store.models import GOVERNANCE_TABLES
from ecosystem.store.testing import scratch_schema


def test_upgrade_on_empty_sqlite_creates_every_table(sqlite_url: str) -> None:
    assert current_revision(sqlite_url) is None
    assert upgrade(sqlite_url) == head_revision()
    assert current_revision(sqlite_url) == head_revision()
    with Store.open(sqlite_url) as store:
        tables = set(inspect(store.engine).get_table_names())
    assert set(GOVERNANCE_TABLES) <= tables


def test_embedded_sqlite_migrates_itself_with_wal_and_foreign_keys(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        assert current_revision(sqlite_url) == head_revision()
        with store.session() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_sqlite_opened_without_migrating_reports_what_to_do(sqlite_url: str) -> None:
    with pytest.raises(MigrationRequired, match="db upgrade"):
        Store.open(sqlite_url, migrate=False)


def test_default_url_lives_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_ORCHESTRATOR_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_url() == f"sqlite:///{tmp_path / 'xdg' / 'llm-orchestrator' / 'orchestrator.db'}"
    monkeypatch.setenv("LLM_ORCHESTRATOR_HOME", str(tmp_path / "home"))
    with Store.open() as store:
        assert store.is_sqlite
    assert (tmp_path / "home" / "orchestrator.db").exists()


def test_seed_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://localhost/orchestrator") == "postgresql+psycopg://localhost/orchestrator"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_postgres_is_migrated_only_on_request(postgres_server_url: str) -> None:
    with scratch_schema(postgres_server_url) as url:
        assert current_revision(url) is None
        with pytest.raises(MigrationRequired):
            Store.open(url)
        assert upgrade(url) == head_revision()
        assert current_revision(url) == head_revision()
        with Store.open(url) as store:
            assert store.is_postgres
            assert set(GOVERNANCE_TABLES) <= set(inspect(store.engine).get_table_names())


def test_postgres_open_with_migrate_true(postgres_server_url: str) -> None:
    with scratch_schema(postgres_server_url) as url, Store.open(url, migrate=True) as store:
        with store.session(readonly=True) as session:
            assert session.execute(text("SELECT count(*) FROM budgets")).scalar() == 0
