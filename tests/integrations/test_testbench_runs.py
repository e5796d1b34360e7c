"""Test-Bench in real workflow runs (Prefect test harness, offline Forge with canned responses).

The offline provider answers "capital of France" prompts with a fixed sentence, so a ground truth
that says the same thing must score higher than an unrelated one: those orderings, the quality
gate, thresholds, weights, auto-evaluation switches and the run report are what a user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.workflow import LocalRun, local_run
from tasks.hooks import Hook
from tests.flows.helpers import run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "llm-with-evaluation.yaml")
CANNED = "The capital of France is Paris."
MATCHING = "Paris is the capital of France."
UNRELATED = "Photosynthesis converts sunlight into chemical energy inside plant leaves."
PROMPT = "What is the capital of France?"


def config(*, forge: dict[str, Any] | None = None, **testbench: Any) -> dict[str, Any]:
    return {
        "offline": True,
        "integrations": {
            "llm-forge": {"offline": True, "offline_responses": {"capital of France": CANNED, **(forge or {})}},
            "llm-test-bench": testbench,
        },
    }


class Capture(Hook):
    """An extra hook that keeps every finished run, so tests can read ``run.test_report``."""

    def __init__(self) -> None:
        self.runs: list[tuple[Any, Any]] = []

    async def after_workflow(self, run: Any, result: Any) -> None:
        self.runs.append((run, result))

    @property
    def report(self) -> Any:
        run_, result = self.runs[-1]
        assert run_.test_report is result.test_report
        return result.test_report


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    with local_run(LocalRun(hooks=[capture])):
        yield capture


def llm_workflow(*, annotation: str | None = None, inputs: str = "", extra_tasks: str = "", outputs: str = "") -> dict[str, Any]:
    doc = workflow(f"""
    - id: answer
      type: llm
      executor: llm-forge:claude-api
      inputs:
        prompt: "{PROMPT}"
{extra_tasks}
""", inputs=inputs, extra=outputs)
    if annotation is not None:
        doc["metadata"]["annotations"] = {"test-bench.auto-evaluate": annotation}
    return doc


GROUND_TRUTH_INPUT = "  inputs:\n    - {name: expected_response, type: string, required: true}"


# -- the seed's example -----------------------------------------------------------------------------


async def test_seed_example_passes_the_quality_gate_with_a_matching_ground_truth(captured: Capture) -> None:
    state, data = await run(EXAMPLE, {"prompt": PROMPT, "expected_response": MATCHING}, config())
    assert state.is_completed(), data.get("error")
    assert data["outputs"]["response"] == CANNED
    assert data["outputs"]["passed_quality_gate"] is True
    metrics = data["outputs"]["quality_metrics"]
    assert set(metrics) == {"semantic_similarity", "factual_consistency", "coherence", "relevance"}
    assert metrics["semantic_similarity"]["method"].startswith("embedding:")
    # relevance needs the prompt: the example gives none, so the llm task's prompt is used.
    assert data["tasks"]["evaluate_response"]["state"] == "completed"
    assert [t["task_id"] for t in captured.report["tasks"]] == ["evaluate_response"]
    assert not data["warnings"]


async def test_seed_example_fails_the_quality_gate_with_an_unrelated_ground_truth(captured: Capture) -> None:
    _, good = await run(EXAMPLE, {"prompt": PROMPT, "expected_response": MATCHING}, config())
    state, bad = await run(EXAMPLE, {"prompt": PROMPT, "expected_response": UNRELATED}, config())
    assert state.is_failed()
    tasks = bad["tasks"]
    # The evaluation itself completes with passed=false; the assert is the gate that fails.
    assert tasks["evaluate_response"]["state"] == "completed"
    assert tasks["evaluate_response"]["outputs"]["passed"] is False
    assert tasks["quality_gate"]["state"] == "failed"
    assert "Quality score below threshold" in bad["error"]
    assert bad["outputs"]["passed_quality_gate"] is False
    good_score = good["tasks"]["evaluate_response"]["outputs"]["score"]
    bad_score = bad["tasks"]["evaluate_response"]["outputs"]["score"]
    assert good_score >= 0.75 > bad_score
    good_metrics, bad_metrics = good["outputs"]["quality_metrics"], bad["outputs"]["quality_metrics"]
    assert good_metrics["semantic_similarity"]["score"] > bad_metrics["semantic_similarity"]["score"] + 0.3
    assert any("evaluation of 'evaluate_response' did not pass" in w and "semantic_similarity" in w for w in bad["warnings"])
    report = captured.report
    assert report["failed"] == 1 and report["tasks"][0]["passed"] is False
    assert "semantic_similarity" in report["tasks"][0]["failed_metrics"]


# -- auto-evaluation -------------------------------------------------------------------------------


async def test_auto_evaluation_by_annotation_scores_a_matching_ground_truth_above_an_unrelated_one(captured: Capture) -> None:
    doc = llm_workflow(annotation="true", inputs=GROUND_TRUTH_INPUT,
                       outputs="  outputs:\n    quality: ${{ tasks.answer.metadata.quality_score }}")
    tb = config(default_metrics=["semantic_similarity", "coherence"])
    state, good = await run(doc, {"expected_response": MATCHING}, tb)
    good_report = captured.report
    _, bad = await run(doc, {"expected_response": UNRELATED}, tb)
    assert state.is_completed()
    evaluation = good["tasks"]["answer"]["metadata"]["evaluation"]
    assert set(evaluation["metrics"]) == {"semantic_similarity", "coherence"}
    assert evaluation["passed"] is True
    # quality_score (what the optimizer learns from) is visible to expressions.
    assert good["outputs"]["quality"] == good["tasks"]["answer"]["metadata"]["quality_score"] == evaluation["overall_score"]
    bad_evaluation = bad["tasks"]["answer"]["metadata"]["evaluation"]
    assert bad["tasks"]["answer"]["state"] == "completed"  # a failed evaluation never fails the llm task
    assert bad_evaluation["passed"] is False
    assert good["outputs"]["quality"] > bad["outputs"]["quality"]
    assert (evaluation["metrics"]["semantic_similarity"]["score"]
            > bad_evaluation["metrics"]["semantic_similarity"]["score"] + 0.3)
    assert [t["task_id"] for t in good_report["tasks"]] == ["answer"]
    assert any("evaluation of 'answer' did not pass" in w for w in bad["warnings"])


@pytest.mark.parametrize(
    ("annotation", "config_on", "evaluated"),
    [("true", False, True), (None, True, True), ("false", True, False), (None, False, False)],
    ids=["annotation-on", "config-on", "annotation-off-beats-config", "off-by-default"],
)
async def test_auto_evaluation_switches(captured: Capture, annotation: str | None, config_on: bool, evaluated: bool) -> None:
    doc = llm_workflow(annotation=annotation, inputs=GROUND_TRUTH_INPUT)
    state, data = await run(doc, {"expected_response": MATCHING},
                            config(auto_evaluate=config_on, default_metrics=["semantic_similarity"]))
    assert state.is_completed()
    metadata = data["tasks"]["answer"]["metadata"]
    assert ("evaluation" in metadata) is evaluated
    assert ("quality_score" in metadata) is evaluated
    if evaluated:
        assert captured.report["tasks"][0]["task_id"] == "answer"
    else:
        assert captured.report is None


async def test_metrics_that_need_a_ground_truth_are_skipped_without_one(captured: Capture) -> None:
    doc = llm_workflow(annotation="true")
    state, data = await run(doc, {}, config(default_metrics=["semantic_similarity", "coherence", "relevance"]))
    assert state.is_completed()
    evaluation = data["tasks"]["answer"]["metadata"]["evaluation"]
    assert set(evaluation["metrics"]) == {"coherence", "relevance"}  # relevance uses the task's prompt
    assert "needs a ground truth" in evaluation["skipped"]["semantic_similarity"]
    assert captured.report["skipped_metrics"] == {"answer": {"semantic_similarity": evaluation["skipped"]["semantic_similarity"]}}


async def test_ground_truth_source_names_the_input(captured: Capture) -> None:
    doc = llm_workflow(annotation="true", inputs="  inputs:\n    - {name: reference, type: string}\n"
                                                 "    - {name: expected_response, type: string}")
    tb = config(default_metrics=["semantic_similarity"], ground_truth_source="reference")
    _, data = await run(doc, {"reference": MATCHING, "expected_response": UNRELATED}, tb)
    assert data["tasks"]["answer"]["metadata"]["evaluation"]["passed"] is True
    _, swapped = await run(doc, {"reference": UNRELATED, "expected_response": MATCHING}, tb)
    assert swapped["tasks"]["answer"]["metadata"]["evaluation"]["passed"] is False


async def test_an_llm_task_whose_evaluation_errors_still_completes(captured: Capture) -> None:
    # The judge model answers prose instead of a JSON verdict: coherence cannot be judged.
    doc = llm_workflow(annotation="true", extra_tasks="""
    - id: after
      executor: orchestrator:assert
      inputs:
        condition: ${{ tasks.answer.outputs.response != '' }}
