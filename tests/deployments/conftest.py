"""A real Prefect server on PostgreSQL for the deployment tests (one per module that asks).

Without PostgreSQL these tests skip locally; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deployments.testing import Server, pg_available, prefect_server


@pytest.fixture(scope="session")
def postgres() -> None:
    reason = pg_available()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the deployment tests need PostgreSQL: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(postgres: None) -> Iterator[Server]:
    with prefect_server() as running:
        yield running


@pytest.fixture
def api(server: Server) -> Iterator[Server]:
    """This process's Prefect client points at the module's server for the test."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield server
