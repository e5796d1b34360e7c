"""Where the four ecosystem systems plug into a run: their hooks.

Each module registers a hook factory in ``flows.registry.HOOK_FACTORIES`` where the system acts
on every task or run; clients come from ``blocks.clients.Clients`` (``run.services``).
Importing this package registers them all; ``flows.workflow`` does so once.
"""

from __future__ import annotations

from importlib import import_module

for _name in ("governance", "testbench", "optimizer"):
    import_module(f"flows.integrations.{_name}")

# Artifacts last: their after_workflow must see what every integration added to the result
# (the test report, budget warnings, applied recommendations).
import_module("flows.artifacts")
