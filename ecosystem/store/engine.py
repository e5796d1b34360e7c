"""``Store``: the project's SQL database - an embedded SQLite file by default, PostgreSQL by URL.

Decisions:

* **Sync SQLAlchemy engine.**  Every store operation is a short transaction of a few statements;
  async callers wrap the whole operation in ``asyncio.to_thread`` (one thread hop per ledger
  call, not per statement).  That keeps one code path for both databases, lets row locks
  (``FOR UPDATE``) and SQLite's ``BEGIN IMMEDIATE`` be used plainly, and keeps the psycopg and
  sqlite3 drivers on their well-trodden sync paths.
* **SQLite** (the embedded default) runs in WAL mode with a busy timeout and foreign keys on.
  Write transactions open with ``BEGIN IMMEDIATE`` so two writers serialise at ``BEGIN`` rather
  than deadlocking on a lock upgrade; read-only sessions use a deferred ``BEGIN`` and never block
  writers.  The embedded default migrates itself on open: there is no DBA.
* **Alembic only when there is something to do.**  A store already at ``HEAD_REVISION`` is
  opened with one plain query of ``alembic_version``; Alembic (and Mako under it: 10 MiB and
  0.2 s of imports in every run) is imported only to migrate or to report a schema behind.
* **PostgreSQL** is migrated only on request (``upgrade(url)`` / ``llm-orchestrator db upgrade``,
  or ``Store.open(url, migrate=True)``); opening a store whose schema is behind raises
  ``MigrationRequired`` instead of failing later on a missing column.  The seed's
  ``postgresql://`` URLs are rewritten to the psycopg 3 driver.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ecosystem.store.errors import MigrationRequired, StoreError, StoreUnavailable
from ecosystem.store.paths import data_dir

if TYPE_CHECKING:
    from alembic.config import Config

DB_FILENAME = "orchestrator.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0005"
"""The newest revision of ``migrations/versions`` (a test holds it to Alembic's own answer)."""


def default_url() -> str:
    """``sqlite:///<data dir>/orchestrator.db``, creating the directory on first use."""
    directory = data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / DB_FILENAME}"


def normalize_url(url: str | None) -> str:
    """The SQLAlchemy URL for ``url``: the default when empty, psycopg 3 for plain PostgreSQL URLs."""
    if not url:
        return default_url()
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _create_engine(url: str) -> Engine:
    if _is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=8,
            max_overflow=16,
            pool_timeout=60,
        )
        _install_sqlite_hooks(engine)
        return engine
    return create_engine(url, pool_size=8, max_overflow=12, pool_timeout=60, pool_pre_ping=True)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the migration chain, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise StoreError("the store's migration chain is empty")
    return head


def _current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _at_head(engine: Engine) -> bool:
    """True when the database's one ``alembic_version`` row is ``HEAD_REVISION`` (no Alembic)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False  # a new database
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return rows == [HEAD_REVISION]


def _upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def _guard(action: str, url: str) -> Any:
    """Context manager turning driver connection failures into ``StoreUnavailable``."""

    @contextmanager
    def guarded() -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StoreUnavailable(f"store at {_safe_url(url)} unavailable while {action}: {exc.orig}") from exc

    return guarded()


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def upgrade(url: str | None = None, revision: str = "head") -> str:
    """Migrate the database at ``url`` to ``revision``; returns the revision it is at afterwards."""
    url = normalize_url(url)
    engine = _create_engine(url)
    try:
        with _guard("migrating", url):
            _upgrade(engine, revision)
            return _current(engine) or ""
    finally:
        engine.dispose()


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is at (``None`` for an empty database)."""
    url = normalize_url(url)
    engine = _create_engine(url)
    try:
        with _guard("reading its revision", url):
            return _current(engine)
    finally:
        engine.dispose()


class Store:
    """An open database: an engine, a session factory and the dialect-specific knobs.

    ``Store.open()`` is the embedded SQLite default in the user data directory; pass a URL for
    PostgreSQL.  Use ``with store.session() as s:`` for one transaction (committed on success,
    rolled back on error).  The store is safe to share between threads.
    """

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writer = sessionmaker(bind=engine, expire_on_commit=False)
        reader_engine = engine.execution_options(sqlite_begin="DEFERRED") if self.is_sqlite else engine
        self._reader = sessionmaker(bind=reader_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool | None = None) -> Store:
        """Open the store at ``url`` (default: SQLite in the data dir).

        ``migrate=None`` migrates SQLite and checks PostgreSQL; ``True`` migrates either;
        ``False`` only checks.  A schema behind head raises ``MigrationRequired``.
        """
        url = normalize_url(url)
        engine = _create_engine(url)
        should_migrate = _is_sqlite(url) if migrate is None else migrate
        try:
            with _guard("opening", url):
                if _at_head(engine):
                    return cls(url, engine)
                if should_migrate:
                    _upgrade(engine)
                current, head = _current(engine), head_revision()
            if current != head:
                raise MigrationRequired(
                    f"store at {_safe_url(url)} is at revision {current or 'none (empty)'}, expected {head}; "
                    "run `llm-orchestrator db upgrade`"
                )
        except BaseException:
            engine.dispose()
            raise
        return cls(url, engine)

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a writing session holds the database write lock from its first statement
        (``BEGIN IMMEDIATE``); ``readonly=True`` sessions never take it.
        """
        factory = self._reader if readonly else self._writer
        with _guard("running a transaction", self.url), factory() as session:
            with session.begin():
                yield session

    def ping(self) -> None:
        """Run a trivial query (``SELECT 1``); raises ``StoreUnavailable`` when it cannot.

        What a service's readiness probe asks: can a connection be had and a statement run.
        """
        with self.session(readonly=True) as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({_safe_url(self.url)!r})"
