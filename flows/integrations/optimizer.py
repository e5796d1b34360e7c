"""The Auto-Optimizer in a run: the client, metric collection on every task, and applying advice.

The client is ``run.services.optimizer`` (``blocks.clients``); the run's metric buffer is
``tasks.optimizer.run_metrics(run)``, flushed by ``after_workflow`` before the clients close.

**Collecting** is on when the annotation ``auto-optimizer.enabled`` is ``"true"``, or when it is
absent and the config has an ``llm-auto-optimizer`` section (``"false"`` turns it off).  Then:

* ``before_task`` (inside the task run) starts a ``ResourceSampler`` and notes the start time,
  the input hash (``ecosystem.optimizer.input_hash``: the evaluated inputs without ``config``) and
  the call config;
* ``after_task`` / ``task_failed`` build a ``PerformanceMetric`` with every seed field (execution
  time, CPU, memory, token count, cost, quality score - ``metadata.quality_score``, which
  Test-Bench auto-evaluation sets, else ``metadata.evaluation.overall_score``, else the output
  ``quality_score`` - and ``metadata.custom_metrics``) plus model, input hash, max_tokens,
  temperature, prompt/completion tokens, status, timestamps and the node's edges (one metric per
  attempt, per ``forEach`` item);
* ``task_finished`` (in the flow) records cached and skipped tasks (no resource sample), and
  failures that never reached a task run (input errors, policy refusals); it starts a background
  flush when a batch is waiting, and the buffer also flushes every ``flush_interval``;
* ``after_workflow`` always flushes.  Delivery failures never fail the run: the buffer retries,
  then spools to ``spool_dir``; a run whose metrics were spooled says so in its warnings.
  ``run.optimizer_stats`` / ``result.optimizer_stats`` hold the buffer's counters.

This hook runs after Test-Bench's (registration order), so auto-evaluation scores are there.

**Applying** is on when ``auto-optimizer.enabled`` is ``"true"`` and
``auto-optimizer.apply-recommendations`` is ``"true"`` (or absent, with config
``auto_apply_recommendations: true``).  A separate hook, registered *first* so that Governance
checks the plan that will actually run, fetches the workflow's recommendations (cached for
``recommendation_cache_ttl``, 300 s) in ``before_workflow`` and returns the plan built by
``compiler.optimize.apply_recommendations``; each applied change is a sentence in
``plan.applied`` and so in ``RunResult.applied``; skipped ones are logged with the reason.
The metrics of a changed task carry ``custom["as_written"]``: what the workflow as written had
(the config values that were changed, ``depends_on``, ``cache``), so the history can tell the
plan the user wrote from the plan that ran.  An
optimizer that cannot answer leaves the plan as written (logged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from compiler.plan import ExecutionPlan
from flows.registry import HOOK_FACTORIES, annotation_flag
from tasks.base import ExecutorContext, TaskOutput
from tasks.hooks import Hook, Inputs
from tasks.optimizer import (
    NAMESPACE,
    SECTION,
    RunMetrics,
    edges_of,
    number,
    quality_of,
    recommendations_for,
    run_metrics,
    usage_of,
    whole,
)
from tasks.state import RunResult, TaskRecord, WorkflowRun

logger = logging.getLogger("llm_orchestrator.optimizer")

ENABLED_ANNOTATION = "auto-optimizer.enabled"
APPLY_ANNOTATION = "auto-optimizer.apply-recommendations"


def call_defaults() -> dict[str, Any]:
    """What an LLM call uses when the task's config does not say (for stale checks)."""
    from ecosystem.forge import ForgeInferenceRequest

    fields = ForgeInferenceRequest.model_fields
    return {"max_tokens": fields["max_tokens"].default, "temperature": fields["temperature"].default}


# -- applying ------------------------------------------------------------------------------------


class ApplyRecommendationsHook(Hook):
    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        from compiler.optimize import apply_recommendations

        try:
            found = await recommendations_for(run, run.plan.name)
        except Exception as exc:  # noqa: BLE001 - advice is optional; the workflow runs as written
            logger.warning("auto-optimizer: no recommendations for '%s' (%s: %s); running the workflow as written",
                           run.plan.name, type(exc).__name__, exc)
            return None
        plan, applied, skipped = apply_recommendations(run.plan, found.items, call_defaults=call_defaults())
        if applied:
            run_metrics(run).as_written = as_written(run.plan, plan)
        for sentence in applied:
            logger.info("auto-optimizer applied: %s", sentence)
        for sentence in skipped:
            logger.info("auto-optimizer skipped: %s", sentence)
        return plan if applied else None


