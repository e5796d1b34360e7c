"""The scheduler: what starts when, and every task's final state.

Each node starts as soon as its dependencies have finished (no waiting for a whole level), as
a Prefect task run through ``tasks.runner.execute_node``, with at most ``maxParallelTasks``
executors at work (``forEach`` items share the bound).  A task run takes its slot before Prefect
creates it and gives it back the moment its executor is done (``tasks.runner.Slot``), so the
next task starts while Prefect is still recording the last one's completion; a retry takes a
slot again before its attempt.
Whether a node runs, is skipped (and why) or fails before it starts is decided by
``compiler.decisions.decide`` - the function ``explain`` calls too - over the plan's parsed
conditions and the run's records.  Inputs, ``forEach`` lists and cache keys are rendered here, in
the flow, from the templates the plan carries; results are data and are never evaluated again.

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
from typing import Any, cast

from prefect import allow_failure
from prefect.client.schemas.objects import State, TaskRunResult
from prefect.task_engine import run_task

from compiler.decisions import decide
from compiler.expressions import ExpressionError, render_template
from compiler.plan import EVENT_KINDS, PlanNode
from tasks.batch import BatchItemFailed, batch_task_for
from tasks.errors import InputRenderError, retry_info
from tasks.failures import describe
from tasks.runner import register_run, task_for, unregister_run
from tasks.state import JSON, RunResult, Slot, TaskMetadata, TaskRecord, WorkflowRun

logger = logging.getLogger("llm_orchestrator.scheduler")


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
                text = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(type(exc).__name__) else str(exc)
                run.error = run.services.redactor.redact(text)
                run.failed_task = run.failed_task or "<before workflow>"
            if run.error is None:
                await self.run_group(list(run.plan.main_nodes))
            else:
                for node in run.plan.main_nodes:
                    run.finish(run.records[node.id], "skipped", reason=f"not started: {run.error}")
            await self.run_events()
            outputs = self.evaluate_outputs()
            result = RunResult(
                run_id=run.run_id,
                workflow=run.plan.name,
                state="failed" if run.status == "failure" else "completed",
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
                    decision = decide(node, run, events=events)
                    if decision.action == "wait":
                        continue
                    pending.remove(node_id)
                    progressed = True
                    record = run.records[node_id]
                    if decision.action == "skip":
                        run.finish(record, "skipped", reason=decision.reason)
                        await run.hooks.task_finished(run, record)
                    elif decision.action == "fail":
                        self.fail(record, node, decision.reason or "failed")
                        await run.hooks.task_finished(run, record)
                    else:
                        running[asyncio.create_task(self.run_node(node))] = node_id
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                node_id = running.pop(finished)
                error = finished.exception()
                if error is not None:  # a scheduler bug must not hang the run
                    record = run.records[node_id]
                    self.fail(record, run.plan.nodes[node_id], f"internal error: {error!r}")
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

    def fail(self, record: TaskRecord, node: PlanNode, message: str, kind: str | None = None) -> None:
        run = self.run
        message = run.services.redactor.redact(message)  # an error may echo a secret of the config
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

    def render_inputs(self, node: PlanNode, *, item: JSON = None, index: int | None = None) -> tuple[dict[str, JSON], JSON]:
        run = self.run
        context = run.context(item=item, index=index, for_each=node.for_each is not None)
        try:
            inputs = render_template(node.inputs_template, context, status=run.status)
            template = node.cache_key_template
            token = render_template(template, context, status=run.status) if template is not None else None
        except ExpressionError as exc:
            raise InputRenderError(f"input expression failed: {exc}") from None
        return (inputs if isinstance(inputs, dict) else {}), token

    async def call(self, node: PlanNode, inputs: dict[str, JSON], token: JSON, *, item: JSON = None,
                   index: int | None = None) -> State:
        run = self.run
        upstream = [s for dep in sorted(node.depends_on) for s in run.states.get(dep, [])]
        inputs = await run.hooks.before_node(run, node, inputs, index)
        slot = Slot(self.semaphore)
        await slot.acquire()
        try:
            if run.remote is not None:  # a Dask task runner (flows.taskrunner)
                # Failed upstream states (continueOnError) must be wrapped or Prefect refuses to start.
                wait_for: list[Any] = [s if s.is_completed() else allow_failure(s) for s in upstream]
                return await run.remote.call(node, inputs, token, item, index, wait_for or None)
            run.slots[(node.id, index)] = slot  # released by execute_node once the executor is done
            # The scheduler has already waited for the upstream tasks, so they are recorded as
            # this task run's inputs (the run graph's edges) rather than passed as `wait_for`,
            # which would make Prefect fetch every upstream result again, synchronously.
            runs: set[Any] = {TaskRunResult(id=s.state_details.task_run_id) for s in upstream if s.state_details.task_run_id}
            parameters = {"run_key": run.run_key, "node_id": node.id, "inputs": inputs, "item": item, "index": index,
                          "cache_token": token, "upstream": sorted(node.depends_on) or None}
            started: Any = run_task(task_for(node, tags=run.task_tags.for_node(node)), parameters=parameters, return_type="state",
                                    dependencies={"upstream": runs} if runs else None)  # an async task: a coroutine
            state: State = await started
            return state
        finally:
            run.slots.pop((node.id, index), None)
            slot.release()

    async def outcome(self, state: State) -> tuple[bool, Any, bool]:
        """(ok, data-or-error, cached) of a finished Prefect task-run state."""
        if state.is_completed():
            data = await state.result()
            return True, data, state.name == "Cached"
        error = await state.result(raise_on_failure=False)  # type: ignore[misc]
        return False, error, False

    def log_refusal(self, label: str, error: BaseException) -> None:
        """A task refused before its task run existed gets the one line a failed task run logs."""
        self.run.logger_for(label).error(self.run.services.redactor.redact(describe(label, error)))

    def record_failure(self, record: TaskRecord, node: PlanNode, error: Any, *, index: int | None = None) -> None:
        record.attempts = self.run.calls.get(record.id if index is None else f"{record.id}[{index}]", 1)
        _, _, kind = retry_info(error) if isinstance(error, BaseException) else (False, None, "failed")
        self.fail(record, node, _message(error), kind)

    async def run_single(self, node: PlanNode, record: TaskRecord) -> None:
        run = self.run
        inputs, token = self.render_inputs(node)
        try:
            state = await self.call(node, inputs, token)
        except Exception as exc:  # a before_node hook refused the task (policy, approval)
            record.inputs = inputs
            self.log_refusal(node.id, exc)
            self.record_failure(record, node, exc)
            return
        run.states[node.id] = [state]
        ok, data, cached = await self.outcome(state)
        if ok:
            record.outputs = dict(data.get("outputs") or {})
            record.metadata = cast(TaskMetadata, dict(data.get("metadata") or {}))
            record.inputs = data.get("inputs", inputs)
            record.attempts = int(record.metadata.get("attempts") or 1)
            run.finish(record, "cached" if cached else "completed")
        else:
            record.inputs = inputs
            self.record_failure(record, node, data)

    async def run_for_each(self, node: PlanNode, record: TaskRecord) -> None:
        run = self.run
        try:
            items = render_template(node.for_each_source, run.context(), status=run.status)
        except ExpressionError as exc:
            raise InputRenderError(f"forEach expression failed: {exc}") from None
        if isinstance(items, Mapping):
            items = list(items.values())
        if not isinstance(items, list):
            raise InputRenderError(f"forEach must evaluate to a list, got {type(items).__name__}")
        record.items = len(items)
        if node.mode == "batch":  # every item in one provider batch, as one task run (tasks.batch)
            await self.run_batch(node, record, items)
            return
        results: list[dict[str, Any] | None] = [None] * len(items)
        item_inputs: list[JSON] = [None] * len(items)
        states: list[State] = []
        failures: list[tuple[int, Any]] = []
        skipped = 0
        cached_all = bool(items)

        async def one(i: int, item: JSON) -> None:
            nonlocal skipped, cached_all
            if run.failed_task and not node.continue_on_error:
                skipped += 1
                return
            try:
                inputs, token = self.render_inputs(node, item=item, index=i)
            except InputRenderError as exc:
                failures.append((i, exc))
                return
            item_inputs[i] = inputs
            try:
                state = await self.call(node, inputs, token, item=item, index=i)
            except Exception as exc:
                self.log_refusal(f"{node.id}[{i}]", exc)
                failures.append((i, exc))
                if not node.continue_on_error and run.failed_task is None:
                    run.failed_task = node.id
                return
            states.append(state)
            ok, data, cached = await self.outcome(state)
            if ok:
                results[i] = data
                item_inputs[i] = data.get("inputs", inputs)
                cached_all = cached_all and cached
            else:
                failures.append((i, data))
                if not node.continue_on_error and run.failed_task is None:
                    run.failed_task = node.id  # stop starting new items (fail-fast)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        run.states[node.id] = states
        self.finish_items(node, record, results, item_inputs, failures, skipped=skipped, cached=cached_all)

    def finish_items(self, node: PlanNode, record: TaskRecord, results: list[dict[str, Any] | None],
                     item_inputs: list[JSON], failures: list[tuple[int, Any]], *, skipped: int = 0,
                     cached: bool = False, preface: str | None = None) -> None:
        """File a forEach's items in item order: output lists, metadata, attempts, and its state."""
        run = self.run
        record.inputs = item_inputs
        names = list(dict.fromkeys([*node.declared_outputs, *node.spec.outputs, *(k for r in results if r for k in r["outputs"])]))
        record.outputs = {name: [(r["outputs"].get(name) if r else None) for r in results] for name in names}
        record.metadata = summarise_items(results, record.started)
        record.attempts = sum(run.calls.get(f"{node.id}[{i}]", 0) for i in range(len(results))) or 1
        record.metadata["attempts"] = record.attempts
        if failures:
            if run.failed_task == node.id:
                run.failed_task = None  # let fail() record the message below
            index, error = sorted(failures, key=lambda f: f[0])[0]
            message = f"item {index} failed: {_message(error)}"
            if len(failures) > 1:
                message += f" (and {len(failures) - 1} more item(s) failed)"
            if skipped:
                message += f"; {skipped} item(s) not started"
            if preface:
                message = f"{preface}; {message}"
            self.fail(record, node, message, retry_info(error)[2] if isinstance(error, BaseException) else None)
        else:
            run.finish(record, "cached" if cached else "completed")

    async def run_batch(self, node: PlanNode, record: TaskRecord, items: list[JSON]) -> None:
        """A batch-mode forEach: items rendered and checked here, then one task run for all of them."""
        run = self.run
        results: list[dict[str, Any] | None] = [None] * len(items)
        item_inputs: list[JSON] = [None] * len(items)
        failures: list[tuple[int, Any]] = []
        ready: list[tuple[int, JSON, dict[str, JSON]]] = []
        for i, item in enumerate(items):
            try:
                inputs, _ = self.render_inputs(node, item=item, index=i)
                item_inputs[i] = inputs
                ready.append((i, item, await run.hooks.before_node(run, node, inputs, i)))
            except Exception as exc:  # a render error or a before_node refusal fails this item alone
                failures.append((i, exc))
        preface = None
        cached = False
        batch: dict[str, Any] = {}
        if ready:
            _, token = self.render_inputs(node)
            upstream = [s for dep in sorted(node.depends_on) for s in run.states.get(dep, [])]
            slot = Slot(self.semaphore)
            await slot.acquire()
            run.slots[(node.id, None)] = slot  # execute_batch gives it back while the provider works
            try:
                runs: set[Any] = {TaskRunResult(id=s.state_details.task_run_id) for s in upstream if s.state_details.task_run_id}
                parameters = {"run_key": run.run_key, "node_id": node.id, "inputs": [r[2] for r in ready],
                              "items": [r[1] for r in ready], "indices": [r[0] for r in ready], "cache_token": token,
                              "upstream": sorted(node.depends_on) or None}
                started: Any = run_task(batch_task_for(node, tags=run.task_tags.for_node(node)), parameters=parameters,
                                        return_type="state", dependencies={"upstream": runs} if runs else None)
                state: State = await started
            finally:
                run.slots.pop((node.id, None), None)
                slot.release()
            run.states[node.id] = [state]
            ok, data, cached = await self.outcome(state)
            if not ok:
                failures.extend((i, data) for i, _, _ in ready)
            else:
                for entry in data["items"]:
                    index = int(entry["index"])
                    item_inputs[index] = entry.get("inputs", item_inputs[index])
                    if entry["ok"]:
                        results[index] = entry
                    else:
                        failures.append((index, BatchItemFailed(str(entry["error"]), str(entry["kind"]))))
                if data.get("state") not in (None, "completed") and data.get("summary"):
                    preface = str(data["summary"])  # the batch expired, was cancelled or failed
                batch = dict(data.get("batch") or {})
        self.finish_items(node, record, results, item_inputs, failures, cached=cached and not failures, preface=preface)
        if batch:
            record.metadata["batch"] = batch

    def evaluate_outputs(self) -> dict[str, JSON]:
        run = self.run
        context = run.context()
        outputs: dict[str, JSON] = {}
        for name, template in run.plan.output_templates.items():
            try:
                outputs[name] = render_template(template, context, status=run.status)
            except ExpressionError as exc:
                outputs[name] = None
                run.warnings.append(f"output '{name}' could not be evaluated: {exc.message}")
        return outputs


