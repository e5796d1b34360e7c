"""Where the four ecosystem systems plug into a run: client factories and hooks.

Each module registers a client factory in ``flows.services.CLIENT_FACTORIES`` and, where the
system acts on every task or run, a hook factory in ``HOOK_FACTORIES``.  Importing this package
registers them all; ``flows.workflow`` does so once.
"""

from __future__ import annotations

from importlib import import_module

from flows.services import CLIENT_FACTORIES


def _store(settings: object, services: object) -> object:
    """The run's SQL store (cost ledger, metrics, test reports): SQLite by default, else storage.url."""
    from ecosystem.store import Store

    return Store.open(getattr(getattr(settings, "storage", None), "url", None))


CLIENT_FACTORIES["store"] = _store

for _name in ("forge", "governance", "testbench", "optimizer"):
    import_module(f"flows.integrations.{_name}")

# Artifacts last: their after_workflow must see what every integration added to the result
# (the test report, budget warnings, applied recommendations).
import_module("flows.artifacts")
