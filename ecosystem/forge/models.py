"""Forge's wire contract: the seed's ``ForgeInferenceRequest``/``ForgeInferenceResponse`` as models.

The seed's fields keep the seed's names and defaults (temperature 0.7, max_tokens 1000).  Ours are
additions a chat API needs and the seed's single ``prompt`` cannot express: a ``system`` prompt,
prior ``messages``, a ``provider`` routing hint set by the executor, and what pipelines use every
day: a ``response_schema`` (structured output, asked of each provider natively; the answer comes
back parsed in ``parsed``), ``cache`` (mark the stable prefix cacheable), and ``reasoning_effort``
/ ``thinking_budget`` for reasoning models.  ``latency`` is a float of seconds (the seed's
``Duration``).

``max_tokens`` is the answer's budget; a ``thinking_budget`` comes on top of it (every provider
counts reasoning against one output cap, so the adapters send ``max_tokens + thinking_budget``),
which keeps the worst case of a call readable from the request alone.

``TokenUsage`` is normalised across providers so that ``prompt_tokens`` always *includes* cached
tokens (Anthropic reports them apart, OpenAI and Gemini inside) and ``completion_tokens`` always
*includes* reasoning tokens (OpenAI and Anthropic count them inside, Gemini apart): the providers
bill both as output.  ``cache_read_tokens``/``cache_write_tokens`` and ``reasoning_tokens`` say how
many of those were cached or spent thinking, so prices apply without double counting.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ecosystem.models import MAX_ITEMS, MAX_TOKENS, Identifier, JsonObject, StrictModel, Text


class ChatMessage(StrictModel):
    role: Literal["user", "assistant", "system"]
    content: Text


class ForgeInferenceRequest(StrictModel):
    prompt: Text = ""
    model: Identifier = Field(default="", description="Model id; empty means the provider's default model.")
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=1000, ge=1, le=MAX_TOKENS)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop_sequences: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)
    metadata: JsonObject = Field(default_factory=dict)
    system: Text | None = None
    messages: list[ChatMessage] | None = Field(default=None, max_length=MAX_ITEMS)
    provider: Identifier | None = Field(default=None, description="Routing hint, e.g. 'anthropic'.")
    max_attempts: int | None = Field(
        default=None, ge=1, le=100,
        description="Provider calls Forge may make for this request, retries included; null: the "
        "retry_policy's max_attempts.  A caller that runs its own retry loop sends 1.",
    )
    response_schema: JsonObject | None = Field(
        default=None,
        description="A JSON Schema the answer must match; Forge asks the provider for structured "
        "output natively and returns the object in the response's `parsed`.",
    )
    cache: list[Literal["system", "messages"]] = Field(
        default_factory=list,
        description="Mark the stable prefix cacheable: the system prompt and/or the prior messages "
        "(Anthropic caches only what is marked; OpenAI and Gemini cache a repeated prefix by themselves).",
    )
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        default=None, description="How hard a reasoning model thinks (OpenAI o-series/gpt-5, Gemini, Claude)."
    )
    thinking_budget: int | None = Field(
        default=None, ge=0, le=1_000_000,
        description="Reasoning tokens allowed on top of max_tokens (Anthropic extended thinking, Gemini "
        "thinkingBudget; 0 turns Gemini's thinking off).",
    )

    def conversation(self) -> list[ChatMessage]:
        """``messages`` followed by ``prompt`` as the last user turn (when non-empty)."""
        turns = list(self.messages or [])
        if self.prompt:
            turns.append(ChatMessage(role="user", content=self.prompt))
        return turns

    def system_text(self) -> str | None:
        """``system`` plus any system-role messages, for APIs that take one top-level system prompt."""
        parts = [self.system] if self.system else []
        parts.extend(m.content for m in self.messages or [] if m.role == "system")
        return "\n\n".join(parts) if parts else None

    def output_cap(self) -> int:
        """Tokens the provider may generate: ``max_tokens`` plus any ``thinking_budget``."""
        return self.max_tokens + (self.thinking_budget or 0)

    def wants_reasoning(self) -> bool:
        return self.reasoning_effort is not None or bool(self.thinking_budget)

    def last_user_text(self) -> str:
        for message in reversed(self.conversation()):
            if message.role == "user":
                return message.content
        return ""


class TokenUsage(StrictModel):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0, description="Part of completion_tokens spent reasoning.")


class ForgeInferenceResponse(StrictModel):
    text: str
    model: str
    usage: TokenUsage
    latency: float = Field(default=0.0, ge=0, description="Seconds, including retries.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    provider: str
    cost: float | None = Field(default=None, description="USD; null when the model's price is unknown.")
    finish_reason: str | None = None
    parsed: Any = Field(
        default=None,
        description="With a response_schema: the answer as JSON (null when it is not JSON; "
        "`structured.check_response` says why).  Not yet validated against the schema.",
    )


class ModelInfo(StrictModel):
    """One entry of ``GET /v1/models``: prices are USD per million tokens (null when unknown)."""

    id: str
    provider: str
    kind: Literal["chat", "embedding"] = "chat"
    input_price: float | None = None
    output_price: float | None = None
    cache_read_price: float | None = None
    cache_write_price: float | None = None
    long_context_above: int | None = Field(
        default=None, description="Prompt tokens above which every token is billed at a long-context price."
    )
    aliases: list[str] = Field(default_factory=list)
    available: bool = Field(
        default=False, description="A key or endpoint is configured (or Forge is offline)."
    )
    default: bool = False


class EmbeddingRequest(StrictModel):
    input: list[str] = Field(min_length=1, description="Texts to embed, one vector each, in order.")
    model: str = Field(default="", description="Embedding model id; empty: the provider's default.")
    provider: str | None = Field(default=None, description="Routing hint, e.g. 'openai'.")
    dimensions: int | None = Field(
        default=None, ge=1, description="Shorter vectors where the model supports it (OpenAI "
        "`dimensions`, Gemini `outputDimensionality`)."
    )
    task_type: str | None = Field(
        default=None, description="Gemini only: e.g. SEMANTIC_SIMILARITY, RETRIEVAL_DOCUMENT."
    )
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    metadata: dict[str, Any] = Field(default_factory=dict)


class EmbeddingResponse(StrictModel):
    embeddings: list[list[float]]
    model: str
    provider: str
    usage: TokenUsage
    latency: float = Field(default=0.0, ge=0)
    cost: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ModelList(StrictModel):
    models: list[ModelInfo]


class ToolRequest(StrictModel):
    inputs: JsonObject = Field(default_factory=dict)


class ToolInfo(StrictModel):
    name: str
    description: str = ""
    inputs: list[str] | None = None
    outputs: list[str] | None = None


class ToolResult(StrictModel):
    name: str
    outputs: dict[str, Any]
    latency: float = 0.0