def summarise_items(results: list[dict[str, Any] | None], started: float | None) -> TaskMetadata:
    """A forEach task's metadata from its items': total cost and usage, per-item costs and scores."""
    metas = [r["metadata"] for r in results if r]
    costs = [m.get("cost") for m in metas if isinstance(m.get("cost"), int | float)]
    metadata = TaskMetadata(
        execution_time=round(time.time() - (started or time.time()), 6),
        cost=round(sum(costs), 10) if costs else None,
        model=next((m.get("model") for m in metas if m.get("model")), None),
        items=len(results),
        item_costs=[r["metadata"].get("cost") if r else None for r in results],
    )
    scores = [float(m["quality_score"]) for m in metas if isinstance(m.get("quality_score"), int | float)]
    if scores:
        metadata["quality_score"] = sum(scores) / len(scores)
        metadata["item_quality_scores"] = [r["metadata"].get("quality_score") if r else None for r in results]
    usage = [m.get("usage") for m in metas if isinstance(m.get("usage"), Mapping)]
    if usage:
        keys = ("prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens")
        metadata["usage"] = {k: sum(int(u.get(k) or 0) for u in usage) for k in keys}  # type: ignore[typeddict-item]
    return metadata


def _message(error: Any) -> str:
    if isinstance(error, BaseException):
        text = str(error) or type(error).__name__
        name = type(error).__name__
        return text if name in ("AssertionFailed", "InputRenderError", "BatchItemFailed") else f"{name}: {text}"
    return str(error)
