"""Hook points the integrations plug into (Governance, Test-Bench, Auto-Optimizer, artifacts).

    before_workflow(run)              after compile and input checks, before any task starts;
                                      may return a new plan (recommendations applied)
    before_node(run, node, inputs, index)
                                      in the flow, before the task run is submitted; may return
                                      new inputs or raise to fail the node (policy checks, and
                                      approvals, which pause the flow run and so cannot run
                                      inside a task run)
    before_task(ctx, inputs)          inside the task run, before the executor; may return new
                                      inputs (redaction) or raise to fail the task (policy deny,
                                      budget exceeded)
    after_task(ctx, output)           inside the task run, after a successful executor call;
                                      may add to ``output.metadata`` (evaluation results)
    task_failed(ctx, error)           inside the task run, when the executor or a hook raised
    task_finished(run, record)        in the flow, once per node when its final state is known
                                      (completed, failed, skipped or cached)
    after_workflow(run, result)       after events and outputs; always called

Hooks subclass ``Hook`` (every method a typed no-op) and override what they need; ``HookSet``
calls them in order.
``before_task``, ``after_task`` and ``task_failed`` run while the task holds its
``maxParallelTasks`` slot (an evaluation that calls a judge model counts as work in flight).
A failing ``before_*`` hook fails what it guards, and so does a failing ``after_task``: it runs
inside the task run, before the task counts as done (a cost that cannot be settled must be
seen).  A failing ``task_failed``, ``task_finished`` or ``after_workflow`` hook is logged and
never changes a finished result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.plan import ExecutionPlan, PlanNode
    from tasks.base import ExecutorContext, TaskOutput
    from tasks.state import JSON, RunResult, TaskRecord, WorkflowRun

logger = logging.getLogger("llm_orchestrator.hooks")

Inputs = dict[str, "JSON"]


class Hook:
    """Base class with every hook as a no-op; subclass and override what you need."""

    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        return None

    async def before_node(self, run: WorkflowRun, node: PlanNode, inputs: Inputs, index: int | None) -> Inputs | None:
        return None

    async def before_task(self, ctx: ExecutorContext, inputs: Inputs) -> Inputs | None:
        return None

    async def after_task(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        return None

    async def task_failed(self, ctx: ExecutorContext, error: BaseException) -> None:
        return None

    async def task_finished(self, run: WorkflowRun, record: TaskRecord) -> None:
        return None

    async def after_workflow(self, run: WorkflowRun, result: RunResult) -> None:
        return None


class HookSet:
    def __init__(self, hooks: Sequence[Hook] = ()) -> None:
        self.hooks = list(hooks)

    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        result = None
        for hook in self.hooks:
            changed = await hook.before_workflow(run)
            if changed is not None:
                result = changed
                run.plan = changed
        return result

    async def before_node(self, run: WorkflowRun, node: PlanNode, inputs: Inputs, index: int | None = None) -> Inputs:
        for hook in self.hooks:
            changed = await hook.before_node(run, node, inputs, index)
            if changed is not None:
                inputs = changed
        return inputs

    async def before_task(self, ctx: ExecutorContext, inputs: Inputs) -> Inputs:
        for hook in self.hooks:
            changed = await hook.before_task(ctx, inputs)
            if changed is not None:
                inputs = changed
        return inputs

    async def after_task(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        for hook in self.hooks:
            await hook.after_task(ctx, output)

    async def task_failed(self, ctx: ExecutorContext, error: BaseException) -> None:
        for hook in self.hooks:
            try:
                await hook.task_failed(ctx, error)
            except Exception:  # the original error is what the user must see
                logger.exception("hook %s failed in task_failed", type(hook).__name__)

    async def task_finished(self, run: WorkflowRun, record: TaskRecord) -> None:
        for hook in self.hooks:
            try:
                await hook.task_finished(run, record)
            except Exception:
                logger.exception("hook %s failed in task_finished", type(hook).__name__)

    async def after_workflow(self, run: WorkflowRun, result: RunResult) -> None:
        for hook in self.hooks:
            try:
                await hook.after_workflow(run, result)
            except Exception:
                logger.exception("hook %s failed in after_workflow", type(hook).__name__)
