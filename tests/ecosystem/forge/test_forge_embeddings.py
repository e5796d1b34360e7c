"""Forge.embed on each provider's wire format, offline, and over HTTP."""

from __future__ import annotations

import math

import pytest

from ecosystem.forge import (
    EmbeddedForge,
    EmbeddingRequest,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeRateLimited,
    ForgeSettings,
    HttpForgeClient,
    ModelNotFound,
    OpenAICompatibleEndpoint,
    create_forge_app,
)
from ecosystem.service import serve_in_thread
from tests.ecosystem.forge.conftest import KEYS, settings_for
from tests.ecosystem.forge.fakes import FakeProvider, Reply, fake_vector, openai_embeddings, openai_error


async def test_openai_embeddings(openai_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.embed(EmbeddingRequest(input=["alpha", "beta"], dimensions=8))
    seen = openai_fake.requests[0]
    assert (seen.method, seen.path) == ("POST", "/v1/embeddings")
    assert seen.headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert seen.json == {
        "model": "text-embedding-3-small",
        "input": ["alpha", "beta"],
        "encoding_format": "float",
        "dimensions": 8,
    }
    # The fake answers out of order: index decides.
    assert response.embeddings == [fake_vector("alpha"), fake_vector("beta")]
    assert response.usage.prompt_tokens == 8 and response.provider == "openai"
    assert response.cost == pytest.approx(8 * 0.02 / 1e6)


async def test_gemini_embeddings_single_and_batch(gemini_fake: FakeProvider) -> None:
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        one = await forge.embed(EmbeddingRequest(input=["alpha"], model="gemini-embedding-001",
                                                 task_type="SEMANTIC_SIMILARITY"))
        many = await forge.embed(EmbeddingRequest(input=["alpha", "beta"], model="gemini-embedding-001",
                                                  dimensions=8))
    single, batch = gemini_fake.requests
    assert single.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert single.headers["x-goog-api-key"] == KEYS["gemini"]
    assert single.json == {"content": {"parts": [{"text": "alpha"}]}, "taskType": "SEMANTIC_SIMILARITY"}
    assert batch.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert batch.json == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 8}
            for t in ("alpha", "beta")
        ]
    }
    assert one.embeddings == [fake_vector("alpha")]
    assert many.embeddings == [fake_vector("alpha"), fake_vector("beta")]
    # The API reports no usage: "alpha" and "beta" estimated at 2 + 1 tokens.
    assert many.metadata["usage_estimated"] is True and many.usage.prompt_tokens == 3
    assert many.cost == pytest.approx(3 * 0.15 / 1e6)


async def test_openai_compatible_endpoint_embeddings(openai_fake: FakeProvider) -> None:
    endpoint = OpenAICompatibleEndpoint(base_url=openai_fake.base_url, embedding_model="bge-m3")
    async with EmbeddedForge(ForgeSettings(endpoints={"local": endpoint})) as forge:
        by_prefix = await forge.embed(EmbeddingRequest(input=["x"], model="local/bge-m3"))
        by_name = await forge.embed(EmbeddingRequest(input=["y"], model="bge-m3"))
    assert [r.json["model"] for r in openai_fake.requests] == ["bge-m3", "bge-m3"]
    assert "authorization" not in openai_fake.requests[0].headers
    assert by_prefix.provider == "local" and by_name.embeddings == [fake_vector("y")]
    assert by_prefix.cost is None  # an unpriced local model


async def test_offline_embeddings_are_deterministic_and_see_shared_words() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        first = await forge.embed(EmbeddingRequest(input=["the cat sat on the mat", "a cat on a mat", "stock prices"]))
        again = await forge.embed(EmbeddingRequest(input=["the cat sat on the mat"]))
    cat, similar, other = first.embeddings
    assert again.embeddings[0] == cat and len(cat) == 256
    assert math.isclose(sum(x * x for x in cat), 1.0, rel_tol=1e-9)

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(cat, similar) > dot(cat, other)
    assert first.provider == "offline" and first.model == "offline:offline-embedding"


async def test_embedding_routing_errors() -> None:
    async with EmbeddedForge(ForgeSettings(offline=True)) as forge:
        with pytest.raises(ForgeInvalidRequest, match="anthropic has no embeddings"):
            await forge.embed(EmbeddingRequest(input=["x"], provider="anthropic"))
        with pytest.raises(ModelNotFound):
            await forge.embed(EmbeddingRequest(input=["x"], model="mystery-embedder"))


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body={"object": "list", "data": [{"index": 0}]}),
        Reply(body={"object": "list", "data": [{"index": 0, "embedding": ["a", "b"]}]}),
        Reply(body={"object": "list", "data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": [0.2]}]}),
    ],
)
async def test_malformed_embedding_answers(openai_fake: FakeProvider, reply: Reply) -> None:
    openai_fake.queue(reply)
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        with pytest.raises(ForgeMalformedResponse):
            await forge.embed(EmbeddingRequest(input=["only one"]))


async def test_embedding_errors_map_like_inference_errors(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_error(429, "slow down", code="rate_limit_exceeded", headers={"retry-after": "3"}))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        with pytest.raises(ForgeRateLimited) as info:
            await forge.embed(EmbeddingRequest(input=["x"], max_attempts=1))
    assert info.value.retry_after == 3 and info.value.falls_back


async def test_embeddings_over_http_match_the_embedded_forge(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_embeddings([[0.5, 0.25]], tokens=2))
    embedded = EmbeddedForge(settings_for(openai_fake))
    with serve_in_thread(create_forge_app(embedded)) as url:
        client = HttpForgeClient(url, timeout=10)
        try:
            response = await client.embed(EmbeddingRequest(input=["x"], model="text-embedding-3-small"))
            with pytest.raises(ForgeInvalidRequest, match="no embeddings API"):
                await client.embed(EmbeddingRequest(input=["x"], provider="anthropic"))
        finally:
            await client.aclose()
    assert response.embeddings == [[0.5, 0.25]] and response.provider == "openai"
    assert response.cost == pytest.approx(2 * 0.02 / 1e6)
