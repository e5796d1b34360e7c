"""The one generic Prefect task every workflow node runs through.

``execute_node`` is specialised with ``with_options`` (name, tags, retries, retry condition,
cache policy); there is no code generation.  ``task_for`` makes one specialised task per
distinct executor/tags/retry/cache shape and every node of that shape shares it: ``with_options``
reads the function's source each time (milliseconds per call), which per node would cost a
50-task DAG more than Prefect's own work.  Task runs are still named after the node (the name
is computed from the parameters).  Parameters are only data (run key, node id, rendered inputs,
item/index, upstream ids), so Prefect's cache key and UI show what the task actually ran on;
the live objects of the run (plan, services, hooks) are found by run key in this process.

Retries: Prefect retries only what ``should_retry`` accepts: errors that say they are retryable
(``is_retryable()``), optionally narrowed by the task's ``retryOn`` kinds.  The delay of the next
attempt is decided per failure: an error's own retry-after hint wins over the configured backoff
(exponential, linear or constant, capped by ``maxDelay``, with jitter).  Prefect reads the delay
from the task object right after the retry condition returns, so the condition sets it there on
the task object; no await separates the condition from that read, so a task shared by
concurrent task runs still gives each retry its own delay.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from datetime import timedelta
from typing import Any

from prefect import task
from prefect.context import TaskRunContext, get_run_context

from compiler.checks import type_name_of, value_matches
from compiler.document import RetryPolicy
from compiler.plan import PlanNode
from tasks.base import ExecutorContext, TaskOutput
from tasks.errors import OutputTypeError, TaskTimeout, retry_info
from tasks.registry import body_for

_RUNS: dict[str, Any] = {}


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


def register_run(key: str, run: Any) -> None:
    _RUNS[key] = run


def unregister_run(key: str) -> None:
    _RUNS.pop(key, None)


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random | None = None) -> float:
    """Delay before retry ``retry_number`` (1 for the first retry) under ``policy``."""
    base = policy.initial_delay
    if policy.backoff == "exponential":
        delay = base * (2 ** (retry_number - 1))
    elif policy.backoff == "linear":
        delay = base * retry_number
    else:
        delay = base
    delay = min(delay, policy.max_delay)
    if policy.jitter:
        delay *= 1 + (rng or random).uniform(-policy.jitter, policy.jitter)
    return max(0.0, delay)


def _matches_kind(kind: str, wanted: list[str]) -> bool:
    kind = kind.lower()
    return any(w.lower() == kind or w.lower() in kind for w in wanted)


def make_retry_condition(policy: RetryPolicy) -> Any:
    def should_retry(task_obj: Any, task_run: Any, state: Any) -> bool:
        error = state.data if isinstance(state.data, BaseException) else None
        if error is None:
            return False
        retryable, hint, kind = retry_info(error)
        if not retryable:
            return False
        if policy.retry_on and not _matches_kind(kind, policy.retry_on):
            return False
        retry_number = max(1, int(getattr(task_run, "run_count", 1)))
        delay = hint if hint is not None else backoff_delay(policy, retry_number)
        task_obj.retry_delay_seconds = [delay]
        task_obj.retry_jitter_factor = None  # jitter is already in the delay; a hint is exact
        return True

    return should_retry


def cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Same workflow, node, executor and evaluated inputs (and cache key) -> same cached result."""
    run = _RUNS.get(parameters["run_key"])
    node = run.plan.nodes[parameters["node_id"]] if run else None
    material = {
        "workflow": run.plan.name if run else None,
        "node": parameters["node_id"],
        "executor": str(node.executor) if node else None,
        "inputs": parameters["inputs"],
        "item": parameters.get("item"),
        "index": parameters.get("index"),
        "key": parameters.get("cache_token"),
    }
    encoded = json.dumps(material, sort_keys=True, default=repr).encode()
    return "llmo-" + hashlib.sha256(encoded).hexdigest()


