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
    from ecosystem.forge.client import (
        HttpForgeClient,
    )
    from ecosystem.forge.config import (
        ForgeSettings,
        LongContextPrice,
        ModelPrice,
        OfflineFailure,
        OpenAICompatibleEndpoint,
        RateLimit,
        RetryPolicy,
    )
    from ecosystem.forge.embedded import (
        EmbeddedForge,
    )
    from ecosystem.forge.errors import (
        ForgeAuthenticationFailed,
        ForgeContentFiltered,
        ForgeError,
        ForgeInvalidRequest,
        ForgeMalformedResponse,
        ForgeQuotaExhausted,
        ForgeRateLimited,
        ForgeSchemaViolation,
        ForgeServiceUnavailable,
        ForgeTimeout,
        ModelNotFound,
        ToolError,
        ToolNotFound,
        may_fall_back,
    )
    from ecosystem.forge.estimates import (
        estimate_prompt_tokens,
        worst_case_cost,
    )
    from ecosystem.forge.models import (
        ChatMessage,
        EmbeddingRequest,
        EmbeddingResponse,
        ForgeInferenceRequest,
        ForgeInferenceResponse,
        ModelInfo,
        TokenUsage,
        ToolInfo,
        ToolResult,
    )
    from ecosystem.forge.prices import (
        PriceTable,
        Quote,
        Rates,
        Tier,
        cost,
        user_prices_path,
    )
    from ecosystem.forge.protocol import (
        Forge,
    )
    from ecosystem.forge.server import (
        create_forge_app,
    )
    from ecosystem.forge.structured import (
        SchemaProblem,
        check_response,
        parse_json_answer,
        repair_request,
        validate_answer,
        violation,
    )
    from ecosystem.forge.tools import (
        Tool,
        ToolRegistry,
    )

_EXPORTS: dict[str, tuple[str, ...]] = {
    "client": ("HttpForgeClient",),
    "config": ("ForgeSettings", "LongContextPrice", "ModelPrice", "OfflineFailure", "OpenAICompatibleEndpoint", "RateLimit", "RetryPolicy",),
    "embedded": ("EmbeddedForge",),
    "errors": ("ForgeAuthenticationFailed", "ForgeContentFiltered", "ForgeError", "ForgeInvalidRequest", "ForgeMalformedResponse", "ForgeQuotaExhausted", "ForgeRateLimited", "ForgeSchemaViolation", "ForgeServiceUnavailable", "ForgeTimeout", "ModelNotFound", "ToolError", "ToolNotFound", "may_fall_back",),
    "estimates": ("estimate_prompt_tokens", "worst_case_cost",),
    "models": ("ChatMessage", "EmbeddingRequest", "EmbeddingResponse", "ForgeInferenceRequest", "ForgeInferenceResponse", "ModelInfo", "TokenUsage", "ToolInfo", "ToolResult",),
    "prices": ("PriceTable", "Quote", "Rates", "Tier", "cost", "user_prices_path",),
    "protocol": ("Forge",),
    "server": ("create_forge_app",),
    "structured": ("SchemaProblem", "check_response", "parse_json_answer", "repair_request", "validate_answer", "violation",),
    "tools": ("Tool", "ToolRegistry",),
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
    "EmbeddingRequest",
    "EmbeddingResponse",
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
    "ForgeSchemaViolation",
    "ForgeServiceUnavailable",
    "ForgeSettings",
    "ForgeTimeout",
    "HttpForgeClient",
    "LongContextPrice",
    "ModelInfo",
    "ModelNotFound",
    "ModelPrice",
    "OfflineFailure",
    "OpenAICompatibleEndpoint",
    "PriceTable",
    "Quote",
    "RateLimit",
    "Rates",
    "RetryPolicy",
    "SchemaProblem",
    "Tier",
    "TokenUsage",
    "Tool",
    "ToolError",
    "ToolInfo",
    "ToolNotFound",
    "ToolRegistry",
    "ToolResult",
    "build_forge",
    "check_response",
    "cost",
    "create_forge_app",
    "estimate_prompt_tokens",
    "may_fall_back",
    "parse_json_answer",
    "repair_request",
    "user_prices_path",
    "validate_answer",
    "violation",
    "worst_case_cost",
]
