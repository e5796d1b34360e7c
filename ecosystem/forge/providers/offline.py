"""The offline provider: deterministic answers without a network, for demos and tests.

It echoes the last user turn, or returns a canned text when a key of ``offline_responses`` is the
requested model or a substring of the prompt.  It never pretends to be a real model: the model is
reported as ``offline:<requested model>``, the provider as ``offline`` and the metadata says
``{"offline": true}``.  Token counts are estimates (~4 characters per token).  Failures can be
scripted (``offline_failures``) so retry behaviour can be shown and tested without a provider.
``offline_models`` gives a requested model its own latency and cost, so that choosing a cheaper
or faster model shows up offline (the Auto-Optimizer's benchmark relies on it).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

from ecosystem.errors import error_class_for
from ecosystem.forge.config import ForgeSettings
from ecosystem.forge.errors import ForgeError
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse, TokenUsage


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def offline_latency(settings: ForgeSettings, model: str) -> float:
    """Seconds an offline call of ``model`` takes: ``offline_models[model].latency`` or ``offline_latency``."""
    spec = settings.offline_models.get(model)
    return spec.latency if spec is not None and spec.latency is not None else settings.offline_latency


def offline_cost(settings: ForgeSettings, model: str) -> float:
    """USD an offline call of ``model`` reports: ``offline_models[model].cost``, ``offline_cost`` or 0."""
    spec = settings.offline_models.get(model)
    if spec is not None and spec.cost is not None:
        return spec.cost
    return settings.offline_cost if settings.offline_cost is not None else 0.0


class OfflineProvider:
    name = "offline"

    def __init__(self, settings: ForgeSettings) -> None:
        self.label = self.name
        self._settings = settings
        self._failures: Counter[str] = Counter()

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

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        latency = offline_latency(self._settings, model)
        if latency:
            await asyncio.sleep(latency)
        failure = self._scripted_failure(request)
        if failure is not None:
            raise failure
        canned = self._canned(request, model)
        text = canned if canned is not None else request.last_user_text()
        # An echo respects max_tokens the way a model would (by length, ~4 characters a token).
        text = text[: request.max_tokens * 4]
        prompt_text = "\n".join(
            filter(None, [request.system_text(), *(m.content for m in request.conversation())])
        )
        prompt_tokens = estimate_tokens(prompt_text)
        completion_tokens = estimate_tokens(text)
        return ForgeInferenceResponse(
            text=text,
            model=f"offline:{model}",
            usage=TokenUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            provider=self.name,
            finish_reason="stop",
            metadata={"offline": True, "canned": canned is not None},
        )
