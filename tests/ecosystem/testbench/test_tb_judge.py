"""LLM-judge modes through a fake judge callable: verdicts, malformed output and its retry,
contradictory replies, both reply styles, the JSON-mode hint, failures."""

from __future__ import annotations

import pytest

from ecosystem.errors import ServiceUnavailable
from ecosystem.testbench import (
    EmbeddedTestBench,
    EvaluationRequest,
    GenerateReportRequest,
    JudgeOutputInvalid,
    JudgeSettings,
    JudgeUnavailable,
    TestBenchSettings,
    parse_verdict,
)
from ecosystem.testbench.judge import VERDICT_SCHEMA, reconcile, supports_json_mode
from tests.ecosystem.testbench.fakes import FakeJudge

RUBRIC = "The answer must mention the year and be polite."


def judged(judge: FakeJudge, **settings: object) -> EmbeddedTestBench:
    return EmbeddedTestBench(
        TestBenchSettings(similarity_backend="lexical", judge=JudgeSettings(model="claude-judge"), **settings),  # type: ignore[arg-type]
        judge=judge,
    )


async def test_llm_rubric_uses_verdict_and_reasoning() -> None:
    judge = FakeJudge({"score": 0.9, "verdict": "pass", "reasoning": "Mentions 1889 politely."})
    bench = judged(judge)
    result = await bench.evaluate(EvaluationRequest(
        task_id="t", response="It opened in 1889.", prompt="When did it open?", metrics=["llm_rubric"],
        options={"llm_rubric": {"rubric": RUBRIC}},
    ))
    metric = result.metrics["llm_rubric"]
    assert metric.score == 0.9 and metric.passed
    assert metric.method == "llm-judge:claude-judge"
    assert metric.explanation == "pass: Mentions 1889 politely."
    assert RUBRIC in judge.prompts[0] and "It opened in 1889." in judge.prompts[0]


async def test_judge_low_score_fails_the_metric() -> None:
    bench = judged(FakeJudge('{"score": 0.2, "verdict": "fail", "reasoning": "Rude."}'))
    result = await bench.evaluate(EvaluationRequest(
        task_id="t", response="whatever", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))
    assert not result.passed and result.metrics["llm_rubric"].score == 0.2


@pytest.mark.parametrize("metric", ["factual_consistency", "coherence", "relevance"])
async def test_metrics_listed_in_use_for_go_to_the_judge(metric: str) -> None:
    judge = FakeJudge({"score": 0.4, "verdict": "fail", "reasoning": "r"})
    bench = judged(judge)
    result = await bench.evaluate(EvaluationRequest(
        task_id="t", response="A", ground_truth="B", prompt="Q?", metrics=[metric]))
    assert result.metrics[metric].method == "llm-judge:claude-judge"
    assert result.metrics[metric].score == 0.4
    local = await bench.evaluate(EvaluationRequest(
        task_id="t", response="A", ground_truth="B", prompt="Q?", metrics=[metric], options={metric: {"mode": "local"}}))
    assert not local.metrics[metric].method.startswith("llm-judge")
    assert len(judge.prompts) == 1


async def test_judge_is_opt_in_by_mode_when_not_in_use_for() -> None:
    judge = FakeJudge({"score": 0.0, "verdict": "fail", "reasoning": "threat"})
    bench = EmbeddedTestBench(TestBenchSettings(), judge=judge)
    request = EvaluationRequest(task_id="t", response="Nice day.", metrics=["toxicity"])
    assert (await bench.evaluate(request)).metrics["toxicity"].method == "lexicon:better-profanity"
    judged_request = request.model_copy(update={"options": {"toxicity": {"mode": "judge"}}})
    assert (await bench.evaluate(judged_request)).metrics["toxicity"].method == "llm-judge:fake-judge-1"


async def test_no_judge_is_a_clear_error() -> None:
    bench = EmbeddedTestBench(TestBenchSettings())
    with pytest.raises(JudgeUnavailable, match="llm_rubric need"):
        await bench.evaluate(EvaluationRequest(task_id="t", response="x", metrics=["llm_rubric"],
                                               options={"llm_rubric": {"rubric": RUBRIC}}))
    with pytest.raises(JudgeUnavailable, match="mode 'judge'"):
        await bench.evaluate(EvaluationRequest(task_id="t", response="x", metrics=["coherence"],
                                               options={"coherence": {"mode": "judge"}}))


