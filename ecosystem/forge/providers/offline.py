"""The offline provider: deterministic answers without a network, for demos and tests.

It echoes the last user turn, or returns a canned text when a key of ``offline_responses`` is the
requested model or a substring of the prompt.  It never pretends to be a real model: the model is
reported as ``offline:<requested model>``, the provider as ``offline`` and the metadata says
``{"offline": true}``.  Token counts are estimates (~4 characters per token).  Failures can be
scripted (``offline_failures``) so retry behaviour can be shown and tested without a provider.
``offline_models`` gives a requested model its own latency and cost, so that choosing a cheaper
or faster model shows up offline (the Auto-Optimizer's benchmark relies on it).

So that workflows using issue 15's features run offline too:

* with a ``response_schema`` the answer is a deterministic object that matches it
  (``structured.synthesize``, seeded by the prompt), or the canned text as it is (a scripted
  model that ignores the format);
* a prefix marked with ``cache`` is remembered per model: the first call reports it as cache
  writes, every later call with the same prefix as cache reads, the way Anthropic reports them
  (no minimum prefix length is simulated), so the saving shows in the usage and, for a priced
  model, in ``metadata.list_price_cost``;
* asking for reasoning reports ``reasoning_tokens`` (the thinking budget, else a fixed amount per
  effort), counted inside the completion tokens as the providers bill them;
* ``embed`` returns deterministic hashed bag-of-words vectors: texts sharing words are close.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections import Counter
from typing import Any

from ecosystem.errors import error_class_for
from ecosystem.forge.config import ForgeSettings
from ecosystem.forge.errors import ForgeError
from ecosystem.forge.estimates import text_tokens
from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    TokenUsage,
)
from ecosystem.forge.structured import synthesize, try_parse_json

EFFORT_TOKENS = {"minimal": 16, "low": 64, "medium": 256, "high": 1024}
EMBEDDING_DIMENSIONS = 256
_WORD = re.compile(r"\w+")


def estimate_tokens(text: str) -> int:
    return text_tokens(text)


def offline_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector of hashed words (first five letters, lower case): shared words, nearby vectors."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word[:5].encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def offline_latency(settings: ForgeSettings, model: str) -> float:
    """Seconds an offline call of ``model`` takes: ``offline_models[model].latency`` or ``offline_latency``."""
    spec = settings.offline_models.get(model)
    return spec.latency if spec is not None and spec.latency is not None else settings.offline_latency


class OfflineProvider:
    name = "offline"

    def __init__(self, settings: ForgeSettings) -> None:
        self.label = self.name
        self._settings = settings
        self._failures: Counter[str] = Counter()
        self._cached_prefixes: set[str] = set()

    def __repr__(self) -> str:
        return "OfflineProvider()"

    async def aclose(self) -> None:
        return None

    def _canned(self, request: ForgeInferenceRequest, model: str) -> str | None:
        responses = self._settings.offline_responses
        if model in responses:
            return responses[model]
        prompt = "\n".join(m.content for m in request.conversation())
        # Longest key first, so a specific key wins over a general one regardless of order.
        for key in sorted(responses, key=len, reverse=True):
            if key and key in prompt:
                return responses[key]
        return None

    def _scripted_failure(self, request: ForgeInferenceRequest) -> ForgeError | None:
        prompt = "\n".join(m.content for m in request.conversation())
        for key, failure in self._settings.offline_failures.items():
            if key and key in prompt:
                if failure.times is not None and self._failures[key] >= failure.times:
                    continue
                self._failures[key] += 1
                cls = error_class_for(failure.error, ForgeError)
                if not issubclass(cls, ForgeError):
                    cls = ForgeError
                return cls(f"offline: {failure.message}", retry_after=failure.retry_after)
        return None

    def _cache_prefix(self, request: ForgeInferenceRequest) -> str:
        """The text up to the last marked block, as Anthropic caches it ("" when nothing is marked)."""
        parts: list[str] = []
        if "system" in request.cache and request.system_text():
            parts.append(request.system_text() or "")
        turns = [m.content for m in request.conversation() if m.role != "system"]
        if "messages" in request.cache and len(turns) > 1:
            parts = [request.system_text() or "", *turns[:-1]]
        return "\n".join(parts)

    def _reasoning_tokens(self, request: ForgeInferenceRequest) -> int:
        if request.thinking_budget:
            return request.thinking_budget
        return EFFORT_TOKENS[request.reasoning_effort] if request.reasoning_effort else 0

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        latency = offline_latency(self._settings, model)
        if latency:
            await asyncio.sleep(latency)
        return self.answer(request, model)

    def answer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        """The answer without the simulated latency (a batch's items take the batch's delay instead)."""
        failure = self._scripted_failure(request)
        if failure is not None:
            raise failure
        canned = self._canned(request, model)
        metadata: dict[str, Any] = {"offline": True, "canned": canned is not None}
        parsed: Any = None
        if request.response_schema is not None and canned is not None:
            # A canned answer is what the model says, JSON or not: a demo or a test can script a
            # model that ignores the format (Forge's repair and the judge's retry are then exercised).
            ok, value = try_parse_json(canned)
            parsed = value if ok else None
            text = canned
            metadata["structured_output"] = "offline:canned"
        elif request.response_schema is not None:
            seed = "\n".join(m.content for m in request.conversation())
            parsed = synthesize(request.response_schema, seed)
            text = json.dumps(parsed, ensure_ascii=False)
            metadata["structured_output"] = "offline:synthesized"
        else:
            text = canned if canned is not None else request.last_user_text()
            # An echo respects max_tokens the way a model would (by length, ~4 characters a token).
            text = text[: request.max_tokens * 4]
        prompt_text = "\n".join(
            filter(None, [request.system_text(), *(m.content for m in request.conversation())])
        )
        prompt_tokens = estimate_tokens(prompt_text)
        cache_read = cache_write = 0
        prefix = self._cache_prefix(request)
        if prefix:
            key = hashlib.sha256(f"{model}\x00{prefix}".encode()).hexdigest()
            prefix_tokens = min(prompt_tokens, estimate_tokens(prefix))
            if key in self._cached_prefixes:
                cache_read = prefix_tokens
            else:
                self._cached_prefixes.add(key)
                cache_write = prefix_tokens
        reasoning = self._reasoning_tokens(request)
        completion_tokens = estimate_tokens(text) + reasoning
        usage = TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=reasoning,
        )
        return ForgeInferenceResponse(
            text=text,
            model=f"offline:{model}",
            usage=usage,
            provider=self.name,
            finish_reason="stop",
            metadata=metadata,
            parsed=parsed,
        )

    async def embed(self, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        latency = offline_latency(self._settings, model)
        if latency:
            await asyncio.sleep(latency)
        dimensions = request.dimensions or EMBEDDING_DIMENSIONS
        tokens = sum(estimate_tokens(text) for text in request.input)
        return EmbeddingResponse(
            embeddings=[offline_vector(text, dimensions) for text in request.input],
            model=f"offline:{model}",
            provider=self.name,
            usage=TokenUsage(prompt_tokens=tokens, total_tokens=tokens),
            metadata={"offline": True},
        )
