"""LLM-judge modes through a fake judge callable: verdicts, malformed output, failures."""

from __future__ import annotations

import pytest

from ecosystem.errors import ServiceUnavailable
from ecosystem.testbench import (
    EmbeddedTestBench,
    EvaluationRequest,
    JudgeOutputInvalid,
    JudgeSettings,
    JudgeUnavailable,
    TestBenchSettings,
    parse_verdict,
)
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


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("I think it is pretty good, maybe 8/10.", "not answer with a JSON verdict"),
        ('{"score": 8, "verdict": "pass"}', "outside 0..1"),
        ('{"score": "high"}', "non-numeric score"),
        ('{"reasoning": "no score here"}', "neither a score nor pass/fail"),
    ],
)
async def test_malformed_judge_output_is_a_clear_error(raw: str, message: str) -> None:
    bench = judged(FakeJudge(raw))
    with pytest.raises(JudgeOutputInvalid, match=message):
        await bench.evaluate(EvaluationRequest(
            task_id="t", response="x", metrics=["llm_rubric"], options={"llm_rubric": {"rubric": RUBRIC}}))


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
