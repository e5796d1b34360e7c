"""One contract, two backends: embedded, and HttpTestBenchClient to the real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from ecosystem.errors import InvalidRequest, ServiceUnauthorized
from ecosystem.service import serve_in_thread
from ecosystem.testbench import (
    EmbeddedTestBench,
    EvaluationRequest,
    GenerateReportRequest,
    HttpTestBenchClient,
    MetricInputError,
    TestBench,
    TestBenchSettings,
    UnknownMetric,
    build_testbench,
    create_testbench_app,
)

TOKEN = "tb-secret-token"
SETTINGS = TestBenchSettings(similarity_backend="lexical")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with serve_in_thread(create_testbench_app(EmbeddedTestBench(SETTINGS), token=TOKEN)) as url:
        yield url


@pytest.fixture(params=["embedded", "http"])
async def bench(request: pytest.FixtureRequest, server_url: str) -> AsyncIterator[TestBench]:
    backend: TestBench
    if request.param == "embedded":
        backend = EmbeddedTestBench(SETTINGS)
    else:
        backend = build_testbench(TestBenchSettings(endpoint=server_url, token=SecretStr(TOKEN)))
        assert isinstance(backend, HttpTestBenchClient)
    yield backend
    await backend.aclose()


async def test_evaluate(bench: TestBench) -> None:
    result = await bench.evaluate(EvaluationRequest(
        task_id="evaluate_response", response="Completed in 1889, the Eiffel Tower is 330 metres tall.",
        ground_truth="The Eiffel Tower was completed in 1889 and is 330 metres tall.",
        prompt="When was the Eiffel Tower completed?",
        metrics=["semantic_similarity", "factual_consistency", "coherence", "relevance", "toxicity"],
        weights={"toxicity": 0.5}, threshold=0.6,
    ))
    assert set(result.metrics) == {"semantic_similarity", "factual_consistency", "coherence", "relevance", "toxicity"}
    assert result.metrics["factual_consistency"].score == 1.0
    assert result.metrics["semantic_similarity"].method == "lexical:tfidf-cosine"
    assert result.details.task_id == "evaluate_response" and result.details.pass_rule == "overall_threshold"
    assert result.passed and 0.6 <= result.overall_score <= 1.0


async def test_unknown_metric_crosses_the_wire(bench: TestBench) -> None:
    with pytest.raises(UnknownMetric, match="did you mean 'toxicity'"):
        await bench.evaluate(EvaluationRequest(task_id="t", response="x", metrics=["toxicty"]))


async def test_input_error_crosses_the_wire(bench: TestBench) -> None:
    with pytest.raises(MetricInputError, match="semantic_similarity: needs a ground_truth"):
        await bench.evaluate(EvaluationRequest(task_id="t", response="x", metrics=["semantic_similarity"]))


async def test_out_of_bounds_request_is_invalid_on_both_backends(bench: TestBench) -> None:
    request = EvaluationRequest(task_id="t", response="x", ground_truth="x", metrics=["exact_match"])
    with pytest.raises(InvalidRequest, match="task_id"):
        await bench.evaluate(request.model_copy(update={"task_id": "t" * 201}))
    with pytest.raises(InvalidRequest, match="weights"):
        await bench.evaluate(request.model_copy(update={"weights": {"exact_match": float("inf")}}))
    with pytest.raises(InvalidRequest, match="execution_id"):
        await bench.generate_report(GenerateReportRequest(execution_id="e").model_copy(update={"execution_id": "e" * 201}))


async def test_report_of_an_execution(bench: TestBench) -> None:
    run_id = f"run-{id(bench)}"
    for task, answer in (("a", "Paris"), ("b", "Rome")):
        await bench.evaluate(EvaluationRequest(task_id=task, response=answer, ground_truth="Paris", execution_id=run_id))
    report = await bench.generate_report(GenerateReportRequest(execution_id=run_id))
    assert (report.total, report.passed, report.failed) == (2, 1, 1)
    assert report.metrics["accuracy"].mean_score == 0.5
    assert [t.task_id for t in report.tasks] == ["a", "b"]


async def test_wrong_token_is_unauthorized(server_url: str) -> None:
    client = HttpTestBenchClient(server_url, token="wrong")
    try:
        with pytest.raises(ServiceUnauthorized):
            await client.evaluate(EvaluationRequest(task_id="t", response="x", ground_truth="x"))
    finally:
        await client.aclose()


async def test_invalid_body_is_a_422_and_non_json_a_400_in_the_error_shape(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = await client.post("/v1/evaluate", json={"task_id": "t", "metrics": "accuracy", "extra": 1})
        not_json = await client.post("/v1/evaluate", content=b"{not json", headers={"Content-Type": "application/json"})
        listing = await client.get("/v1/metrics")
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"
    assert "response" in response.json()["error"]["message"]
    assert not_json.status_code == 400
    assert not_json.json()["error"] == {"type": "invalid_request", "message": "the body is not valid JSON", "retry_after": None}
    assert {"name": "relevance"}.items() <= next(m for m in listing.json()["metrics"] if m["name"] == "relevance").items()
