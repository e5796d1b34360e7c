"""The one generic Prefect task every workflow node runs through.

``execute_node`` is specialised with ``with_options`` (name, tags, retries, retry condition,
cache policy); there is no code generation.  ``task_for`` makes one specialised task per
distinct executor/tags/retry/cache shape and every node of that shape shares it: ``with_options``
reads the function's source each time (milliseconds per call), which per node would cost a
50-task DAG more than Prefect's own work.  Task runs are still named after the node (the name
is computed from the parameters).  Parameters are only data (run key, node id, rendered inputs,
item/index, upstream ids), so Prefect's cache key and UI show what the task actually ran on;
the live objects of the run (plan, services, hooks) are found by run key in this process.

Retries: an executor that runs the retry policy itself (``ExecutorSpec.retries_inside``: llm
inference, whose provider calls, retries and fallbacks are one loop with one budget) gets no
Prefect retries.  Every other task is retried by Prefect, only for what ``should_retry`` accepts:
errors that say they are retryable (``is_retryable()``), optionally narrowed by the task's
``retryOn`` kinds.  The delay of the next attempt is decided per failure: the wait a provider
asked for wins over the configured backoff (``ecosystem.forge.attempts.backoff_delay``); a
stand-in wait is never taken for the provider's.  Prefect reads the delay from the task object
right after the retry condition returns, so the condition sets it there on the task object; no
await separates the condition from that read, so a task shared by concurrent task runs still
gives each retry its own delay.

``attempts`` (metadata and records) counts every call a task made: the executor reports its
calls through ``ctx.calls`` (an llm task's provider calls), each Prefect attempt counts at least
one, and the run keeps the total per task run (``WorkflowRun.add_calls``).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from datetime import timedelta
from typing import Any

from prefect import task
from prefect.context import TaskRunContext, get_run_context
from pydantic import ValidationError

from compiler.checks import type_name_of, value_matches
from compiler.document import RetryPolicy
from compiler.plan import ExecutionPlan, PlanNode
from ecosystem.errors import provider_hint
from ecosystem.forge.attempts import backoff_delay as _backoff
from ecosystem.models import describe_errors
from tasks.base import ExecutorContext, TaskOutput
from tasks.errors import ExecutorError, OutputTypeError, TaskTimeout, redacted
from tasks.failures import install as install_failure_log
from tasks.failures import mark as mark_failure
from tasks.forge import attempt_policy
from tasks.registry import body_for
from tasks.state import JSON, Slot, WorkflowRun

__all__ = ["Slot", "cache_key", "execute_node", "options_for", "register_run", "registered_run", "task_for",
           "unregister_run"]

_RUNS: dict[str, WorkflowRun] = {}


def register_run(key: str, run: WorkflowRun) -> None:
    install_failure_log()  # expected task failures log one line, not a traceback (tasks.failures)
    _RUNS[key] = run


def unregister_run(key: str) -> None:
    _RUNS.pop(key, None)


def registered_run(key: str) -> WorkflowRun:
    """The live run a task run belongs to (task parameters carry only its key)."""
    return _RUNS[key]


def backoff_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Delay before retry ``retry_number`` (1 for the first retry) under a task's ``retry``."""
    return _backoff(policy.backoff, policy.initial_delay, policy.max_delay, policy.jitter, retry_number)


def make_retry_condition(retry: RetryPolicy) -> Any:
    policy = attempt_policy(retry)

    def should_retry(task_obj: Any, task_run: Any, state: Any) -> bool:
        error = state.data if isinstance(state.data, BaseException) else None
        if error is None or not policy.retries(error):
            return False
        retry_number = max(1, int(getattr(task_run, "run_count", 1)))
        hint = provider_hint(error)
        delay = min(hint, policy.max_retry_after) if hint is not None else policy.delay(retry_number)
        task_obj.retry_delay_seconds = [delay]
        task_obj.retry_jitter_factor = None  # jitter is already in the delay; a hint is exact
        return True

    return should_retry


def cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Prefect's cache key function for a node's task runs (see ``cache_key_for``)."""
    run = _RUNS.get(parameters["run_key"])
    return cache_key_for(run.plan if run else None, parameters)


def cache_key_for(plan: ExecutionPlan | None, parameters: dict[str, Any]) -> str:
    """Same workflow, node, executor and evaluated inputs (and cache key) -> same cached result."""
    node = plan.nodes[parameters["node_id"]] if plan else None
    material = {
        "workflow": plan.name if plan else None,
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
    inputs: dict[str, JSON],
    item: JSON = None,
    index: int | None = None,
    cache_token: JSON = None,
    upstream: list[str] | None = None,
) -> dict[str, JSON]:
    """Run node ``node_id`` of run ``run_key`` on ``inputs``.  ``upstream`` (the ids of the tasks
    it waited for) is not used here: it is what the UI shows, and the key under which the
    scheduler records the upstream task runs, which draws the run graph's edges."""
    run = _RUNS[run_key]
    node: PlanNode = run.plan.nodes[node_id]
    context = get_run_context()
    task_run = getattr(context, "task_run", None)
    attempt = int(getattr(task_run, "run_count", 1) or 1)
    ctx = ExecutorContext(node=node, run=run, attempt=attempt, logger=run.logger_for(node_id), item=item, index=index)
    slot = run.slots.get((node_id, index))
    if slot is not None:
        await slot.acquire()  # held already, unless this is a retry
    started = asyncio.get_running_loop().time()
    body = body_for(node.spec)
    try:
        inputs = await run.hooks.before_task(ctx, inputs)
        if node.timeout:
            try:
                async with asyncio.timeout(node.timeout):
                    produced = await _call(body, inputs, ctx)
            except TimeoutError:
                raise TaskTimeout(f"task '{node_id}' timed out after {node.timeout:g}s") from None
        else:
            produced = await _call(body, inputs, ctx)
        output = produced if isinstance(produced, TaskOutput) else TaskOutput(dict(produced or {}))
        check_output_types(node, output.values)
        output.metadata.setdefault("execution_time", round(asyncio.get_running_loop().time() - started, 6))
        output.metadata["attempts"] = run.add_calls(node_id, index, ctx.calls)
        await run.hooks.after_task(ctx, output)
    except Exception as raised:
        # What Prefect logs and keeps as the state's message: no secret of the config in it.
        error = redacted(raised, run.services.redactor.redact)
        attempts = run.add_calls(node_id, index, ctx.calls)
        try:
            error.attempts = attempts  # type: ignore[attr-defined]
        except AttributeError:  # an exception type with slots
            pass
        mark_failure(error, ctx.label, run.services.redactor.redact)
        await run.hooks.task_failed(ctx, error)
        if error is raised:
            raise
        raise error from None
    except BaseException as interrupted:  # cancellation: the hooks still release what they hold
        run.add_calls(node_id, index, ctx.calls)
        await run.hooks.task_failed(ctx, interrupted)
        raise
    finally:
        if slot is not None:
            slot.release()
    return {"outputs": output.values, "metadata": dict(output.metadata), "inputs": inputs}


async def _call(body: Any, inputs: dict[str, JSON], ctx: ExecutorContext) -> Any:
    """An async body is awaited; a plain function runs on the run's pool of worker threads.  A
    request a body could not build from its inputs (a pydantic ``ValidationError``) is the
    inputs' fault: it fails the task as ``invalid_request`` in plain sentences."""
    try:
        if inspect.iscoroutinefunction(body):
            return await body(inputs, ctx)
        produced = await ctx.services.run_blocking(body, inputs, ctx)
        return await produced if inspect.isawaitable(produced) else produced
    except ValidationError as exc:
        raise ExecutorError(f"task '{ctx.task_id}' got inputs it cannot use: {describe_errors(exc.errors())}",
                            kind="invalid_request") from None


def check_output_types(node: PlanNode, values: dict[str, JSON]) -> None:
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
    retry = node.retry.model_dump_json() if prefect_retries(node) and node.retry else None
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


def prefect_retries(node: PlanNode) -> bool:
    """Prefect retries the node's task runs (not when the executor runs the policy itself)."""
    return bool(node.retry and node.retry.max_attempts > 1 and not node.spec.retries_inside)


def options_for(node: PlanNode, *, index: int | None = None) -> dict[str, Any]:
    """``with_options`` arguments that specialise ``execute_node`` for ``node``."""
    name = node.id if index is None else f"{node.id}[{index}]"
    options: dict[str, Any] = {
        "name": node.id,
        "task_run_name": name,
        "tags": list(node.tags),
    }
    if prefect_retries(node):
        assert node.retry is not None
        options["retries"] = node.retry.max_attempts - 1
        options["retry_delay_seconds"] = [backoff_delay(node.retry, 1)]
        options["retry_condition_fn"] = make_retry_condition(node.retry)
    if node.cache and node.cache.enabled:
        options["cache_key_fn"] = cache_key
        options["cache_expiration"] = timedelta(seconds=node.cache.ttl)
        options["persist_result"] = True
    return options
