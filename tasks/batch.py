"""A forEach llm task in batch mode: every item in one provider batch, as ONE Prefect task run.

``config.mode: batch`` on an llm-forge task with ``forEach`` (or ``spec.defaults.mode``) sends the
items to the provider's batch API (``ecosystem.forge.batch``) at about half the price.  The
scheduler renders each item's inputs and runs ``before_node`` in the flow, as for any forEach,
then starts ``execute_batch`` once for all of them.  Inside it every item still has its own
``ExecutorContext`` (``task[i]``), so the hooks see items exactly as they see a normal forEach's:
``before_task`` (Governance adds its call observer), a reservation per item through
``ctx.observers`` - at the **batch** price (``ctx.call_tier``), living as long as the batch may
(``ctx.call_ttl``: the 24 h window plus an hour) - then ``after_task`` (settle, evaluation,
metrics) or ``task_failed`` (release) per item.  Outputs, metadata, ``attempts`` (one call per
item) and per-item failures come back per item and the scheduler files them in item order, as a
normal forEach does; ``continueOnError`` means what it means there.  A batch that expired, was
cancelled or failed leaves its unanswered items failed (``ForgeBatchExpired``...), not billed
(their reservations are released); what was answered is settled at its batch cost, and the
task's error says so (``outcome_summary``).

Differences from an online forEach, on purpose: items are not retried and ``config.model``
fallbacks do not apply (a batch goes to one model; a failed item is re-run by running the task
again, or online); ``timeout`` bounds the whole wait, and on timeout the provider batch is
cancelled and its reservations are kept until they lapse into unsettled spend (some items may
have been billed before the cancellation took effect).

**Waiting: polling on asyncio sleeps, not Prefect's suspend/resume.**

* ``suspend_flow_run`` works only for deployment runs whose task results are persisted: on
  resume Prefect runs the flow again from its start and skips what it finds in the result store.
  Local runs (``llm-orchestrator run``, ``make demo``, the Python API, the tests) have no
  deployment, and this engine keeps task results in memory (``persist_result=False``), so a
  suspended run could not resume, or would re-run every task before the batch.
* Something must resume a suspended run when the provider finishes: a poller anyway (a second
  deployment watching every batch), so suspend/resume is polling plus a second moving part.
* The poll is cheap: an ``await asyncio.sleep`` between status requests (1 s doubling to
  ``batch_poll_interval``, 60 s by default), holding no thread and no ``maxParallelTasks`` slot:
  the slot is given back once the provider holds the batch and taken again to record the
  results, so the run's other tasks go on meanwhile.  ``bench/batch.py`` measures the slot time
  and the CPU the wait costs.
* What a waiting run does hold is its flow-run process (in a work pool, one of the pool's run
  slots) for as long as the batch takes.  If that process dies, the reservations lapse into
  unsettled spend after their TTL, attributed to the run, and the zombie-run automation
  (``llm-orchestrator deploy --crash-detection``) marks the run Crashed; a re-run submits a new
  batch (the old one is not re-attached).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.context import get_run_context

from compiler.plan import PlanNode
from ecosystem.forge.batch import (
    BATCH_WINDOW,
    BatchForge,
    BatchItem,
    BatchJob,
    PollPolicy,
    outcome_summary,
    run_batch,
)
from ecosystem.forge.errors import ForgeInvalidRequest
from ecosystem.forge.models import ForgeInferenceRequest
from tasks.base import ExecutorContext
from tasks.errors import TaskError, TaskTimeout, retry_info
from tasks.forge import CallObservers, build_request, inference_output, models_of
from tasks.runner import check_output_types, options_for, registered_run
from tasks.state import JSON, WorkflowRun

BATCH_RESERVATION_TTL = BATCH_WINDOW + 3600.0  # a reservation outlives the batch's completion window


class BatchItemFailed(TaskError):
    """An item of a batch that produced no answer; ``kind`` is its error's type."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Item:
    ctx: ExecutorContext
    inputs: dict[str, JSON]
    request: ForgeInferenceRequest
    observer: CallObservers


