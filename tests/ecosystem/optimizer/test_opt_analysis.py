"""Histories with a known right answer, stored through the embedded optimizer, then analysed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from optimizer_histories import T0, metric, model_history  # type: ignore[import-not-found]

from ecosystem.optimizer import (
    AnalysisConfig,
    Caching,
    EmbeddedAutoOptimizer,
    ModelSwitch,
    Parallelization,
    ParameterTuning,
    PerformanceMetric,
    Recommendations,
    SubmitMetricsRequest,
    analyze,
    input_hash,
)

CURRENT, CHEAP = "claude-sonnet-4-5", "claude-haiku-4-5"
QUALITY = [0.80, 0.85, 0.90, 0.82, 0.88, 0.86, 0.84, 0.81]


async def _recommend(optimizer: EmbeddedAutoOptimizer, metrics: list[PerformanceMetric], workflow: str = "wf",
                     **kwargs: bool) -> Recommendations:
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics)) == len(metrics)
    return await optimizer.get_recommendations(workflow, **kwargs)


def _kinds(recs: Recommendations, kind: str) -> list:  # type: ignore[type-arg]
    return [r for r in recs.items if r.recommendation_type.kind == kind]


async def test_cheaper_model_as_good_on_the_same_inputs_is_recommended(optimizer: EmbeddedAutoOptimizer) -> None:
    cheap = [q + (0.005 if i % 2 else -0.005) for i, q in enumerate(QUALITY)]
    recs = await _recommend(optimizer, model_history(runs=8, current=CURRENT, cheap=CHEAP,
                                                     current_quality=QUALITY, cheap_quality=cheap))
    switches = _kinds(recs, "model_switch")
    assert len(switches) == 1
    switch = switches[0]
    assert isinstance(switch.recommendation_type, ModelSwitch)
    assert (switch.recommendation_type.task_id, switch.recommendation_type.from_model,
            switch.recommendation_type.to) == ("summarise", CURRENT, CHEAP)
    assert switch.evidence["method"] == "paired_bootstrap"
    assert switch.evidence["n_pairs"] == 8
    assert switch.evidence["ci95_lower"] >= -0.02
    assert switch.evidence["saving_ratio"] == pytest.approx(0.8)
    assert switch.confidence >= 0.95
    assert switch.expected_impact.cost_ratio == pytest.approx(0.2)
    assert switch.expected_impact.cost_delta_usd == pytest.approx(-0.008)
    # Same input on two models is pairing, not a cache hit.
    assert _kinds(recs, "caching") == []
    assert recs.estimated_improvement.baseline_cost_usd == pytest.approx(0.01)
    assert recs.estimated_improvement.cost_ratio == pytest.approx(0.2)
    wire = recs.model_dump(mode="json")["items"][0]["recommendation_type"]
    assert wire["from"] == CURRENT and "from_model" not in wire


async def test_cheaper_model_clearly_worse_is_not_recommended(optimizer: EmbeddedAutoOptimizer) -> None:
    worse = [q - 0.15 for q in QUALITY]
    recs = await _recommend(optimizer, model_history(runs=8, current=CURRENT, cheap=CHEAP,
                                                     current_quality=QUALITY, cheap_quality=worse))
    assert _kinds(recs, "model_switch") == []
    [note] = [n for n in recs.notes if n.kind == "quality_worse"]
    assert note.task_id == "summarise" and note.evidence["ci95_lower"] < -0.1


async def test_slightly_worse_beyond_the_margin_is_not_recommended(optimizer: EmbeddedAutoOptimizer) -> None:
    worse = [q - 0.04 for q in QUALITY]
    recs = await _recommend(optimizer, model_history(runs=8, current=CURRENT, cheap=CHEAP,
                                                     current_quality=QUALITY, cheap_quality=worse))
    assert _kinds(recs, "model_switch") == []


async def test_too_few_samples_gives_no_switch_but_says_so(optimizer: EmbeddedAutoOptimizer) -> None:
    recs = await _recommend(optimizer, model_history(runs=3, current=CURRENT, cheap=CHEAP,
                                                     current_quality=QUALITY, cheap_quality=QUALITY))
    assert recs.items == []
    [note] = [n for n in recs.notes if n.kind == "not_enough_data"]
    assert note.task_id == "summarise"
    assert (note.evidence["n_candidate"], note.evidence["n_current"], note.evidence["min_samples"]) == (3, 3, 5)


def test_unpaired_bootstrap_when_inputs_differ() -> None:
    # Without pairing the between-input spread stays in the interval: 10 inputs per model are not
    # enough to bound the loss at 0.02, 40 are.
    history = model_history(runs=10, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=QUALITY)
    unpaired = [m.model_copy(update={"input_hash": f"{m.input_hash}-{m.model}"}) for m in history]
    assert _kinds(analyze("wf", unpaired), "model_switch") == []
    history = model_history(runs=40, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=QUALITY)
    unpaired = [m.model_copy(update={"input_hash": f"{m.input_hash}-{m.model}"}) for m in history]
    recs = analyze("wf", unpaired)
    [switch] = _kinds(recs, "model_switch")
    assert switch.evidence["method"] == "bootstrap" and switch.evidence["n_pairs"] == 0


def test_model_observed_only_on_another_task_is_not_a_candidate() -> None:
    history = model_history(runs=8, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=QUALITY)
    moved = [m.model_copy(update={"task_id": "other"}) if m.model == CHEAP else m for m in history]
    assert _kinds(analyze("wf", moved), "model_switch") == []


def test_analysis_is_deterministic() -> None:
    noisy = [0.7, 0.95, 0.8, 0.9, 0.75, 0.85, 0.88, 0.79]
    history = model_history(runs=8, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=noisy)
    first = analyze("wf", history).model_dump(exclude={"generated_at"})
    second = analyze("wf", list(reversed(history))).model_dump(exclude={"generated_at"})
    assert first == second


def _chain(*, data: bool, runs: int = 6, duration: int = 1000, first: int = 0) -> list[PerformanceMetric]:
    metrics = []
    for run in range(first, first + runs):
        metrics.append(metric("fetch_a", run=run, execution_time_ms=duration))
        metrics.append(metric("fetch_b", run=run, execution_time_ms=duration, depends_on=["fetch_a"],
                              data_dependencies=["fetch_a"] if data else []))
    return metrics


async def test_order_only_edge_is_parallelised_with_speedup_two(optimizer: EmbeddedAutoOptimizer) -> None:
    recs = await _recommend(optimizer, _chain(data=False))
    [item] = recs.items
    rtype = item.recommendation_type
    assert isinstance(rtype, Parallelization)
    assert rtype.remove_edges == [("fetch_a", "fetch_b")]
    assert sorted(rtype.tasks) == ["fetch_a", "fetch_b"]
    assert rtype.expected_speedup == pytest.approx(2.0)
    assert item.expected_impact.latency_delta_ms == pytest.approx(-1000)
    assert item.evidence["critical_path_ms"] == pytest.approx(2000)
    assert item.confidence == 1.0
    assert recs.estimated_improvement.baseline_latency_ms == pytest.approx(2000)
    assert recs.estimated_improvement.latency_ratio == pytest.approx(0.5)


async def test_data_carrying_edge_is_kept(optimizer: EmbeddedAutoOptimizer) -> None:
    recs = await _recommend(optimizer, _chain(data=True))
    assert _kinds(recs, "parallelization") == []


def test_small_speedup_is_not_recommended() -> None:
    metrics = []
    for run in range(6):
        metrics.append(metric("big", run=run, execution_time_ms=10_000))
        metrics.append(metric("tiny", run=run, execution_time_ms=200, depends_on=["big"]))
    assert _kinds(analyze("wf", metrics), "parallelization") == []


async def test_repeated_inputs_recommend_caching_with_ttl_from_the_interval(optimizer: EmbeddedAutoOptimizer) -> None:
    hashes = [input_hash({"text": "alpha"}), input_hash({"text": "beta"})]
    metrics = [
        metric("classify", run=i, at=T0 + timedelta(hours=i), input_hash=hashes[i % 2], model=CURRENT,
               cost_usd=0.004, execution_time_ms=500)
        for i in range(10)
    ]
    recs = await _recommend(optimizer, metrics)
    [item] = _kinds(recs, "caching")
    assert isinstance(item.recommendation_type, Caching)
    assert item.recommendation_type.task_id == "classify"
    assert item.evidence["median_repeat_interval_s"] == pytest.approx(7200)
    assert item.recommendation_type.ttl_seconds == 7920  # 2 h + 10% headroom
    assert item.evidence["repeat_rate"] == pytest.approx(0.8)
    assert item.expected_impact.cost_ratio == pytest.approx(0.2)


def test_caching_ttl_is_clamped() -> None:
    h = input_hash({"text": "same"})
    quick = [metric("t", run=i, at=T0 + timedelta(seconds=5 * i), input_hash=h) for i in range(6)]
    [item] = _kinds(analyze("wf", quick), "caching")
    assert item.recommendation_type.ttl_seconds == 60  # type: ignore[union-attr]
    slow = [metric("t", run=i, at=T0 + timedelta(days=30 * i), input_hash=h) for i in range(6)]
    [item] = _kinds(analyze("wf", slow), "caching")
    assert item.recommendation_type.ttl_seconds == 7 * 24 * 3600  # type: ignore[union-attr]


def test_rare_repeats_do_not_recommend_caching() -> None:
    metrics = [metric("t", run=i, input_hash=input_hash({"n": i if i != 9 else 0})) for i in range(10)]
    assert _kinds(analyze("wf", metrics), "caching") == []


async def test_max_tokens_far_above_completions_is_tuned_to_192(optimizer: EmbeddedAutoOptimizer) -> None:
    completions = [95, 100, 105, 98, 102, 110, 90, 100]
    metrics = [metric("draft", run=i, model=CURRENT, max_tokens=4000, completion_tokens=c, prompt_tokens=500)
               for i, c in enumerate(completions)]
    recs = await _recommend(optimizer, metrics)
    [item] = recs.items
    rtype = item.recommendation_type
    assert isinstance(rtype, ParameterTuning)
    assert (rtype.task_id, rtype.parameter, rtype.old_value, rtype.new_value) == ("draft", "max_tokens", 4000, 192)
    # p99 = 109.65 (linear); x 1.5 = 164.5; next multiple of 64 = 192
    assert item.evidence["completion_tokens_p99"] == pytest.approx(109.65)
    assert item.confidence == pytest.approx(8 / 9)


def test_max_tokens_close_to_completions_is_left_alone() -> None:
    metrics = [metric("draft", run=i, max_tokens=300, completion_tokens=150) for i in range(8)]
    assert analyze("wf", metrics).items == []


def test_lower_temperature_with_better_quality_is_recommended() -> None:
    metrics = []
    for i in range(8):
        metrics.append(metric("answer", run=2 * i, model=CURRENT, temperature=0.2, quality_score=0.85 + 0.01 * (i % 3)))
        metrics.append(metric("answer", run=2 * i + 1, model=CURRENT, temperature=0.9,
                              quality_score=0.65 + 0.01 * (i % 3)))
    [item] = analyze("wf", metrics).items
    rtype = item.recommendation_type
    assert isinstance(rtype, ParameterTuning)
    assert (rtype.parameter, rtype.old_value, rtype.new_value) == ("temperature", 0.9, 0.2)
    assert item.expected_impact.quality_delta == pytest.approx(0.2, abs=0.01)


def test_same_quality_at_lower_temperature_is_not_recommended() -> None:
    metrics = []
    for i in range(8):
        q = 0.8 + 0.02 * (i % 4)
        metrics.append(metric("answer", run=2 * i, temperature=0.2, quality_score=q))
        metrics.append(metric("answer", run=2 * i + 1, temperature=0.9, quality_score=q))
    assert analyze("wf", metrics).items == []


async def test_workflow_level_only_and_lookup_by_run_id(optimizer: EmbeddedAutoOptimizer) -> None:
    chain = _chain(data=False, first=20)
    switch = model_history(runs=8, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=QUALITY,
                           task_id="fetch_b")
    await optimizer.submit_metrics(SubmitMetricsRequest(metrics=switch + chain))
    everything = await optimizer.get_recommendations("wf")
    assert {r.recommendation_type.kind for r in everything.items} == {"model_switch", "parallelization"}
    workflow_level = await optimizer.get_recommendations("wf", include_task_level=False)
    assert [r.recommendation_type.kind for r in workflow_level.items] == ["parallelization"]
    by_run = await optimizer.get_recommendations("run-3")
    assert by_run.workflow_id == "wf" and len(by_run.items) == 2
    assert {r.id for r in by_run.items} == {r.id for r in everything.items}


async def test_unknown_workflow_has_no_advice(optimizer: EmbeddedAutoOptimizer) -> None:
    recs = await optimizer.get_recommendations("nobody")
    assert recs.items == [] and recs.sample_size == 0


def test_config_knobs_are_honoured() -> None:
    history = model_history(runs=8, current=CURRENT, cheap=CHEAP, current_quality=QUALITY, cheap_quality=QUALITY,
                            cheap_cost=0.009)
    assert _kinds(analyze("wf", history), "model_switch") == []  # 10% saving < 20%
    loose = AnalysisConfig(min_saving_ratio=0.05)
    assert len(_kinds(analyze("wf", history, loose), "model_switch")) == 1
