"""What an executor body receives and returns.

A body is ``async def body(inputs: dict, ctx: ExecutorContext) -> TaskOutput | dict`` (a plain
``def`` body is run on the run's pool of ``concurrency.worker_threads`` threads, so a body that
blocks never stalls the flow).  Inputs are already rendered (every ``${{ }}`` evaluated, the
result never re-scanned).  ``ctx`` gives the run's identity, its clients and a logger; a body
reports cost, model and usage through ``TaskOutput.metadata`` so that budgets, reports and the
optimiser see them, and the calls it made through ``ctx.calls`` (an llm task's provider calls,
retries and fallbacks included; left at 0 it counts as one).  A plain dict return is taken as
the outputs with no metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from compiler.plan import PlanNode
from ecosystem.forge.attempts import CallObserver
from tasks.state import JSON, TaskMetadata, label

if TYPE_CHECKING:
    from blocks.clients import Clients
    from tasks.state import WorkflowRun


@dataclass
class TaskOutput:
    """The seed's TaskOutput: output values plus metadata (cost, model, usage, ...)."""

    values: dict[str, JSON]
    metadata: TaskMetadata = field(default_factory=lambda: TaskMetadata())


@dataclass
class ExecutorContext:
    node: PlanNode
    run: WorkflowRun
    attempt: int
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    item: JSON = None
    index: int | None = None
    calls: int = 0  # calls this attempt made (provider calls for llm tasks); 0 counts as one
    # Hooks that want to see each provider call of an llm task add themselves here (before_task).
    observers: list[CallObserver] = field(default_factory=list)
    # How this task run's provider calls are billed, and how long a budget reservation for one must
    # live (None: the ledger's default); a batch-mode item is billed at the batch tier, within hours.
    call_tier: Literal["standard", "batch"] = "standard"
    call_ttl: float | None = None

    @property
    def task_id(self) -> str:
        return self.node.id

    @property
    def label(self) -> str:
        """``task`` or ``task[i]``: how the ledger, metrics and the Prefect UI name this task run."""
        return label(self.node.id, self.index)

    @property
    def workflow_name(self) -> str:
        return self.run.plan.name

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def services(self) -> Clients:
        return self.run.services

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.run.plan.annotations


class ExecutorBody(Protocol):
    def __call__(self, inputs: dict[str, JSON], ctx: ExecutorContext) -> (
        Awaitable[TaskOutput | dict[str, JSON]] | TaskOutput | dict[str, JSON]): ...
