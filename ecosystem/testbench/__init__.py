"""Test-Bench: evaluation metrics and quality gates for LLM outputs (the seed's LLM-Test-Bench).

Public API for the engine::

    bench = build_testbench(settings, judge=forge_judge)   # embedded, or HTTP if settings.endpoint
    result = await bench.evaluate(EvaluationRequest(task_id=..., response=..., ground_truth=...,
                                                    metrics=["semantic_similarity", "toxicity"]))
    report = await bench.generate_report(GenerateReportRequest(execution_id=...))
    known_metrics()   # names the compiler validates `metrics:` against; METRICS has the specs

Evaluation suites (``kind: EvalSuite``) summarise many runs with the pure functions of
``ecosystem.testbench.stats`` (Wilson intervals, flaky cases, the cost/quality frontier).

Every ``MetricResult.method`` says how its score was computed, so a lexical fallback is never
mistaken for a semantic or judged score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ecosystem._lazy import lazy_exports

if TYPE_CHECKING:
    from ecosystem.testbench.client import (
        HttpTestBenchClient,
    )
    from ecosystem.testbench.embedded import (
        EmbeddedTestBench,
    )
    from ecosystem.testbench.embeddings import (
        SimilarityEngine,
        local_model_available,
    )
    from ecosystem.testbench.errors import (
        EmbeddingUnavailable,
        JudgeOutputInvalid,
        JudgeUnavailable,
        MetricInputError,
        StatisticsInputError,
        TestBenchError,
        UnknownMetric,
    )
    from ecosystem.testbench.judge import (
        VERDICT_SCHEMA,
        JsonModeJudge,
        Judge,
        Verdict,
        parse_verdict,
        supports_json_mode,
    )
    from ecosystem.testbench.metrics import (
        METRICS,
        MetricSpec,
        known_metrics,
    )
    from ecosystem.testbench.models import (
        DEFAULT_THRESHOLDS,
        CustomEvaluator,
        EmbeddingSettings,
        EvaluationDetails,
        EvaluationRequest,
        EvaluationResponse,
        GenerateReportRequest,
        JudgeSettings,
        MetricResult,
        MetricSummary,
        TaskResult,
        TestBenchSettings,
        TestReport,
    )
    from ecosystem.testbench.protocol import (
        TestBench,
    )
    from ecosystem.testbench.server import (
        create_testbench_app,
    )

_EXPORTS: dict[str, tuple[str, ...]] = {
    "client": ("HttpTestBenchClient",),
    "embedded": ("EmbeddedTestBench",),
    "embeddings": ("SimilarityEngine", "local_model_available",),
    "errors": ("EmbeddingUnavailable", "JudgeOutputInvalid", "JudgeUnavailable", "MetricInputError", "StatisticsInputError", "TestBenchError", "UnknownMetric",),
    "judge": ("VERDICT_SCHEMA", "JsonModeJudge", "Judge", "Verdict", "parse_verdict", "supports_json_mode",),
    "metrics": ("METRICS", "MetricSpec", "known_metrics",),
    "models": ("DEFAULT_THRESHOLDS", "CustomEvaluator", "EmbeddingSettings", "EvaluationDetails", "EvaluationRequest", "EvaluationResponse", "GenerateReportRequest", "JudgeSettings", "MetricResult", "MetricSummary", "TaskResult", "TestBenchSettings", "TestReport",),
    "protocol": ("TestBench",),
    "server": ("create_testbench_app",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def build_testbench(
    settings: TestBenchSettings | None = None,
    judge: Judge | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TestBench:
    """The HTTP client when ``settings.endpoint`` is set, else the embedded Test-Bench.

    A judge only matters embedded: a remote service judges with its own configuration.
    """
    from ecosystem.testbench.client import HttpTestBenchClient
    from ecosystem.testbench.embedded import EmbeddedTestBench
    from ecosystem.testbench.models import TestBenchSettings

    settings = settings or TestBenchSettings()
    if settings.endpoint:
        token = settings.token.get_secret_value() if settings.token is not None else None
        return HttpTestBenchClient(settings.endpoint, token=token, timeout=settings.timeout, transport=transport)
    return EmbeddedTestBench(settings, judge=judge, transport=transport)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "METRICS",
    "VERDICT_SCHEMA",
    "CustomEvaluator",
    "EmbeddedTestBench",
    "EmbeddingSettings",
    "EmbeddingUnavailable",
    "EvaluationDetails",
    "EvaluationRequest",
    "EvaluationResponse",
    "GenerateReportRequest",
    "HttpTestBenchClient",
    "JsonModeJudge",
    "Judge",
    "JudgeOutputInvalid",
    "JudgeSettings",
    "JudgeUnavailable",
    "MetricInputError",
    "MetricResult",
    "MetricSpec",
    "MetricSummary",
    "SimilarityEngine",
    "StatisticsInputError",
    "TaskResult",
    "TestBench",
    "TestBenchError",
    "TestBenchSettings",
    "TestReport",
    "UnknownMetric",
    "Verdict",
    "build_testbench",
    "create_testbench_app",
    "known_metrics",
    "local_model_available",
    "parse_verdict",
    "supports_json_mode",
]
