"""Adapter for any OpenAI-compatible server (vLLM, Ollama, a LiteLLM proxy, an inference gateway).

Same wire format as ``openai.py``; only the base URL, the optional key and extra headers differ,
so it is the OpenAI adapter labelled with the endpoint's name.  Self-hosted servers often need no
key: then no ``Authorization`` header is sent at all.  A model's name says nothing about whether
it reasons on such a server, so ``reasoning_effort`` is passed on whenever a request sets it.
"""

from __future__ import annotations

import httpx

from ecosystem.forge.config import OpenAICompatibleEndpoint
from ecosystem.forge.providers.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    name = "openai-compatible"
    any_model_reasons = True

    @classmethod
    def for_endpoint(
        cls,
        label: str,
        endpoint: OpenAICompatibleEndpoint,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> OpenAICompatibleProvider:
        return cls(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            timeout=timeout,
            transport=transport,
            headers=dict(endpoint.headers),
            max_connections=max_connections,
            label=label,
        )
