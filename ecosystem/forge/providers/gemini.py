"""Google Gemini adapter: ``POST /v1beta/models/{model}:generateContent`` with ``x-goog-api-key``.

Mapping: turns -> ``contents`` (assistant is ``model``); ``system`` and system-role messages ->
``systemInstruction``; ``temperature``, ``top_p``, ``max_tokens``, ``stop_sequences`` and the
penalties -> ``generationConfig`` (``topP``, ``maxOutputTokens``, ``stopSequences``,
``frequencyPenalty``, ``presencePenalty``; penalties only when set, as some models reject them).
``metadata`` is not sent.

Issue 15, against google-genai's ``types`` (``GenerationConfig``, ``ThinkingConfig``, ``Schema``,
``GenerateContentResponseUsageMetadata``):

* ``response_schema`` -> ``generationConfig.responseMimeType: application/json`` and
  ``responseSchema``, converted to Gemini's OpenAPI subset (``schema_dialects.gemini_schema``).
* ``thinking_budget`` -> ``generationConfig.thinkingConfig.thinkingBudget`` (0 turns thinking off
  where the model allows it), with ``maxOutputTokens`` = answer + budget: Gemini counts thoughts
  against ``maxOutputTokens``.  ``reasoning_effort`` -> ``thinkingConfig.thinkingLevel`` on
  Gemini 3 models (upper case); 2.x models take only a budget, so there it is dropped and listed.
* ``embed``: ``:embedContent`` (one text) or ``:batchEmbedContents`` (``requests[]`` each with
  ``model``, ``content``, optional ``taskType``/``outputDimensionality``); the API reports no token
  counts, so usage is estimated (``metadata.usage_estimated``).
* ``cache``: Gemini caches a repeated prefix implicitly; ``systemInstruction`` and the history
  already come first, so nothing is sent.

Usage: ``promptTokenCount`` already includes ``cachedContentTokenCount``; thinking tokens
(``thoughtsTokenCount``) are not in ``candidatesTokenCount`` (``totalTokenCount`` is prompt +
candidates + tool-use prompt + thoughts) but are billed as output, so they are added to the
completion tokens and reported as ``reasoning_tokens``.  A blocked
prompt (``promptFeedback.blockReason``) or a candidate stopped for SAFETY and its kin is
``ForgeContentFiltered``.  Errors carry a gRPC ``status``; ``RESOURCE_EXHAUSTED`` is a rate limit
whose ``RetryInfo.retryDelay`` ("37s") is its retry_after; an invalid key arrives as 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` and is an authentication failure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeContentFiltered,
    ForgeError,
    ForgeInvalidRequest,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
)
from ecosystem.forge.estimates import text_tokens
from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    TokenUsage,
)
from ecosystem.forge.providers.base import HttpProvider, as_int, as_vector, malformed, parse_retry_after
from ecosystem.forge.schema_dialects import Converted, gemini_schema
from ecosystem.forge.structured import try_parse_json

_STATUSES: dict[str, type[ForgeError]] = {
    "RESOURCE_EXHAUSTED": ForgeRateLimited,
    "UNAUTHENTICATED": ForgeAuthenticationFailed,
    "PERMISSION_DENIED": ForgeAuthenticationFailed,
    "NOT_FOUND": ModelNotFound,
    "INVALID_ARGUMENT": ForgeInvalidRequest,
    "FAILED_PRECONDITION": ForgeInvalidRequest,
    "OUT_OF_RANGE": ForgeInvalidRequest,
    "UNAVAILABLE": ForgeServiceUnavailable,
    "INTERNAL": ForgeServiceUnavailable,
    "DEADLINE_EXCEEDED": ForgeTimeout,
}
_BLOCKED_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


def _retry_delay(details: Any) -> float | None:
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(detail.get("retryDelay", "")).rstrip("s")
            try:
                return max(0.0, float(delay))
            except ValueError:
                return None
    return None


def _has_reason(details: Any, reason: str) -> bool:
    return any(
        isinstance(d, dict) and d.get("reason") == reason
        for d in (details if isinstance(details, list) else [])
    )


class GeminiProvider(HttpProvider):
    name = "gemini"

    def auth_headers(self, api_key: SecretStr | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key.get_secret_value()} if api_key is not None else {}

    def build_body(self, request: ForgeInferenceRequest, model: str = "") -> dict[str, Any]:
        return self.plan(request, model)[0]

    def plan(
        self, request: ForgeInferenceRequest, model: str
    ) -> tuple[dict[str, Any], list[str], Converted | None]:
        contents = [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.conversation()
            if m.role != "system"
        ]
        config: dict[str, Any] = {"temperature": request.temperature, "maxOutputTokens": request.output_cap()}
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.stop_sequences:
            config["stopSequences"] = list(request.stop_sequences)
        if request.frequency_penalty is not None:
            config["frequencyPenalty"] = request.frequency_penalty
        if request.presence_penalty is not None:
            config["presencePenalty"] = request.presence_penalty
        dropped: list[str] = []
        if request.thinking_budget is not None:
            config["thinkingConfig"] = {"thinkingBudget": request.thinking_budget}
            if request.reasoning_effort is not None:
                dropped.append("reasoning_effort")  # Gemini refuses a budget and a level together
        elif request.reasoning_effort is not None:
            if model.removeprefix("models/").startswith("gemini-2"):
                dropped.append("reasoning_effort")
            else:
                config["thinkingConfig"] = {"thinkingLevel": request.reasoning_effort.upper()}
        converted = None
        if request.response_schema is not None:
            converted = gemini_schema(request.response_schema)
            config["responseMimeType"] = "application/json"
            config["responseSchema"] = converted.schema
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        system = request.system_text()
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body, dropped, converted

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        model_id = model.removeprefix("models/")
        body, dropped, converted = self.plan(request, model_id)
        data = await self.post_json(f"/v1beta/models/{quote(model_id, safe='.-_')}:generateContent", body)
        return self.read_answer(data, model_id, dropped, converted)

    def read_answer(
        self, data: dict[str, Any], model_id: str, dropped: list[str], converted: Converted | None
    ) -> ForgeInferenceResponse:
        """A generateContent answer as a response (also an inlined batch response)."""
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise ForgeContentFiltered(f"{self.label} blocked the prompt ({feedback['blockReason']})")
        try:
            candidate = data["candidates"][0]
            finish_reason = candidate.get("finishReason")
            if finish_reason in _BLOCKED_FINISH:
                raise ForgeContentFiltered(
                    f"{self.label} blocked the response (finishReason {finish_reason})"
                )
            parts = (candidate.get("content") or {}).get("parts") or []
            text = "".join(
                p["text"] for p in parts if isinstance(p, dict) and "text" in p and not p.get("thought")
            )
            usage = data.get("usageMetadata") or {}
            prompt_tokens = as_int(usage.get("promptTokenCount"))
            thoughts = as_int(usage.get("thoughtsTokenCount"))
            completion_tokens = as_int(usage.get("candidatesTokenCount")) + thoughts
            total = as_int(usage.get("totalTokenCount")) or prompt_tokens + completion_tokens
            cached = as_int(usage.get("cachedContentTokenCount"))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self.label, exc) from exc
        metadata: dict[str, Any] = {"response_id": data.get("responseId")}
        if dropped:
            metadata["dropped_parameters"] = dropped
        parsed: Any = None
        if converted is not None:
            parsed = try_parse_json(text)[1]
            metadata["structured_output"] = "gemini:responseSchema"
            if converted.notes:
                metadata["schema_notes"] = converted.notes
        return ForgeInferenceResponse(
            text=text,
            model=str(data.get("modelVersion") or model_id),
            usage=TokenUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=total,
                cache_read_tokens=min(cached, prompt_tokens),
                reasoning_tokens=thoughts,
            ),
            provider=self.label,
            finish_reason=finish_reason,
            metadata=metadata,
            parsed=parsed,
        )

    async def embed(self, request: EmbeddingRequest, model: str) -> EmbeddingResponse:
        """``:embedContent`` for one text, ``:batchEmbedContents`` for several."""
        model_id = model.removeprefix("models/")
        options: dict[str, Any] = {}
        if request.task_type:
            options["taskType"] = request.task_type
        if request.dimensions is not None:
            options["outputDimensionality"] = request.dimensions
        path = f"/v1beta/models/{quote(model_id, safe='.-_')}"
        try:
            if len(request.input) == 1:
                data = await self.post_json(
                    f"{path}:embedContent", {"content": {"parts": [{"text": request.input[0]}]}, **options}
                )
                vectors = [as_vector(data["embedding"]["values"])]
            else:
                requests = [
                    {"model": f"models/{model_id}", "content": {"parts": [{"text": text}]}, **options}
                    for text in request.input
                ]
                data = await self.post_json(f"{path}:batchEmbedContents", {"requests": requests})
                vectors = [as_vector(item["values"]) for item in data["embeddings"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self.label, exc) from exc
        # The embeddings API reports no token counts: estimated, and said so.
        tokens = sum(text_tokens(text) for text in request.input)
        return EmbeddingResponse(
            embeddings=vectors,
            model=model_id,
            provider=self.label,
            usage=TokenUsage(prompt_tokens=tokens, total_tokens=tokens),
            metadata={"usage_estimated": True},
        )

    def error_from(self, response: httpx.Response, body: Any) -> ForgeError:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(body, list) and body and isinstance(body[0], dict):  # some proxies wrap it in a list
            error = body[0].get("error")
        if not isinstance(error, dict):
            return self.fallback_error(response)
        status = str(error.get("status") or "")
        message = str(error.get("message") or status)
        details = error.get("details")
        cls = _STATUSES.get(status)
        if _has_reason(details, "API_KEY_INVALID"):
            cls = ForgeAuthenticationFailed
        if cls is None:
            return self.fallback_error(response, message)
        retry_after = parse_retry_after(response.headers)
        if retry_after is None:
            retry_after = _retry_delay(details)
        return cls(f"{self.label}: {status}: {self.redact(message)}", retry_after=retry_after)
