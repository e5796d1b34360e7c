"""``EmbeddedForge``: inference and tools in-process, the default backend.

Routing, in order: the request's ``provider`` hint (executors set it; ``claude``/``google`` and
the executor names are accepted aliases); a ``<provider>/`` or ``<endpoint>/`` prefix on the
model; the model's family (``claude-*`` -> anthropic, ``gpt-*``/``o1``/``o3``/``o4``/
``chatgpt-*`` -> openai, ``gemini-*`` -> gemini); a named endpoint whose default model it is.
An empty model means the provider's default model.  Anything else is ``ModelNotFound`` naming the
providers Forge knows.  With ``offline`` set every call goes to the offline provider, after the
same routing, so a misspelt model fails offline just as it would online.

Embeddings route the same way (``embed``): ``text-embedding-3*``/``-ada-*`` -> openai,
``gemini-embedding-*``/``text-embedding-00*`` -> gemini, an endpoint's ``embedding_model`` or an
``<endpoint>/`` prefix -> that OpenAI-compatible server; Anthropic has no embeddings API.

Transient errors (rate limits, timeouts, unavailability) are retried here per ``retry_policy``:
a provider's Retry-After wins over our own backoff (capped by ``max_retry_after``), and the error
raised after the last attempt keeps its ``retry_after`` so the workflow engine can wait as well.
The response gets ``latency`` (wall time including retries and rate-limit waits), ``provider``
and ``cost`` from the price table (``model_aliases`` map a gateway's alias to a priced model); a
model without a price costs ``None`` and is logged once.  An offline answer costs what
``offline_cost`` says, and carries what its usage would cost at the model's list price in
``metadata.list_price_cost``, so a saving (prompt caching, a cheaper model) is visible offline.
A request outside the models' bounds is ``ForgeInvalidRequest`` before anything else, as the
server's 422 is.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

from ecosystem.forge.batch import (
    BatchAdapter,
    BatchItem,
    BatchJob,
    BatchPart,
    custom_id,
    entry_bytes,
    split,
    unanswered,
)
from ecosystem.forge.config import DEFAULT_BASE_URLS, DEFAULT_EMBEDDING_MODELS, PROVIDERS, ForgeSettings
from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeError,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeRateLimited,
    ModelNotFound,
)
from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    ModelInfo,
    ToolRequest,
)
from ecosystem.forge.prices import PriceTable, Tier
from ecosystem.forge.providers.anthropic import AnthropicProvider
from ecosystem.forge.providers.anthropic_batch import AnthropicBatches
from ecosystem.forge.providers.base import HttpProvider
from ecosystem.forge.providers.gemini import GeminiProvider
from ecosystem.forge.providers.gemini_batch import GeminiBatches
from ecosystem.forge.providers.offline import OfflineProvider
from ecosystem.forge.providers.offline_batch import OfflineBatches
from ecosystem.forge.providers.openai import OpenAIProvider
from ecosystem.forge.providers.openai_batch import OpenAIBatches
from ecosystem.forge.providers.openai_compatible import OpenAICompatibleProvider
from ecosystem.forge.ratelimit import RateLimiter, estimate_request_tokens
from ecosystem.forge.tools import ToolRegistry
from ecosystem.models import revalidated, validated

logger = logging.getLogger("ecosystem.forge")

PROVIDER_ALIASES = {
    "claude": "anthropic",
    "claude-api": "anthropic",
    "openai-api": "openai",
    "gemini-api": "gemini",
    "google": "gemini",
}
_OPENAI_MODEL = re.compile(r"^(?:gpt-|chatgpt-|o\d+(?:-|$))")
_ADAPTERS: dict[str, type[HttpProvider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "gemini": GeminiProvider,
}

_OPENAI_EMBEDDING = re.compile(r"^text-embedding-(?:3|ada)")
_GEMINI_EMBEDDING = re.compile(r"^(?:gemini-embedding|text-embedding-00|embedding-00)")

Adapter = HttpProvider | OfflineProvider
_R = TypeVar("_R")


def provider_for_model(model: str) -> str | None:
    """The built-in provider serving a model family, or None."""
    name = model.lower().removeprefix("models/")
    if name.startswith("claude-"):
        return "anthropic"
    if _OPENAI_MODEL.match(name):
        return "openai"
    if name.startswith("gemini-"):
        return "gemini"
    return None


def provider_for_embedding_model(model: str) -> str | None:
    name = model.lower().removeprefix("models/")
    if _OPENAI_EMBEDDING.match(name):
        return "openai"
    if _GEMINI_EMBEDDING.match(name):
        return "gemini"
    return None


class EmbeddedForge:
    """Forge in-process: provider adapters, retries, rate limits, prices and tools."""

    def __init__(
        self,
        settings: ForgeSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        tools: ToolRegistry | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or ForgeSettings()
        self._transport = transport
        self._sleep = sleep
        # httpx pools are bound to the event loop that opened them, and Forge may be shared by tasks
        # running on several loops (a served app's thread, Prefect's workers): one set per loop.
        self._adapters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Adapter]] = (
            weakref.WeakKeyDictionary()
        )
        self._prices = PriceTable(self.settings.prices, aliases=self.settings.model_aliases)
        self._limiter = RateLimiter(self.settings.rate_limits)
        self._unpriced: set[str] = set()
        self.tools = tools or ToolRegistry(self.settings, transport=transport)

    def __repr__(self) -> str:
        mode = "offline" if self.settings.offline else "online"
        return f"EmbeddedForge({mode}, providers={sorted(self.known_providers())})"

    async def __aenter__(self) -> EmbeddedForge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ routing

    def known_providers(self) -> list[str]:
        return [*PROVIDERS, *self.settings.endpoints, "offline"]

    def route(self, request: ForgeInferenceRequest) -> tuple[str, str]:
        """(provider label, model id) for ``request``; raises ModelNotFound when nobody serves it."""
        endpoints = self.settings.endpoints
        return self._route(
            request.provider,
            request.model,
            family=provider_for_model,
            endpoint_model=lambda name: endpoints[name].default_model,
            defaults=self.settings.default_models,
            offline_default="echo",
        )

    def route_embedding(self, request: EmbeddingRequest) -> tuple[str, str]:
        """(provider label, model id) for an embedding request."""
        hint = PROVIDER_ALIASES.get((request.provider or "").strip().lower(), request.provider or "")
        named = request.model.strip().lower()
        if hint == "anthropic" or named.startswith(("anthropic/", "claude-")):
            raise ForgeInvalidRequest(
                "anthropic has no embeddings API: use an openai, gemini or OpenAI-compatible embedding model"
            )
        endpoints = self.settings.endpoints
        provider, model = self._route(
            request.provider,
            request.model,
            family=provider_for_embedding_model,
            endpoint_model=lambda name: endpoints[name].embedding_model,
            defaults=DEFAULT_EMBEDDING_MODELS,
            offline_default=DEFAULT_EMBEDDING_MODELS["offline"],
            default_provider=None if request.model.strip() else self._embedding_default_provider(),
        )
        if provider == "anthropic":
            raise ForgeInvalidRequest("anthropic has no embeddings API: name an embedding model or provider")
        return provider, model

    def _embedding_default_provider(self) -> str:
        settings = self.settings
        if settings.offline:
            return "offline"
        if settings.default_provider in DEFAULT_EMBEDDING_MODELS:
            return settings.default_provider
        keyed = [p for p in ("openai", "gemini") if p in settings.api_keys]
        endpoints = [name for name, e in settings.endpoints.items() if e.embedding_model]
        return (keyed or endpoints or ["openai"])[0]

    def _route(
        self,
        hint: str | None,
        requested: str,
        *,
        family: Callable[[str], str | None],
        endpoint_model: Callable[[str], str | None],
        defaults: dict[str, str],
        offline_default: str,
        default_provider: str | None = None,
    ) -> tuple[str, str]:
        endpoints = self.settings.endpoints
        known = self.known_providers()
        provider = hint.strip() if hint else None
        if provider:
            provider = PROVIDER_ALIASES.get(provider.lower(), provider)
        model = requested.strip()
        head, slash, rest = model.partition("/")
        if slash and head in known and provider in (None, head, "openai-compatible"):
            provider, model = head, rest
        if provider == "openai-compatible":
            if len(endpoints) != 1:
                raise ModelNotFound(
                    f"provider 'openai-compatible' is ambiguous: name the endpoint as '<endpoint>/<model>' "
                    f"(configured endpoints: {', '.join(endpoints) or 'none'})"
                )
            provider = next(iter(endpoints))
        if provider is None:
            if not model:
                provider = default_provider or self.settings.default_provider
            else:
                provider = family(model) or next(
                    (name for name in endpoints if endpoint_model(name) == model), None
                )
                if provider is None:
                    raise ModelNotFound(
                        f"no provider serves model {model!r}: known providers are {', '.join(known)} "
                        "(claude-* -> anthropic, gpt-*/o1/o3/o4 -> openai, gemini-* -> gemini, "
                        "or '<endpoint>/<model>' for a configured endpoint)"
                    )
        if provider not in known:
            raise ModelNotFound(f"unknown provider {provider!r}: known providers are {', '.join(known)}")
        if not model:
            default = (
                endpoint_model(provider)
                if provider in endpoints
                else defaults.get(provider, offline_default if provider == "offline" else None)
            )
            if not default:
                raise ForgeInvalidRequest(f"no model given and provider {provider!r} has no default model")
            model = default
        return provider, model

    def _adapter(self, provider: str) -> Adapter:
        if self.settings.offline or provider == "offline":
            provider = "offline"
        adapters = self._adapters.setdefault(asyncio.get_running_loop(), {})
        adapter = adapters.get(provider)
        if adapter is not None:
            return adapter
        settings = self.settings
        if provider == "offline":
            adapter = OfflineProvider(settings)
        elif provider in settings.endpoints:
            adapter = OpenAICompatibleProvider.for_endpoint(
                provider,
                settings.endpoints[provider],
                timeout=settings.timeout,
                transport=self._transport,
                max_connections=settings.max_connections,
            )
        else:
            key = settings.api_keys.get(provider)
            if key is None or not key.get_secret_value():
                env = {
                    "anthropic": "ANTHROPIC_API_KEY",
                    "openai": "OPENAI_API_KEY",
                    "gemini": "GEMINI_API_KEY",
                }
                raise ForgeAuthenticationFailed(
                    f"no API key configured for {provider}: set api_keys.{provider} or {env.get(provider, 'a key')}"
                )
            adapter = _ADAPTERS[provider](
                base_url=settings.base_urls.get(provider, DEFAULT_BASE_URLS[provider]),
                api_key=key,
                timeout=settings.timeout,
                transport=self._transport,
                max_connections=settings.max_connections,
            )
        adapters[provider] = adapter
        return adapter

    # ------------------------------------------------------------------ inference

    def _retry_delay(self, error: ForgeError, attempt: int, max_attempts: int) -> float | None:
        policy = self.settings.retry_policy
        if not error.is_retryable() or attempt >= max_attempts:
            return None
        if error.retry_after is not None and error.hinted:
            return min(error.retry_after, policy.max_retry_after)
        return float(min(policy.max_delay, policy.initial_delay * policy.backoff_multiplier ** (attempt - 1)))

    async def _with_retries(
        self, adapter: Adapter, estimate: int, max_attempts: int | None, call: Callable[[], Awaitable[_R]]
    ) -> tuple[_R, int]:
        """``call`` under the rate limiter, retried per the policy; (result, attempts made)."""
        limit = max_attempts or self.settings.retry_policy.max_attempts
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire(adapter.label, estimate)
            try:
                return await call(), attempt
            except ForgeError as error:
                delay = self._retry_delay(error, attempt, limit)
                if delay is None:
                    if attempt > 1 and error.is_retryable():
                        raise _gave_up(error, attempt) from error
                    raise
                logger.info(
                    "%s: %s; retrying in %.2fs (attempt %d of %d)",
                    adapter.label,
                    error.type,
                    delay,
                    attempt + 1,
                    limit,
                )
                await self._sleep(delay)

    async def infer(self, request: ForgeInferenceRequest) -> ForgeInferenceResponse:
        started = time.perf_counter()
        request = revalidated(request, error=ForgeInvalidRequest)
        provider, model = self.route(request)
        if not request.conversation():
            raise ForgeInvalidRequest("the request has neither a prompt nor messages")
        adapter = self._adapter(provider)
        estimate = estimate_request_tokens(request)
        response, attempts = await self._with_retries(
            adapter, estimate, request.max_attempts, lambda: adapter.infer(request, model)
        )
        self._limiter.settle(adapter.label, estimate, response.usage.total_tokens)
        metadata = {**response.metadata, "attempts": attempts}
        if response.provider == "offline":
            metadata["list_price_cost"] = self._prices.cost(response.usage, model)
        return response.model_copy(
            update={
                "latency": time.perf_counter() - started,
                "cost": self._cost(response, model),
                "metadata": metadata,
            }
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Vectors for ``request.input``, in order, with usage and cost."""
        started = time.perf_counter()
        request = revalidated(request, error=ForgeInvalidRequest)
        provider, model = self.route_embedding(request)
        adapter = self._adapter(provider)
        if isinstance(adapter, OfflineProvider):
            offline = adapter
            response, attempts = await self._with_retries(
                adapter, 0, request.max_attempts, lambda: offline.embed(request, model)
            )
        elif isinstance(adapter, OpenAIProvider | GeminiProvider):
            online = adapter
            estimate = sum(len(text) for text in request.input) // 4 + 1
            response, attempts = await self._with_retries(
                adapter, estimate, request.max_attempts, lambda: online.embed(request, model)
            )
        else:
            raise ForgeInvalidRequest(f"{adapter.label} has no embeddings API")
        if len(response.embeddings) != len(request.input):
            raise ForgeMalformedResponse(
                f"{adapter.label} returned {len(response.embeddings)} vectors for {len(request.input)} inputs"
            )
        cost: float | None
        if response.provider == "offline":
            cost = self.settings.offline_cost_of(model)
        else:
            cost = self._prices.cost(response.usage, response.model)
            if cost is None:
                cost = self._prices.cost(response.usage, model)
        return response.model_copy(
            update={
                "latency": time.perf_counter() - started,
                "cost": cost,
                "metadata": {**response.metadata, "attempts": attempts},
            }
        )

    # ------------------------------------------------------------------ batches

    def _batch_adapter(self, provider: str) -> BatchAdapter:
        adapter = self._adapter(provider)
        if isinstance(adapter, OfflineProvider):
            return OfflineBatches(adapter, self.settings.offline_batch_delay)
        if isinstance(adapter, OpenAICompatibleProvider):
            raise ForgeInvalidRequest(
                f"{adapter.label} is an OpenAI-compatible endpoint without a batch API: batch mode needs "
                "OpenAI, Anthropic or Gemini (or the offline provider)"
            )
        if isinstance(adapter, OpenAIProvider):
            return OpenAIBatches(adapter)
        if isinstance(adapter, AnthropicProvider):
            return AnthropicBatches(adapter)
        if isinstance(adapter, GeminiProvider):
            return GeminiBatches(adapter)
        raise ForgeInvalidRequest(f"{adapter.label} has no batch API")

    async def submit_batch(self, requests: Sequence[ForgeInferenceRequest]) -> BatchJob:
        """Send ``requests`` (one provider and model) to the provider's batch API, split by its limits.
        Items whose body cannot be built are refused one by one (``BatchJob.rejected``)."""
        if not requests:
            raise ForgeInvalidRequest("a batch needs at least one request")
        routes = [self.route(request) for request in requests]
        provider, model = routes[0]
        others = sorted({f"{p}/{m}" for p, m in routes if (p, m) != (provider, model)})
        if others:
            raise ForgeInvalidRequest(
                f"a batch goes to one provider and model: item 0 is {provider}/{model}, others are {', '.join(others)}"
            )
        adapter = self._batch_adapter(provider)
        routed = [r.model_copy(update={"model": model, "provider": provider}) for r in requests]
        rejected: dict[int, ForgeError] = {}
        entries: dict[int, dict[str, Any]] = {}
        for index, request in enumerate(routed):
            try:
                if not request.conversation():
                    raise ForgeInvalidRequest("the request has neither a prompt nor messages")
                entries[index] = adapter.batch_entry(custom_id(index), request, model)
            except ForgeError as error:
                rejected[index] = error
        indices = sorted(entries)
        limits = adapter.limits.narrowed(self.settings.batch_max_requests)
        sizes = [entry_bytes(entries[i]) if limits.max_bytes is not None else 0 for i in indices]
        labels = {k: str(v) for k, v in requests[0].metadata.items()
                  if k in ("workflow", "task_id", "run_id") and isinstance(v, str) and v}
        parts: list[BatchPart] = []
        try:
            for group in split(indices, sizes, limits, adapter.label):
                parts.append(await self._create_part(adapter, [entries[i] for i in group], model, group, labels))
        except BaseException:
            for part in parts:  # a later part failed: withdraw the ones already submitted
                try:
                    await adapter.cancel_batch(part)
                except ForgeError as error:
                    logger.warning("could not cancel %s batch %s: %s", adapter.label, part.id, error)
            raise
        return BatchJob(provider=adapter.label, model=model, requests=routed, parts=parts, rejected=rejected)

    async def _create_part(self, adapter: BatchAdapter, entries: list[dict[str, Any]], model: str,
                           indices: list[int], labels: dict[str, str]) -> BatchPart:
        """One provider batch; retried only when refused for rate (nothing was created then)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await adapter.create_batch(entries, model, indices, labels)
            except ForgeRateLimited as error:
                delay = self._retry_delay(error, attempt, self.settings.retry_policy.max_attempts)
                if delay is None:
                    raise
                logger.info("%s: batch creation rate limited; retrying in %.2fs", adapter.label, delay)
                await self._sleep(delay)

    async def poll_batch(self, job: BatchJob) -> BatchJob:
        """Ask the provider about every part still running; ``job`` is updated and returned."""
        adapter = self._batch_adapter(job.provider)
        for part in job.parts:
            if not part.done:
                await adapter.refresh_batch(part)
        job.polls += 1
        return job

    async def collect_batch(self, job: BatchJob) -> list[BatchItem]:
        """Every item's outcome in item order, answers priced at the batch tier."""
        adapter = self._batch_adapter(job.provider)
        items: dict[int, BatchItem] = {i: BatchItem(i, error=e) for i, e in job.rejected.items()}
        latency = max(0.0, time.time() - job.submitted_at)
        for part in job.parts:
            answers = await adapter.batch_answers(part) if part.state != "failed" else {}
            for index in part.indices:
                found = answers.get(custom_id(index))
                if found is None:
                    items[index] = BatchItem(index, error=unanswered(part, adapter.label))
                elif isinstance(found, ForgeError):
                    items[index] = BatchItem(index, error=found)
                else:
                    try:
                        response = adapter.read_batch_answer(found, job.requests[index], job.model)
                    except ForgeError as error:
                        items[index] = BatchItem(index, error=error)
                        continue
                    items[index] = BatchItem(index, response=self._batch_priced(response, job, part, latency))
        return [items.get(i) or BatchItem(i, error=ForgeInvalidRequest("item was never submitted"))
                for i in range(len(job.requests))]

    def _batch_priced(self, response: ForgeInferenceResponse, job: BatchJob, part: BatchPart,
                      latency: float) -> ForgeInferenceResponse:
        metadata = {**response.metadata, "attempts": 1, "batch_id": part.id, "tier": "batch"}
        if response.provider == "offline":
            metadata["list_price_cost"] = self._prices.cost(response.usage, job.model, tier="batch")
        return response.model_copy(update={
            "latency": latency, "cost": self._cost(response, job.model, tier="batch"), "metadata": metadata,
        })

    async def cancel_batch(self, job: BatchJob) -> None:
        adapter = self._batch_adapter(job.provider)
        for part in job.parts:
            if not part.done:
                await adapter.cancel_batch(part)

    def _cost(self, response: ForgeInferenceResponse, requested_model: str, tier: Tier = "standard") -> float | None:
        if response.provider == "offline":
            cost = self.settings.offline_cost_of(requested_model)
            return round(cost * self.settings.offline_batch_discount, 12) if tier == "batch" else cost
        for model in (response.model, requested_model):
            found = self._prices.cost(response.usage, model, tier)
            if found is not None:
                return found
        if response.model not in self._unpriced:
            self._unpriced.add(response.model)
            logger.warning(
                "no price known for model %r (%s): its cost is reported as null; add it to the Forge prices setting",
                response.model,
                response.provider,
            )
        return None

    # ------------------------------------------------------------------ tools and models

    async def run_tool(self, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        body = validated(ToolRequest, {"inputs": inputs}, error=ForgeInvalidRequest)
        return await self.tools.run(name, dict(body.inputs))

    async def list_models(self) -> list[ModelInfo]:
        settings = self.settings
        available = {p: settings.offline or p in settings.api_keys for p in PROVIDERS}
        models = []
        for family, price in sorted(self._prices.prices.items()):
            provider = price.provider or provider_for_model(family) or "unknown"
            models.append(
                ModelInfo(
                    id=family,
                    provider=provider,
                    kind=price.kind,
                    long_context_above=price.long_context.above if price.long_context else None,
                    input_price=price.input,
                    output_price=price.output,
                    cache_read_price=price.cache_read,
                    cache_write_price=price.cache_write,
                    aliases=self._prices.aliases_of(family),
                    available=available.get(provider, False),
                    default=settings.default_models.get(provider) == family,
                )
            )
        for name, endpoint in sorted(settings.endpoints.items()):
            if endpoint.default_model:
                found = self._prices.resolve(endpoint.default_model)
                models.append(
                    ModelInfo(
                        id=endpoint.default_model,
                        provider=name,
                        input_price=found[1].input if found else None,
                        output_price=found[1].output if found else None,
                        available=True,
                        default=True,
                    )
                )
        models.append(
            ModelInfo(
                id="echo", provider="offline", available=True, default=True, input_price=0, output_price=0
            )
        )
        return models

    async def aclose(self) -> None:
        """Close the connection pools of the running loop (other loops' pools die with their loop)."""
        adapters = self._adapters.pop(asyncio.get_running_loop(), {})
        for adapter in adapters.values():
            await adapter.aclose()


def _gave_up(error: ForgeError, attempts: int) -> ForgeError:
    message = f"{error.message} (gave up after {attempts} attempts)"
    if isinstance(error, ForgeRateLimited):
        return ForgeRateLimited(message, retry_after=error.retry_after if error.hinted else None)
    return type(error)(message, retry_after=error.retry_after)
