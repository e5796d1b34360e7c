"""``llm-auto-optimizer:*`` executors, and the per-run metric state the run hook shares with them.

``collect_metric`` (``llm-auto-optimizer:metric-collector``) turns the seed's ``execution_metrics``
(``task_id``, ``execution_time`` in seconds (or ``execution_time_ms``), ``cost``, ``token_count``,
and optionally ``quality_score``, ``cpu_usage_percent``, ``memory_usage_mb``, ``model``,
``executor``, ``custom``; any other key goes to ``custom``) into a ``PerformanceMetric`` in the
run's buffer.  Outputs: ``recorded`` (metrics added) and ``metric`` (the metric as JSON).

**No double counting.**  When the run hook collects metrics automatically
(``flows.integrations.optimizer``), the metric of a task that a metric-collector names by a
literal ``task_id`` is *held* instead of buffered; the collector then adds that one metric with
its explicit values laid over the measured ones (so the seed's example stores one metric for
``inference``, with the model, input hash, tokens and resource usage the hook measured).  Held
metrics whose collector never ran are buffered at the end of the run.  Without automatic
collection the collector builds the metric from its inputs and what the run knows about the task
(executor, model, usage, status, timestamps, dependencies).

``request_recommendations`` (``llm-auto-optimizer:request-recommendations``) first flushes the
run's buffer (so this run counts), then asks the optimizer for ``workflow_id``: a workflow name,
or the seed's ``${{ workflow.id }}`` (this run's id, which means this workflow).  Outputs:
``recommendations`` (each ``Recommendation`` as JSON, ``from`` spelt as on the wire), ``count``
and ``estimated_improvement``.  Answers are cached per process for
``recommendation_cache_ttl`` seconds (300, the seed's cache), whichever backend answers.

``RunMetrics`` (``run_metrics(run)``, kept in the run's extensions) is the run's state: the
optimizer client, the ``MetricBuffer`` (batch size, flush interval and spool from
``integrations.llm-auto-optimizer``), held metrics and everything recorded.  Closing it flushes;
what cannot be delivered is spooled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tasks.base import ExecutorContext, TaskOutput
from tasks.errors import ExecutorError
from tasks.state import WorkflowRun

logger = logging.getLogger("llm_orchestrator.optimizer")

SECTION = "llm-auto-optimizer"
NAMESPACE = "llm-auto-optimizer"
COLLECTOR = "llm-auto-optimizer:metric-collector"
SOURCE_COLLECTOR = "metric-collector"

# (backend, workflow, include_task_level) -> (monotonic time, Recommendations)
_RECOMMENDATIONS: dict[tuple[str, str, bool], tuple[float, Any]] = {}


def clear_recommendation_cache() -> None:
    _RECOMMENDATIONS.clear()


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def whole(value: Any, minimum: int = 0) -> int | None:
    found = number(value)
    if found is None or found < minimum:
        return None
    return int(round(found))


def quality_of(values: Mapping[str, Any], metadata: Mapping[str, Any]) -> float | None:
    """``metadata.quality_score``, else Test-Bench's ``metadata.evaluation.overall_score``, else the
    seed's ``outputs.quality_score``."""
    evaluation = metadata.get("evaluation")
    overall = evaluation.get("overall_score") if isinstance(evaluation, Mapping) else None
    for candidate in (metadata.get("quality_score"), overall, values.get("quality_score")):
        found = number(candidate)
        if found is not None:
            return found
    return None


