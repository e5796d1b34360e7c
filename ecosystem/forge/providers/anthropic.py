"""Anthropic Messages API adapter: ``POST /v1/messages``.

Mapping: ``system`` (and system-role messages) -> top-level ``system``; ``stop_sequences``,
``max_tokens``, ``temperature`` and ``top_p`` one to one; ``metadata.user_id`` -> ``metadata``.
Dropped (the API has no such field): ``frequency_penalty``, ``presence_penalty`` and the rest of
``metadata``.  Recent Claude models refuse ``temperature`` and ``top_p`` together, so when only
``top_p`` was set explicitly the default temperature is not sent.

Usage: Anthropic's ``input_tokens`` excludes cached tokens, so ``prompt_tokens`` = input +
cache read + cache creation.  A ``refusal`` stop reason is ``ForgeContentFiltered``; 529
``overloaded_error`` is ``ForgeServiceUnavailable``.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeContentFiltered,
    ForgeError,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse, TokenUsage
from ecosystem.forge.providers.base import HttpProvider, as_int, malformed, parse_retry_after

ANTHROPIC_VERSION = "2023-06-01"

_ERROR_TYPES: dict[str, type[ForgeError]] = {
    "invalid_request_error": ForgeInvalidRequest,
    "request_too_large": ForgeInvalidRequest,
    "authentication_error": ForgeAuthenticationFailed,
    "permission_error": ForgeAuthenticationFailed,
    "not_found_error": ModelNotFound,
    "rate_limit_error": ForgeRateLimited,
    "api_error": ForgeServiceUnavailable,
    "overloaded_error": ForgeServiceUnavailable,
    "timeout_error": ForgeTimeout,
}


class AnthropicProvider(HttpProvider):
    name = "anthropic"

    def auth_headers(self, api_key: SecretStr | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key is not None:
            headers["x-api-key"] = api_key.get_secret_value()
        return headers

    def build_body(self, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content} for m in request.conversation() if m.role != "system"
            ],
        }
        system = request.system_text()
        if system:
            body["system"] = system
        only_top_p = request.top_p is not None and "temperature" not in request.model_fields_set
        if not only_top_p:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop_sequences:
            body["stop_sequences"] = list(request.stop_sequences)
        user_id = request.metadata.get("user_id")
        if isinstance(user_id, str):
            body["metadata"] = {"user_id": user_id}
        return body

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        data = await self.post_json("/v1/messages", self.build_body(request, model))
        try:
            blocks = data["content"]
            text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")
            usage = data["usage"]
            input_tokens = as_int(usage["input_tokens"])
            output_tokens = as_int(usage["output_tokens"])
            cache_read = as_int(usage.get("cache_read_input_tokens"))
            cache_write = as_int(usage.get("cache_creation_input_tokens"))
            stop_reason = data.get("stop_reason")
        except (KeyError, TypeError, ValueError) as exc:
            raise malformed(self.label, exc) from exc
        if data.get("type", "message") != "message" or not isinstance(blocks, list):
            raise ForgeMalformedResponse(
                f"{self.label} answered with a {data.get('type')!r} object, not a message"
            )
        if stop_reason == "refusal":
            raise ForgeContentFiltered(f"{self.label} declined to answer (stop_reason 'refusal')")
        prompt_tokens = input_tokens + cache_read + cache_write
        return ForgeInferenceResponse(
            text=text,
            model=str(data.get("model") or model),
            usage=TokenUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=output_tokens,
                total_tokens=prompt_tokens + output_tokens,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            ),
            provider=self.label,
            finish_reason=stop_reason,
            metadata={"response_id": data.get("id")},
        )

    def error_from(self, response: httpx.Response, body: Any) -> ForgeError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return self.fallback_error(response)
        kind = str(error.get("type", ""))
        message = str(error.get("message", "")) or kind
        cls = _ERROR_TYPES.get(kind)
        if cls is None:
            return self.fallback_error(response, f"{kind}: {message}" if kind else message)
        return cls(
            f"{self.label}: {kind}: {self.redact(message)}", retry_after=parse_retry_after(response.headers)
        )
