"""MetricBuffer: batch, interval and close flushes; failing sinks never raise and never lose metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from optimizer_histories import metric  # type: ignore[import-not-found]
from sqlalchemy import func, select

from ecosystem.errors import ServiceUnavailable
from ecosystem.optimizer import (
    AutoOptimizerSettings,
    EmbeddedAutoOptimizer,
    HttpAutoOptimizerClient,
    MetricBuffer,
    MetricsNotDelivered,
    PerformanceMetric,
    Recommendations,
    SubmitMetricsRequest,
    build_buffer,
)
from ecosystem.optimizer.server import create_optimizer_app
from ecosystem.service import free_port, serve_in_thread
from ecosystem.store import Store
from ecosystem.store.optimizer_models import PerformanceMetricRow


class RecordingSink:
    """Records every delivered metric id; fails while ``failing`` (or for the next ``fail_after`` calls)."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.requests: list[int] = []
        self.failing = False
        self.calls = 0
        self.fail_from_call: int | None = None

    async def submit_metrics(self, request: SubmitMetricsRequest) -> int:
        self.calls += 1
        if self.failing or (self.fail_from_call is not None and self.calls >= self.fail_from_call):
            raise ServiceUnavailable("sink down")
        self.requests.append(len(request.metrics))
        self.delivered.extend(m.id for m in request.metrics)
        return len(request.metrics)


def _metrics(n: int, start: int = 0) -> list[PerformanceMetric]:
    return [metric("t", run=start + i) for i in range(n)]


async def _until(predicate: object, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_flushes_when_batch_size_is_reached(tmp_path: Path) -> None:
    sink = RecordingSink()
    buffer = MetricBuffer(sink, batch_size=3, flush_interval=60, spool_dir=tmp_path)
    metrics = _metrics(5)
    for m in metrics[:3]:
        await buffer.add(m)
    assert sink.requests == [3] and buffer.pending == 0
    for m in metrics[3:]:
        await buffer.add(m)
    assert sink.requests == [3] and buffer.pending == 2
    await buffer.aclose()
    assert sink.requests == [3, 2]
    assert sink.delivered == [m.id for m in metrics]
    assert buffer.flushed == 5 and buffer.failed_flushes == 0 and buffer.spooled == 0


async def test_background_flush_every_interval(tmp_path: Path) -> None:
    sink = RecordingSink()
    buffer = MetricBuffer(sink, batch_size=100, flush_interval=0.05, spool_dir=tmp_path)
    await buffer.add(_metrics(1)[0])
    await _until(lambda: sink.delivered)
    buffer.add_nowait(_metrics(1, start=1)[0])  # from "another thread": picked up by the interval
    await _until(lambda: len(sink.delivered) == 2)
    await buffer.aclose()
    assert buffer.flushed == 2


async def test_close_flushes_the_rest_and_settings_configure_it(tmp_path: Path) -> None:
    sink = RecordingSink()
    settings = AutoOptimizerSettings(batch_size=10, flush_interval="5m", spool_dir=str(tmp_path))
    async with build_buffer(sink, settings) as buffer:
        assert (buffer.batch_size, buffer.flush_interval, buffer.spool_dir) == (10, 300.0, tmp_path)
        await buffer.add_many(_metrics(4))
        assert sink.delivered == []
    assert len(sink.delivered) == 4


async def test_failing_sink_keeps_then_spools_then_resubmits_exactly_once(tmp_path: Path) -> None:
    sink = RecordingSink()
    sink.failing = True
    buffer = MetricBuffer(sink, batch_size=2, flush_interval=60, spool_dir=tmp_path, max_failures=3)
    metrics = _metrics(7)
    for m in metrics[:2]:
        await buffer.add(m)  # flush fails: no exception, metrics kept
    assert buffer.pending == 2 and buffer.failed_flushes == 1 and buffer.spool_files() == []
    for m in metrics[2:4]:
        await buffer.add(m)  # two more failed flushes -> the third spools everything
    assert buffer.failed_flushes == 3 and buffer.pending == 0 and buffer.spooled == 4
    assert len(buffer.spool_files()) == 1
    for m in metrics[4:6]:
        await buffer.add(m)  # still down: spooled at once, in a second (newer) file
    assert buffer.failed_flushes == 4 and buffer.pending == 0 and buffer.spooled == 6
    assert len(buffer.spool_files()) == 2
    sink.failing = False
    await buffer.add(metrics[6])
    assert await buffer.flush() is True
    assert buffer.spool_files() == []
    await buffer.flush()
    await buffer.aclose()
    assert sink.delivered == [m.id for m in metrics]  # exactly once, oldest spool first
    assert buffer.resubmitted == 6


async def test_partially_resubmitted_spool_keeps_only_the_unsent_lines(tmp_path: Path) -> None:
    sink = RecordingSink()
    sink.failing = True
    buffer = MetricBuffer(sink, batch_size=2, flush_interval=60, spool_dir=tmp_path)
    metrics = _metrics(5)
    for m in metrics:
        buffer.add_nowait(m)
    await buffer.aclose()  # fails -> spooled at close, no exception
    assert buffer.spooled == 5
    sink.failing, sink.fail_from_call = False, sink.calls + 2  # one batch of 2 goes through, then down
    second = MetricBuffer(sink, batch_size=2, flush_interval=60, spool_dir=tmp_path)
    assert await second.flush() is False
    [remaining] = second.spool_files()
    assert len(remaining.read_text().splitlines()) == 3
    sink.fail_from_call = None
    assert await second.flush() is True
    await second.aclose()
    assert sorted(sink.delivered) == sorted(m.id for m in metrics)


async def test_two_buffers_sharing_a_spool_send_each_file_once(tmp_path: Path) -> None:
    failing = RecordingSink()
    failing.failing = True
    first = MetricBuffer(failing, batch_size=50, flush_interval=60, spool_dir=tmp_path)
    for m in _metrics(6):
        first.add_nowait(m)
    await first.aclose()
    sink = RecordingSink()
    a = MetricBuffer(sink, batch_size=50, flush_interval=60, spool_dir=tmp_path)
    b = MetricBuffer(sink, batch_size=50, flush_interval=60, spool_dir=tmp_path)
    await asyncio.gather(a.flush(), b.flush())
    assert len(sink.delivered) == 6 and len(set(sink.delivered)) == 6


async def test_unwritable_spool_at_close_is_loud(tmp_path: Path) -> None:
    sink = RecordingSink()
    sink.failing = True
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    buffer = MetricBuffer(sink, batch_size=50, flush_interval=60, spool_dir=blocker / "spool")
    buffer.add_nowait(_metrics(1)[0])
    with pytest.raises(MetricsNotDelivered):
        await buffer.aclose()
    assert buffer.pending == 1  # still in memory, not silently dropped


class FlakyOptimizer:
    """The real embedded optimizer behind a switch that makes the service answer 503."""

    def __init__(self, inner: EmbeddedAutoOptimizer) -> None:
        self.inner = inner
        self.down = True

    async def submit_metrics(self, request: SubmitMetricsRequest) -> int:
        if self.down:
            raise ServiceUnavailable("optimizer is restarting", retry_after=1)
        return await self.inner.submit_metrics(request)

    async def get_recommendations(self, workflow_id: str, include_task_level: bool = True) -> Recommendations:
        return await self.inner.get_recommendations(workflow_id, include_task_level)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _stored(store: Store) -> int:
    with store.session(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(PerformanceMetricRow)) or 0)


