"""What an executor body receives and returns.

A body is ``async def body(inputs: dict, ctx: ExecutorContext) -> TaskOutput | dict``.  Inputs
are already rendered (every ``${{ }}`` evaluated, the result never re-scanned).  ``ctx`` gives
the run's identity, the services (ecosystem clients built from config) and a logger; a body
reports cost, model and usage through ``TaskOutput.metadata`` so that budgets, reports and the
optimiser see them.  A plain dict return is taken as the outputs with no metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from compiler.plan import PlanNode


@dataclass
class TaskOutput:
    """The seed's TaskOutput: output values plus metadata (cost, model, usage, ...)."""

    values: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutorContext:
    node: PlanNode
    workflow_name: str
    run_id: str
    attempt: int
    services: Any
    logger: logging.Logger | logging.LoggerAdapter[Any]
    item: Any = None
    index: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.node.id


class ExecutorBody(Protocol):
    async def __call__(self, inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput | dict[str, Any]: ...