@task(persist_result=False)
async def execute_node(
    run_key: str,
    node_id: str,
    inputs: dict[str, Any],
    item: Any = None,
    index: int | None = None,
    cache_token: Any = None,
    upstream: list[str] | None = None,
) -> dict[str, Any]:
    """Run node ``node_id`` of run ``run_key`` on ``inputs``.  ``upstream`` (the ids of the tasks
    it waited for) is not used here: it is what the UI shows, and the key under which the
    scheduler records the upstream task runs, which draws the run graph's edges."""
    run = _RUNS[run_key]
    node: PlanNode = run.plan.nodes[node_id]
    context = get_run_context()
    task_run = getattr(context, "task_run", None)
    attempt = int(getattr(task_run, "run_count", 1) or 1)
    run.attempts[node_id if index is None else f"{node_id}[{index}]"] = attempt
    ctx = ExecutorContext(
        node=node,
        workflow_name=run.plan.name,
        run_id=run.run_id,
        attempt=attempt,
        services=run.services,
        logger=run.logger_for(node_id),
        item=item,
        index=index,
        annotations=run.plan.annotations,
    )
    slot = getattr(run, "slots", {}).get((node_id, index))
    if slot is not None:
        await slot.acquire()  # held already, unless this is a retry
    started = time.perf_counter()
    body = body_for(node.spec)
    try:
        inputs = await run.hooks.before_task(ctx, inputs)
        if node.timeout:
            try:
                async with asyncio.timeout(node.timeout):
                    produced = await body(inputs, ctx)
            except TimeoutError:
                raise TaskTimeout(f"task '{node_id}' timed out after {node.timeout:g}s") from None
        else:
            produced = await body(inputs, ctx)
        output = produced if isinstance(produced, TaskOutput) else TaskOutput(dict(produced or {}))
        check_output_types(node, output.values)
        output.metadata.setdefault("execution_time", round(time.perf_counter() - started, 6))
        output.metadata["attempts"] = attempt
        await run.hooks.after_task(ctx, output)
    except BaseException as error:
        await run.hooks.task_failed(ctx, error)
        raise
    finally:
        if slot is not None:
            slot.release()
    return {"outputs": output.values, "metadata": output.metadata}


def check_output_types(node: PlanNode, values: dict[str, Any]) -> None:
    for name, expected in node.declared_outputs.items():
        if expected == "any" or name not in values:
            continue
        value = values[name]
        if value is None:
            continue
        if not value_matches(value, expected):
            raise OutputTypeError(
                f"task '{node.id}' output '{name}' should be {expected} but is {type_name_of(value)}"
            )


def task_run_name(parameters: dict[str, Any]) -> str:
    """``node`` or ``node[index]`` for a forEach item: what the Prefect UI calls the task run."""
    index = parameters.get("index")
    return str(parameters["node_id"]) if index is None else f"{parameters['node_id']}[{index}]"


_TASKS: dict[tuple[Any, ...], Any] = {}


def task_for(node: PlanNode, *, tags: bool | tuple[str, ...] = True) -> Any:
    """The Prefect task ``node`` runs as, shared with every node of the same shape.  ``tags``: the
    tags its task runs carry (True: all of the node's, False: none; see ``flows.tags``)."""
    retry = node.retry.model_dump_json() if node.retry and node.retry.max_attempts > 1 else None
    ttl = node.cache.ttl if node.cache and node.cache.enabled else None
    carried = tuple(node.tags) if tags is True else tuple(tags or ())
    key = (str(node.executor), carried, retry, ttl)
    specialised = _TASKS.get(key)
    if specialised is None:
        if len(_TASKS) >= 1024:  # a long-lived worker running many workflows
            _TASKS.clear()
        options = options_for(node)
        options.update(name=str(node.executor), task_run_name=task_run_name)
        options["tags"] = list(carried)
        specialised = _TASKS[key] = execute_node.with_options(**options)
    return specialised


def options_for(node: PlanNode, *, index: int | None = None) -> dict[str, Any]:
    """``with_options`` arguments that specialise ``execute_node`` for ``node``."""
    name = node.id if index is None else f"{node.id}[{index}]"
    options: dict[str, Any] = {
        "name": node.id,
        "task_run_name": name,
        "tags": list(node.tags),
    }
    if node.retry and node.retry.max_attempts > 1:
        options["retries"] = node.retry.max_attempts - 1
        options["retry_delay_seconds"] = [backoff_delay(node.retry, 1)]
        options["retry_condition_fn"] = make_retry_condition(node.retry)
    if node.cache and node.cache.enabled:
        options["cache_key_fn"] = cache_key
        options["cache_expiration"] = timedelta(seconds=node.cache.ttl)
        options["persist_result"] = True
    return options
