"""Forge's wire contract: the seed's ``ForgeInferenceRequest``/``ForgeInferenceResponse`` as models.

The seed's fields keep the seed's names and defaults (temperature 0.7, max_tokens 1000).  Ours are
additions a chat API needs and the seed's single ``prompt`` cannot express: a ``system`` prompt,
prior ``messages`` and a ``provider`` routing hint set by the executor.  ``latency`` is a float of
seconds (the seed's ``Duration``).  ``TokenUsage`` is normalised across providers so that
``prompt_tokens`` always *includes* cached tokens (Anthropic reports them apart, OpenAI and Gemini
inside); ``cache_read_tokens``/``cache_write_tokens`` say how many of them were cached.
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


class ForgeInferenceResponse(StrictModel):
    text: str
    model: str
    usage: TokenUsage
    latency: float = Field(default=0.0, ge=0, description="Seconds, including retries.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    provider: str
    cost: float | None = Field(default=None, description="USD; null when the model's price is unknown.")
    finish_reason: str | None = None


class ModelInfo(StrictModel):
    """One entry of ``GET /v1/models``: prices are USD per million tokens (null when unknown)."""

    id: str
    provider: str
    input_price: float | None = None
    output_price: float | None = None
    cache_read_price: float | None = None
    cache_write_price: float | None = None
    aliases: list[str] = Field(default_factory=list)
    available: bool = Field(
        default=False, description="A key or endpoint is configured (or Forge is offline)."
    )
    default: bool = False


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
