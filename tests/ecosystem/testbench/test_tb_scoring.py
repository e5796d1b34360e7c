"""Overall score, weights, thresholds, the task-level threshold rule, validation and reports."""

from __future__ import annotations

import pytest

from ecosystem.testbench import (
    DEFAULT_THRESHOLDS,
    CustomEvaluator,
    EmbeddedTestBench,
    EvaluationRequest,
    GenerateReportRequest,
    MetricInputError,
    TestBenchSettings,
    UnknownMetric,
    known_metrics,
)

# Scores with a lexical bench: accuracy 0 (differs), contains 1 (has "paris"), json_valid 0.
RESPONSE, TRUTH = "It is Paris.", "paris"
METRICS = ["accuracy", "contains", "json_valid"]


def request(**kw: object) -> EvaluationRequest:
    values: dict[str, object] = {"task_id": "t", "response": RESPONSE, "ground_truth": TRUTH, "metrics": METRICS}
    values.update(kw)
    return EvaluationRequest(**values)  # type: ignore[arg-type]


def test_known_metrics_lists_the_registry() -> None:
    names = known_metrics()
    assert set(names) == set(DEFAULT_THRESHOLDS)
    assert {"semantic_similarity", "factual_consistency", "toxicity", "coherence", "relevance", "accuracy",
            "llm_rubric", "json_schema"} <= set(names)


async def test_overall_is_the_equal_weight_mean_and_all_must_pass(lexical_bench: EmbeddedTestBench) -> None:
    result = await lexical_bench.evaluate(request())
    assert [result.metrics[m].score for m in METRICS] == [0.0, 1.0, 0.0]
    assert result.overall_score == pytest.approx(1 / 3)
    assert not result.passed and result.details.pass_rule == "all_metrics"


async def test_weights_change_the_overall_score(lexical_bench: EmbeddedTestBench) -> None:
    result = await lexical_bench.evaluate(request(weights={"contains": 3.0}))
    assert result.overall_score == pytest.approx(3 / 5)
    assert result.metrics["contains"].weight == 3.0


async def test_zero_weight_metric_is_informational(lexical_bench: EmbeddedTestBench) -> None:
    result = await lexical_bench.evaluate(request(weights={"accuracy": 0, "json_valid": 0}))
    assert result.overall_score == 1.0 and result.passed
    assert not result.metrics["accuracy"].passed  # still reported


async def test_request_thresholds_override_defaults_and_settings(lexical_bench: EmbeddedTestBench) -> None:
    base = EvaluationRequest(task_id="t", response="kitten", ground_truth="sitting", metrics=["levenshtein"])
    assert not (await lexical_bench.evaluate(base)).passed  # 0.57 < default 0.8
    relaxed = await lexical_bench.evaluate(base.model_copy(update={"thresholds": {"levenshtein": 0.5}}))
    assert relaxed.passed and relaxed.metrics["levenshtein"].threshold == 0.5
    lenient = EmbeddedTestBench(TestBenchSettings(thresholds={"levenshtein": 0.4}))
    result = await lenient.evaluate(base)
    assert result.passed and result.metrics["levenshtein"].threshold == 0.4


async def test_task_level_threshold_decides_by_weighted_score(lexical_bench: EmbeddedTestBench) -> None:
    # promptfoo's rule: with a threshold, the weighted score decides even if a metric failed.
    passing = await lexical_bench.evaluate(request(weights={"contains": 3.0}, threshold=0.6))
    assert passing.passed and passing.details.pass_rule == "overall_threshold"
    assert not passing.metrics["accuracy"].passed
    failing = await lexical_bench.evaluate(request(weights={"contains": 3.0}, threshold=0.61))
    assert not failing.passed


async def test_unknown_metric_lists_known_ones_with_a_hint(lexical_bench: EmbeddedTestBench) -> None:
    with pytest.raises(UnknownMetric) as info:
        await lexical_bench.evaluate(request(metrics=["semantic_similarty", "accuracy", "bleu"]))
    message = str(info.value)
    assert "'semantic_similarty' (did you mean 'semantic_similarity'?)" in message
    assert "'bleu'" in message and "known metrics: accuracy," in message


async def test_every_input_problem_is_reported_at_once(lexical_bench: EmbeddedTestBench) -> None:
    with pytest.raises(MetricInputError) as info:
        await lexical_bench.evaluate(EvaluationRequest(
            task_id="summarize", response="x", metrics=["semantic_similarity", "relevance", "regex", "json_schema"],
            thresholds={"relevanse": 0.3}, weights={"regex": -1},
        ))
    message = str(info.value)
    for expected in ("task 'summarize'", "semantic_similarity: needs a ground_truth", "relevance: needs the prompt",
                     "regex: options.pattern", "json_schema: options.schema",
                     "thresholds names 'relevanse', which is not evaluated (did you mean 'relevance'?)",
                     "weight for 'regex' must not be negative"):
        assert expected in message


async def test_custom_evaluators_are_named_metric_instances(lexical_bench: EmbeddedTestBench) -> None:
    result = await lexical_bench.evaluate(EvaluationRequest(
        task_id="t", response="See [1] and [2].", metrics=[],
        custom_evaluators=[
            CustomEvaluator(name="has_citation", metric="regex", options={"pattern": r"\[\d+\]"}, weight=2),
            CustomEvaluator(name="says_refs", metric="contains", options={"value": "References"}, threshold=1.0),
        ],
    ))
    assert result.metrics["has_citation"].score == 1.0 and result.metrics["has_citation"].method == "regex:search"
    assert result.metrics["says_refs"].score == 0.0
    assert result.overall_score == pytest.approx(2 / 3)


async def test_report_summarises_a_run(lexical_bench: EmbeddedTestBench) -> None:
    for task, response in (("a", "paris"), ("b", "Lyon"), ("c", "Paris!")):
        await lexical_bench.evaluate(EvaluationRequest(
            task_id=task, response=response, ground_truth="Paris", metrics=["accuracy", "levenshtein"],
            execution_id="run-1"))
    await lexical_bench.evaluate(EvaluationRequest(task_id="z", response="x", ground_truth="x", execution_id="other"))
    report = await lexical_bench.generate_report(GenerateReportRequest(execution_id="run-1", format="markdown"))
    assert (report.total, report.passed, report.failed) == (3, 2, 1)
    assert report.pass_rate == pytest.approx(2 / 3)
    assert report.metrics["accuracy"].mean_score == pytest.approx(2 / 3)
    assert report.metrics["accuracy"].failed == 1
    assert [t.task_id for t in report.tasks] == ["a", "b", "c"]
    assert report.tasks[1].failed_metrics == ["accuracy", "levenshtein"]
    assert report.markdown is not None and "| b |" in report.markdown and "2/3 passed" in report.markdown
    empty = await lexical_bench.generate_report(GenerateReportRequest(execution_id="nothing", include_task_details=False))
    assert empty.total == 0 and empty.pass_rate is None and empty.tasks == []


async def test_report_from_explicit_evaluations(lexical_bench: EmbeddedTestBench) -> None:
    one = await lexical_bench.evaluate(request())
    report = await lexical_bench.generate_report(
        GenerateReportRequest(execution_id="x", evaluations=[one, one], include_task_details=False))
    assert report.total == 2 and report.failed == 2 and report.tasks == []
