"""The four ecosystem services as their CLI serves them: embedded backend, a real SQLite store.

``service_apps(directory, token)`` builds each system's FastAPI app on the embedded
implementation (Forge offline, Test-Bench lexical, Auto-Optimizer and Governance on a SQLite file
in ``directory``), for the service-level tests and the OpenAPI fuzzer.  ``openapi_document``
gives a system's document without opening anything (routes never touch the implementation
until a request arrives), so a test module can be parametrized from it at collection time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ecosystem.forge import EmbeddedForge, ForgeSettings, create_forge_app
from ecosystem.governance import CostLimits, EmbeddedGovernance, GovernanceSettings
from ecosystem.governance.server import create_governance_app
from ecosystem.optimizer import AutoOptimizerSettings, EmbeddedAutoOptimizer
from ecosystem.optimizer.server import create_optimizer_app
from ecosystem.store import Store
from ecosystem.testbench import EmbeddedTestBench, TestBenchSettings, create_testbench_app

SYSTEMS = ("forge", "test-bench", "auto-optimizer", "governance")


@contextmanager
def service_apps(directory: Path, token: str | None) -> Iterator[dict[str, FastAPI]]:
    stores = [Store.open(f"sqlite:///{directory}/{name}.db") for name in ("optimizer", "governance")]
    try:
        yield {
            "forge": create_forge_app(EmbeddedForge(ForgeSettings(offline=True)), token=token),
            "test-bench": create_testbench_app(
                EmbeddedTestBench(TestBenchSettings(similarity_backend="lexical")), token=token
            ),
            "auto-optimizer": create_optimizer_app(
                EmbeddedAutoOptimizer(AutoOptimizerSettings(), stores[0]), token=token
            ),
            "governance": create_governance_app(
                EmbeddedGovernance(GovernanceSettings(cost_limits=CostLimits(daily=50.0, per_run=5.0)), stores[1]),
                token=token,
            ),
        }
    finally:
        for store in stores:
            store.close()


def openapi_document(system: str, token: str | None) -> dict[str, Any]:
    placeholder: Any = None
    factory = {
        "forge": create_forge_app,
        "test-bench": create_testbench_app,
        "auto-optimizer": create_optimizer_app,
        "governance": create_governance_app,
    }[system]
    return factory(placeholder, token=token).openapi()
