"""``ResourceSampler``: CPU% and memory of this process around a task body, for ``PerformanceMetric``.

    async with ResourceSampler() as usage:
        result = await run_task()
    metric = PerformanceMetric(..., cpu_usage_percent=usage.cpu_percent, memory_usage_mb=usage.memory_mb)

Decisions:

* **Process-wide, not per task.**  psutil measures the process; tasks that run concurrently in the
  same process share the numbers.  That is what the seed's ``resource_usage`` can honestly mean
  for an async engine, and it is stated here rather than pretended otherwise.
* ``cpu_percent`` is (user + system CPU seconds used during the block) / wall seconds x 100, so
  one busy core is 100 and two are 200, like ``top``.
* ``memory_mb`` is the **peak RSS** (whole MB, rounded up) seen during the block - sampled by a
  daemon thread every ``interval`` seconds plus at entry and exit, so a body that blocks the event
  loop is still sampled.  ``memory_delta_mb`` is that peak minus the RSS at entry (how much the
  block made the process grow; 0 if it did not).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import psutil

_MB = 1024 * 1024


@dataclass
class ResourceUsage:
    cpu_percent: float = 0.0
    memory_mb: int = 0
    memory_delta_mb: int = 0
    wall_seconds: float = 0.0


class ResourceSampler:
    """Measures the current process over a ``with``/``async with`` block; see the module docstring."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.usage = ResourceUsage()
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak_rss = 0
        self._start_rss = 0
        self._start_cpu = 0.0
        self._start_wall = 0.0

    def _cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def _sample(self) -> None:
        try:
            rss = int(self._process.memory_info().rss)
        except psutil.Error:
            return
        self._peak_rss = max(self._peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> ResourceUsage:
        self._start_wall = time.perf_counter()
        self._start_cpu = self._cpu_seconds()
        self._start_rss = int(self._process.memory_info().rss)
        self._peak_rss = self._start_rss
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self.usage

    def stop(self) -> ResourceUsage:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._sample()
        wall = max(time.perf_counter() - self._start_wall, 1e-9)
        cpu = max(0.0, self._cpu_seconds() - self._start_cpu)
        self.usage.wall_seconds = wall
        self.usage.cpu_percent = round(cpu / wall * 100, 2)
        self.usage.memory_mb = math.ceil(self._peak_rss / _MB)
        self.usage.memory_delta_mb = math.ceil(max(0, self._peak_rss - self._start_rss) / _MB)
        return self.usage

    def __enter__(self) -> ResourceUsage:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ResourceUsage:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