def run_trigger() -> str:
    """``schedule`` for a run its deployment's schedule started, ``deployment`` for one started by
    hand or API from a deployment, ``manual`` otherwise: the optimiser's evidence that nobody waits
    for a run (``batch_mode``)."""
    try:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        flow_run = context.flow_run if context is not None else None
    except Exception:  # noqa: BLE001 - outside a flow run
        flow_run = None
    if flow_run is None:
        return "manual"
    if getattr(flow_run, "auto_scheduled", False):
        return "schedule"
    return "deployment" if getattr(flow_run, "deployment_id", None) else "manual"


def batch_cost_of(ctx: Any, metadata: Mapping[str, Any], tokens: Mapping[str, Any], model: str | None) -> float | None:
    """What this item would have cost at the batch tier (its own cost when it ran in batch)."""
    if metadata.get("tier") == "batch":
        return number(metadata.get("cost"))
    from ecosystem.forge.estimates import CallEstimator
    from ecosystem.forge.models import TokenUsage

    usage = TokenUsage(prompt_tokens=int(tokens.get("prompt_tokens") or 0),
                       completion_tokens=int(tokens.get("completion_tokens") or 0),
                       total_tokens=int(tokens.get("total_tokens") or 0))
    estimator = CallEstimator(ctx.services.systems.forge)
    return estimator.batch_cost(usage, model, number(metadata.get("cost")), bool(metadata.get("offline")))


