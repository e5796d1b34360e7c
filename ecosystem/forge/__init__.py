"""Forge: LLM inference on Claude, OpenAI, Gemini and OpenAI-compatible endpoints, plus tools.

``build_forge(settings)`` returns the ``Forge`` to use: an ``HttpForgeClient`` when
``settings.endpoint`` names a remote Forge, else an ``EmbeddedForge`` that calls the providers
itself.  Both satisfy the same ``Forge`` Protocol and raise the same ``ForgeError`` classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ecosystem._lazy import lazy_exports

if TYPE_CHECKING:
    from ecosystem.forge.client import HttpForgeClient
    from ecosystem.forge.config import (
        ForgeSettings,
        ModelPrice,
        OfflineFailure,
        OpenAICompatibleEndpoint,
        RateLimit,
        RetryPolicy,
    )
    from ecosystem.forge.embedded import EmbeddedForge
    from ecosystem.forge.errors import (
        ForgeAuthenticationFailed,
        ForgeContentFiltered,
        ForgeError,
        ForgeInvalidRequest,
        ForgeMalformedResponse,
        ForgeQuotaExhausted,
        ForgeRateLimited,
        ForgeServiceUnavailable,
        ForgeTimeout,
        ModelNotFound,
        ToolError,
        ToolNotFound,
    )
    from ecosystem.forge.models import (
        ChatMessage,
        ForgeInferenceRequest,
        ForgeInferenceResponse,
        ModelInfo,
        TokenUsage,
        ToolInfo,
        ToolResult,
    )
    from ecosystem.forge.prices import PriceTable, cost
    from ecosystem.forge.protocol import Forge
    from ecosystem.forge.server import create_forge_app
    from ecosystem.forge.tools import Tool, ToolRegistry

_EXPORTS: dict[str, tuple[str, ...]] = {
    "client": ("HttpForgeClient",),
    "config": ("ForgeSettings", "ModelPrice", "OfflineFailure", "OpenAICompatibleEndpoint", "RateLimit", "RetryPolicy"),
    "embedded": ("EmbeddedForge",),
    "errors": ("ForgeAuthenticationFailed", "ForgeContentFiltered", "ForgeError", "ForgeInvalidRequest", "ForgeMalformedResponse", "ForgeQuotaExhausted", "ForgeRateLimited", "ForgeServiceUnavailable", "ForgeTimeout", "ModelNotFound", "ToolError", "ToolNotFound"),
    "models": ("ChatMessage", "ForgeInferenceRequest", "ForgeInferenceResponse", "ModelInfo", "TokenUsage", "ToolInfo", "ToolResult"),
    "prices": ("PriceTable", "cost"),
    "protocol": ("Forge",),
    "server": ("create_forge_app",),
    "tools": ("Tool", "ToolRegistry"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def build_forge(settings: ForgeSettings, transport: httpx.AsyncBaseTransport | None = None) -> Forge:
    """The Forge ``settings`` describe: remote when ``endpoint`` is set, embedded otherwise."""
    from ecosystem.forge.client import HttpForgeClient
    from ecosystem.forge.embedded import EmbeddedForge

    if settings.endpoint:
        policy = settings.retry_policy
        # The remote Forge retries too; give it time for every attempt and the longest wait.
        timeout = settings.timeout * policy.max_attempts + policy.max_retry_after
        return HttpForgeClient(settings.endpoint, token=settings.token, timeout=timeout, transport=transport)
    return EmbeddedForge(settings, transport=transport)


__all__ = [
    "ChatMessage",
    "EmbeddedForge",
    "Forge",
    "ForgeAuthenticationFailed",
    "ForgeContentFiltered",
    "ForgeError",
    "ForgeInferenceRequest",
    "ForgeInferenceResponse",
    "ForgeInvalidRequest",
    "ForgeMalformedResponse",
    "ForgeQuotaExhausted",
    "ForgeRateLimited",
    "ForgeServiceUnavailable",
    "ForgeSettings",
    "ForgeTimeout",
    "HttpForgeClient",
    "ModelInfo",
    "ModelNotFound",
    "ModelPrice",
    "OfflineFailure",
    "OpenAICompatibleEndpoint",
    "PriceTable",
    "RateLimit",
    "RetryPolicy",
    "TokenUsage",
    "Tool",
    "ToolError",
    "ToolInfo",
    "ToolNotFound",
    "ToolRegistry",
    "ToolResult",
    "build_forge",
    "cost",
    "create_forge_app",
]
