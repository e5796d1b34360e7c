"""One contract, two backends: embedded, and HttpAutoOptimizerClient -> real FastAPI server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from optimizer_histories import model_history  # type: ignore[import-not-found]

from ecosystem.errors import EcosystemError, InvalidRequest, ServiceUnauthorized
from ecosystem.optimizer import (
    AutoOptimizer,
    AutoOptimizerSettings,
    EmbeddedAutoOptimizer,
    HttpAutoOptimizerClient,
    ModelSwitch,
    SubmitMetricsRequest,
    build_optimizer,
)
from ecosystem.optimizer.server import create_optimizer_app
from ecosystem.service import serve_in_thread
from ecosystem.store import Store

TOKEN = "optimizer-token"
QUALITY = [0.80, 0.85, 0.90, 0.82, 0.88, 0.86, 0.84, 0.81]


@pytest.fixture(params=["embedded", "http"])
async def optimizer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AutoOptimizer]:
    store = Store.open(f"sqlite:///{tmp_path}/contract.db")
    embedded = EmbeddedAutoOptimizer(AutoOptimizerSettings(), store)
    if request.param == "embedded":
        yield embedded
    else:
        with serve_in_thread(create_optimizer_app(embedded, token=TOKEN)) as url:
            client = build_optimizer(AutoOptimizerSettings(endpoint=url, token=TOKEN))  # type: ignore[arg-type]
            assert isinstance(client, HttpAutoOptimizerClient)
            yield client
            await client.aclose()
    await embedded.aclose()
    store.close()


async def test_submit_is_idempotent_per_metric_id(optimizer: AutoOptimizer) -> None:
    assert isinstance(optimizer, AutoOptimizer)
    metrics = model_history(runs=3, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics, source="test")) == 6
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics[:4] + metrics[:1])) == 0
    assert await optimizer.submit_metrics(SubmitMetricsRequest(metrics=[])) == 0


async def test_recommendations_round_trip(optimizer: AutoOptimizer) -> None:
    metrics = model_history(runs=8, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    await optimizer.submit_metrics(SubmitMetricsRequest(metrics=metrics))
    recs = await optimizer.get_recommendations("wf")
    assert recs.workflow_id == "wf" and recs.sample_size == 16
    [item] = recs.items
    assert isinstance(item.recommendation_type, ModelSwitch)
    assert (item.recommendation_type.from_model, item.recommendation_type.to) == ("big", "small")
    assert item.evidence["n_pairs"] == 8 and 0.95 <= item.confidence <= 1
    workflow_level = await optimizer.get_recommendations("wf", include_task_level=False)
    assert workflow_level.items == []
    by_run = await optimizer.get_recommendations("run-15")
    assert by_run.workflow_id == "wf" and [i.id for i in by_run.items] == [item.id]
    assert (await optimizer.get_recommendations("no such/workflow")).items == []


async def test_out_of_bounds_metrics_are_invalid_on_both_backends(optimizer: AutoOptimizer) -> None:
    [metric, *_] = model_history(runs=1, current="big", cheap="small", current_quality=QUALITY, cheap_quality=QUALITY)
    with pytest.raises(InvalidRequest, match="cost_usd"):
        await optimizer.submit_metrics(SubmitMetricsRequest(metrics=[metric.model_copy(update={"cost_usd": 1e20})]))
    with pytest.raises(InvalidRequest, match="workflow"):
        await optimizer.get_recommendations("w" * 201)
    assert (await optimizer.get_recommendations("wf")).sample_size == 0


async def test_http_rejects_a_wrong_token_and_a_bad_body(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/auth.db") as store:
        embedded = EmbeddedAutoOptimizer(AutoOptimizerSettings(), store)
        with serve_in_thread(create_optimizer_app(embedded, token=TOKEN)) as url:
            async with HttpAutoOptimizerClient(url, token="wrong") as client:
                with pytest.raises(ServiceUnauthorized):
                    await client.get_recommendations("wf")
            async with HttpAutoOptimizerClient(url, token=TOKEN) as client:
                with pytest.raises(EcosystemError, match="execution_time_ms"):
                    await client.request("POST", "/v1/metrics", json={"metrics": [{"workflow_id": "w",
                                         "task_id": "t", "executor": "e"}]})


def test_build_optimizer_is_embedded_without_endpoint(store: Store) -> None:
    assert isinstance(build_optimizer(AutoOptimizerSettings(), store), EmbeddedAutoOptimizer)
