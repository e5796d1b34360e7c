"""Governance fixtures: ledger backends on a real SQLite file and a scratch PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecosystem.store import Store, upgrade
from ecosystem.store.testing import postgres_reachable, scratch_schema, test_postgres_url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated scratch schema for this test session (fails under CI when PostgreSQL is down)."""
    url = test_postgres_url()
    problem = postgres_reachable(url)
    if problem is not None:
        message = f"PostgreSQL not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with scratch_schema(url, prefix="llmo_gov") as scoped:
        upgrade(scoped)
        yield scoped


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/governance.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened
