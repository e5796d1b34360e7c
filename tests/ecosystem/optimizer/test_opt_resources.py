"""ResourceSampler reports process CPU% and peak RSS around a block."""

from __future__ import annotations

import asyncio
import time

from ecosystem.optimizer import ResourceSampler


def _spin(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += 1
    return n


async def test_busy_block_uses_cpu_and_allocation_raises_peak_memory() -> None:
    async with ResourceSampler(interval=0.01) as usage:
        _spin(0.2)
        blob = b"x" * (64 * 1024 * 1024)
        await asyncio.sleep(0.03)
        assert len(blob) > 0
        del blob
    assert usage.cpu_percent > 20
    assert usage.memory_delta_mb >= 48
    assert usage.memory_mb >= usage.memory_delta_mb


def test_idle_block_uses_little_cpu() -> None:
    with ResourceSampler() as usage:
        time.sleep(0.2)
    assert usage.cpu_percent < 50
    assert usage.memory_mb > 0 and usage.wall_seconds >= 0.2
