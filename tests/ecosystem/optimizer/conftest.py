"""Optimizer fixtures: a migrated SQLite store per test and, when reachable, a scratch PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from optimizer_histories import FakeClock  # type: ignore[import-not-found]

from ecosystem.optimizer import AutoOptimizerSettings, EmbeddedAutoOptimizer
from ecosystem.store import Store
from ecosystem.store.testing import postgres_reachable, test_postgres_url


@pytest.fixture(scope="session")
def optimizer_postgres_server() -> str:
    """The PostgreSQL test server's URL; fails under CI (skips elsewhere) when it is down."""
    url = test_postgres_url()
    problem = postgres_reachable(url)
    if problem is not None:
        message = f"PostgreSQL not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/optimizer.db") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def optimizer(store: Store, clock: FakeClock) -> EmbeddedAutoOptimizer:
    return EmbeddedAutoOptimizer(AutoOptimizerSettings(), store, clock=clock)