@pytest.mark.parametrize(
    ("raw", "score"),
    [
        ('{"score": 0.75, "verdict": "pass", "reasoning": "ok"}', 0.75),
        ('Sure! ```json\n{"score": 1, "verdict": "pass", "reasoning": "ok"}\n``` hope this helps', 1.0),
        ('Verdict follows: {"verdict": "fail", "reasoning": "wrong year"}', 0.0),
        ('{"score": 0.6, "reasoning": "meh"}', 0.6),
    ],
)
def test_parse_verdict_tolerates_wrapping(raw: str, score: float) -> None:
    assert parse_verdict(raw).score == score


MALFORMED = [
    ("I think it is pretty good, maybe 8/10.", "not answer with a JSON verdict"),
    ('{"score": 0.8, "verdict": "pa', "not answer with a JSON verdict"),  # truncated
    ("", "empty reply"),
    ("   \n", "empty reply"),
    ('{"score": "0.9", "verdict": "pass"}', "non-numeric score"),
    ('{"score": 8, "verdict": "pass"}', "outside 0..1"),
    ('{"score": -0.1}', "outside 0..1"),
    ('{"score": NaN, "verdict": "fail"}', "not valid JSON"),
    ('{"reasoning": "no score here"}', "neither a score nor pass/fail"),
    ('{"verdict": "pass", "pass": false, "score": 0.9}', "says 'pass' but 'pass' is false"),
    ('{"pass": "yes", "score": 0.9}', "non-boolean 'pass'"),
]


@pytest.mark.parametrize(("raw", "problem"), MALFORMED)
def test_parse_verdict_names_the_problem(raw: str, problem: str) -> None:
    with pytest.raises(JudgeOutputInvalid, match=problem) as info:
        parse_verdict(raw)
    assert info.value.raw == raw


@pytest.mark.parametrize(("raw", "problem"), MALFORMED)
async def test_a_malformed_reply_twice_errors_that_metric_only(raw: str, problem: str) -> None:
    judge = FakeJudge(raw)
    bench = judged(judge)
    result = await bench.evaluate(EvaluationRequest(
        task_id="t", response="Paris", ground_truth="paris", metrics=["exact_match", "llm_rubric"],
        options={"llm_rubric": {"rubric": RUBRIC}}))
    rubric = result.metrics["llm_rubric"]
    assert rubric.errored and not rubric.passed
    assert problem in (rubric.explanation or "") and "after one retry" in (rubric.explanation or "")
    assert rubric.raw_reply == raw
    assert len(judge.prompts) == 2, "one retry, no more"
    assert "Your previous answer could not be used" in judge.prompts[1] and problem in judge.prompts[1]
    exact = result.metrics["exact_match"]  # the other metric of the request stands
    assert exact.passed and exact.score == 1.0 and not exact.errored
    assert result.details.errored == ["llm_rubric"]
    assert result.overall_score == 1.0, "an errored metric is left out of the overall score"
    assert not result.passed, "a request with an unscored metric cannot pass"


async def test_the_retry_recovers_a_malformed_first_reply() -> None:
    judge = FakeJudge("Looks good to me!", '{"score": 0.9, "verdict": "pass", "reasoning": "fine"}')
    result = await judged(judge).evaluate(EvaluationRequest(
        task_id="t", response="x", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))
    metric = result.metrics["llm_rubric"]
    assert not metric.errored and metric.passed and metric.score == 0.9
    assert len(judge.prompts) == 2 and judge.prompts[1].startswith(judge.prompts[0])


async def test_an_errored_reply_is_recorded_truncated() -> None:
    long_reply = "I refuse to grade. " * 100
    result = await judged(FakeJudge(long_reply)).evaluate(EvaluationRequest(
        task_id="t", response="x", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))
    raw = result.metrics["llm_rubric"].raw_reply or ""
    assert raw.startswith("I refuse to grade.") and len(raw) < 600
    assert raw.endswith(f"[{len(long_reply) - 500} more characters]")
    assert result.overall_score == 0.0 and not result.passed


async def test_reports_count_errored_metrics_apart() -> None:
    bench = judged(FakeJudge("no idea"))
    request = EvaluationRequest(task_id="t", response="x", ground_truth="x", metrics=["exact_match", "llm_rubric"],
                                options={"llm_rubric": {"rubric": RUBRIC}}, execution_id="run-1")
    await bench.evaluate(request)
    report = await bench.generate_report(GenerateReportRequest(execution_id="run-1"))
    assert report.metrics["llm_rubric"].errored == 1 and report.metrics["exact_match"].errored == 0
    assert report.metrics["exact_match"].mean_score == 1.0


