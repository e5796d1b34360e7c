"""``MetricBuffer``: batch metrics to an optimizer without ever failing a task or losing a metric.

    buffer = MetricBuffer(optimizer, batch_size=100, flush_interval=30.0, spool_dir=path)
    await buffer.add(metric)        # flushes when batch_size metrics are waiting
    ...                             # a background task flushes every flush_interval seconds
    await buffer.aclose()           # flushes (or spools) the rest

Decisions:

* **Delivery failures are absorbed.**  Metrics are advisory; a flush that fails (remote 503,
  closed port, store down) is counted and logged, and the metrics stay at the head of the buffer
  for the next flush.  After ``max_failures`` consecutive failures, and at close, whatever is
  still unsent goes to a JSONL **spool** file in ``spool_dir``; the next successful flush
  re-submits spool files first, oldest first, then deletes them.
* **Exactly once.**  A spool file is claimed by an atomic rename before it is re-submitted, so two
  buffers sharing a spool directory never send the same file; a file whose re-submission fails
  half-way is rewritten with only the unsent lines.  Each metric also carries a stable ``id``
  and the store ignores ids it already holds, so a batch that was stored but whose answer was
  lost (a timeout) is not stored twice when it is retried.
* Spool files are written to a temporary name and renamed, so a crash never leaves half a line.
* ``add`` belongs to one event loop; ``add_nowait`` may be called from any thread (it only
  appends; the interval flush sends it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ecosystem.optimizer.errors import MetricsNotDelivered, OptimizerError
from ecosystem.optimizer.models import DEFAULT_SOURCE, PerformanceMetric, SubmitMetricsRequest
from ecosystem.store import data_dir

logger = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
SPOOL_PREFIX = "metrics-"


def default_spool_dir() -> Path:
    return data_dir() / "optimizer-spool"


class MetricSink(Protocol):
    """Where a buffer delivers: any ``AutoOptimizer`` (embedded or HTTP client) is one."""

    async def submit_metrics(self, request: SubmitMetricsRequest) -> int: ...


class MetricBuffer:
    """Batches metrics to ``sink``; see the module docstring for the delivery guarantees."""

    def __init__(
        self,
        sink: MetricSink,
        batch_size: int = 100,
        flush_interval: float = 30.0,
        *,
        spool_dir: str | Path | None = None,
        max_failures: int = 3,
        source: str = DEFAULT_SOURCE,
    ) -> None:
        if batch_size < 1 or flush_interval <= 0 or max_failures < 1:
            raise OptimizerError("MetricBuffer needs batch_size >= 1, max_failures >= 1 and flush_interval > 0")
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.spool_dir = Path(spool_dir) if spool_dir is not None else default_spool_dir()
        self.max_failures = max_failures
        self.source = source
        self.flushed = 0  # metrics delivered (including re-submitted spool lines)
        self.failed_flushes = 0
        self.spooled = 0  # metrics written to spool files
        self.resubmitted = 0  # spooled metrics delivered later
        self.consecutive_failures = 0
        self._pending: list[PerformanceMetric] = []
        self._pending_lock = threading.Lock()
        self._flush_lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- adding ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    def add_nowait(self, metric: PerformanceMetric) -> None:
        """Queue ``metric`` without flushing (thread-safe)."""
        with self._pending_lock:
            self._pending.append(metric)

    async def add(self, metric: PerformanceMetric) -> None:
        """Queue ``metric``; flush when ``batch_size`` are waiting.  Never raises for delivery."""
        if self._closed:
            raise OptimizerError("MetricBuffer is closed")
        self._ensure_started()
        self.add_nowait(metric)
        if self.pending >= self.batch_size:
            await self.flush()

    async def add_many(self, metrics: Sequence[PerformanceMetric]) -> None:
        for metric in metrics:
            await self.add(metric)

    def _ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._interval_loop(), name="metric-buffer-flush")

    async def _interval_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def __aenter__(self) -> MetricBuffer:
        self._ensure_started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- flushing -------------------------------------------------------------------------

    def _lock(self) -> asyncio.Lock:
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        return self._flush_lock

    async def flush(self) -> bool:
        """Deliver spool files, then the buffer.  ``True`` when nothing is left unsent."""
        async with self._lock():
            ok = await self._flush_spool() and await self._flush_pending()
            if ok:
                self.consecutive_failures = 0
                return True
            self.failed_flushes += 1
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.max_failures:
                self._spool_pending(raise_on_error=False)
            return False

    async def _submit(self, batch: list[PerformanceMetric]) -> bool:
        try:
            await self.sink.submit_metrics(SubmitMetricsRequest(metrics=batch, source=self.source))
        except Exception as exc:  # any failure to deliver: keep the metrics, retry later
            logger.warning("could not deliver %d metrics to the optimizer: %s", len(batch), exc)
            return False
        return True

    async def _flush_pending(self) -> bool:
        while True:
            with self._pending_lock:
                batch = self._pending[: self.batch_size]
            if not batch:
                return True
            if not await self._submit(batch):
                return False
            with self._pending_lock:
                del self._pending[: len(batch)]
            self.flushed += len(batch)

    # -- the spool ------------------------------------------------------------------------

    def spool_files(self) -> list[Path]:
        if not self.spool_dir.is_dir():
            return []
        return sorted(p for p in self.spool_dir.glob(f"{SPOOL_PREFIX}*{SPOOL_SUFFIX}"))

    def _write_spool(self, metrics: Sequence[PerformanceMetric]) -> Path:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Time first so that lexical order is age order.
        name = f"{SPOOL_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.spool_dir / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            for metric in metrics:
                handle.write(metric.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        final = self.spool_dir / f"{name}{SPOOL_SUFFIX}"
        os.replace(tmp, final)
        return final

    def _spool_pending(self, *, raise_on_error: bool) -> int:
        with self._pending_lock:
            batch = list(self._pending)
        if not batch:
            return 0
        try:
            path = self._write_spool(batch)
        except OSError as exc:
            message = f"could not spool {len(batch)} metrics to {self.spool_dir}: {exc}"
            if raise_on_error:
                raise MetricsNotDelivered(message) from exc
            logger.error("%s; keeping them in memory", message)
            return 0
        with self._pending_lock:
            del self._pending[: len(batch)]
        self.spooled += len(batch)
        logger.warning("spooled %d undelivered metrics to %s", len(batch), path)
        return len(batch)

    async def _flush_spool(self) -> bool:
        for path in self.spool_files():
            claimed = path.with_name(f".claimed-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another buffer claimed it first
            metrics = self._read_spool(claimed)
            sent = 0
            while sent < len(metrics):
                batch = metrics[sent : sent + self.batch_size]
                if not await self._submit(batch):
                    break
                sent += len(batch)
            self.flushed += sent
            self.resubmitted += sent
            if sent == len(metrics):
                claimed.unlink(missing_ok=True)
                continue
            # Put back only what was not sent, under the original name (keeps its age).
            self._rewrite(path, metrics[sent:])
            claimed.unlink(missing_ok=True)
            return False
        return True

    @staticmethod
    def _read_spool(path: Path) -> list[PerformanceMetric]:
        metrics: list[PerformanceMetric] = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    metrics.append(PerformanceMetric.model_validate_json(line))
                except ValueError as exc:
                    logger.error("skipping unreadable line %d of spool file %s: %s", number, path, exc)
        return metrics

    @staticmethod
    def _rewrite(path: Path, metrics: Sequence[PerformanceMetric]) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for metric in metrics:
                handle.write(metric.model_dump_json() + "\n")
        os.replace(tmp, path)

    # -- closing --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the interval flush, flush the rest and spool whatever could not be sent.

        Raises ``MetricsNotDelivered`` only if unsent metrics could not be spooled either.
        """
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock():
            if await self._flush_spool() and await self._flush_pending():
                return
            self.failed_flushes += 1
            self._spool_pending(raise_on_error=True)

    def stats(self) -> dict[str, int]:
        return {
            "pending": self.pending,
            "flushed": self.flushed,
            "failed_flushes": self.failed_flushes,
            "spooled": self.spooled,
            "resubmitted": self.resubmitted,
        }
