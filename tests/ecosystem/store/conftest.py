"""Store fixtures: a fresh SQLite file per test and, when reachable, a scratch PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ecosystem.store.testing import postgres_reachable, test_postgres_url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test server's URL; fails under CI and skips elsewhere when it is down."""
    url = test_postgres_url()
    problem = postgres_reachable(url)
    if problem is not None:
        message = f"PostgreSQL not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def sqlite_url(tmp_path: object) -> Iterator[str]:
    yield f"sqlite:///{tmp_path}/store.db"
