"""The scheduler: what starts when, and every task's final state.

Each node starts as soon as its dependencies have finished (no waiting for a whole level), as
a Prefect task run through ``tasks.runner.execute_node``, with at most ``maxParallelTasks``
executors at work (``forEach`` items share the bound).  A task run takes its slot before Prefect
creates it and gives it back the moment its executor is done (``tasks.runner.Slot``), so the
next task starts while Prefect is still recording the last one's completion; a retry takes a
slot again before its attempt.
``if`` conditions, branch conditions, ``forEach`` lists and inputs are evaluated here, in the
flow, against the results so far; results are data and are never evaluated again.

States follow DESIGN.md section 5: ``completed``, ``failed``, ``skipped`` (with a reason) and
``cached``.  Fail-fast: after a failure that was not allowed (``continueOnError``), nothing new
starts except nodes whose ``if`` asks for it with a status function (``always()``,
``failure()``) and the events; tasks already running finish.  The run's final state is decided
here, not left to Prefect's defaults.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from prefect import allow_failure
from prefect.client.schemas.objects import TaskRunResult
from prefect.task_engine import run_task

from compiler.explain import uses_status_function
from compiler.expressions import ExpressionError, evaluate, find_spans, has_expression, parse, render
from compiler.plan import EVENT_KINDS, BranchGate, ExecutionPlan, PlanNode
from flows.records import RunResult, TaskRecord
from flows.tags import carried_tags
from tasks.errors import InputRenderError, retry_info
from tasks.hooks import HookSet
from tasks.runner import Slot, register_run, task_for, unregister_run

logger = logging.getLogger("llm_orchestrator.scheduler")


def _bare(text: str) -> str:
    """`${{ x }}` or `x` -> `x` (conditions may be written with or without the braces)."""
    stripped = text.strip()
    if stripped.startswith("${{") and stripped.endswith("}}"):
        spans = find_spans(stripped)
        if len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(stripped):
            return spans[0].source
    return text


def render_value(value: Any, context: Mapping[str, Any], status: str) -> Any:
    if isinstance(value, str):
        return render(value, context, status=status) if has_expression(value) else value
    if isinstance(value, Mapping):
        return {k: render_value(v, context, status) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context, status) for v in value]
    return value


class WorkflowRun:
    """The live state of one run: plan, inputs, services, hooks and the records so far."""

    def __init__(self, plan: ExecutionPlan, inputs: dict[str, Any], services: Any, run_id: str,
                 *, hooks: HookSet | None = None, env: Mapping[str, str] | None = None,
                 secrets: Mapping[str, Any] | None = None, max_parallel: int = 20) -> None:
        self.plan = plan
        self.inputs = inputs
        self.services = services
        self.run_id = run_id
        self.run_key = f"{run_id}-{id(self):x}"
        self.hooks = hooks or HookSet()
        self.env = dict(env or {})
        self.secrets = secrets or {}
        self.max_parallel = max_parallel
        self.task_tags: Any = True  # True/False, or the flow's flows.tags.TaskTags
        self.records: dict[str, TaskRecord] = {}
        self.slots: dict[tuple[str, int | None], Any] = {}  # concurrency slots of task runs in flight
        self.task_context: dict[str, Any] = {}
        self.failed_task: str | None = None
        self.error: str | None = None
        self.attempts: dict[str, int] = {}
        self.states: dict[str, list[Any]] = {}
        self.branch_taken: dict[str, bool] = {}
        self.warnings: list[str] = []
        self.started = time.time()
        self._logger = logging.getLogger("llm_orchestrator.run")
        self.reset_records()

    def reset_records(self) -> None:
        for node in self.plan.nodes.values():
            if node.id not in self.records:
                self.records[node.id] = TaskRecord(node.id, str(node.executor), node.type, node.group)
                self.task_context[node.id] = self.records[node.id].context()

    def logger_for(self, node_id: str) -> logging.Logger | logging.LoggerAdapter[Any]:
        try:
            from prefect.logging import get_run_logger

            return get_run_logger()
        except Exception:
            return logging.LoggerAdapter(self._logger, {"task": node_id})

    @property
    def status(self) -> str:
        return "failure" if self.failed_task or self.error else "success"

    def context(self, *, item: Any = None, index: int | None = None, for_each: bool = False) -> dict[str, Any]:
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
        context: dict[str, Any] = {"workflow": workflow, "tasks": self.task_context, "env": self.env, "secrets": self.secrets}
        if for_each:
            context["item"] = item
            context["index"] = index
        return context

    def finish(self, record: TaskRecord, state: str, *, reason: str | None = None) -> None:
        record.state = state  # type: ignore[assignment]
        record.reason = reason
        if record.started is None:
            record.started = time.time()
        record.finished = time.time()
        self.task_context[record.id] = record.context()


class Scheduler:
    def __init__(self, run: WorkflowRun) -> None:
        self.run = run
        self.semaphore = asyncio.Semaphore(run.max_parallel)

    async def execute(self) -> RunResult:
        run = self.run
        register_run(run.run_key, run)
        started = time.perf_counter()
        try:
            try:
                if run.error is None:
                    await run.hooks.before_workflow(run)
                    run.reset_records()
            except Exception as exc:
                run.error = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) else str(exc)
                run.failed_task = run.failed_task or "<before workflow>"
            if run.error is None:
                await self.run_group([n for n in run.plan.main_nodes])
            else:
                for node in run.plan.main_nodes:
                    run.finish(run.records[node.id], "skipped", reason=f"not started: {run.error}")
            await self.run_events()
            outputs = self.evaluate_outputs()
            state = "failed" if run.status == "failure" else "completed"
            result = RunResult(
                run_id=run.run_id,
                workflow=run.plan.name,
                state=state,  # type: ignore[arg-type]
                outputs=outputs,
                tasks=run.records,
                error=run.error,
                duration=time.perf_counter() - started,
                applied=list(run.plan.applied),
                warnings=run.warnings,
            )
            await run.hooks.after_workflow(run, result)
            return result
        finally:
            unregister_run(run.run_key)

    # -- groups ------------------------------------------------------------------------------------
    async def run_group(self, nodes: list[PlanNode], *, events: bool = False) -> None:
        run = self.run
        pending = [n.id for n in nodes]
        running: dict[asyncio.Task[None], str] = {}
        while True:
            progressed = True
            while progressed:
                progressed = False
                for node_id in list(pending):
                    node = run.plan.nodes[node_id]
                    if not all(run.records[d].finished_state for d in node.depends_on if d in run.records):
                        continue
                    pending.remove(node_id)
                    progressed = True
                    decision, reason = self.decide(node, events=events)
                    record = run.records[node_id]
                    if decision == "skip":
                        run.finish(record, "skipped", reason=reason)
                        await run.hooks.task_finished(run, record)
                    elif decision == "fail":
                        record.error = reason
                        self.fail(record, node, reason or "failed")
                        await run.hooks.task_finished(run, record)
                    else:
                        running[asyncio.create_task(self.run_node(node))] = node_id
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                node_id = running.pop(finished)
                if finished.exception() is not None:  # a scheduler bug must not hang the run
                    error = finished.exception()
                    record = run.records[node_id]
                    record.error = f"internal error: {error!r}"
                    self.fail(record, run.plan.nodes[node_id], record.error)
        for node_id in pending:  # unreachable with a validated plan; never leave a node pending
            run.finish(run.records[node_id], "skipped", reason="dependencies never finished")

    async def run_events(self) -> None:
        run = self.run
        for kind in EVENT_KINDS:
            if kind == "onSuccess" and run.status != "success":
                for node in run.plan.event_nodes(kind):
                    run.finish(run.records[node.id], "skipped", reason="workflow did not succeed")
                continue
            if kind == "onFailure" and run.status != "failure":
                for node in run.plan.event_nodes(kind):
                    run.finish(run.records[node.id], "skipped", reason="workflow did not fail")
                continue
            nodes = run.plan.event_nodes(kind)
            if nodes:
                await self.run_group(nodes, events=True)

    # -- decisions ---------------------------------------------------------------------------------
    def decide(self, node: PlanNode, *, events: bool = False) -> tuple[str, str | None]:
        run = self.run
        status_aware = uses_status_function(node.condition)
        if not status_aware:
            for dep in sorted(node.depends_on):
                upstream = run.records.get(dep)
                if upstream is None:
                    continue
                if upstream.state == "failed" and not upstream.allowed_failure:
                    return "skip", f"upstream {dep} failed"
                if upstream.state == "skipped":
                    return "skip", f"upstream {dep} skipped"
        if run.failed_task and not status_aware and not events:
            return "skip", f"not started: workflow failed ('{run.failed_task}' failed)"
        if node.gate is not None:
            try:
                taken = self.branch_taken(node.gate)
            except ExpressionError as exc:
                return "fail", f"branch {node.gate.branch_id} condition failed: {exc}"
            if taken != (node.gate.arm == "then"):
                why = "false" if node.gate.arm == "then" else "true"
                return "skip", f"branch {node.gate.branch_id} not taken (condition {why}: {node.gate.condition})"
        if node.condition is not None:
            try:
                value = evaluate(parse(_bare(node.condition)), run.context(), status=run.status)
            except ExpressionError as exc:
                return "fail", f"if condition failed: {exc}"
            from compiler.expressions.values import truthy

            if not truthy(value):
                return "skip", f"if is false: {node.condition}"
        return "run", None

    def branch_taken(self, gate: BranchGate) -> bool:
        run = self.run
        if gate.branch_id not in run.branch_taken:
            from compiler.expressions.values import truthy

            value = evaluate(parse(_bare(gate.condition)), run.context(), status=run.status)
            run.branch_taken[gate.branch_id] = truthy(value)
        return run.branch_taken[gate.branch_id]

    def fail(self, record: TaskRecord, node: PlanNode, message: str, kind: str | None = None) -> None:
        run = self.run
        record.error = message
        record.error_kind = kind
        record.allowed_failure = node.continue_on_error
        run.finish(record, "failed", reason=message)
        if not node.continue_on_error and run.failed_task is None:
            run.failed_task = node.id
            run.error = f"task '{node.id}' failed: {message}"

    # -- running -----------------------------------------------------------------------------------
    async def run_node(self, node: PlanNode) -> None:
        run = self.run
        record = run.records[node.id]
        record.state = "running"
        record.started = time.time()
        try:
            if node.for_each is not None:
                await self.run_for_each(node, record)
            else:
                await self.run_single(node, record)
        except InputRenderError as exc:
            self.fail(record, node, exc.message, exc.kind)
        await run.hooks.task_finished(run, record)

    def render_inputs(self, node: PlanNode, *, item: Any = None, index: int | None = None) -> tuple[dict[str, Any], Any]:
        run = self.run
        context = run.context(item=item, index=index, for_each=node.for_each is not None)
        try:
            inputs = render_value(node.inputs, context, run.status)
            token = render_value(node.cache.key, context, run.status) if node.cache and node.cache.key else None
        except ExpressionError as exc:
            raise InputRenderError(f"input expression failed: {exc}") from None
        return inputs, token

    async def call(self, node: PlanNode, inputs: dict[str, Any], token: Any, *, item: Any = None, index: int | None = None) -> Any:
        run = self.run
        upstream = [s for dep in sorted(node.depends_on) for s in run.states.get(dep, [])]
        inputs = await run.hooks.before_node(run, node, inputs, index)
        slot = Slot(self.semaphore)
        await slot.acquire()
        try:
            remote = getattr(run, "remote", None)  # a Dask task runner (flows.taskrunner)
            if remote is not None:
                # Failed upstream states (continueOnError) must be wrapped or Prefect refuses to start.
                wait_for = [s if s.is_completed() else allow_failure(s) for s in upstream]
                return await remote.call(node, inputs, token, item, index, wait_for or None)
            run.slots[(node.id, index)] = slot  # released by execute_node once the executor is done
            # The scheduler has already waited for the upstream tasks, so they are recorded as
            # this task run's inputs (the run graph's edges) rather than passed as `wait_for`,
            # which would make Prefect fetch every upstream result again, synchronously.
            runs: set[Any] = {TaskRunResult(id=s.state_details.task_run_id) for s in upstream if s.state_details.task_run_id}
            parameters = {"run_key": run.run_key, "node_id": node.id, "inputs": inputs, "item": item, "index": index,
                          "cache_token": token, "upstream": sorted(node.depends_on) or None}
            started: Any = run_task(task_for(node, tags=carried_tags(run, node)), parameters=parameters, return_type="state",
                                    dependencies={"upstream": runs} if runs else None)  # an async task: a coroutine
            return await started
        finally:
            run.slots.pop((node.id, index), None)
            slot.release()

    async def outcome(self, state: Any) -> tuple[bool, Any, bool]:
        """(ok, data-or-error, cached) of a finished Prefect task-run state."""
        if state.is_completed():
            data = await state.result()
            return True, data, state.name == "Cached"
        error = await state.result(raise_on_failure=False)
        return False, error, False

    async def run_single(self, node: PlanNode, record: TaskRecord) -> None:
        run = self.run
        inputs, token = self.render_inputs(node)
        try:
            state = await self.call(node, inputs, token)
        except Exception as exc:  # a before_node hook refused the task (policy, approval)
            _, _, kind = retry_info(exc)
            self.fail(record, node, _message(exc), kind)
            return
        run.states[node.id] = [state]
        ok, data, cached = await self.outcome(state)
        if ok:
            record.outputs = dict(data.get("outputs") or {})
            record.metadata = dict(data.get("metadata") or {})
            record.attempts = int(record.metadata.get("attempts") or 1)
            run.finish(record, "cached" if cached else "completed")
        else:
            record.attempts = run.attempts.get(node.id, 1)
            _, _, kind = retry_info(data) if isinstance(data, BaseException) else (False, None, "failed")
            self.fail(record, node, _message(data), kind)

    async def run_for_each(self, node: PlanNode, record: TaskRecord) -> None:
        run = self.run
        context = run.context()
        source = node.for_each
        try:
            items = render_value(source, context, run.status) if isinstance(source, str) else render_value(source, context, run.status)
            if isinstance(items, str) and not has_expression(str(source)):
                items = evaluate(parse(items), context, status=run.status)
        except ExpressionError as exc:
            raise InputRenderError(f"forEach expression failed: {exc}") from None
        if isinstance(items, Mapping):
            items = list(items.values())
        if not isinstance(items, list):
            raise InputRenderError(f"forEach must evaluate to a list, got {type(items).__name__}")
        record.items = len(items)
        results: list[Any] = [None] * len(items)
        states: list[Any] = []
        failures: list[tuple[int, BaseException | Any]] = []
        skipped = 0
        cached_all = bool(items)

        async def one(i: int, item: Any) -> None:
            nonlocal skipped, cached_all
            if run.failed_task and not node.continue_on_error:
                skipped += 1
                return
            try:
                inputs, token = self.render_inputs(node, item=item, index=i)
            except InputRenderError as exc:
                failures.append((i, exc))
                return
            try:
                state = await self.call(node, inputs, token, item=item, index=i)
            except Exception as exc:
                failures.append((i, exc))
                if not node.continue_on_error and run.failed_task is None:
                    run.failed_task = node.id
                return
            states.append(state)
            ok, data, cached = await self.outcome(state)
            if ok:
                results[i] = data
                cached_all = cached_all and cached
            else:
                failures.append((i, data))
                if not node.continue_on_error and run.failed_task is None:
                    run.failed_task = node.id  # stop starting new items (fail-fast)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        run.states[node.id] = states
        names = list(dict.fromkeys([*node.declared_outputs, *node.spec.outputs, *(k for r in results if r for k in r["outputs"])]))
        record.outputs = {name: [(r["outputs"].get(name) if r else None) for r in results] for name in names}
        metas = [r["metadata"] for r in results if r]
        costs = [m.get("cost") for m in metas if isinstance(m.get("cost"), int | float)]
        record.metadata = {
            "execution_time": round(time.time() - (record.started or time.time()), 6),
            "cost": round(sum(costs), 10) if costs else None,
            "model": next((m.get("model") for m in metas if m.get("model")), None),
            "attempts": max([int(m.get("attempts") or 1) for m in metas] or [1]),
            "items": len(items),
            "item_costs": [r["metadata"].get("cost") if r else None for r in results],
        }
        scores = [float(m["quality_score"]) for m in metas if isinstance(m.get("quality_score"), int | float)]
        if scores:
            record.metadata["quality_score"] = sum(scores) / len(scores)
            record.metadata["item_quality_scores"] = [r["metadata"].get("quality_score") if r else None for r in results]
        usage = [m.get("usage") for m in metas if isinstance(m.get("usage"), Mapping)]
        if usage:
            record.metadata["usage"] = {k: sum(int(u.get(k) or 0) for u in usage) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        record.attempts = int(record.metadata["attempts"])
        if failures:
            if run.failed_task == node.id:
                run.failed_task = None  # let fail() record the message below
            index, error = sorted(failures, key=lambda f: f[0])[0]
            message = f"item {index} failed: {_message(error)}"
            if len(failures) > 1:
                message += f" (and {len(failures) - 1} more item(s) failed)"
            if skipped:
                message += f"; {skipped} item(s) not started"
            self.fail(record, node, message, retry_info(error)[2] if isinstance(error, BaseException) else None)
        else:
            run.finish(record, "cached" if cached_all else "completed")

    def evaluate_outputs(self) -> dict[str, Any]:
        run = self.run
        context = run.context()
        outputs: dict[str, Any] = {}
        for name, expression in run.plan.outputs.items():
            try:
                outputs[name] = render_value(expression, context, run.status)
            except ExpressionError as exc:
                outputs[name] = None
                run.warnings.append(f"output '{name}' could not be evaluated: {exc.message}")
        return outputs


def _message(error: Any) -> str:
    if isinstance(error, BaseException):
        text = str(error) or type(error).__name__
        name = type(error).__name__
        return text if name in ("AssertionFailed", "InputRenderError") else f"{name}: {text}"
    return str(error)