""")
    tb = config(forge={"claude-judge": "I think it is fine."}, default_metrics=["coherence"],
                judge={"model": "claude-judge", "use_for": ["coherence"]})
    state, data = await run(doc, {}, tb)
    assert state.is_completed(), data.get("error")
    assert data["tasks"]["answer"]["state"] == "completed"
    assert data["tasks"]["after"]["state"] == "completed"
    # A malformed verdict is asked once more, then that metric is recorded as errored with the
    # judge's reply; the evaluation itself stands, and a task whose every metric errored has no score.
    coherence = data["tasks"]["answer"]["metadata"]["evaluation"]["metrics"]["coherence"]
    assert coherence["errored"] is True and "I think it is fine." in (coherence["raw_reply"] or "")
    assert "quality_score" not in data["tasks"]["answer"]["metadata"]
    assert captured.report["tasks"][0]["task_id"] == "answer"


async def test_a_bad_default_metric_in_config_fails_the_run_before_any_task() -> None:
    state, data = await run(llm_workflow(annotation="true"), {}, config(default_metrics=["semantic_similarty"]))
    assert state.is_failed()
    assert "did you mean 'semantic_similarity'" in data["error"]
    assert data["tasks"]["answer"]["state"] not in ("completed", "failed")  # never started


# -- evaluation tasks: thresholds, weights, single metrics, the judge ------------------------------------


EVALUATIONS = """
    - id: by_default
      type: evaluation
      executor: llm-test-bench:multi-metric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        metrics: [semantic_similarity, rouge_l]
    - id: overridden
      type: evaluation
      executor: llm-test-bench:multi-metric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        metrics: [semantic_similarity, rouge_l]
        thresholds: {semantic_similarity: 0.5, rouge_l: 0.1}
    - id: single
      type: evaluation
      executor: llm-test-bench:rouge-l
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
    - id: single_lenient
      type: evaluation
      executor: llm-test-bench:rouge-l
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        threshold: 0.05
"""


async def test_thresholds_from_config_and_from_task_inputs_decide_passed(captured: Capture) -> None:
    doc = llm_workflow(inputs=GROUND_TRUTH_INPUT, extra_tasks=EVALUATIONS)
    state, lenient = await run(doc, {"expected_response": MATCHING}, config(thresholds={"rouge_l": 0.2}))
    assert state.is_completed()
    _, strict = await run(doc, {"expected_response": MATCHING},
                          config(thresholds={"semantic_similarity": 0.99, "rouge_l": 0.95}))
    outputs = {run_: {t: strict_or_lenient["tasks"][t]["outputs"] for t in ("by_default", "overridden", "single", "single_lenient")}
               for run_, strict_or_lenient in (("lenient", lenient), ("strict", strict))}
    rouge = outputs["strict"]["single"]["metrics"]["rouge_l"]["score"]
    assert 0.2 < rouge < 0.95, rouge  # the canned answer shares some, not all, words with the ground truth
    # Config thresholds are the defaults...
    assert outputs["lenient"]["by_default"]["passed"] is True
    assert outputs["strict"]["by_default"]["passed"] is False
    assert outputs["strict"]["by_default"]["metrics"]["semantic_similarity"]["threshold"] == 0.99
    assert outputs["lenient"]["single"]["passed"] is True
    assert outputs["strict"]["single"]["passed"] is False
    # ...and task inputs override them, whatever the config says.
    for which in ("lenient", "strict"):
        assert outputs[which]["overridden"]["passed"] is True
        assert outputs[which]["overridden"]["metrics"]["rouge_l"]["threshold"] == 0.1
        assert outputs[which]["single_lenient"]["passed"] is True
        assert outputs[which]["single_lenient"]["metrics"]["rouge_l"]["threshold"] == 0.05
    # Same scores either way: thresholds decide passed, never the score.
    assert outputs["lenient"]["by_default"]["score"] == outputs["strict"]["by_default"]["score"]
    # The report lists every evaluation task with its metrics; failed ones become warnings.
    report = captured.report
    assert [t["task_id"] for t in report["tasks"]] == ["by_default", "overridden", "single", "single_lenient"]
    assert report["tasks"][0]["failed_metrics"] == ["semantic_similarity", "rouge_l"]
    assert set(report["tasks"][0]["scores"]) == {"semantic_similarity", "rouge_l"}
    assert report["metrics"]["rouge_l"]["count"] == 4
    assert (report["passed"], report["failed"]) == (2, 2)
    assert "| by_default |" in report["markdown"]
    assert sorted(w.split("'")[1] for w in strict["warnings"] if w.startswith("evaluation of")) == ["by_default", "single"]


async def test_weights_shape_the_overall_score_and_a_zero_weight_is_informational(captured: Capture) -> None:
    doc = llm_workflow(inputs=GROUND_TRUTH_INPUT, extra_tasks="""
    - id: weighted
      type: evaluation
      executor: llm-test-bench:multi-metric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        metrics: [semantic_similarity, coherence]
        weights: {semantic_similarity: 3, coherence: 1}
    - id: similarity_ignored
      type: evaluation
      executor: llm-test-bench:multi-metric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        metrics: [semantic_similarity, coherence]
        weights: {semantic_similarity: 0}
    - id: overall_rule
      type: evaluation
      executor: llm-test-bench:multi-metric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        ground_truth: ${{ workflow.inputs.expected_response }}
        metrics: [semantic_similarity, coherence]
        threshold: 0.5
