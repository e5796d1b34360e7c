"""The recommendation cache: 300 s per workflow on an injectable clock; invalidate() drops it."""

from __future__ import annotations

from optimizer_histories import FakeClock, model_history  # type: ignore[import-not-found]

from ecosystem.optimizer import EmbeddedAutoOptimizer, SubmitMetricsRequest

QUALITY = [0.80, 0.85, 0.90, 0.82, 0.88, 0.86, 0.84, 0.81]


async def test_second_call_within_ttl_is_served_from_cache(optimizer: EmbeddedAutoOptimizer, clock: FakeClock) -> None:
    few = model_history(runs=4, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    await optimizer.submit_metrics(SubmitMetricsRequest(metrics=few))
    first = await optimizer.get_recommendations("wf")
    assert optimizer.history_loads == 1 and first.items == []
    # More history arrives; within 300 s the cached answer stands and the store is not read.
    more = model_history(runs=8, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    await optimizer.submit_metrics(SubmitMetricsRequest(metrics=more))
    clock.now += 299
    assert await optimizer.get_recommendations("wf") is first
    assert optimizer.history_loads == 1
    clock.now += 2
    fresh = await optimizer.get_recommendations("wf")
    assert optimizer.history_loads == 2
    assert "model_switch" in {r.recommendation_type.kind for r in fresh.items}


async def test_invalidate_and_per_option_entries(optimizer: EmbeddedAutoOptimizer, clock: FakeClock) -> None:
    await optimizer.get_recommendations("wf")
    await optimizer.get_recommendations("wf", include_task_level=False)
    assert optimizer.history_loads == 2
    await optimizer.get_recommendations("wf")
    assert optimizer.history_loads == 2
    optimizer.invalidate("wf")
    await optimizer.get_recommendations("wf")
    assert optimizer.history_loads == 3
    await optimizer.get_recommendations("other")
    optimizer.invalidate()
    await optimizer.get_recommendations("other")
    assert optimizer.history_loads == 5