class _Batch:
    """One batch task run: prepare every item, run the batch, file every item's outcome."""

    def __init__(self, run: WorkflowRun, node: PlanNode, attempt: int) -> None:
        self.run = run
        self.node = node
        self.attempt = attempt
        self.logger = run.logger_for(node.id)
        self.outcomes: dict[int, dict[str, JSON]] = {}
        self.model = ""

    async def fail(self, ctx: ExecutorContext, inputs: dict[str, JSON], error: BaseException) -> None:
        assert ctx.index is not None
        self.run.add_calls(self.node.id, ctx.index, 1)
        await self.run.hooks.task_failed(ctx, error)
        name = type(error).__name__
        self.outcomes[ctx.index] = {"index": ctx.index, "ok": False, "inputs": inputs, "kind": retry_info(error)[2],
                                    "error": str(error) if isinstance(error, BatchItemFailed) else f"{name}: {error}"}

    async def prepare(self, inputs: dict[str, JSON], item: JSON, index: int) -> _Item | None:
        ctx = ExecutorContext(node=self.node, run=self.run, attempt=self.attempt, logger=self.logger, item=item,
                              index=index, call_tier="batch", call_ttl=BATCH_RESERVATION_TTL)
        try:
            inputs = await self.run.hooks.before_task(ctx, inputs)
            request = build_request(inputs, ctx)
            observer = CallObservers(ctx.observers)
            await observer.before_call(request.model, request)  # Governance reserves at the batch price
        except Exception as error:  # noqa: BLE001 - a refused item fails alone, as in a normal forEach
            await self.fail(ctx, inputs, error)
            return None
        if len(models_of(inputs)) > 1:
            self.run.services.warn_once(f"batch-fallbacks:{self.node.id}", f"task '{self.node.id}' runs in batch mode: "
                                        f"only its first model ({request.model}) is asked; fallbacks apply online only",
                                        self.logger)
        return _Item(ctx, inputs, request, observer)

    async def execute(self, inputs: list[dict[str, JSON]], items: list[JSON], indices: list[int]) -> dict[str, JSON]:
        slot = self.run.slots.get((self.node.id, None))
        prepared = [p for p in [await self.prepare(i, item, n) for i, item, n in zip(inputs, items, indices, strict=True)]
                    if p is not None]
        job: BatchJob | None = None
        results: list[BatchItem] = []
        if prepared:
            try:
                job, results = await self.submit_and_wait(prepared, slot)
            except TimeoutError:
                error = TaskTimeout(f"task '{self.node.id}' timed out after {self.node.timeout:g}s waiting for its "
                                    "batch; the provider batch was cancelled and its reservations are kept until "
                                    "they lapse (items answered before the cancellation may be billed)")
                for item in prepared:
                    await self.fail(item.ctx, item.inputs, error)
                prepared = []
            except Exception as error:  # noqa: BLE001 - the submission failed: every item fails with it
                for item in prepared:
                    await item.observer.call_failed(item.request.model, error)
                    await self.fail(item.ctx, item.inputs, error)
                prepared = []
            finally:
                if slot is not None:
                    await slot.acquire()  # recording results (and evaluating them) is work again
        for item, result in zip(prepared, results, strict=True):
            await self.file(item, result, job)
        return {"items": [self.outcomes[i] for i in sorted(self.outcomes)],
                "batch": job.to_json() if job is not None else None,
                "state": job.state if job is not None else "failed",
                "summary": outcome_summary(job, results) if job is not None else None}

    async def submit_and_wait(self, prepared: list[_Item], slot: Any) -> tuple[BatchJob, list[BatchItem]]:
        forge = self.run.services.forge
        if not isinstance(forge, BatchForge):
            raise ForgeInvalidRequest("batch mode needs Forge embedded: the remote Forge service has no batch API "
                                      "(run Forge embedded, or set config.mode: online)")
        settings = self.run.services.systems.forge

        async def waiting(job: BatchJob) -> None:
            self.logger.info("task %s: %d items in %s; waiting without holding a slot", self.node.id,
                             len(prepared), job.describe())
            if slot is not None:
                slot.release()

        wait = run_batch(forge, [p.request for p in prepared], policy=PollPolicy(maximum=settings.batch_poll_interval),
                         on_submitted=waiting, log=self.logger)
        if self.node.timeout:
            async with asyncio.timeout(self.node.timeout):
                job, found = await wait
        else:
            job, found = await wait
        return job, found

    async def file(self, item: _Item, result: BatchItem, job: BatchJob | None) -> None:
        ctx = item.ctx
        assert ctx.index is not None
        if result.response is None:
            error = result.error or ForgeInvalidRequest("no answer")
            await item.observer.call_failed(item.request.model, error)  # not billed: the reservation goes back
            await self.fail(ctx, item.inputs, BatchItemFailed(f"{type(error).__name__}: {error}", error.type))
            return
        response = result.response
        try:
            await item.observer.after_call(item.request.model, response)  # settled at the batch cost
            output = inference_output(response, item.request, ctx)
            output.metadata["tier"] = "batch"
            output.metadata["batch"] = {"id": response.metadata.get("batch_id"), "provider": job.provider if job else None}
            check_output_types(self.node, output.values)
            output.metadata.setdefault("execution_time", round(response.latency, 6))
            output.metadata["attempts"] = self.run.add_calls(self.node.id, ctx.index, 1)
            await self.run.hooks.after_task(ctx, output)
        except Exception as error:  # noqa: BLE001 - an item whose result cannot be recorded fails alone
            await self.fail(ctx, item.inputs, error)
            return
        self.outcomes[ctx.index] = {"index": ctx.index, "ok": True, "outputs": output.values,
                                    "metadata": dict(output.metadata), "inputs": item.inputs}