""")
    state, data = await run(doc, {"expected_response": UNRELATED}, config())
    assert state.is_completed()
    weighted = data["tasks"]["weighted"]["outputs"]
    sim = weighted["metrics"]["semantic_similarity"]["score"]
    coh = weighted["metrics"]["coherence"]["score"]
    assert sim < 0.3 and coh > 0.9
    assert weighted["score"] == pytest.approx((3 * sim + coh) / 4, abs=1e-5)
    assert weighted["passed"] is False  # every weighted metric must pass
    ignored = data["tasks"]["similarity_ignored"]["outputs"]
    assert ignored["score"] == pytest.approx(coh, abs=1e-5)
    assert ignored["passed"] is True  # the unrelated ground truth no longer counts
    overall = data["tasks"]["overall_rule"]["outputs"]
    assert overall["details"]["pass_rule"] == "overall_threshold"
    assert overall["score"] == pytest.approx((sim + coh) / 2, abs=1e-5)
    assert overall["passed"] is (overall["score"] >= 0.5)


async def test_llm_rubric_is_judged_through_forge(captured: Capture) -> None:
    doc = llm_workflow(extra_tasks="""
    - id: rubric
      type: evaluation
      executor: llm-test-bench:llm-rubric
      inputs:
        response: ${{ tasks.answer.outputs.response }}
        options: {rubric: "Names the capital city."}
