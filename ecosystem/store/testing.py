"""Throw-away PostgreSQL schemas for tests and benchmarks.

A test session gets its own schema (``llmo_test_<random>``), created on entry and dropped with
everything in it on exit, so tests never touch other data in a shared database.  The schema
travels inside the URL (``?options=-csearch_path=<schema>``, passed through to libpq), so child
processes that open the same URL land in the same schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from ecosystem.store.engine import normalize_url

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_postgres_url() -> str:
    """``$LLMO_TEST_POSTGRES_URL`` or the local test server."""
    return normalize_url(os.environ.get("LLMO_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL))


def postgres_reachable(url: str, timeout: float = 3.0) -> str | None:
    """``None`` when ``url`` accepts connections, else why not."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": int(max(1, timeout))})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    finally:
        engine.dispose()


@contextmanager
def scratch_schema(url: str, prefix: str = "llmo_test") -> Iterator[str]:
    """Create a fresh schema in the database at ``url``; yield a URL bound to it; drop it after."""
    url = normalize_url(url)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    parsed = make_url(url)
    scoped = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


__all__ = ["DEFAULT_TEST_POSTGRES_URL", "postgres_reachable", "scratch_schema", "test_postgres_url"]
