"""The client-side rate limiter: requests are spread in time, fairly, within the configured rates."""

from __future__ import annotations

import asyncio
import time

import pytest

from ecosystem.forge import EmbeddedForge, ForgeInferenceRequest, ForgeSettings, RateLimit
from ecosystem.forge.ratelimit import ProviderLimiter, RateLimiter, estimate_request_tokens


async def test_requests_are_spread_over_a_tiny_rpm_window() -> None:
    limiter = ProviderLimiter(RateLimit(requests_per_minute=600))  # 10 per second, 10 at once at most
    starts: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        starts.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(call() for _ in range(15)))
    # 10 go at once (one second's worth), the next 5 at 10 per second.
    assert starts[9] - began < 0.1
    assert starts[-1] - began == pytest.approx(0.5, abs=0.15)
    gaps = [b - a for a, b in zip(starts[10:], starts[11:], strict=False)]
    assert all(gap >= 0.08 for gap in gaps)


async def test_burst_of_one_spaces_every_request() -> None:
    limiter = ProviderLimiter(RateLimit(requests_per_minute=1200, burst=1))  # one every 50 ms
    starts = []
    for _ in range(5):
        await limiter.acquire()
        starts.append(time.monotonic())
    assert starts[-1] - starts[0] == pytest.approx(0.2, abs=0.08)


async def test_tokens_per_minute_limits_large_requests_and_settle_refunds() -> None:
    limiter = ProviderLimiter(RateLimit(tokens_per_minute=6000))  # 100 tokens a second, 6000 at once
    assert await limiter.acquire(6000) == 0
    started = time.monotonic()
    waited = await limiter.acquire(20)  # the bucket is empty: 0.2 s for 20 tokens
    assert waited == pytest.approx(0.2, abs=0.05) and time.monotonic() - started >= 0.18
    limiter.settle(estimated=6000, actual=100)  # the first call used far less than estimated
    assert await limiter.acquire(5000) == 0


async def test_limiter_is_fair_first_come_first_served() -> None:
    limiter = ProviderLimiter(RateLimit(tokens_per_minute=12_000))  # 200 tokens a second
    await limiter.acquire(12_000)  # drain the bucket: from now on every call waits for tokens
    order: list[int] = []

    async def call(i: int, tokens: int) -> None:
        await limiter.acquire(tokens)
        order.append(i)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(call(i, 60 if i == 1 else 10)))
        await asyncio.sleep(0)  # arrive in order
    began = time.monotonic()
    await asyncio.gather(*tasks)
    assert order == list(range(6))  # the large request is not overtaken by later small ones
    assert time.monotonic() - began == pytest.approx(0.55, abs=0.15)


async def test_cancelled_waiter_takes_nothing() -> None:
    limiter = ProviderLimiter(RateLimit(requests_per_minute=600, burst=1))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    started = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - started < 0.15  # did not wait for a slot the cancelled call held


async def test_unlimited_provider_passes_straight_through() -> None:
    limiter = RateLimiter({"anthropic": RateLimit(requests_per_minute=60)})
    assert limiter.get("openai") is None
    assert await limiter.acquire("openai", 10**9) == 0


def test_token_estimate_is_prompt_plus_max_tokens() -> None:
    request = ForgeInferenceRequest(prompt="x" * 400, system="y" * 40, max_tokens=100)
    assert estimate_request_tokens(request) == 110 + 100


async def test_embedded_forge_applies_limits_per_provider() -> None:
    settings = ForgeSettings(
        offline=True, rate_limits={"offline": RateLimit(requests_per_minute=1200, burst=1)}
    )
    async with EmbeddedForge(settings) as forge:
        began = time.monotonic()
        await asyncio.gather(*(forge.infer(ForgeInferenceRequest(prompt="x")) for _ in range(5)))
    assert time.monotonic() - began >= 0.18
