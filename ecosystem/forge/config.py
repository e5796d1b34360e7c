"""``ForgeSettings``: everything Forge needs, as a plain pydantic model (no Prefect, no env magic).

The seed's ``ForgeConfig`` (endpoint, api_keys, default model, timeout, retry_policy) plus what a
multi-provider client needs: per-provider base URLs (how tests point adapters at loopback fakes),
named OpenAI-compatible endpoints, client-side rate limits, price overrides and an offline mode.
``blocks`` builds this from a Prefect Block; ``from_env`` is the fallback for plain library use.
Keys are ``SecretStr`` so that ``repr``, logs and errors show ``**********``.  Durations accept
seconds or the config file's ``"60s"``/``"5m"`` spelling.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from ecosystem.models import StrictModel, parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

PROVIDERS = ("anthropic", "openai", "gemini")
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
DEFAULT_EMBEDDING_MODELS = {
    "openai": "text-embedding-3-small",
    "gemini": "gemini-embedding-001",
    "offline": "offline-embedding",
}
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    # OpenAI-style base URLs include /v1, as the OpenAI SDK's OPENAI_BASE_URL does.
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}

# The environment variables each provider's official SDK reads for its base URL.
ENV_BASE_URLS = {
    "anthropic": ("ANTHROPIC_BASE_URL",),
    "openai": ("OPENAI_BASE_URL",),
    "gemini": ("GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"),
}


class RetryPolicy(StrictModel):
    max_attempts: int = Field(default=3, ge=1)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    initial_delay: Seconds = 1.0
    max_delay: Seconds = 30.0
    max_retry_after: Seconds = Field(default=120.0, description="Cap on a provider's Retry-After.")


class RateLimit(StrictModel):
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    burst: int | None = Field(
        default=None,
        gt=0,
        description="Requests allowed at once; default one second's worth, as providers enforce "
        "per-minute limits over shorter windows.",
    )


class LongContextPrice(StrictModel):
    """Prices for every token of a request whose prompt exceeds ``above`` tokens (cache included)."""

    above: int = Field(ge=1, description="Prompt tokens (cached ones included) above which this tier applies.")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0, description="Default: scaled like the input price.")
    cache_write: float | None = Field(default=None, ge=0, description="Default: scaled like the input price.")


class ModelPrice(StrictModel):
    """USD per million tokens; cache prices default to the input price when not given.

    ``long_context`` is the tier above a prompt size (gemini-2.5-pro, claude-sonnet-4 above 200k);
    batch prices are ``batch_input``/``batch_output`` when known, else the provider's batch
    discount from the price table (50% at OpenAI, Anthropic and Gemini).
    """

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    provider: str | None = None
    long_context: LongContextPrice | None = None
    batch_input: float | None = Field(default=None, ge=0)
    batch_output: float | None = Field(default=None, ge=0)
    kind: Literal["chat", "embedding"] = "chat"


class OpenAICompatibleEndpoint(StrictModel):
    """A named OpenAI-compatible server: vLLM, Ollama, a LiteLLM proxy, an inference gateway."""

    base_url: str = Field(description="Including the API prefix, e.g. http://localhost:11434/v1.")
    api_key: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    default_model: str | None = None
    embedding_model: str | None = Field(default=None, description="Default model for embeddings.")


class OfflineFailure(StrictModel):
    """A scripted failure of the offline provider, for demos and tests of retries."""

    error: str = Field(description="A ForgeError type, e.g. 'rate_limit_exceeded'.")
    message: str = "simulated failure (offline)"
    retry_after: float | None = None
    times: int | None = Field(
        default=None, ge=1, description="Fail this many calls, then succeed; null: always."
    )


class OfflineModel(StrictModel):
    """Per-model behaviour of the offline provider (demos and benchmarks of model choice)."""

    latency: Seconds | None = Field(default=None, description="Seconds per call; offline_latency when unset.")
    cost: float | None = Field(default=None, ge=0, description="USD per call; offline_cost when unset.")


class ForgeSettings(StrictModel):
    endpoint: str | None = Field(default=None, description="URL of a remote Forge; embedded when unset.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote Forge.")
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    default_models: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MODELS))
    default_provider: str = "anthropic"
    timeout: Seconds = 60.0
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    base_urls: dict[str, str] = Field(default_factory=dict)
    endpoints: dict[str, OpenAICompatibleEndpoint] = Field(default_factory=dict)
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    model_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="A gateway's model alias -> the priced model it stands for, e.g. "
        "{'fast': 'gpt-4o-mini'}: used to price answers whose model is the alias.",
    )
    max_connections: int = Field(default=100, ge=1, description="Per provider connection pool size.")
    offline: bool = False
    offline_responses: dict[str, str] = Field(
        default_factory=dict, description="Prompt substring or model -> canned text; otherwise echo."
    )
    offline_failures: dict[str, OfflineFailure] = Field(
        default_factory=dict, description="Prompt substring -> scripted failure."
    )
    offline_latency: Seconds = 0.0
    offline_cost: float | None = Field(default=None, ge=0, description="Reported USD per offline call.")
    offline_models: dict[str, OfflineModel] = Field(
        default_factory=dict,
        description="Requested model -> its offline latency and cost (override offline_latency/offline_cost).",
    )
    offline_batch_delay: Seconds = Field(
        default=0.0, description="Seconds an offline batch takes before its results are ready ('60s' ok)."
    )
    offline_batch_discount: float = Field(
        default=0.5, ge=0, le=1,
        description="An offline batch item's cost as a share of an offline call's (the providers' batch tiers are 50%).",
    )
    batch_poll_interval: Seconds = Field(
        default=60.0, gt=0,
        description="Longest wait between two status polls of a batch (polls start at 1 s and double).",
    )
    batch_max_requests: int | None = Field(
        default=None, ge=1,
        description="Requests per provider batch at most (below the provider's own limit); more are split.",
    )
    http_tool_allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts the http-request tool may call ('*.example.com' allowed)."
    )

    @field_validator("default_models")
    @classmethod
    def _fill_default_models(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_MODELS, **value}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ForgeSettings:
        """Settings from the variables the providers' own SDKs read: keys from ANTHROPIC_API_KEY,
        OPENAI_API_KEY, GEMINI_API_KEY/GOOGLE_API_KEY, base URLs from ANTHROPIC_BASE_URL,
        OPENAI_BASE_URL (with its ``/v1``, as the OpenAI SDK and LiteLLM take it) and
        GEMINI_BASE_URL/GOOGLE_GEMINI_BASE_URL.  A config file's ``api_keys``/``base_urls`` win
        over these (``blocks.clients`` merges them in that order)."""
        env = os.environ if environ is None else environ
        base_urls: dict[str, str] = {}
        for provider, names in ENV_BASE_URLS.items():
            url = next((env[name].strip() for name in names if env.get(name, "").strip()), None)
            if url:
                base_urls[provider] = url.rstrip("/")
        base_urls.update(overrides.pop("base_urls", {}) or {})
        keys: dict[str, SecretStr] = {}
        for provider, names in (
            ("anthropic", ("ANTHROPIC_API_KEY",)),
            ("openai", ("OPENAI_API_KEY",)),
            ("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
        ):
            value = next((env[name] for name in names if env.get(name)), None)
            if value:
                keys[provider] = SecretStr(value)
        keys.update(overrides.pop("api_keys", {}) or {})
        endpoint = overrides.pop("endpoint", None) or env.get("LLM_FORGE_ENDPOINT") or None
        return cls(api_keys=keys, base_urls=base_urls, endpoint=endpoint, **overrides)

    def offline_cost_of(self, model: str) -> float:
        """USD an offline call of ``model`` reports: ``offline_models[model].cost``, ``offline_cost`` or 0."""
        spec = self.offline_models.get(model)
        if spec is not None and spec.cost is not None:
            return spec.cost
        return self.offline_cost if self.offline_cost is not None else 0.0

    def secret_values(self) -> list[str]:
        """Every secret in these settings, for redaction of text that might echo one."""
        found = [key.get_secret_value() for key in self.api_keys.values()]
        found.extend(e.api_key.get_secret_value() for e in self.endpoints.values() if e.api_key)
        if self.token:
            found.append(self.token.get_secret_value())
        return [value for value in found if value]
