"""Executors registered by the engine tests, and a helper to run a workflow document."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import yaml

from compiler.executors import ExecutorSpec
from flows.workflow import run_workflow
from tasks.base import ExecutorContext, TaskOutput
from tasks.errors import ExecutorError
from tasks.registry import register_executor


class Probe:
    """Counts calls and concurrency across the test executors."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.order: list[str] = []
        self.active = 0
        self.max_active = 0
        self.fail_plan: dict[str, list[Any]] = {}

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


probe = Probe()


def _key(inputs: dict[str, Any], ctx: ExecutorContext) -> str:
    return str(inputs.get("key") or ctx.task_id)


async def work(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    """Sleeps `sleep` seconds, tracks concurrency, fails as `fail_plan[key]` says."""
    key = _key(inputs, ctx)
    probe.calls[key] += 1
    probe.order.append(key)
    probe.active += 1
    probe.max_active = max(probe.max_active, probe.active)
    try:
        await asyncio.sleep(float(inputs.get("sleep") or 0))
        plan = probe.fail_plan.get(key)
        if plan:
            outcome = plan.pop(0)
            if outcome is not None:
                raise outcome
        value = inputs.get("value", key)
        output = inputs.get("output", {"value": value})
        return TaskOutput(dict(output), {"cost": inputs.get("cost"), "model": inputs.get("model")})
    finally:
        probe.active -= 1


WORK = ExecutorSpec(
    reference="test:work",
    task_types=frozenset({"custom", "llm"}),
    inputs=None,
    outputs={"value": "any"},
    open_outputs=True,
    description="test executor",
)


def register() -> None:
    register_executor(WORK, work)


def retryable(message: str = "busy", retry_after: float | None = None) -> ExecutorError:
    return ExecutorError(message, retryable=True, retry_after=retry_after, kind="rate_limit")


def permanent(message: str = "bad request") -> ExecutorError:
    return ExecutorError(message, retryable=False, kind="invalid_request")


def workflow(tasks: str, *, name: str | None = None, extra: str = "", inputs: str = "") -> dict[str, Any]:
    text = f"""
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata:
  name: {name or 'test-' + uuid.uuid4().hex[:8]}
spec:
{inputs}
  tasks:
{tasks}
{extra}
"""
    return yaml.safe_load(text)


async def run(document: dict[str, Any], inputs: dict[str, Any] | None = None, config: Any = None) -> tuple[Any, dict[str, Any]]:
    state = await run_workflow(document, inputs or {}, config, return_state=True)
    data = await state.result(raise_on_failure=False)
    return state, data