async def test_remote_503_never_raises_and_spooled_metrics_arrive_once(tmp_path: Path, store: Store) -> None:
    flaky = FlakyOptimizer(EmbeddedAutoOptimizer(AutoOptimizerSettings(), store))
    metrics = _metrics(5)
    with serve_in_thread(create_optimizer_app(flaky)) as url:
        client = HttpAutoOptimizerClient(url)
        buffer = MetricBuffer(client, batch_size=2, flush_interval=60, spool_dir=tmp_path)
        for m in metrics:
            await buffer.add(m)
        await buffer.aclose()
        assert buffer.failed_flushes >= 1 and buffer.spooled == 5 and _stored(store) == 0
        flaky.down = False
        retry = MetricBuffer(client, batch_size=2, flush_interval=60, spool_dir=tmp_path)
        await retry.aclose()
        assert retry.resubmitted == 5 and retry.spool_files() == []
        again = MetricBuffer(client, batch_size=2, flush_interval=60, spool_dir=tmp_path)
        await again.aclose()
        assert again.flushed == 0
        await client.aclose()
    assert _stored(store) == 5


async def test_closed_port_never_raises_and_metrics_survive(tmp_path: Path, store: Store) -> None:
    client = HttpAutoOptimizerClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    buffer = MetricBuffer(client, batch_size=3, flush_interval=60, spool_dir=tmp_path)
    metrics = _metrics(4)
    for m in metrics:
        await buffer.add(m)
    await buffer.aclose()
    await client.aclose()
    assert buffer.spooled == 4
    embedded = EmbeddedAutoOptimizer(AutoOptimizerSettings(), store)
    recovered = MetricBuffer(embedded, batch_size=3, flush_interval=60, spool_dir=tmp_path)
    await recovered.aclose()
    # Re-delivering the same ids is stored once even if a spool were replayed.
    assert await embedded.submit_metrics(SubmitMetricsRequest(metrics=metrics)) == 0
    assert _stored(store) == 4
