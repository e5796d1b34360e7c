"""Alembic environment: migrates the connection the store hands over in ``config.attributes``.

``ecosystem.store.migrate`` builds an in-memory ``Config`` and passes an open connection, so the
same engine settings (SQLite pragmas, PostgreSQL ``search_path``) apply to migrations as to
normal use.  A URL in ``sqlalchemy.url`` is honoured too, for the ``alembic`` command line, and
offline mode renders SQL for a DBA to review.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from ecosystem.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection: object | None = None, url: str | None = None) -> None:
    if connection is not None:
        is_sqlite = connection.dialect.name == "sqlite"  # type: ignore[attr-defined]
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=is_sqlite)  # type: ignore[arg-type]
    else:
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        _configure_and_run(url=url)
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection=connection)
        return
    if not url:
        raise RuntimeError("alembic: no connection in config.attributes and no sqlalchemy.url")
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        _configure_and_run(connection=conn)
        conn.commit()
    engine.dispose()


run()
