"""Worst-case cost of one provider call, before it is made: what a budget reserves.

Pure functions of the request, a model and a price tier; nothing is sent anywhere.

* **Output** is bounded exactly: a provider generates at most ``max_tokens + thinking_budget``
  tokens (``ForgeInferenceRequest.output_cap``; every adapter sends that cap, and all three
  providers count reasoning against it), all billed at the output price.
* **Prompt** tokens are estimated from the text, since counting them exactly needs each vendor's
  tokenizer or a network call: ASCII text at 4 characters a token, rounded up (the vendors' own
  rule of thumb for English with their BPE/SentencePiece vocabularies), every other character as a
  whole token (CJK and most non-Latin scripts run close to one token a character, so /4 would
  undercount them 4x), plus the chat framing per message and the response schema, which the
  providers add to the prompt (Anthropic also adds its tool-use system prompt for a forced tool).
  A reservation is settled to the real usage after the call, so the estimate errs high where it
  can: a request that marks a prefix cacheable is priced at the cache *write* price when that is
  dearer than input (the first call writes), and no cache hit is assumed.
* **Tier**: the long-context tier applies to every token once the estimated prompt crosses the
  model's threshold, exactly as the provider bills it; ``tier="batch"`` applies batch prices.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ecosystem.forge.config import ForgeSettings
from ecosystem.forge.models import ForgeInferenceRequest, TokenUsage
from ecosystem.forge.prices import PriceTable, Tier, rates_for

MESSAGE_OVERHEAD = 4  # role and separators per message (OpenAI's documented framing is 3-4)
REPLY_OVERHEAD = 3  # the primed assistant turn
TOOL_PROMPT_OVERHEAD = 400  # Anthropic's tool-use system prompt for a forced tool (346 on Claude 4)


def text_tokens(text: str) -> int:
    """Estimated tokens of ``text``: ASCII at 4 characters a token (rounded up), others at one each."""
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / 4)
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def estimate_prompt_tokens(request: ForgeInferenceRequest, provider: str | None = None) -> int:
    """The prompt a provider will count for ``request``: system, turns, framing and schema.

    ``provider`` None assumes the dearest framing (Anthropic's tool prompt with a schema).
    """
    turns = request.conversation()
    system = request.system_text() or ""
    tokens = text_tokens(system) + sum(text_tokens(m.content) for m in turns)
    tokens += MESSAGE_OVERHEAD * (len(turns) + (1 if system else 0)) + REPLY_OVERHEAD
    if request.response_schema is not None:
        tokens += text_tokens(json.dumps(request.response_schema, separators=(",", ":")))
        if provider in (None, "anthropic"):
            tokens += TOOL_PROMPT_OVERHEAD
    return tokens


def worst_case_cost(
    request: ForgeInferenceRequest,
    model: str,
    tier: Tier = "standard",
    prices: PriceTable | None = None,
) -> float | None:
    """USD the call may cost at most (prompt estimated, output bounded); None for an unpriced model."""
    table = prices or PriceTable()
    found = table.resolve(model)
    if found is None:
        return None
    _, price = found
    prompt = estimate_prompt_tokens(request, price.provider)
    rates = rates_for(price, prompt, tier, table.discount(price))
    prompt_rate = max(rates.input, rates.cache_write) if request.cache else rates.input
    total = prompt * prompt_rate + request.output_cap() * rates.output
    return round(total / 1_000_000, 12)


@dataclass(frozen=True)
class CostEstimate:
    """What a budget reservation for one call holds, and how it was reached."""

    amount: float
    model: str | None
    exact: bool = False  # offline: the cost is known in advance
    priced: bool = True  # False: unknown price, reserving 0


class CallEstimator:
    """``worst_case_cost`` against one Forge configuration: its prices, aliases and offline costs.
    An offline call costs exactly what the offline settings say; an unpriced model reserves 0 and
    says so (``priced``), and only its reported cost is settled."""

    def __init__(self, settings: ForgeSettings) -> None:
        self.settings = settings
        self.prices = PriceTable(settings.prices, aliases=settings.model_aliases)

    def estimate(self, request: ForgeInferenceRequest, tier: Tier = "standard") -> CostEstimate:
        model = request.model or self.default_model(request.provider)
        if self.settings.offline or request.provider == "offline":
            exact = self.settings.offline_cost_of(model or "")
            if tier == "batch":
                exact = round(exact * self.settings.offline_batch_discount, 12)
            return CostEstimate(exact, model, exact=True)
        amount = worst_case_cost(request, model.split("/", 1)[-1], tier, self.prices) if model else None
        if amount is None:
            return CostEstimate(0.0, model, priced=False)
        return CostEstimate(amount, model)

    def batch_cost(self, usage: TokenUsage, model: str | None, cost: float | None, offline: bool) -> float | None:
        """What a call with ``usage`` that cost ``cost`` would have cost at the batch tier."""
        if offline:
            return None if cost is None else round(cost * self.settings.offline_batch_discount, 12)
        if not model:
            return None
        return self.prices.cost(usage, model.removeprefix("offline:"), tier="batch")

    def default_model(self, provider: str | None) -> str | None:
        if not provider:
            return self.settings.default_models.get(self.settings.default_provider)
        endpoint = self.settings.endpoints.get(provider)
        if endpoint is not None and endpoint.default_model:
            return str(endpoint.default_model)
        return self.settings.default_models.get(provider, "echo" if provider == "offline" else None)