""")
    verdict = '{"score": 0.9, "verdict": "pass", "reasoning": "names Paris"}'
    state, data = await run(doc, {}, config(forge={"claude-judge": verdict}, judge={"model": "claude-judge"}))
    assert state.is_completed(), data.get("error")
    result = data["tasks"]["rubric"]["outputs"]
    assert result["score"] == 0.9 and result["passed"] is True
    assert result["metrics"]["llm_rubric"]["method"] == "llm-judge:claude-judge"
    assert result["metrics"]["llm_rubric"]["explanation"] == "pass: names Paris"


async def test_each_foreach_item_of_an_llm_task_is_evaluated_and_reported(captured: Capture) -> None:
    doc = workflow("""
    - id: answer
      type: llm
      executor: llm-forge:claude-api
      forEach: ${{ workflow.inputs.questions }}
      inputs:
        prompt: ${{ item }}
""", inputs="  inputs:\n    - {name: questions, type: array, required: true}")
    doc["metadata"]["annotations"] = {"test-bench.auto-evaluate": "true"}
    questions = [PROMPT, "Tell me about photosynthesis."]  # the second is echoed back by the offline provider
    state, data = await run(doc, {"questions": questions}, config(default_metrics=["relevance"]))
    assert state.is_completed()
    rows = {t["task_id"]: t for t in captured.report["tasks"]}
    assert set(rows) == {"answer[0]", "answer[1]"}
    assert set(rows["answer[0]"]["scores"]) == {"relevance"}
    assert captured.report["metrics"]["relevance"]["count"] == 2


async def test_the_run_report_and_its_scores_are_kept_in_the_store(captured: Capture, tmp_path: Path) -> None:
    from sqlalchemy import select

    from ecosystem.store import Store
    from ecosystem.store.testbench_models import EvaluationScoreRow, TestReportRow

    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = {**config(), "storage": {"url": url}}
    _, data = await run(EXAMPLE, {"prompt": PROMPT, "expected_response": MATCHING}, settings)
    store = Store.open(url)
    try:
        with store.session(readonly=True) as session:
            report = session.get(TestReportRow, data["run_id"])
            scores = session.scalars(select(EvaluationScoreRow).where(EvaluationScoreRow.run_id == data["run_id"])).all()
    finally:
        store.close()
    assert report is not None and report.workflow == "llm-with-evaluation"
    assert (report.total, report.passed) == (1, 1)
    assert {(s.task_id, s.metric) for s in scores} == {
        ("evaluate_response", m) for m in ("semantic_similarity", "factual_consistency", "coherence", "relevance")
    }
    expected = data["outputs"]["quality_metrics"]
    assert {s.metric: round(s.score, 6) for s in scores} == {m: round(v["score"], 6) for m, v in expected.items()}


async def test_the_run_publishes_the_test_report_and_quality_table_as_artifacts(captured: Capture) -> None:
    import json as json_module

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, data = await run(EXAMPLE, {"prompt": PROMPT, "expected_response": MATCHING}, config())
    async with get_client() as client:
        found = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[data["run_id"]])))
    by_key = {a.key: a for a in found}
    assert "evaluate_response" in by_key["llm-with-evaluation-test-report"].data
    quality = json_module.loads(by_key["llm-with-evaluation-quality"].data)
    assert {row["metric"] for row in quality} == {"semantic_similarity", "factual_consistency", "coherence", "relevance"}
    assert all(row["task"] == "evaluate_response" for row in quality)
