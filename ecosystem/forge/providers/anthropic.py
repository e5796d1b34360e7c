"""Anthropic Messages API adapter: ``POST /v1/messages``.

Mapping: ``system`` (and system-role messages) -> top-level ``system``; ``stop_sequences``,
``max_tokens``, ``temperature`` and ``top_p`` one to one; ``metadata.user_id`` -> ``metadata``.
Dropped (the API has no such field): ``frequency_penalty``, ``presence_penalty`` and the rest of
``metadata``.  Recent Claude models refuse ``temperature`` and ``top_p`` together, so when only
``top_p`` was set explicitly the default temperature is not sent.

The features of issue 15, checked against anthropic-sdk-python's types:

* ``cache``: Anthropic caches only what a request marks.  ``system`` becomes a list of text blocks
  whose last block carries ``cache_control: {type: ephemeral}``; ``messages`` marks the last block
  of the last turn before the current one (the stable history).  Usage reports the cache apart
  (``cache_read_input_tokens``, ``cache_creation_input_tokens``).
* ``thinking_budget``: ``thinking: {type: enabled, budget_tokens}`` (at least 1,024) with
  ``max_tokens`` = answer + budget, since the budget must fit under ``max_tokens``.  Sampling
  parameters are not sent with thinking.  Models that only think adaptively (Opus >= 4.7,
  Sonnet >= 5, Fable, Mythos: a budget is a 400 there, as are non-default sampling parameters)
  get ``thinking: {type: adaptive}`` instead, with the same ``max_tokens`` cap.
* ``reasoning_effort``: adaptive thinking with ``output_config.effort`` (``minimal`` is sent as
  ``low``, Anthropic's least) on models >= 4.6; older models take thinking only as a budget, so
  the effort is dropped there and listed in ``dropped_parameters``.  Thinking blocks are never
  part of ``text``; ``usage.output_tokens_details.thinking_tokens`` is ``reasoning_tokens``
  (inside ``output_tokens``, which is what is billed).
* ``response_schema``: a forced tool call (``tools: [{name, description, input_schema}]``,
  ``tool_choice: {type: tool, name}``); the answer is the ``tool_use`` block's ``input``.  Forced
  tool use is refused with thinking and by models >= 5.5, so those get the JSON outputs mode,
  ``output_config.format: {type: json_schema, schema}``, and the answer is the text.

Usage: Anthropic's ``input_tokens`` excludes cached tokens, so ``prompt_tokens`` = input +
cache read + cache creation.  A ``refusal`` stop reason is ``ForgeContentFiltered``; 529
``overloaded_error`` is ``ForgeServiceUnavailable``.
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
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse, TokenUsage
from ecosystem.forge.providers.base import HttpProvider, as_int, malformed, parse_retry_after
from ecosystem.forge.schema_dialects import (
    Converted,
    anthropic_output_format,
    anthropic_tool_schema,
    schema_name,
    unwrap,
)
from ecosystem.forge.structured import try_parse_json

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


_VERSION = re.compile(r"claude-(opus|sonnet|haiku|fable|mythos)-(\d+)(?:-(\d))?(?:-|$)")
_CACHE = {"type": "ephemeral"}
MIN_THINKING_BUDGET = 1024
_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}


def claude_version(model: str) -> tuple[str, tuple[int, int]] | None:
    """(family, (major, minor)) of a Claude 4+-style id (``claude-sonnet-4-5-20250929`` -> sonnet 4.5)."""
    found = _VERSION.search(model.lower())
    if found is None:
        return None
    return found.group(1), (int(found.group(2)), int(found.group(3) or 0))


def adaptive_only(model: str) -> bool:
    """Models that think only adaptively and refuse a budget and non-default sampling parameters."""
    found = claude_version(model)
    if found is None:
        return False
    family, version = found
    return family in ("fable", "mythos") or (family == "opus" and version >= (4, 7)) or version >= (5, 0)


def takes_effort(model: str) -> bool:
    found = claude_version(model)
    return found is not None and (found[0] in ("fable", "mythos") or found[1] >= (4, 6))


def refuses_forced_tools(model: str) -> bool:
    found = claude_version(model)
    return found is not None and found[1] >= (5, 5)


class _Plan:
    """What one request becomes on the wire, and what to say about it in the response metadata."""

    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.notes: list[str] = []
        self.schema: Converted | None = None
        self.tool: str | None = None


class AnthropicProvider(HttpProvider):
    name = "anthropic"

    def auth_headers(self, api_key: SecretStr | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key is not None:
            headers["x-api-key"] = api_key.get_secret_value()
        return headers

    def build_body(self, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        return self.plan(request, model)[0]

    def plan(self, request: ForgeInferenceRequest, model: str) -> tuple[dict[str, Any], _Plan]:
        plan = _Plan()
        turns = [m for m in request.conversation() if m.role != "system"]
        messages: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in turns]
        if "messages" in request.cache:
            if len(messages) > 1:
                prior = messages[-2]
                prior["content"] = [{"type": "text", "text": prior["content"], "cache_control": _CACHE}]
            else:
                plan.notes.append("cache 'messages': no prior turn to mark")
        body: dict[str, Any] = {"model": model, "max_tokens": request.output_cap(), "messages": messages}
        system = request.system_text()
        if system:
            cached = "system" in request.cache
            body["system"] = [{"type": "text", "text": system, "cache_control": _CACHE}] if cached else system
        elif "system" in request.cache:
            plan.notes.append("cache 'system': there is no system prompt to mark")
        thinking = self._thinking(request, model, body, plan)
        set_fields = request.model_fields_set
        if thinking or adaptive_only(model):
            plan.dropped.extend(k for k in ("temperature", "top_p") if k in set_fields)
        else:
            only_top_p = request.top_p is not None and "temperature" not in set_fields
            if not only_top_p:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        if request.stop_sequences:
            body["stop_sequences"] = list(request.stop_sequences)
        user_id = request.metadata.get("user_id")
        if isinstance(user_id, str):
            body["metadata"] = {"user_id": user_id}
        if request.response_schema is not None:
            self._structured(request.response_schema, model, thinking, body, plan)
        return body, plan

    def _thinking(self, request: ForgeInferenceRequest, model: str, body: dict[str, Any], plan: _Plan) -> bool:
        budget = request.thinking_budget or 0
        effort = request.reasoning_effort
        if not budget and effort is None:
            return False
        if adaptive_only(model) or (not budget and takes_effort(model)):
            body["thinking"] = {"type": "adaptive"}
            if budget:
                plan.notes.append(f"{model} takes no thinking budget: sent adaptive thinking under max_tokens")
            if effort is not None:
                body.setdefault("output_config", {})["effort"] = _EFFORT[effort]
            return True
        if not budget:
            plan.dropped.append("reasoning_effort")
            plan.notes.append(f"{model} thinks only with a budget: set thinking_budget to make it think")
            return False
        if budget < MIN_THINKING_BUDGET:
            raise ForgeInvalidRequest(
                f"{self.label}: extended thinking needs thinking_budget >= {MIN_THINKING_BUDGET} (got {budget})"
            )
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if effort is not None:
            if takes_effort(model):
                body.setdefault("output_config", {})["effort"] = _EFFORT[effort]
            else:
                plan.dropped.append("reasoning_effort")
        return True

    def _structured(
        self, schema: dict[str, Any], model: str, thinking: bool, body: dict[str, Any], plan: _Plan
    ) -> None:
        if thinking or refuses_forced_tools(model):
            plan.schema = anthropic_output_format(schema)
            body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": plan.schema.schema}
            reason = "thinking is on" if thinking else f"{model} refuses forced tool use"
            plan.notes.append(f"structured output via output_config.format ({reason})")
            return
        plan.schema = anthropic_tool_schema(schema)
        plan.tool = schema_name(schema)
        body["tools"] = [
            {
                "name": plan.tool,
                "description": "Record the answer. Its input is the complete answer, matching the schema.",
                "input_schema": plan.schema.schema,
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": plan.tool}

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        body, plan = self.plan(request, model)
        data = await self.post_json("/v1/messages", body)
        return self.read_answer(data, model, plan)

    def read_answer(self, data: dict[str, Any], model: str, plan: _Plan) -> ForgeInferenceResponse:
        """A Messages API answer as a response (also a batch result's ``message``)."""
        try:
            blocks = data["content"]
            text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")
            usage = data["usage"]
            input_tokens = as_int(usage["input_tokens"])
            output_tokens = as_int(usage["output_tokens"])
            cache_read = as_int(usage.get("cache_read_input_tokens"))
            cache_write = as_int(usage.get("cache_creation_input_tokens"))
            details = usage.get("output_tokens_details") or {}
            thinking_tokens = as_int(details.get("thinking_tokens"))
            stop_reason = data.get("stop_reason")
            tool_input = self._tool_input(blocks, plan.tool)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise malformed(self.label, exc) from exc
        if data.get("type", "message") != "message" or not isinstance(blocks, list):
            raise ForgeMalformedResponse(
                f"{self.label} answered with a {data.get('type')!r} object, not a message"
            )
        if stop_reason == "refusal":
            raise ForgeContentFiltered(f"{self.label} declined to answer (stop_reason 'refusal')")
        metadata: dict[str, Any] = {"response_id": data.get("id")}
        parsed: Any = None
        if plan.schema is not None:
            if tool_input is not None:
                parsed = unwrap(tool_input, plan.schema.wrapped)
                metadata["structured_output"] = "anthropic:tool"
            else:
                ok, value = try_parse_json(text)
                parsed = unwrap(value, plan.schema.wrapped) if ok else None
                metadata["structured_output"] = "anthropic:output_config" if plan.tool is None else "anthropic:text"
            if plan.schema.notes:
                metadata["schema_notes"] = plan.schema.notes
        if plan.dropped:
            metadata["dropped_parameters"] = plan.dropped
        if plan.notes:
            metadata["notes"] = plan.notes
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
                reasoning_tokens=min(thinking_tokens, output_tokens),
            ),
            provider=self.label,
            finish_reason=stop_reason,
            metadata=metadata,
            parsed=parsed,
        )

    def _tool_input(self, blocks: Any, tool: str | None) -> dict[str, Any] | None:
        """The forced tool call's ``input``; a ``tool_use`` block without an object input is malformed."""
        if tool is None or not isinstance(blocks, list):
            return None
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") == tool:
                value = block["input"]
                if not isinstance(value, dict):
                    raise TypeError(f"tool_use input is {type(value).__name__}, not an object")
                return value
        return None

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
