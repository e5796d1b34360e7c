"""A model switch cites the newest eval suite run over the workflow, and is refused when the suite
shows the candidate worse (its pass-rate interval wholly below zero)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from optimizer_histories import T0, model_history  # type: ignore[import-not-found]

from ecosystem.optimizer import EmbeddedAutoOptimizer, Recommendations, SubmitMetricsRequest, analyze
from ecosystem.optimizer.analysis import EvalEvidence, EvalVariant
from ecosystem.store import Store
from ecosystem.store.evals import SuiteRunRecord, VariantRecord, save_suite_run

CURRENT, CHEAP = "claude-sonnet-4-5", "claude-haiku-4-5"
QUALITY = [0.80, 0.85, 0.90, 0.82, 0.88, 0.86, 0.84, 0.81]
HISTORY = model_history(runs=8, current=CURRENT, cheap=CHEAP, current_quality=QUALITY,
                        cheap_quality=[q + (0.005 if i % 2 else -0.005) for i, q in enumerate(QUALITY)])


def _switches(recs: Recommendations) -> list:  # type: ignore[type-arg]
    return [r for r in recs.items if r.recommendation_type.kind == "model_switch"]


def _variant(model: str, prompt: str, pass_rate: float, cases: int = 40) -> EvalVariant:
    return EvalVariant(f"model.summarise={model},prompt.summarise={prompt}", f"summarise={model}, prompt={prompt}",
                       {"summarise": model}, (("prompt.summarise", prompt),), cases, pass_rate)


def _evidence(*variants: EvalVariant) -> EvalEvidence:
    return EvalEvidence("summaries", "suite-run-1", T0 + timedelta(days=1), variants)


def test_a_switch_cites_the_suites_pass_rate_difference_with_its_interval() -> None:
    # Two prompts: the models are compared under each (never across prompts); the least favourable is cited.
    evals = _evidence(_variant(CURRENT, "short", 0.50), _variant(CURRENT, "as-written", 0.90),
                      _variant(CHEAP, "as-written", 0.875), _variant(CHEAP, "short", 0.55))
    [switch] = _switches(analyze("wf", HISTORY, evals=evals))
    cited = switch.evidence["eval"]
    assert cited["suite"] == "summaries" and cited["suite_run_id"] == "suite-run-1"
    assert (cited["pass_rate_current"], cited["pass_rate_candidate"]) == (0.9, 0.875)
    assert cited["pass_rate_diff"] == pytest.approx(-0.025)
    low, high = cited["pass_rate_diff_interval"]
    assert low < -0.025 < 0 < high  # 40 cases cannot tell 2.5 points apart
    assert [p["pass_rate_diff"] for p in cited["pairs"]] == [pytest.approx(0.05), pytest.approx(-0.025)]
    assert ("eval suite summaries: pass rate 87.5% vs 90.0% (-2.5 points"
            in switch.recommendation_type.reason)
    assert "least favourable of 2 settings" in switch.recommendation_type.reason


def test_offline_model_names_in_the_history_match_the_suites_models() -> None:
    offline = [m.model_copy(update={"model": f"offline:{m.model}"}) for m in HISTORY]
    evals = _evidence(_variant(CURRENT, "as-written", 0.9), _variant(CHEAP, "as-written", 0.9))
    [switch] = _switches(analyze("wf", offline, evals=evals))
    assert switch.evidence["eval"]["pass_rate_diff"] == 0.0


def test_a_suite_showing_the_candidate_worse_turns_the_switch_down() -> None:
    evals = _evidence(_variant(CURRENT, "as-written", 0.95), _variant(CHEAP, "as-written", 0.55))
    assert _switches(analyze("wf", HISTORY, evals=_evidence(_variant(CURRENT, "as-written", 0.95),
                                                            _variant(CHEAP, "as-written", 0.85))))  # not significant
    recs = analyze("wf", HISTORY, evals=evals)
    assert _switches(recs) == []
    [note] = [n for n in recs.notes if n.kind == "eval_worse"]
    assert note.task_id == "summarise" and note.evidence["eval"]["pass_rate_diff_interval"][1] < 0


def test_without_a_suite_that_compared_the_two_models_nothing_is_cited() -> None:
    assert "eval" not in _switches(analyze("wf", HISTORY))[0].evidence
    other_task = EvalEvidence("s", "r", T0, (
        EvalVariant("a", "a", {"title": CURRENT}, (), 10, 0.9), EvalVariant("b", "b", {"title": CHEAP}, (), 10, 0.1)))
    assert "eval" not in _switches(analyze("wf", HISTORY, evals=other_task))[0].evidence


def _stored_variant(position: int, model: str, pass_rate: float) -> VariantRecord:
    return VariantRecord(
        position=position, variant_id=f"model.summarise={model}", label=f"summarise={model}",
        models={"summarise": model}, choices=[["model.summarise", model]], cases=30, runs=30,
        passes=int(30 * pass_rate), errored=0, pass_rate=pass_rate, pass_rate_low=0.0, pass_rate_high=1.0,
        confidence=0.95, mean_score=None, metrics={}, cost_total_usd=None, cost_mean_usd=None, cost_unknown_runs=30,
        latency_p50_ms=None, latency_p95_ms=None, on_frontier=False, flaky_cases=[])


async def test_the_embedded_optimizer_reads_the_newest_suite_run_from_the_store(
        optimizer: EmbeddedAutoOptimizer, store: Store) -> None:
    def run(run_id: str, hours: int, cheap_rate: float) -> None:
        at = T0 + timedelta(hours=hours)
        save_suite_run(store, SuiteRunRecord(
            suite_run_id=run_id, suite="summaries", workflow="wf", suite_file="s.yaml", workflow_file="wf.yaml",
            started_at=at, finished_at=at, cases=30, variants=2, repeat=1, runs=60, errored=0, provider_calls=60,
            passed=True), [_stored_variant(0, CURRENT, 0.9), _stored_variant(1, CHEAP, cheap_rate)], [])

    run("older", 1, 0.2)  # would veto the switch, but a newer run supersedes it
    run("newer", 2, 0.9)
    await optimizer.submit_metrics(SubmitMetricsRequest(metrics=HISTORY))
    [switch] = _switches(await optimizer.get_recommendations("wf"))
    assert switch.evidence["eval"]["suite_run_id"] == "newer"
    assert switch.evidence["eval"]["pass_rate_diff"] == 0.0
