"""The project's SQL store: SQLAlchemy 2.0 models, one Alembic chain, SQLite or PostgreSQL.

    from ecosystem.store import Store
    store = Store.open()                          # SQLite in the user data dir, migrated on open
    store = Store.open("postgresql://db/orch")    # PostgreSQL; migrate with upgrade(url) first
    with store.session() as session: ...

Callers on an event loop run store operations with ``asyncio.to_thread`` (see ``engine``).
"""

from typing import TYPE_CHECKING

from ecosystem._lazy import lazy_exports

if TYPE_CHECKING:
    from ecosystem.store.engine import (
        Store,
        current_revision,
        default_url,
        head_revision,
        normalize_url,
        upgrade,
    )
    from ecosystem.store.errors import MigrationRequired, StoreError, StoreUnavailable
    from ecosystem.store.models import Base
    from ecosystem.store.paths import data_dir

_EXPORTS: dict[str, tuple[str, ...]] = {
    "engine": ("Store", "current_revision", "default_url", "head_revision", "normalize_url", "upgrade"),
    "errors": ("MigrationRequired", "StoreError", "StoreUnavailable"),
    "models": ("Base",),
    "paths": ("data_dir",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "Base",
    "MigrationRequired",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "current_revision",
    "data_dir",
    "default_url",
    "head_revision",
    "normalize_url",
    "upgrade",
]
