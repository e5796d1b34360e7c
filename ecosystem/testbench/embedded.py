"""The embedded Test-Bench: validates a request once, runs its metrics, applies one scoring rule.

Every problem in a request (unknown metric names, a missing ground truth or prompt, a regex
without a pattern, a threshold for a metric that is not evaluated) is collected and raised once,
before any metric runs.  Then metrics run concurrently and the engine -- not the metrics --
applies thresholds (request > custom evaluator > settings > registry default), weights
(default 1) and the pass rule:

* without a task-level ``threshold``: passed = every metric with a non-zero weight passed;
* with one (promptfoo's rule): passed = weighted overall score >= threshold.

A weight of 0 makes a metric informational: reported, but neither in the score nor the verdict.
A metric whose judge answered twice with something that is not a verdict is *errored*: it is
reported (with the raw reply), left out of the overall score, and the other metrics stand; a
request with an errored counted metric does not pass, since part of it could not be checked.
Evaluations that carry an ``execution_id`` are remembered (bounded, in memory) so
``generate_report`` can summarise a run as the seed's workflow-completion hook does.  A request
outside the models' bounds raises ``InvalidRequest`` first, as the server's 422 does.
"""

from __future__ import annotations

import asyncio
import difflib
import statistics
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ecosystem.models import revalidated
from ecosystem.testbench.embeddings import LEXICAL_METHOD, SimilarityEngine
from ecosystem.testbench.errors import JudgeOutputInvalid, JudgeUnavailable, MetricInputError, UnknownMetric
from ecosystem.testbench.judge import Judge, truncate_reply
from ecosystem.testbench.metrics import METRICS, MetricContext, MetricSpec, Resources
from ecosystem.testbench.models import (
    EvaluationDetails,
    EvaluationRequest,
    EvaluationResponse,
    GenerateReportRequest,
    MetricResult,
    MetricSummary,
    TaskResult,
    TestBenchSettings,
    TestReport,
)

_MAX_EXECUTIONS = 256
_MAX_PER_EXECUTION = 10_000


@dataclass(frozen=True)
class _Planned:
    key: str
    spec: MetricSpec
    options: dict[str, Any]
    threshold: float
    weight: float


