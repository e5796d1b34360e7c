"""Lazy re-exports for the ecosystem packages (PEP 562).

Each package re-exports the names of its modules (``from ecosystem.forge import ForgeSettings``),
but importing all of them eagerly made any use of one light module (the settings models that
config validation needs) import every heavy one: FastAPI for the servers, SQLAlchemy and Alembic
for the store, NumPy for embeddings, about 1 CPU-s per process.  A package now imports a module
the first time one of its names is read; the names and where they live are declared once, in the
package's ``_EXPORTS``, with the same imports under ``TYPE_CHECKING`` for type checkers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a module (relative to
    the package) to the names it provides.  A name, once imported, is kept on the package."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
