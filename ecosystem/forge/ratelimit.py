"""Client-side rate limiting per provider: requests and tokens per minute, async and fair.

Two token buckets per provider, refilled continuously.  The request bucket holds one second's
worth by default (``RateLimit.burst``), because providers enforce per-minute limits over shorter
windows (60 rpm behaves like 1 per second), so a full minute's burst at start-up would just earn
429s.  The token bucket holds a full minute, and a request estimated above it waits for a full
bucket instead of forever.  A request's tokens are estimated from its prompt (~4 characters a
token) plus ``max_tokens``; ``settle`` refunds the difference once the real usage is known.

Fairness: waiters queue on an ``asyncio.Lock`` (FIFO) and only the head of the queue sleeps for
capacity, so a large request is not starved by a stream of small ones.  A cancelled waiter takes
nothing from the buckets.  The buckets are shared across event loops and threads (one provider
quota, however many loops call it); the FIFO order holds within each loop.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping

from ecosystem.forge.config import RateLimit
from ecosystem.forge.models import ForgeInferenceRequest


def estimate_request_tokens(request: ForgeInferenceRequest) -> int:
    chars = len(request.system_text() or "") + sum(len(m.content) for m in request.conversation())
    return math.ceil(chars / 4) + request.output_cap()


class _Bucket:
    def __init__(self, per_minute: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.level = capacity
        self._clock = clock
        self._updated = clock()

    def refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` (clamped to capacity) is available; 0 when it is now."""
        self.refill()
        missing = min(amount, self.capacity) - self.level
        return max(0.0, missing / self.rate)

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)

    def give(self, amount: float) -> None:
        self.refill()
        self.level = min(self.capacity, self.level + amount)


class ProviderLimiter:
    """The limiter of one provider."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        # FIFO queue per event loop (asyncio locks are loop-bound); the buckets are shared by all
        # loops and threads, so checking and taking capacity happens under a thread lock.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._mutex = threading.Lock()
        self._requests = None
        self._tokens = None
        if limit.requests_per_minute:
            burst = limit.burst or max(1, math.ceil(limit.requests_per_minute / 60))
            self._requests = _Bucket(limit.requests_per_minute, burst, clock)
        if limit.tokens_per_minute:
            self._tokens = _Bucket(limit.tokens_per_minute, limit.tokens_per_minute, clock)

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until one request of ``tokens`` may go; returns the seconds waited."""
        waited = 0.0
        queue = self._queues.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with queue:
            while True:
                with self._mutex:
                    delay = max(
                        self._requests.wait_for(1) if self._requests else 0.0,
                        self._tokens.wait_for(tokens) if self._tokens else 0.0,
                    )
                    if delay <= 0:
                        if self._requests:
                            self._requests.take(1)
                        if self._tokens:
                            self._tokens.take(tokens)
                        return waited
                await asyncio.sleep(delay)
                waited += delay

    def settle(self, estimated: int, actual: int) -> None:
        """Give back tokens reserved beyond what the call really used."""
        if self._tokens and actual < estimated:
            with self._mutex:
                self._tokens.give(estimated - actual)


class RateLimiter:
    """Limiters by provider name; providers without a configured limit pass straight through."""

    def __init__(self, limits: Mapping[str, RateLimit], clock: Callable[[], float] = time.monotonic) -> None:
        self._limiters = {
            name: ProviderLimiter(limit, clock)
            for name, limit in limits.items()
            if limit.requests_per_minute or limit.tokens_per_minute
        }

    def get(self, provider: str) -> ProviderLimiter | None:
        return self._limiters.get(provider)

    async def acquire(self, provider: str, tokens: int = 0) -> float:
        limiter = self._limiters.get(provider)
        return await limiter.acquire(tokens) if limiter else 0.0

    def settle(self, provider: str, estimated: int, actual: int) -> None:
        limiter = self._limiters.get(provider)
        if limiter:
            limiter.settle(estimated, actual)