class EmbeddedTestBench:
    """Test-Bench in process.  ``judge`` enables LLM-judge modes; ``transport`` reaches embeddings."""

    def __init__(
        self,
        settings: TestBenchSettings | None = None,
        judge: Judge | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or TestBenchSettings()
        self.similarity = SimilarityEngine(self.settings, transport)
        self.resources = Resources(self.settings, self.similarity, judge)
        self._runs: OrderedDict[str, list[EvaluationResponse]] = OrderedDict()

    # -- planning -------------------------------------------------------------------------

    def plan(self, request: EvaluationRequest) -> list[_Planned]:
        """Resolve metrics, options, thresholds and weights; raise once with every problem."""
        entries: list[tuple[str, str, dict[str, Any], float | None, float | None]] = [
            (name, name, {}, None, None) for name in request.metrics
        ]
        entries += [(c.name, c.metric, dict(c.options), c.threshold, c.weight) for c in request.custom_evaluators]
        unknown = [metric for _, metric, *_ in entries if metric not in METRICS]
        if unknown:
            raise UnknownMetric.for_names(dict.fromkeys(unknown), METRICS)

        problems: list[str] = []
        keys = [key for key, *_ in entries]
        if not keys:
            problems.append("no metrics to evaluate")
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            problems.append(f"metric names evaluated twice: {', '.join(duplicates)}")
        for field_name, mapping in (("thresholds", request.thresholds), ("weights", request.weights)):
            for key, value in mapping.items():
                if key not in keys:
                    close = difflib.get_close_matches(key, keys, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    problems.append(f"{field_name} names '{key}', which is not evaluated{hint}")
                elif field_name == "thresholds" and not 0.0 <= value <= 1.0:
                    problems.append(f"threshold for '{key}' must be between 0 and 1, not {value}")
                elif field_name == "weights" and value < 0:
                    problems.append(f"weight for '{key}' must not be negative")
        shared = {k: v for k, v in request.options.items() if k not in METRICS and k not in keys}

        planned: list[_Planned] = []
        needs_judge: list[str] = []
        for key, metric, custom_options, custom_threshold, custom_weight in entries:
            spec = METRICS[metric]
            own = request.options.get(key, {})
            if not isinstance(own, dict):
                problems.append(f"options.{key} must be an object of that metric's options")
                own = {}
            options = {**shared, **own, **custom_options}
            if spec.needs_ground_truth and request.ground_truth is None and "expected" not in options:
                problems.append(f"{key}: needs a ground_truth")
            if spec.needs_prompt and not request.prompt:
                problems.append(f"{key}: needs the prompt")
            if spec.check_options is not None:
                problems.extend(spec.check_options(key, options))
            if spec.judge == "required" and self.resources.judge is None:
                needs_judge.append(key)
            threshold = request.thresholds.get(key, custom_threshold)
            if threshold is None:
                threshold = self.settings.thresholds.get(metric, spec.default_threshold)
            weight = request.weights.get(key, custom_weight)
            planned.append(_Planned(key, spec, options, float(threshold), 1.0 if weight is None else float(weight)))
        if planned and not problems and sum(p.weight for p in planned) <= 0:
            problems.append("at least one metric needs a weight above 0")
        if problems:
            raise MetricInputError(f"cannot evaluate task '{request.task_id}': " + "; ".join(problems))
        if needs_judge:
            raise JudgeUnavailable(f"{', '.join(needs_judge)} need(s) an LLM judge and none is configured")
        return planned

    # -- evaluation -----------------------------------------------------------------------

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResponse:
        started = time.perf_counter()
        request = revalidated(request)
        planned = self.plan(request)

        async def run(item: _Planned) -> MetricResult:
            ctx = MetricContext(
                name=item.key, metric=item.spec.name, response=request.response,
                # options.expected replaces the ground truth for one metric (e.g. a custom evaluator).
                ground_truth=item.options.get("expected", request.ground_truth),
                prompt=request.prompt, options=item.options, resources=self.resources, threshold=item.threshold,
            )
            try:
                outcome = (await item.spec.compute(ctx)).clipped()
            except JudgeOutputInvalid as exc:
                return MetricResult(
                    name=item.key, score=0.0, passed=False, threshold=item.threshold, weight=item.weight,
                    explanation=exc.message, method=f"llm-judge:{self.resources.judge_model}", errored=True,
                    raw_reply=truncate_reply(exc.raw) if exc.raw is not None else None,
                )
            return MetricResult(
                name=item.key, score=round(outcome.score, 6), passed=outcome.score >= item.threshold - 1e-9,
                threshold=item.threshold, weight=item.weight, explanation=outcome.explanation, method=outcome.method,
            )

        results = await asyncio.gather(*(run(item) for item in planned))
        counted = [r for r in results if r.weight > 0]
        scored = [r for r in counted if not r.errored]
        total_weight = sum(r.weight for r in scored)
        overall = sum(r.score * r.weight for r in scored) / total_weight if total_weight > 0 else 0.0
        errored = [r.name for r in results if r.errored]
        rule: Literal["all_metrics", "overall_threshold"]
        if request.threshold is not None:
            passed, rule = overall >= request.threshold - 1e-9, "overall_threshold"
        else:
            passed, rule = all(r.passed for r in counted), "all_metrics"
        passed = passed and len(scored) == len(counted)

        notes = []
        lexical = [r.name for r in results if r.method.startswith("lexical:")]
        if lexical and any(
            METRICS[p.spec.name].name in ("semantic_similarity", "relevance") for p in planned if p.key in lexical
        ):
            notes.append(
                f"{', '.join(lexical)} used a lexical proxy ({LEXICAL_METHOD} or term coverage): install "
                "'llm-orchestrator[semantic]' or configure an embeddings endpoint for sentence embeddings"
            )
        response = EvaluationResponse(
            overall_score=round(min(1.0, max(0.0, overall)), 6),
            passed=passed,
            metrics={r.name: r for r in results},
            details=EvaluationDetails(
                task_id=request.task_id, execution_id=request.execution_id,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                methods={r.name: r.method for r in results}, pass_rule=rule, threshold=request.threshold,
                notes=notes, errored=errored,
            ),
        )
        if request.execution_id is not None:
            self._remember(request.execution_id, response)
        return response

    async def similarity_batch(
        self, pairs: Sequence[tuple[str, str]], backend: str | None = None
    ) -> tuple[list[float], str]:
        """Similarity of many (a, b) pairs in one embedding call; returns (scores, method)."""
        return await self.similarity.similarity_batch(pairs, backend)

    def _remember(self, execution_id: str, response: EvaluationResponse) -> None:
        run = self._runs.setdefault(execution_id, [])
        self._runs.move_to_end(execution_id)
        if len(run) < _MAX_PER_EXECUTION:
            run.append(response)
        while len(self._runs) > _MAX_EXECUTIONS:
            self._runs.popitem(last=False)

    # -- reports ---------------------------------------------------------------------------

    async def generate_report(self, request: GenerateReportRequest) -> TestReport:
        request = revalidated(request)
        evaluations = (
            list(request.evaluations) if request.evaluations is not None
            else list(self._runs.get(request.execution_id, []))
        )
        return build_report(request, evaluations)

    async def aclose(self) -> None:
        await self.similarity.aclose()

    async def __aenter__(self) -> EmbeddedTestBench:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def build_report(request: GenerateReportRequest, evaluations: list[EvaluationResponse]) -> TestReport:
    """Pass/fail counts, mean scores per metric and per run, optional per-task rows and Markdown."""
    by_metric: dict[str, list[MetricResult]] = {}
    for evaluation in evaluations:
        for name, result in evaluation.metrics.items():
            by_metric.setdefault(name, []).append(result)
    summaries = {}
    for name, results in sorted(by_metric.items()):
        scores = [r.score for r in results if not r.errored] or [0.0]
        summaries[name] = MetricSummary(
            count=len(results), passed=sum(r.passed for r in results), failed=sum(not r.passed for r in results),
            mean_score=round(statistics.fmean(scores), 6), min_score=min(scores), max_score=max(scores),
            errored=sum(r.errored for r in results),
        )
    tasks = [
        TaskResult(
            task_id=e.details.task_id, overall_score=e.overall_score, passed=e.passed,
            scores={n: r.score for n, r in e.metrics.items()},
            failed_metrics=[n for n, r in e.metrics.items() if not r.passed],
        )
        for e in evaluations
    ] if request.include_task_details else []
    passed = sum(e.passed for e in evaluations)
    report = TestReport(
        execution_id=request.execution_id, total=len(evaluations), passed=passed, failed=len(evaluations) - passed,
        pass_rate=round(passed / len(evaluations), 6) if evaluations else None,
        mean_overall_score=round(statistics.fmean(e.overall_score for e in evaluations), 6) if evaluations else None,
        metrics=summaries, tasks=tasks,
    )
    if request.format == "markdown":
        report = report.model_copy(update={"markdown": render_markdown(report)})
    return report


def render_markdown(report: TestReport) -> str:
    lines = [f"# Test report for `{report.execution_id}`", ""]
    if not report.total:
        return "\n".join([*lines, "No evaluations recorded."])
    lines += [
        f"**{report.passed}/{report.total} passed** ({(report.pass_rate or 0):.0%}); "
        f"mean overall score {report.mean_overall_score:.3f}", "",
        "| metric | count | passed | failed | mean | min | max |", "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {s.count} | {s.passed} | {s.failed} | {s.mean_score:.3f} | {s.min_score:.3f} | {s.max_score:.3f} |"
        for name, s in report.metrics.items()
    ]
    if report.tasks:
        lines += ["", "| task | score | passed | failed metrics |", "|---|---|---|---|"]
        lines += [
            f"| {t.task_id} | {t.overall_score:.3f} | {'yes' if t.passed else 'no'} | {', '.join(t.failed_metrics) or '-'} |"
            for t in report.tasks
        ]
    return "\n".join(lines)
