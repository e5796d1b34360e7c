"""The state of a run, typed: what the flow's scheduler, the task runner and every hook share.

``WorkflowRun`` is one run's live state (plan, inputs, clients, hooks, one ``TaskRecord`` per node,
fail-fast state, branch decisions).  It is also the view ``compiler.decisions.decide`` reads, so
the scheduler and ``explain`` decide with the same function.  ``TaskRecord`` is what the run
remembers of a node (state, reason, outputs, ``TaskMetadata``, the redacted inputs it ran with)
and ``RunResult`` the whole run's outcome.  It lives in ``tasks`` (below ``flows``) because the
hook seam and the task runner need the same types the scheduler uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from compiler.expressions import Node, evaluate
from compiler.plan import ExecutionPlan, PlanNode

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

    from blocks.clients import Clients
    from tasks.hooks import HookSet

TaskState = Literal["pending", "running", "completed", "failed", "skipped", "cached"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "skipped", "cached"})
JSON = Any  # a JSON-compatible value: what workflow inputs, task inputs and outputs are


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


class TaskMetadata(TypedDict, total=False):
    """What a task reports besides its outputs (``tasks.<id>.metadata`` in expressions).

    ``attempts`` counts every call the task made: for an llm task each provider call (retries
    and fallbacks included), for any other task each execution."""

    execution_time: float
    attempts: int
    cost: float | None
    model: str | None
    provider: str
    usage: Usage
    latency: float
    finish_reason: str | None
    max_tokens: int
    temperature: float
    offline: bool
    cached: bool
    tool: str
    methods: dict[str, str]
    # forEach: one entry per item
    items: int
    item_costs: list[float | None]
    item_quality_scores: list[float | None]
    # added by integrations
    quality_score: float
    evaluation: dict[str, JSON]
    policy: str
    budget: list[dict[str, JSON]]
    custom_metrics: dict[str, JSON]
    calls: list[dict[str, JSON]]
    tier: str
    batch: dict[str, JSON]
    tracked_cost: float | None
    recorded: bool
    already_recorded: float | None
    approved: bool


@dataclass
class TaskRecord:
    id: str
    executor: str
    type: str
    group: str = "main"
    state: TaskState = "pending"
    reason: str | None = None
    outputs: dict[str, JSON] = field(default_factory=dict)
    metadata: TaskMetadata = field(default_factory=lambda: TaskMetadata())
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    items: int | None = None
    allowed_failure: bool = False
    # The inputs the task ran with, after every hook (redaction included); a list per forEach item.
    inputs: JSON = None

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state in ("completed", "cached")

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def cost(self) -> float | None:
        if self.state == "cached":
            return 0.0
        value = self.metadata.get("cost")
        return float(value) if isinstance(value, int | float) else None

    def context(self) -> dict[str, JSON]:
        """This task as expressions see it: tasks.<id>.{status, outputs, metadata, error}."""
        return {"status": self.state, "outputs": self.outputs, "metadata": {**self.metadata, "cached": self.state == "cached"},
                "error": self.error}

    def to_json(self) -> dict[str, JSON]:
        data = asdict(self)
        data["duration"] = self.duration
        data["cost"] = self.cost
        data["model"] = self.metadata.get("model")
        return data


@dataclass
class RunResult:
    run_id: str
    workflow: str
    state: Literal["completed", "failed"]
    outputs: dict[str, JSON]
    tasks: dict[str, TaskRecord]
    error: str | None = None
    duration: float | None = None
    applied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    test_report: dict[str, JSON] | None = None
    optimizer_stats: dict[str, JSON] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "completed"

    @property
    def total_cost(self) -> float:
        return round(sum(r.cost or 0.0 for r in self.tasks.values()), 10)

    def to_json(self) -> dict[str, JSON]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "state": self.state,
            "error": self.error,
            "outputs": self.outputs,
            "duration": self.duration,
            "total_cost": self.total_cost,
            "applied": self.applied,
            "warnings": self.warnings,
            "test_report": self.test_report,
            "tasks": {i: r.to_json() for i, r in self.tasks.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> RunResult:
        """The result a flow run returned (``to_json``), e.g. read back from Prefect."""
        tasks: dict[str, TaskRecord] = {}
        names = set(TaskRecord.__dataclass_fields__)
        for task_id, record in dict(data.get("tasks") or {}).items():
            tasks[task_id] = TaskRecord(**{k: v for k, v in dict(record).items() if k in names})
        return cls(
            run_id=str(data.get("run_id") or ""), workflow=str(data.get("workflow") or ""),
            state="completed" if data.get("state") == "completed" else "failed",
            outputs=dict(data.get("outputs") or {}), tasks=tasks, error=data.get("error"),
            duration=data.get("duration"), applied=list(data.get("applied") or []),
            warnings=list(data.get("warnings") or []), test_report=data.get("test_report"),
        )


class Slot:
    """One of a run's ``maxParallelTasks`` slots, held by one task run: taken by the scheduler
    before the task run starts, given back by ``execute_node`` as soon as the executor is done
    (Prefect's recording of the completion needs no slot), taken again for a retry."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held = False

    async def acquire(self) -> None:
        if not self.held:
            await self.semaphore.acquire()
            self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.semaphore.release()


class RemoteExecution(Protocol):
    """Where task runs go instead of this process (the Dask task runner, ``flows.taskrunner``)."""

    async def call(self, node: PlanNode, inputs: dict[str, JSON], token: JSON, item: JSON, index: int | None,
                   wait_for: list[State] | None) -> State: ...


@dataclass(frozen=True)
class TaskTags:
    """A run's decision about task-run tags (``flows.tags``): ``always`` (every tag), ``never``, or
    ``auto`` with the tags that have a ``tag:`` concurrency limit on the server."""

    mode: str = "always"
    limited: frozenset[str] = frozenset()

    def for_node(self, node: PlanNode) -> tuple[str, ...]:
        """The tags task runs of ``node`` carry."""
        if self.mode == "never":
            return ()
        if self.mode == "always":
            return tuple(node.tags)
        return tuple(tag for tag in node.tags if tag in self.limited)


def label(node_id: str, index: int | None) -> str:
    """``node`` or ``node[i]`` for a forEach item: how the ledger, metrics and the UI name a task run."""
    return node_id if index is None else f"{node_id}[{index}]"


class WorkflowRun:
    """The live state of one run: plan, inputs, clients, hooks and the records so far."""

    def __init__(self, plan: ExecutionPlan, inputs: dict[str, JSON], services: Clients, run_id: str,
                 *, hooks: HookSet | None = None, env: Mapping[str, str] | None = None,
                 max_parallel: int = 20) -> None:
        from tasks.hooks import HookSet

        self.plan = plan
        self.inputs = inputs
        self.services = services
        self.run_id = run_id
        self.run_key = f"{run_id}-{id(self):x}"
        self.hooks = hooks or HookSet()
        self.env = dict(env or {})
        self.max_parallel = max_parallel
        self.task_tags = TaskTags("always")  # the flow decides per run (flows.tags.task_tags_for_run)
        self.records: dict[str, TaskRecord] = {}
        self.slots: dict[tuple[str, int | None], Slot] = {}  # concurrency slots of task runs in flight
        self.task_context: dict[str, dict[str, JSON]] = {}
        self.failed_task: str | None = None
        self.error: str | None = None
        self.calls: dict[str, int] = {}  # task-run label -> calls made so far (attempts)
        self.states: dict[str, list[State]] = {}
        self.branches: MutableMapping[str, bool | None] = {}
        self.warnings: list[str] = []
        self.remote: RemoteExecution | None = None
        self.test_report: dict[str, JSON] | None = None
        self.optimizer_stats: dict[str, JSON] | None = None
        # Run-scoped state of integrations (the optimizer's buffer, approvals granted), by name;
        # each integration reads its own entry through a typed accessor.
        self.extensions: dict[str, object] = {}
        self.started = time.time()
        self._logger = logging.getLogger("llm_orchestrator.run")
        self.reset_records()

    def reset_records(self) -> None:
        for node in self.plan.nodes.values():
            if node.id not in self.records:
                self.records[node.id] = TaskRecord(node.id, str(node.executor), node.type, node.group)
                self.task_context[node.id] = self.records[node.id].context()

    def logger_for(self, node_id: str) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        try:
            from prefect.logging import get_run_logger

            found: Any = get_run_logger()
            return found  # type: ignore[no-any-return]
        except Exception:
            return logging.LoggerAdapter(self._logger, {"task": node_id})

    @property
    def status(self) -> str:
        return "failure" if self.failed_task or self.error else "success"

    def context(self, *, item: JSON = None, index: int | None = None, for_each: bool = False) -> dict[str, JSON]:
        workflow = {
            "inputs": self.inputs,
            "id": self.run_id,
            "run_id": self.run_id,
            "name": self.plan.name,
            "version": self.plan.version,
            "annotations": dict(self.plan.annotations),
            "labels": dict(self.plan.workflow.metadata.labels),
            "status": self.status,
            "error": self.error,
        }
        context: dict[str, JSON] = {"workflow": workflow, "tasks": self.task_context, "env": self.env}
        if for_each:
            context["item"] = item
            context["index"] = index
        return context

    def finish(self, record: TaskRecord, state: TaskState, *, reason: str | None = None) -> None:
        record.state = state
        record.reason = reason
        if record.started is None:
            record.started = time.time()
        record.finished = time.time()
        self.task_context[record.id] = record.context()

    def add_calls(self, node_id: str, index: int | None, calls: int) -> int:
        """Count ``calls`` more calls of a task run; the total so far (its ``attempts``)."""
        key = label(node_id, index)
        self.calls[key] = self.calls.get(key, 0) + max(1, calls)
        return self.calls[key]

    # -- the view compiler.decisions.decide reads ----------------------------------------------
    def state(self, node_id: str) -> str | None:
        record = self.records.get(node_id)
        return record.state if record is not None else "completed"

    def allowed_failure(self, node_id: str) -> bool:
        record = self.records.get(node_id)
        return bool(record and record.allowed_failure)

    def value(self, tree: Node) -> JSON:
        return evaluate(tree, self.context(), status=self.status)