@task(persist_result=False)
async def execute_batch(
    run_key: str,
    node_id: str,
    inputs: list[dict[str, JSON]],
    items: list[JSON],
    indices: list[int],
    cache_token: JSON = None,
    upstream: list[str] | None = None,
) -> dict[str, JSON]:
    """Run batch-mode node ``node_id`` of run ``run_key`` over its items (``inputs[k]`` is item
    ``indices[k]``); returns every item's outcome, in item order, and the batch's state."""
    run = registered_run(run_key)
    node = run.plan.nodes[node_id]
    task_run = getattr(get_run_context(), "task_run", None)
    slot = run.slots.get((node_id, None))
    if slot is not None:
        await slot.acquire()
    started = time.perf_counter()
    try:
        result = await _Batch(run, node, int(getattr(task_run, "run_count", 1) or 1)).execute(inputs, items, indices)
    finally:
        if slot is not None:
            slot.release()
    result["execution_time"] = round(time.perf_counter() - started, 6)
    return result


def batch_run_name(parameters: dict[str, Any]) -> str:
    return f"{parameters['node_id']}[batch of {len(parameters['inputs'])}]"


_TASKS: dict[tuple[Any, ...], Any] = {}


def batch_task_for(node: PlanNode, *, tags: tuple[str, ...] = ()) -> Any:
    """The Prefect task a batch-mode node runs as (one per executor/tags/cache shape); ``tags``:
    the tags its task run carries (``flows.tags``)."""
    ttl = node.cache.ttl if node.cache and node.cache.enabled else None
    key = (str(node.executor), tags, ttl)
    specialised = _TASKS.get(key)
    if specialised is None:
        options = options_for(node)
        options.update(name=f"{node.executor} (batch)", task_run_name=batch_run_name, tags=list(tags))
        specialised = _TASKS[key] = execute_batch.with_options(**options)
    return specialised
