"""``llm-test-bench:*`` executors: evaluation through Test-Bench (the seed's ``EvaluationExecutor``).

``llm-test-bench:multi-metric`` evaluates ``response`` with ``metrics`` (default ``[accuracy]``,
as in the seed); ``llm-test-bench:<metric>`` (``semantic-similarity``, ``rouge-l``...) evaluates
one metric, named by the executor with dashes for underscores.  Both call
``services.get("testbench").evaluate`` with the run id as ``execution_id`` and output the seed's
``score`` (weighted overall score), ``passed``, ``metrics`` (metric name -> ``MetricResult`` as a
dict: ``name, score, passed, threshold, weight, explanation, method``) and ``details``.

Thresholds: the config's ``integrations.llm-test-bench.thresholds`` are the defaults for the
metrics evaluated; a task's ``thresholds`` (multi-metric) or ``threshold`` (single metric)
override them.  A multi-metric task's ``threshold`` is the task-level threshold on the weighted
overall score (when set, it alone decides ``passed``).

An evaluation that does not pass does **not** fail the task: ``passed`` is data, and a quality
gate (``orchestrator:assert``) or an ``if`` decides what a failed evaluation means.  A request
Test-Bench cannot evaluate (unknown metric, a metric that needs a ground truth that was not
given...) does fail the task, with every problem named.  When the task gives no ``prompt``, the
Test-Bench hook (``flows.integrations.testbench``) fills it in from the ``llm`` task whose
response is evaluated, so ``relevance`` works on the seed's example as written.
"""

from __future__ import annotations

from collections.abc import Mapping

from tasks.base import ExecutorContext, TaskOutput
from tasks.state import JSON, TaskMetadata


def _configured_thresholds(ctx: ExecutorContext, keys: list[str]) -> dict[str, float]:
    """The config's per-metric thresholds for the metrics this request evaluates."""
    configured = ctx.services.systems.testbench.thresholds
    return {key: float(value) for key, value in configured.items() if key in keys}


def _prompt(value: JSON) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


async def _evaluate(ctx: ExecutorContext, **fields: JSON) -> TaskOutput:
    from ecosystem.testbench import EvaluationRequest

    bench = ctx.services.testbench
    request = EvaluationRequest(task_id=ctx.label, execution_id=ctx.run_id, **fields)
    result = await bench.evaluate(request)
    failed = [name for name, metric in result.metrics.items() if not metric.passed]
    ctx.logger.info(
        "evaluation: score %.3f, %s%s", result.overall_score, "passed" if result.passed else "not passed",
        f" (failed metrics: {', '.join(failed)})" if failed else "",
    )
    return TaskOutput(
        {
            "score": result.overall_score,
            "passed": result.passed,
            "metrics": {name: metric.model_dump(mode="json") for name, metric in result.metrics.items()},
            "details": result.details.model_dump(mode="json"),
        },
        TaskMetadata(methods=dict(result.details.methods)),
    )


async def run_multi_metric(inputs: dict[str, JSON], ctx: ExecutorContext) -> TaskOutput:
    metrics = inputs.get("metrics")
    if metrics is None:
        metrics = ["accuracy"]  # the seed's default
    elif isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    overrides = inputs.get("thresholds") or {}
    thresholds = {**_configured_thresholds(ctx, [str(m) for m in metrics]), **dict(overrides)}
    return await _evaluate(
        ctx,
        response=inputs.get("response"),
        ground_truth=inputs.get("ground_truth"),
        prompt=_prompt(inputs.get("prompt")),
        metrics=metrics,
        thresholds=thresholds,
        weights=dict(inputs.get("weights") or {}),
        threshold=inputs.get("threshold"),
        options=dict(inputs.get("options") or {}),
    )


def metric_of(ctx: ExecutorContext) -> str:
    """``llm-test-bench:semantic-similarity`` -> ``semantic_similarity``."""
    return ctx.node.executor.name.replace("-", "_")


async def run_single_metric(inputs: dict[str, JSON], ctx: ExecutorContext) -> TaskOutput:
    metric = metric_of(ctx)
    thresholds = _configured_thresholds(ctx, [metric])
    if inputs.get("threshold") is not None:
        thresholds[metric] = float(inputs["threshold"])
    options = inputs.get("options")
    return await _evaluate(
        ctx,
        response=inputs.get("response"),
        ground_truth=inputs.get("ground_truth"),
        prompt=_prompt(inputs.get("prompt")),
        metrics=[metric],
        thresholds=thresholds,
        options={metric: dict(options)} if isinstance(options, Mapping) and options else {},
    )
