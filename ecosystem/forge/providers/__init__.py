"""Provider adapters, one per wire format: Anthropic, OpenAI, Gemini, OpenAI-compatible, offline."""

from ecosystem.forge.providers.anthropic import AnthropicProvider
from ecosystem.forge.providers.base import HttpProvider
from ecosystem.forge.providers.gemini import GeminiProvider
from ecosystem.forge.providers.offline import OfflineProvider
from ecosystem.forge.providers.openai import OpenAIProvider
from ecosystem.forge.providers.openai_compatible import OpenAICompatibleProvider

__all__ = [
    "AnthropicProvider",
    "GeminiProvider",
    "HttpProvider",
    "OfflineProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
]
