"""The temporary server's application: Prefect's API, whose SQLite writes wait for the lock.

On SQLite (the temporary server's database) Prefect's API answered 503 when a write met another
one, and Prefect's client then slept 2 s, then 4 s, before asking again.  Measured against the
temporary server, 6 runs in 16 of a 50-task DAG (hand-written Prefect flows as much as ours) lost
2-4 s that way, each time on ``POST /api/flow_runs/`` while the server was still writing the
previous run's task runs.

The cause is SQLite's, and so is the fix.  Prefect opens write transactions DEFERRED: they read
first and take the write lock at their first write.  In WAL mode such a transaction cannot wait
for a writer that commits in between (its snapshot is stale), so SQLite fails it at once with
"database is locked", the busy timeout notwithstanding.  A transaction opened IMMEDIATE takes the
write lock at its start and waits for it under the busy timeout (Prefect sets 60 s), so it never
meets a stale snapshot.  Prefect itself opens its SQLite migrations and its row-locking
transactions that way (``with_for_update``); on the servers we start, every write transaction
is opened that way.  Reads outside transactions are unchanged, and SQLite has one writer at a
time whichever way the transaction opens, so nothing that ran at once before is serialised now.

Only the servers we start use this (``llm_orchestrator.local_server``); a long-lived server is
Prefect's own, where PostgreSQL has no such lock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any


def writes_take_the_lock_first() -> None:
    """Have Prefect's SQLite write transactions begin IMMEDIATE (once per process); Prefect is
    left as it is when its hook for this is not there (another Prefect version)."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    begin: Callable[..., AbstractAsyncContextManager[Any]] | None = getattr(
        AioSqliteConfiguration, "begin_transaction", None)
    if begin is None or getattr(begin, "immediate", False):
        return

    def begin_immediate(self: Any, session: Any, with_for_update: bool = False) -> AbstractAsyncContextManager[Any]:
        return begin(self, session, with_for_update=True)

    begin_immediate.immediate = True  # type: ignore[attr-defined]
    AioSqliteConfiguration.begin_transaction = begin_immediate  # type: ignore[method-assign,assignment]


def create_app() -> Any:
    """Prefect's API application with IMMEDIATE SQLite writes; a uvicorn factory.  Prefect reads
    ``PREFECT__SERVER_EPHEMERAL`` (no UI) from the environment the server is started with."""
    from prefect.server.api.server import create_app as prefect_app

    writes_take_the_lock_first()
    return prefect_app()

