"""OpenAI Chat Completions adapter: ``POST {base_url}/chat/completions`` with a Bearer key.

Mapping: ``system`` -> a leading system message; ``max_tokens`` -> ``max_completion_tokens`` for
reasoning models (o1/o3/o4, gpt-5), which reject ``max_tokens``, and ``max_tokens`` otherwise;
``stop_sequences`` -> ``stop``; ``top_p``, ``frequency_penalty``, ``presence_penalty`` one to one.
Reasoning models also reject sampling parameters and ``stop``, so those are dropped for them and
the dropped names are listed in the response metadata (``dropped_parameters``) rather than failing the call.
``metadata`` is orchestration data and is not sent.

Issue 15, against openai-python's types (``completion_create_params``, ``completion_usage``):

* ``reasoning_effort`` is sent to reasoning models as is; OpenAI has no thinking budget, and
  ``max_completion_tokens`` already bounds reasoning plus answer, so a ``thinking_budget`` only
  raises that cap.  Non-reasoning OpenAI models refuse ``reasoning_effort``: dropped and listed.
  OpenAI-compatible servers get it whenever it is set (their models' names say nothing).
* ``response_schema`` -> ``response_format: {type: json_schema, json_schema: {name, schema,
  strict}}``, made strict-mode-ready by ``schema_dialects.openai_strict`` (or sent non-strict
  with a note when strict mode cannot express it).
* ``embed``: ``POST {base_url}/embeddings`` (``input`` list, ``encoding_format: float``,
  optional ``dimensions``), vectors ordered by ``index``.
* ``cache``: OpenAI caches a repeated prefix by itself; the system prompt already goes first, so
  nothing is sent.  ``usage.prompt_tokens_details.cached_tokens`` is ``cache_read_tokens`` and
  ``completion_tokens_details.reasoning_tokens`` is ``reasoning_tokens`` (inside
  ``completion_tokens``, as billed).

A 429 means a rate limit, unless its code is ``insufficient_quota`` (billing: not retryable).
``finish_reason: content_filter`` or a ``refusal`` is ``ForgeContentFiltered``.  ``retry-after-ms``
wins over ``retry-after``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import SecretStr

from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeContentFiltered,
    ForgeError,
    ForgeQuotaExhausted,
    ForgeRateLimited,
    ModelNotFound,
)
from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    TokenUsage,
)
from ecosystem.forge.providers.base import HttpProvider, as_int, as_vector, malformed, parse_retry_after
from ecosystem.forge.schema_dialects import Converted, openai_strict, restore, schema_name, unwrap
from ecosystem.forge.structured import try_parse_json

_REASONING = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)")

_ERROR_CODES: dict[str, type[ForgeError]] = {
    "insufficient_quota": ForgeQuotaExhausted,
    "rate_limit_exceeded": ForgeRateLimited,
    "model_not_found": ModelNotFound,
    "invalid_api_key": ForgeAuthenticationFailed,
    "content_filter": ForgeContentFiltered,
    "content_policy_violation": ForgeContentFiltered,
}


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING.match(model))


class OpenAIProvider(HttpProvider):
    name = "openai"
    # Whether reasoning_effort goes to models whose name does not say they reason.
    any_model_reasons = False

    def auth_headers(self, api_key: SecretStr | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key is not None else {}

    def build_body(self, request: ForgeInferenceRequest, model: str) -> tuple[dict[str, Any], list[str]]:
        body, dropped, _ = self.plan(request, model)
        return body, dropped

    def plan(
        self, request: ForgeInferenceRequest, model: str
    ) -> tuple[dict[str, Any], list[str], Converted | None]:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.conversation())
        body: dict[str, Any] = {"model": model, "messages": messages}
        sampling = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "frequency_penalty": request.frequency_penalty,
            "presence_penalty": request.presence_penalty,
        }
        dropped: list[str] = []
        reasoning = is_reasoning_model(model)
        if reasoning:
            body["max_completion_tokens"] = request.output_cap()
            dropped = [k for k, v in sampling.items() if v is not None and (k != "temperature" or v != 1)]
            if request.stop_sequences:
                dropped.append("stop_sequences")
        else:
            body["max_tokens"] = request.output_cap()
            body.update({k: v for k, v in sampling.items() if v is not None})
            if request.stop_sequences:
                body["stop"] = list(request.stop_sequences)
        if request.reasoning_effort is not None:
            if reasoning or self.any_model_reasons:
                body["reasoning_effort"] = request.reasoning_effort
            else:
                dropped.append("reasoning_effort")
        converted = None
        if request.response_schema is not None:
            converted = openai_strict(request.response_schema)
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(request.response_schema),
                    "schema": converted.schema,
                    "strict": converted.strict,
                },
            }
        return body, dropped, converted

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        body, dropped, converted = self.plan(request, model)
        data = await self.post_json("chat/completions", body)
        return self.read_answer(data, request, model, dropped, converted)

    def read_answer(
        self,
        data: dict[str, Any],
        request: ForgeInferenceRequest,
        model: str,
        dropped: list[str],
        converted: Converted | None,
    ) -> ForgeInferenceResponse:
        """A Chat Completions answer as a response (also each line of a batch's output file)."""
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            refusal = message.get("refusal")
            finish_reason = choice.get("finish_reason")
            usage = data.get("usage") or {}
            prompt_tokens = as_int(usage.get("prompt_tokens"))
            completion_tokens = as_int(usage.get("completion_tokens"))
            total = as_int(usage.get("total_tokens")) or prompt_tokens + completion_tokens
            prompt_details = usage.get("prompt_tokens_details") or {}
            cached = as_int(prompt_details.get("cached_tokens"))
            cache_write = as_int(prompt_details.get("cache_write_tokens"))
            reasoning = as_int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self.label, exc) from exc
        if finish_reason == "content_filter" or (refusal and not content):
            reason = f": {self.redact(str(refusal))}" if refusal else ""
            raise ForgeContentFiltered(f"{self.label} filtered the response{reason}")
        if content is not None and not isinstance(content, str):
            raise malformed(self.label, TypeError("message.content is not a string"))
        metadata: dict[str, Any] = {"response_id": data.get("id")}
        if dropped:
            metadata["dropped_parameters"] = dropped
        parsed: Any = None
        if converted is not None and request.response_schema is not None:
            ok, value = try_parse_json(content or "")
            if ok:
                parsed = unwrap(value, converted.wrapped)
                if converted.strict:
                    parsed = restore(parsed, request.response_schema)
            metadata["structured_output"] = "openai:json_schema" + (" strict" if converted.strict else "")
            if converted.notes:
                metadata["schema_notes"] = converted.notes
        return ForgeInferenceResponse(
            text=content or "",
            model=str(data.get("model") or model),
            usage=TokenUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=total,
                cache_read_tokens=cached,
                cache_write_tokens=min(cache_write, max(0, prompt_tokens - cached)),
                reasoning_tokens=min(reasoning, completion_tokens),
            ),
            provider=self.label,
            finish_reason=finish_reason,
            metadata=metadata,
            parsed=parsed,
        )

    async def embed(self, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        """``POST {base_url}/embeddings``: one vector per input, re-ordered by ``index``."""
        body: dict[str, Any] = {"model": model, "input": list(request.input), "encoding_format": "float"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        data = await self.post_json("embeddings", body)
        try:
            rows = sorted(data["data"], key=lambda row: as_int(row["index"]))
            vectors = [as_vector(row["embedding"]) for row in rows]
            usage = data.get("usage") or {}
            prompt_tokens = as_int(usage.get("prompt_tokens"))
            total = as_int(usage.get("total_tokens")) or prompt_tokens
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self.label, exc) from exc
        return EmbeddingResponse(
            embeddings=vectors,
            model=str(data.get("model") or model),
            provider=self.label,
            usage=TokenUsage(prompt_tokens=prompt_tokens, total_tokens=total),
        )

    def error_from(self, response: httpx.Response, body: Any) -> ForgeError:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str):  # some compatible servers answer {"error": "message"}
            return self.fallback_error(response, error)
        if not isinstance(error, dict):
            detail = body.get("detail") if isinstance(body, dict) else None
            return self.fallback_error(response, str(detail) if detail else None)
        code = str(error.get("code") or "")
        kind = str(error.get("type") or "")
        message = str(error.get("message") or code or kind)
        cls = _ERROR_CODES.get(code) or _ERROR_CODES.get(kind)
        if cls is None:
            return self.fallback_error(response, message)
        label = code or kind
        return cls(
            f"{self.label}: {label}: {self.redact(message)}", retry_after=parse_retry_after(response.headers)
        )
