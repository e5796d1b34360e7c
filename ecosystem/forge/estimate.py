"""The worst-case cost of one call, before it is made: what a budget reservation holds.

The estimate must never be below what the call can cost, or a budget could be overspent: the
prompt is every character of the system text, the messages and the prompt at one token per
``CHARS_PER_TOKEN`` characters rounded up (tokenisers give English text about four characters
per token; this is an estimate of the prompt, and the completion bound below dominates small
prompts), and the completion is ``max_tokens`` at the output price.  Offline calls cost exactly
what the offline settings say.  A model without a price reserves 0 and says so (``priced``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ecosystem.forge.config import ForgeSettings
from ecosystem.forge.models import ForgeInferenceRequest
from ecosystem.forge.prices import PriceTable
from ecosystem.forge.providers.offline import offline_cost

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class CostEstimate:
    amount: float
    model: str | None
    exact: bool = False  # offline: the cost is known in advance
    priced: bool = True  # False: unknown price, reserving 0
    prompt_tokens: int = 0
    max_tokens: int = 0


def prompt_chars(request: ForgeInferenceRequest) -> int:
    system = request.system_text() or ""
    return len(system) + sum(len(m.content) for m in request.conversation() if m.role != "system")


class CallEstimator:
    """Estimates calls against one Forge configuration (its prices and offline costs)."""

    def __init__(self, settings: ForgeSettings) -> None:
        self.settings = settings
        self.prices = PriceTable(settings.prices)

    def estimate(self, request: ForgeInferenceRequest, model: str | None = None, *, offline: bool | None = None) -> CostEstimate:
        """The worst case of ``request`` on ``model`` (default: the request's own model)."""
        model = model if model is not None else request.model
        model = model or self.default_model(request.provider)
        chars = prompt_chars(request)
        prompt_tokens = math.ceil(chars / CHARS_PER_TOKEN) if chars else 0
        max_tokens = request.max_tokens
        if (self.settings.offline or request.provider == "offline") if offline is None else offline:
            return CostEstimate(offline_cost(self.settings, model or ""), model, True, True, prompt_tokens, max_tokens)
        found = self.prices.resolve(model.split("/", 1)[-1]) if model else None
        if found is None:
            return CostEstimate(0.0, model, False, False, prompt_tokens, max_tokens)
        _, price = found
        amount = round((prompt_tokens * price.input + max_tokens * price.output) / 1_000_000, 12)
        return CostEstimate(amount, model, False, True, prompt_tokens, max_tokens)

    def default_model(self, provider: str | None) -> str | None:
        if not provider:
            return self.settings.default_models.get(self.settings.default_provider)
        endpoint = self.settings.endpoints.get(provider)
        if endpoint is not None and endpoint.default_model:
            return str(endpoint.default_model)
        return self.settings.default_models.get(provider, "echo" if provider == "offline" else None)