def usage_of(values: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, int | None]:
    usage = values.get("usage") if isinstance(values.get("usage"), Mapping) else metadata.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    return {k: whole(usage.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def edges_of(node: Any) -> tuple[list[str], list[str]]:
    """(depends_on, data_dependencies) of a plan node as the optimizer must see them.

    ``data_dependencies`` are the edges that may not be dropped: tasks the node's inputs or ``if``
    read, tasks a branch condition reads (in ``depends_on`` without being ``dependsOn``), and every
    dependency when the ``if`` uses a status function (``always()`` reads their statuses).
    """
    depends = set(node.depends_on)
    data = set(node.data_dependencies) | (depends - set(node.explicit_depends_on))
    if node.status_aware:
        data |= depends
    return sorted(depends), sorted(data & depends)


class RunMetrics:
    """One run's metric buffer and optimizer client; see the module docstring."""

    def __init__(self, optimizer: Any, settings: Any) -> None:
        from ecosystem.optimizer import build_buffer

        self.optimizer = optimizer
        self.settings = settings
        self.buffer = build_buffer(optimizer, settings)
        self.run: Any = None
        self.hold_for: set[str] = set()
        self.held: dict[str, list[Any]] = {}
        self.recorded: list[Any] = []
        self.as_written: dict[str, dict[str, Any]] = {}  # node -> what an applied change replaced
        self.closed = False
        self._flushes: set[asyncio.Task[Any]] = set()
        self._started = False

    # -- setup -----------------------------------------------------------------------------------
    def bind(self, run: Any, *, hold: bool) -> None:
        """Attach the run; with ``hold``, tasks named by a metric-collector are held for it."""
        self.run = run
        self.hold_for = set()
        if not hold:
            return
        for node in run.plan.nodes.values():
            if str(node.executor) != COLLECTOR or not isinstance(node.inputs, Mapping):
                continue
            named = (node.inputs.get("execution_metrics") or {}).get("task_id") if isinstance(
                node.inputs.get("execution_metrics"), Mapping) else None
            if isinstance(named, str) and "${{" not in named and named in run.plan.nodes and named != node.id:
                self.hold_for.add(named)

    async def start(self) -> None:
        """Start the interval flush on the current event loop (once)."""
        if not self._started:
            self._started = True
            await self.buffer.__aenter__()

    # -- recording -------------------------------------------------------------------------------
    def add(self, metric: Any) -> None:
        """Queue ``metric`` (thread-safe); held back for its collector when one names the task."""
        if self.closed:
            raise ExecutorError("the run's metric buffer is already closed")
        if metric.task_id in self.hold_for and metric.custom.get("source") != SOURCE_COLLECTOR:
            self.held.setdefault(metric.task_id, []).append(metric)
            return
        self.buffer.add_nowait(metric)
        self.recorded.append(metric)

    def take_held(self, task_id: str) -> list[Any]:
        return self.held.pop(task_id, [])

    def maybe_flush(self) -> None:
        """Flush in the background once a batch is waiting (the flow never waits for delivery)."""
        if self.buffer.pending >= self.buffer.batch_size:
            task = asyncio.get_running_loop().create_task(self.buffer.flush(), name="optimizer-flush")
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def flush(self) -> bool:
        return bool(await self.buffer.flush())

    async def aclose(self) -> None:
        """Buffer held metrics, wait for background flushes, flush the rest (spooling what fails)."""
        if self.closed:
            return
        for task_id in list(self.held):
            for metric in self.take_held(task_id):
                self.buffer.add_nowait(metric)
                self.recorded.append(metric)
        self.closed = True
        if self._flushes:
            await asyncio.gather(*list(self._flushes), return_exceptions=True)
        await self.buffer.aclose()

    def stats(self) -> dict[str, Any]:
        return {"recorded": len(self.recorded), **self.buffer.stats(), "spool_dir": str(self.buffer.spool_dir)}


EXTENSION = "auto-optimizer.metrics"


def run_metrics(run: WorkflowRun) -> RunMetrics:
    """The run's ``RunMetrics``, made on first use (opening the store may migrate it: callers on
    the event loop use ``run.services.run_blocking(run_metrics, run)``)."""
    found = run.extensions.get(EXTENSION)
    if not isinstance(found, RunMetrics):
        found = run.extensions[EXTENSION] = RunMetrics(run.services.optimizer, run.services.systems.optimizer)
    return found


async def recommendations_for(run: WorkflowRun, workflow: str, include_task_level: bool = True) -> Any:
    """``Recommendations`` for ``workflow``, cached per process for ``recommendation_cache_ttl`` s."""
    metrics = await run.services.run_blocking(run_metrics, run)
    settings = metrics.settings
    backend = settings.endpoint or settings.storage_url or "<default store>"
    key = (backend, workflow, include_task_level)
    ttl = float(settings.recommendation_cache_ttl)
    now = time.monotonic()
    cached = _RECOMMENDATIONS.get(key)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    result = await metrics.optimizer.get_recommendations(workflow, include_task_level)
    if ttl > 0:
        _RECOMMENDATIONS[key] = (now, result)
    return result


# -- the executors -------------------------------------------------------------------------------

_SEED_KEYS = {
    "task_id", "executor", "execution_time", "execution_time_ms", "cost", "cost_usd", "token_count",
    "quality_score", "cpu_usage_percent", "memory_usage_mb", "model", "custom", "custom_metrics",
    "prompt_tokens", "completion_tokens", "max_tokens", "temperature", "status",
}


def _explicit_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PerformanceMetric fields, custom) from ``execution_metrics``; None values are left out."""
    fields: dict[str, Any] = {}
    if data.get("execution_time_ms") is not None:
        fields["execution_time_ms"] = data["execution_time_ms"]
    elif number(data.get("execution_time")) is not None:
        fields["execution_time_ms"] = int(round(float(data["execution_time"]) * 1000))
    cost = data.get("cost_usd", data.get("cost"))
    if cost is not None:
        fields["cost_usd"] = cost
    for key in ("token_count", "quality_score", "cpu_usage_percent", "memory_usage_mb", "model", "executor",
                "prompt_tokens", "completion_tokens", "max_tokens", "temperature", "status"):
        if data.get(key) is not None:
            fields[key] = data[key]
    custom: dict[str, Any] = {}
    for key in ("custom", "custom_metrics"):
        if isinstance(data.get(key), Mapping):
            custom.update(data[key])
    custom.update({k: v for k, v in data.items() if k not in _SEED_KEYS})
    return fields, custom


def _from_run(metrics: RunMetrics, task_id: str, ctx: ExecutorContext) -> dict[str, Any]:
    """What the run knows about ``task_id``: executor, model, usage, status, times, edges."""
    run = metrics.run
    if run is None or task_id not in run.plan.nodes:
        return {"executor": str(ctx.node.executor) if task_id == ctx.task_id else "unknown"}
    node = run.plan.nodes[task_id]
    depends, data = edges_of(node)
    found: dict[str, Any] = {"executor": str(node.executor), "depends_on": depends, "data_dependencies": data}
    record = run.records.get(task_id)
    if record is None:
        return found
    metadata = record.metadata or {}
    usage = usage_of(record.outputs or {}, metadata)
    found.update({
        "model": metadata.get("model") if isinstance(metadata.get("model"), str) else None,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "token_count": usage["total_tokens"],
        "max_tokens": whole(metadata.get("max_tokens"), 1),
        "temperature": number(metadata.get("temperature")),
        "cost_usd": record.cost,
        "quality_score": quality_of(record.outputs or {}, metadata),
    })
    if record.state in ("completed", "failed", "skipped", "cached"):
        found["status"] = record.state
    if record.started is not None:
        found["started_at"] = datetime.fromtimestamp(record.started, UTC)
    if record.finished is not None:
        found["finished_at"] = datetime.fromtimestamp(record.finished, UTC)
    return {k: v for k, v in found.items() if v is not None}


async def collect_metric(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    from pydantic import ValidationError

    from ecosystem.optimizer import PerformanceMetric

    data = inputs.get("execution_metrics")
    if not isinstance(data, Mapping):
        raise ExecutorError("execution_metrics must be a mapping", kind="invalid_request")
    task_id = str(data.get("task_id") or ctx.task_id)
    explicit, custom = _explicit_fields(data)
    custom["source"] = SOURCE_COLLECTOR
    custom["collector"] = ctx.task_id
    metrics = await ctx.services.run_blocking(run_metrics, ctx.run)
    await metrics.start()
    identity = {"workflow_id": ctx.run_id, "workflow": ctx.workflow_name, "run_id": ctx.run_id, "task_id": task_id}
    built = []
    try:
        held = metrics.take_held(task_id)
        if held:
            for base in held:
                merged = {**base.model_dump(), **explicit, "custom": {**base.custom, **custom}}
                if len(held) > 1:  # a forEach task: the collector's totals describe no single item
                    merged = {**base.model_dump(), "custom": {**base.custom, **custom}}
                built.append(PerformanceMetric.model_validate(merged))
        else:
            known = _from_run(metrics, task_id, ctx)
            fields = {"execution_time_ms": 0, **known, **explicit, **identity, "custom": custom}
            built.append(PerformanceMetric.model_validate(fields))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ExecutorError(f"execution_metrics cannot be recorded: {problems}", kind="invalid_request") from None
    for metric in built:
        metrics.add(metric)
    ctx.logger.info("auto-optimizer: recorded %d metric(s) for task '%s'", len(built), task_id)
    return TaskOutput({"recorded": len(built), "metric": built[0].model_dump(mode="json")})


async def request_recommendations(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    workflow = str(inputs.get("workflow_id") or ctx.workflow_name)
    if workflow == ctx.run_id:  # the seed passes ${{ workflow.id }}: this run, so this workflow
        workflow = ctx.workflow_name
    include_task_level = bool(inputs.get("include_task_level", True))
    metrics = await ctx.services.run_blocking(run_metrics, ctx.run)
    if not metrics.closed:
        await metrics.start()
        await metrics.flush()  # so this run's metrics are part of the history (failures are absorbed)
    result = await recommendations_for(ctx.run, workflow, include_task_level)
    items = [item.model_dump(mode="json", by_alias=True) for item in result.items]
    for item in result.items:
        rtype = item.recommendation_type
        ctx.logger.info("auto-optimizer recommends %s (confidence %.2f): %s", rtype.kind, item.confidence,
                        getattr(rtype, "reason", ""))
    return TaskOutput({
        "recommendations": items,
        "count": len(items),
        "estimated_improvement": result.estimated_improvement.model_dump(mode="json"),
    })