@pytest.mark.parametrize(
    ("reply", "threshold", "score", "passed", "note"),
    [
        # The verdict wins; the score is clamped to the verdict's side of the threshold.
        ({"score": 0.95, "verdict": "fail", "reasoning": "wrong year"}, 0.7, 0.69, False, "said fail but scored 0.95"),
        ({"score": 0.2, "verdict": "pass", "reasoning": "ok"}, 0.7, 0.7, True, "said pass but scored 0.2"),
        ({"pass": False, "score": 1.0, "reason": "r"}, 0.5, 0.49, False, "said fail but scored 1"),
        ({"score": 0.95, "verdict": "fail", "reasoning": "r"}, 0.0, 0.95, True, None),  # threshold 0: nothing fails
        # Consistent replies are left alone.
        ({"score": 0.3, "verdict": "fail", "reasoning": "r"}, 0.7, 0.3, False, None),
        ({"score": 0.75, "verdict": "pass", "reasoning": "r"}, 0.7, 0.75, True, None),
        # Only a score: the threshold decides; only a verdict: 1 or 0.
        ({"score": 0.6, "reasoning": "r"}, 0.7, 0.6, False, None),
        ({"verdict": "pass", "reasoning": "r"}, 0.7, 1.0, True, None),
    ],
)
async def test_contradictory_replies_follow_the_verdict(
    reply: dict[str, object], threshold: float, score: float, passed: bool, note: str | None
) -> None:
    judge = FakeJudge(reply)
    result = await judged(judge).evaluate(EvaluationRequest(
        task_id="t", response="x", metrics=["llm_rubric"], thresholds={"llm_rubric": threshold},
        options={"llm_rubric": {"rubric": RUBRIC}}))
    metric = result.metrics["llm_rubric"]
    assert (metric.score, metric.passed) == (score, passed)
    assert (note in (metric.explanation or "")) if note else "[" not in (metric.explanation or "")
    assert f"at least {threshold:g}" in judge.prompts[0], "the judge is told what pass means"


def test_reconcile_is_the_documented_rule() -> None:
    fail_high = parse_verdict('{"score": 0.9, "verdict": "fail", "reasoning": "r"}', 0.7)
    assert reconcile(fail_high, 0.7).score == pytest.approx(0.69)
    assert reconcile(fail_high, 0.005).score == 0.0
    pass_low = parse_verdict('{"score": 0.1, "verdict": "pass", "reasoning": "r"}', 0.7)
    assert reconcile(pass_low, 0.7).score == 0.7


async def test_promptfoo_style_reply_keeps_its_reason() -> None:
    judge = FakeJudge('```json\n{"reason": "Cites the 1889 opening.", "pass": true, "score": 0.8}\n```')
    result = await judged(judge).evaluate(EvaluationRequest(
        task_id="t", response="x", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))
    metric = result.metrics["llm_rubric"]
    assert metric.passed and metric.score == 0.8
    assert metric.explanation == "pass: Cites the 1889 opening."
    failing = parse_verdict('{"reason": "Off topic.", "pass": false}')
    assert (failing.score, failing.verdict, failing.reasoning) == (0.0, "fail", "Off topic.")


async def test_a_judge_that_takes_json_is_asked_for_json_mode() -> None:
    seen: list[bool] = []

    async def json_judge(prompt: str, *, json: bool = False) -> str:
        seen.append(json)
        return '{"score": 1, "verdict": "pass", "reasoning": "ok"}'

    async def plain_judge(prompt: str) -> str:
        return '{"score": 1, "verdict": "pass", "reasoning": "ok"}'

    assert supports_json_mode(json_judge) and not supports_json_mode(plain_judge)
    for judge in (json_judge, plain_judge):  # the old Judge type still works
        bench = EmbeddedTestBench(TestBenchSettings(judge=JudgeSettings(model="m")), judge=judge)
        result = await bench.evaluate(EvaluationRequest(
            task_id="t", response="x", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))
        assert result.passed
    assert seen == [True]
    assert VERDICT_SCHEMA["required"] == ["score", "verdict", "reasoning"]


async def test_judge_failures_are_translated_or_passed_through() -> None:
    crash = judged(FakeJudge(RuntimeError("connection reset")))
    request = EvaluationRequest(task_id="t", response="x", metrics=["llm_rubric"], options={"rubric": RUBRIC})
    with pytest.raises(JudgeUnavailable, match="RuntimeError: connection reset") as info:
        await crash.evaluate(request)
    assert info.value.is_retryable()
    limited = judged(FakeJudge(ServiceUnavailable("forge down", retry_after=3)))
    with pytest.raises(ServiceUnavailable) as passed_through:
        await limited.evaluate(request)
    assert passed_through.value.retry_after == 3