def as_written(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    """Per changed node, what the workflow as written had (config values, dependsOn, cache)."""
    changes: dict[str, dict[str, Any]] = {}
    for node_id, node in after.nodes.items():
        old = before.nodes.get(node_id)
        if old is None or old is node:
            continue
        found: dict[str, Any] = {}
        old_config = old.inputs.get("config") if isinstance(old.inputs, Mapping) else None
        new_config = node.inputs.get("config") if isinstance(node.inputs, Mapping) else None
        old_config = old_config if isinstance(old_config, Mapping) else {}
        new_config = new_config if isinstance(new_config, Mapping) else {}
        for key in sorted(set(old_config) | set(new_config)):
            if old_config.get(key) != new_config.get(key):
                found[key] = old_config.get(key)
        if old.depends_on != node.depends_on:
            found["depends_on"] = sorted(old.depends_on)
        if old.cache != node.cache:
            found["cache"] = None if old.cache is None else old.cache.model_dump()
        if found:
            changes[node_id] = found
    return changes


def _apply_hook_for(run: WorkflowRun) -> ApplyRecommendationsHook | None:
    settings = run.services.settings
    annotations = run.plan.annotations
    if annotation_flag(annotations, ENABLED_ANNOTATION) is not True:
        return None
    flag = annotation_flag(annotations, APPLY_ANNOTATION)
    if flag is None:
        flag = bool(settings.integration(SECTION).get("auto_apply_recommendations"))
    return ApplyRecommendationsHook() if flag else None


# -- collecting ----------------------------------------------------------------------------------


_FINISHED_STATUS: dict[str, Literal["completed", "failed", "skipped", "cached"]] = {
    "completed": "completed", "failed": "failed", "skipped": "skipped", "cached": "cached"}


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class _Started:
    __slots__ = ("config", "input_hash", "perf", "sampler", "wall")

    def __init__(self, sampler: Any, inputs: Mapping[str, Any]) -> None:
        from ecosystem.optimizer import input_hash

        self.sampler = sampler
        self.wall = time.time()
        self.perf = time.perf_counter()
        config = inputs.get("config")
        self.config = dict(config) if isinstance(config, Mapping) else {}
        try:
            self.input_hash: str | None = input_hash(dict(inputs))
        except (TypeError, ValueError):
            self.input_hash = None


class MetricsHook(Hook):
    """Per-task metrics into the run's buffer; see the module docstring."""

    def __init__(self, run: WorkflowRun, *, collect: bool) -> None:
        self.run = run
        self.collect = collect
        self.metrics: RunMetrics | None = None
        self._started: dict[tuple[str, int | None, int], _Started] = {}
        self._measured: set[str] = set()  # nodes with a metric from inside a task run
        self.trigger = run_trigger()

    @staticmethod
    def _key(ctx: Any) -> tuple[str, int | None, int]:
        return (ctx.task_id, ctx.index, int(ctx.attempt))

    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        self.metrics = await run.services.run_blocking(run_metrics, run)
        self.metrics.bind(run, hold=self.collect)
        await self.metrics.start()
        return None

    # -- inside the task run -------------------------------------------------------------------
    async def before_task(self, ctx: ExecutorContext, inputs: Inputs) -> Inputs | None:
        if not self.collect:
            return None
        from ecosystem.optimizer import ResourceSampler

        try:
            sampler = ResourceSampler()
            sampler.start()
            self._started[self._key(ctx)] = _Started(sampler, inputs if isinstance(inputs, Mapping) else {})
        except Exception:  # a measurement must never fail the task it measures
            logger.exception("auto-optimizer: could not start measuring '%s'", ctx.task_id)
        return None

    def _metric(self, ctx: Any, status: Any, values: Mapping[str, Any], metadata: Mapping[str, Any],
                error: BaseException | None = None) -> Any:
        from ecosystem.optimizer import PerformanceMetric

        started = self._started.pop(self._key(ctx), None)
        usage = started.sampler.stop() if started is not None else None
        now = time.time()
        elapsed = number(metadata.get("execution_time"))
        if elapsed is None:
            elapsed = time.perf_counter() - started.perf if started is not None else 0.0
        config = started.config if started is not None else {}
        tokens = usage_of(values, metadata)
        model = metadata.get("model") if isinstance(metadata.get("model"), str) else None
        if model is None and isinstance(config.get("model"), str):
            model = config["model"]
        custom: dict[str, Any] = {}
        if isinstance(metadata.get("custom_metrics"), Mapping):
            custom.update(metadata["custom_metrics"])
        if ctx.index is not None:
            custom["index"] = ctx.index
        if int(ctx.attempt) > 1:
            custom["attempt"] = int(ctx.attempt)
        if error is not None:
            custom["error"] = f"{type(error).__name__}: {error}"[:500]
        if self.metrics is not None and ctx.task_id in self.metrics.as_written:
            custom["as_written"] = self.metrics.as_written[ctx.task_id]
        custom["trigger"] = self.trigger
        if ctx.node.for_each is not None and ctx.node.type == "llm":
            custom.update(fan_out=True, mode=ctx.node.mode)
            custom["batch_cost_usd"] = batch_cost_of(ctx, metadata, tokens, model)
        depends, data = edges_of(ctx.node)
        return PerformanceMetric(
            workflow_id=ctx.run_id,
            workflow=ctx.workflow_name,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
            executor=str(ctx.node.executor),
            execution_time_ms=max(0, int(round(elapsed * 1000))),
            cpu_usage_percent=usage.cpu_percent if usage is not None else 0.0,
            memory_usage_mb=usage.memory_mb if usage is not None else 0,
            token_count=tokens["total_tokens"],
            prompt_tokens=tokens["prompt_tokens"],
            completion_tokens=tokens["completion_tokens"],
            cost_usd=(lambda c: c if c is not None and c >= 0 else None)(number(metadata.get("cost"))),
            quality_score=quality_of(values, metadata),
            custom=custom,
            model=model,
            input_hash=started.input_hash if started is not None else None,
            max_tokens=whole(metadata.get("max_tokens", config.get("max_tokens")), 1),
            temperature=(lambda t: t if t is not None and t >= 0 else None)(
                number(metadata.get("temperature", config.get("temperature")))),
            status=status,
            started_at=_utc(started.wall if started is not None else None),
            finished_at=_utc(now),
            depends_on=depends,
            data_dependencies=data,
        )

    def _add(self, metric: Any) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics.add(metric)
        except Exception:  # never fails the task; the run's warnings show undelivered metrics
            logger.exception("auto-optimizer: could not record the metric of '%s'", metric.task_id)

    async def after_task(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        if not self.collect:
            return
        try:
            metric = self._metric(ctx, "completed", output.values, output.metadata)
        except Exception:  # a metric must never fail the task it measures
            self._drop(ctx)
            logger.exception("auto-optimizer: could not build the metric of '%s'", ctx.task_id)
            return
        self._measured.add(ctx.task_id)
        self._add(metric)

    async def task_failed(self, ctx: ExecutorContext, error: BaseException) -> None:
        if not self.collect:
            return
        try:
            metric = self._metric(ctx, "failed", {}, {}, error)
        finally:
            self._drop(ctx)
        self._measured.add(ctx.task_id)
        self._add(metric)

    def _drop(self, ctx: Any) -> None:
        started = self._started.pop(self._key(ctx), None)
        if started is not None:
            started.sampler.stop()

    # -- in the flow ---------------------------------------------------------------------------
    async def task_finished(self, run: WorkflowRun, record: TaskRecord) -> None:
        if self.metrics is None:
            return
        if self.collect and (record.state in ("cached", "skipped")
                             or (record.state == "failed" and record.id not in self._measured)):
            self._add(self._record_metric(run, record))
        self.metrics.maybe_flush()

    def _record_metric(self, run: WorkflowRun, record: TaskRecord) -> Any:
        from ecosystem.optimizer import PerformanceMetric, input_hash

        node = run.plan.nodes[record.id]
        metadata = record.metadata or {}
        depends, data = edges_of(node)
        hashed = None
        if record.state == "cached" and node.for_each is None and isinstance(record.inputs, Mapping):
            try:  # the inputs the cached task was asked with, as its record keeps them
                hashed = input_hash(dict(record.inputs))
            except (TypeError, ValueError):
                hashed = None
        config = node.inputs.get("config") if isinstance(node.inputs, Mapping) else None
        model = metadata.get("model") if isinstance(metadata.get("model"), str) else None
        if model is None and isinstance(config, Mapping) and isinstance(config.get("model"), str) \
                and "${{" not in config["model"]:
            model = config["model"]
        tokens = usage_of(record.outputs or {}, metadata)
        custom: dict[str, Any] = {}
        if record.reason:
            custom["reason"] = str(record.reason)[:500]
        if self.metrics is not None and record.id in self.metrics.as_written:
            custom["as_written"] = self.metrics.as_written[record.id]
        duration = record.duration or 0.0
        return PerformanceMetric(
            workflow_id=run.run_id,
            workflow=run.plan.name,
            run_id=run.run_id,
            task_id=record.id,
            executor=str(node.executor),
            execution_time_ms=max(0, int(round(duration * 1000))),
            token_count=tokens["total_tokens"] if record.state == "cached" else None,
            prompt_tokens=tokens["prompt_tokens"] if record.state == "cached" else None,
            completion_tokens=tokens["completion_tokens"] if record.state == "cached" else None,
            cost_usd=0.0 if record.state == "cached" else None,
            quality_score=quality_of(record.outputs or {}, metadata) if record.state == "cached" else None,
            custom=custom,
            model=model,
            input_hash=hashed,
            max_tokens=whole(metadata.get("max_tokens"), 1),
            temperature=number(metadata.get("temperature")) if record.state == "cached" else None,
            status=_FINISHED_STATUS.get(record.state, "failed"),
            started_at=_utc(record.started),
            finished_at=_utc(record.finished),
            depends_on=depends,
            data_dependencies=data,
        )

    async def after_workflow(self, run: WorkflowRun, result: RunResult) -> None:
        for key in list(self._started):  # a task run that never reached after_task/task_failed
            self._started.pop(key).sampler.stop()
        metrics = self.metrics
        if metrics is None:
            return
        try:
            await metrics.aclose()
        finally:
            stats = metrics.stats()
            run.optimizer_stats = stats
            result.optimizer_stats = stats
            if stats["spooled"] or stats["pending"]:
                where = f"spooled to {stats['spool_dir']}" if stats["spooled"] else "kept in memory"
                message = (f"auto-optimizer: {stats['spooled'] + stats['pending']} metric(s) could not be delivered "
                           f"and were {where}; they are re-sent by the next run that can reach the optimizer")
                logger.warning(message)
                result.warnings.append(message)


def _uses_optimizer(plan: ExecutionPlan) -> bool:
    return any(node.executor.namespace == NAMESPACE for node in plan.nodes.values())


def _metrics_hook_for(run: WorkflowRun) -> MetricsHook | None:
    settings = run.services.settings
    flag = annotation_flag(run.plan.annotations, ENABLED_ANNOTATION)
    collect = flag if flag is not None else SECTION in settings.integrations
    if not collect and not _uses_optimizer(run.plan):
        return None
    return MetricsHook(run, collect=bool(collect))


# Applying runs before every other hook (Governance must see the plan that will run); collecting
# runs after them (Test-Bench's scores are in the metadata by then).
HOOK_FACTORIES.insert(0, _apply_hook_for)
HOOK_FACTORIES.append(_metrics_hook_for)
