"""Calling models the way a workflow task does: one loop of provider calls, one budget.

``call_models`` makes every provider call of one task: each call is one ``forge.infer`` with
``max_attempts=1`` (so Forge's own retries never multiply with these), over an ordered list of
models (the first is the one the task asked for, the rest its fallbacks), on any Forge backend,
embedded or remote.  The rules, in order:

* a retryable error (rate limit, timeout, unavailable; narrowed by ``retry_on`` kinds) is tried
  again on the same model until ``max_attempts`` calls were made on it.  The wait is the
  provider's own ``Retry-After`` when it sent one (capped by ``max_retry_after``), else the
  policy's backoff; a fallback delay is never presented as the provider's;
* an error that another model may cure (the same, once its retries are spent; model not found;
  content filtered; a budget too small for this model) moves on to the next model, at once;
* anything else fails the task now: retrying a bad request or a bug only hides it.

Each call is recorded (``CallRecord``: model, outcome, error, usage, cost at that model's price)
and ``attempts`` is the number of calls made, so ``maxAttempts`` means what it says.  An
``observer`` sees every call before and after it is made: Governance reserves the budget for the
model actually being tried, and settles or releases it, per call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ecosystem.errors import EcosystemError, provider_hint
from ecosystem.forge.errors import (
    ForgeContentFiltered,
    ForgeError,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.protocol import Forge

logger = logging.getLogger("ecosystem.forge")

Backoff = Literal["exponential", "linear", "constant"]
# Errors another model may cure: the provider or model is the problem, not the request.
FALLBACK_ERRORS: tuple[type[ForgeError], ...] = (
    ForgeRateLimited, ForgeServiceUnavailable, ForgeTimeout, ModelNotFound, ForgeContentFiltered,
)


@dataclass(frozen=True)
class AttemptPolicy:
    """How many calls a model gets and how long to wait between them."""

    max_attempts: int = 3
    backoff: Backoff = "exponential"
    initial_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.0
    multiplier: float = 2.0
    retry_on: tuple[str, ...] = ()
    max_retry_after: float = 120.0

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """The backoff before retry ``retry_number`` (1 for the first retry), with jitter."""
        return backoff_delay(self.backoff, self.initial_delay, self.max_delay, self.jitter, retry_number,
                             multiplier=self.multiplier, rng=rng)

    def retries(self, error: BaseException) -> bool:
        checker = getattr(error, "is_retryable", None)
        if not (callable(checker) and checker()):
            return False
        if not self.retry_on:
            return True
        kind = str(getattr(error, "type", None) or getattr(error, "kind", None) or type(error).__name__).lower()
        return any(wanted.lower() == kind or wanted.lower() in kind for wanted in self.retry_on)


def backoff_delay(backoff: Backoff, initial: float, maximum: float, jitter: float, retry_number: int,
                  *, multiplier: float = 2.0, rng: random.Random | None = None) -> float:
    """The one backoff rule: exponential (``initial * multiplier**(n-1)``), linear (``initial * n``)
    or constant, capped by ``maximum``, then spread by +/- ``jitter`` (a fraction)."""
    if backoff == "exponential":
        delay = initial * multiplier ** (retry_number - 1)
    elif backoff == "linear":
        delay = initial * retry_number
    else:
        delay = initial
    delay = min(delay, maximum)
    if jitter:
        delay *= 1 + (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay)


@dataclass(frozen=True)
class Target:
    """A model to ask, and the provider to route it to (None: by the model's own name)."""

    model: str
    provider: str | None = None


@dataclass
class CallRecord:
    """One provider call a task made."""

    model: str
    outcome: Literal["ok", "error"]
    provider: str | None = None
    error_type: str | None = None
    error: str | None = None
    cost: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    waited: float = 0.0  # seconds waited before this call

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, 0, 0.0) or k in ("model", "outcome")}


class CallObserver(Protocol):
    """Sees each provider call: ``before_call`` may refuse it (e.g. ``BudgetExceeded``)."""

    async def before_call(self, model: str, request: ForgeInferenceRequest) -> None: ...

    async def after_call(self, model: str, response: ForgeInferenceResponse) -> None: ...

    async def call_failed(self, model: str, error: BaseException) -> None: ...


@dataclass
class CallResult:
    response: ForgeInferenceResponse
    model: str
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.calls)

    @property
    def cost(self) -> float | None:
        """Every call's cost (failed calls cost nothing unless a provider billed them)."""
        costs = [c.cost for c in self.calls if c.cost is not None]
        return round(sum(costs), 12) if costs else None


def _falls_back(error: BaseException, budget_errors: tuple[type[BaseException], ...]) -> bool:
    return isinstance(error, FALLBACK_ERRORS + budget_errors)


async def call_models(
    forge: Forge,
    request: ForgeInferenceRequest,
    targets: Sequence[Target],
    policy: AttemptPolicy,
    *,
    observer: CallObserver | None = None,
    budget_errors: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> CallResult:
    """Make the task's provider calls (see the module docstring).  On failure the last error is
    raised with ``error.calls`` (the ``CallRecord`` list) and ``error.attempts`` set."""
    log = log or logger
    calls: list[CallRecord] = []
    chain = list(targets) or [Target(request.model, request.provider)]
    last: BaseException | None = None
    for position, target in enumerate(chain):
        model = target.model
        routed = request.model_copy(update={"model": model, "provider": target.provider, "max_attempts": 1})
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                if observer is not None:
                    await observer.before_call(model, routed)
            except budget_errors as error:
                last = error
                calls.append(CallRecord(model, "error", error_type=_type_of(error), error=str(error)))
                break  # this model does not fit the budget: a cheaper fallback may
            started = time.perf_counter()
            try:
                response = await forge.infer(routed)
            except Exception as error:  # noqa: BLE001 - every outcome is recorded, then decided below
                last = error
                calls.append(CallRecord(model, "error", error_type=_type_of(error), error=str(error),
                                        latency=time.perf_counter() - started, waited=waited))
                if observer is not None:
                    await observer.call_failed(model, error)
                if not isinstance(error, EcosystemError):
                    raise _annotated(error, calls) from None
                if policy.retries(error) and attempt < policy.max_attempts:
                    hint = provider_hint(error)
                    delay = min(hint, policy.max_retry_after) if hint is not None else policy.delay(attempt)
                    log.info("%s on %s: %s; retrying in %.2fs%s (call %d of %d)", type(error).__name__, model,
                             error, delay, " as the provider asked" if hint is not None else "", attempt + 1,
                             policy.max_attempts)
                    await sleep(delay)
                    waited = delay
                    continue
                if position + 1 < len(chain) and _falls_back(error, budget_errors):
                    log.warning("%s failed (%s: %s); falling back to %s", model, type(error).__name__, error,
                                chain[position + 1].model)
                    break
                raise _annotated(error, calls) from None
            usage = response.usage
            calls.append(CallRecord(model, "ok", provider=response.provider, cost=response.cost,
                                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                                    latency=time.perf_counter() - started, waited=waited))
            if observer is not None:
                await observer.after_call(model, response)
            return CallResult(response, model, calls)
    assert last is not None
    raise _annotated(last, calls) from None


def _type_of(error: BaseException) -> str:
    return str(getattr(error, "type", None) or getattr(error, "kind", None) or type(error).__name__)


def _annotated(error: BaseException, calls: list[CallRecord]) -> BaseException:
    error.calls = list(calls)  # type: ignore[attr-defined]
    error.attempts = len(calls)  # type: ignore[attr-defined]
    return error
