"""Provider embeddings: an OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecosystem.testbench import (
    EmbeddedTestBench,
    EmbeddingSettings,
    EmbeddingUnavailable,
    EvaluationRequest,
    MetricInputError,
    TestBenchSettings,
)
from tests.ecosystem.testbench.fakes import FakeEmbeddingsServer

TRUTH = "The Eiffel Tower was completed in 1889 and is 330 metres tall."
PARAPHRASE = "Completed in 1889, the Eiffel Tower stands 330 metres high."
UNRELATED = "Bananas are a good source of potassium and dietary fibre."


def provider_settings(url: str, **kw: object) -> TestBenchSettings:
    embeddings = EmbeddingSettings(base_url=url, model="text-embed-test", api_key=SecretStr("sk-emb-123"), **kw)  # type: ignore[arg-type]
    return TestBenchSettings(similarity_backend="provider", embeddings=embeddings)


async def test_provider_similarity_orders_pairs_and_sends_the_key() -> None:
    fake = FakeEmbeddingsServer()
    with fake.running() as url:
        bench = EmbeddedTestBench(provider_settings(url))
        try:
            result = await bench.evaluate(EvaluationRequest(
                task_id="t", response=PARAPHRASE, ground_truth=TRUTH, metrics=["semantic_similarity"]))
            scores, method = await bench.similarity_batch([(PARAPHRASE, TRUTH), (UNRELATED, TRUTH)])
        finally:
            await bench.aclose()
    metric = result.metrics["semantic_similarity"]
    assert metric.method == "embedding:provider:text-embed-test"
    assert method == metric.method
    assert scores[0] > scores[1]
    assert scores[0] == pytest.approx(metric.score, abs=1e-5)
    assert fake.auth_headers[0] == "Bearer sk-emb-123"
    assert fake.requests[0]["model"] == "text-embed-test"
    # The batch embedded its three distinct texts in one request.
    assert len(fake.requests) == 2 and sorted(fake.requests[1]["input"]) == sorted([PARAPHRASE, TRUTH, UNRELATED])


async def test_provider_batches_by_batch_size() -> None:
    fake = FakeEmbeddingsServer()
    with fake.running() as url:
        bench = EmbeddedTestBench(provider_settings(url + "/v1/", batch_size=2))  # explicit /v1 also accepted
        try:
            pairs = [(f"text number {i}", f"other text {i}") for i in range(3)]
            scores, _ = await bench.similarity_batch(pairs)
        finally:
            await bench.aclose()
    assert len(scores) == 3
    assert [len(r["input"]) for r in fake.requests] == [2, 2, 2]


async def test_auto_backend_uses_provider_when_no_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ecosystem.testbench.embeddings.local_model_available", lambda: False)
    fake = FakeEmbeddingsServer()
    with fake.running() as url:
        settings = provider_settings(url).model_copy(update={"similarity_backend": "auto"})
        bench = EmbeddedTestBench(settings)
        try:
            scores, method = await bench.similarity_batch([(PARAPHRASE, TRUTH)])
        finally:
            await bench.aclose()
    assert method == "embedding:provider:text-embed-test"
    lexical_only = EmbeddedTestBench(TestBenchSettings())
    assert (await lexical_only.similarity_batch([(PARAPHRASE, TRUTH)]))[1] == "lexical:tfidf-cosine"


async def test_provider_errors_are_retryable_embedding_errors() -> None:
    fake = FakeEmbeddingsServer(fail_with=429)
    with fake.running() as url:
        bench = EmbeddedTestBench(provider_settings(url))
        try:
            with pytest.raises(EmbeddingUnavailable, match="HTTP 429") as info:
                await bench.similarity_batch([(PARAPHRASE, TRUTH)])
        finally:
            await bench.aclose()
    assert info.value.is_retryable() and info.value.retry_after == 7


async def test_provider_backend_without_settings_is_an_input_error() -> None:
    bench = EmbeddedTestBench(TestBenchSettings(similarity_backend="provider"))
    with pytest.raises(MetricInputError, match="needs settings.embeddings"):
        await bench.similarity_batch([("a", "b")])
