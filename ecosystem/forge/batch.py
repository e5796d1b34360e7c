"""Batch mode: many requests through a provider's batch API, at the batch price, results in order.

OpenAI's Batch API, Anthropic's Message Batches and Gemini's batch mode take a list of requests
in one submission, answer within a completion window (24 hours at all three) and bill about
half the per-token price.  ``EmbeddedForge`` speaks all three (and the offline provider fakes one)
through one ``BatchAdapter`` per wire format, next to each provider's adapter; this module holds
what they share:

* **Bodies**: each item's request body is built by the provider adapter's own body builder
  (``plan``), so structured output, cache marks and reasoning work in batch exactly as online,
  and each answer is read back by the adapter's own reader (``read_answer``).
* **Splitting**: items go in as few provider batches as the provider's limits allow (requests per
  batch, bytes per submission; ``ForgeSettings.batch_max_requests`` may lower the count), in item
  order, so one job may hold several provider batches ("parts").
* **Item ids**: ``item-<index>``; every provider returns results unordered or keyed, so results
  are matched by id and handed back in item order.
* **Per-item outcomes**: a ``BatchItem`` holds the response or a ``ForgeError``: the provider's
  per-item errors map to the same classes as online errors; an item left unanswered because the
  batch expired or was cancelled is ``ForgeBatchExpired``/``ForgeBatchCancelled`` (not billed);
  an item in a batch that failed as a whole is ``ForgeBatchFailed``.
* **Cost**: every answered item is priced at the batch tier (``PriceTable``'s ``tier="batch"``).

``run_batch`` is the whole life of a job: submit, poll with a doubling interval (1 s up to
``ForgeSettings.batch_poll_interval``) on ``asyncio`` sleeps, collect.  Polls that fail for a
transient reason are tried again at the next interval (a batch runs for hours; one failed GET
must not lose it).  If the waiting coroutine is cancelled (a task timeout), the provider batches
are cancelled too before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ecosystem.forge.errors import (
    ForgeBatchCancelled,
    ForgeBatchExpired,
    ForgeBatchFailed,
    ForgeError,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse

logger = logging.getLogger("ecosystem.forge")

BATCH_WINDOW = 24 * 3600.0  # the completion window of all three providers' batch APIs, seconds
PartState = Literal["running", "completed", "failed", "expired", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})
MAX_POLL_FAILURES = 10  # consecutive failed status polls before the job is given up


def custom_id(index: int) -> str:
    """The id item ``index`` carries in a provider batch (Anthropic allows ``[A-Za-z0-9_-]{1,64}``)."""
    return f"item-{index}"


def entry_bytes(entry: dict[str, Any]) -> int:
    """Bytes ``entry`` takes in a submission: one JSON line."""
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()) + 1


@dataclass(frozen=True)
class BatchLimits:
    """What one provider batch may hold (None: no limit)."""

    max_requests: int | None = None
    max_bytes: int | None = None

    def narrowed(self, max_requests: int | None) -> BatchLimits:
        if max_requests is None:
            return self
        limit = max_requests if self.max_requests is None else min(self.max_requests, max_requests)
        return BatchLimits(limit, self.max_bytes)


def split(indices: Sequence[int], sizes: Sequence[int], limits: BatchLimits, label: str) -> list[list[int]]:
    """``indices`` (with their entries' ``sizes`` in bytes) cut into consecutive groups within ``limits``."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in zip(indices, sizes, strict=True):
        if limits.max_bytes is not None and size > limits.max_bytes:
            raise ForgeInvalidRequest(
                f"{label}: batch item {index} takes {size:,} bytes, more than a whole batch may "
                f"({limits.max_bytes:,} bytes)"
            )
        full = limits.max_requests is not None and len(current) >= limits.max_requests
        if current and (full or (limits.max_bytes is not None and total + size > limits.max_bytes)):
            groups.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        groups.append(current)
    return groups


@dataclass
class BatchPart:
    """One provider batch: its id, the items it holds and what the provider last said of it."""

    id: str
    indices: list[int]
    state: PartState = "running"
    status: str = ""  # the provider's own word (in_progress, ended, BATCH_STATE_RUNNING...)
    counts: dict[str, int] = field(default_factory=dict)
    ref: dict[str, Any] = field(default_factory=dict)  # where its results are (file ids, results URL...)
    message: str | None = None  # why it failed, when it did

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "items": len(self.indices), "state": self.state, "status": self.status,
                "counts": dict(self.counts)}


@dataclass
class BatchJob:
    """A submitted batch: the routed requests, the provider batches holding them, and progress."""

    provider: str
    model: str
    requests: list[ForgeInferenceRequest]
    parts: list[BatchPart]
    rejected: dict[int, ForgeError] = field(default_factory=dict)  # refused before submission
    submitted_at: float = field(default_factory=time.time)
    polls: int = 0

    @property
    def done(self) -> bool:
        return all(part.done for part in self.parts)

    @property
    def state(self) -> PartState:
        """``running`` until every part is done; then the worst part's state."""
        if not self.done:
            return "running"
        for state in ("failed", "expired", "cancelled"):
            if any(part.state == state for part in self.parts):
                return state  # type: ignore[return-value]
        return "completed"

    @property
    def ids(self) -> list[str]:
        return [part.id for part in self.parts]

    def describe(self) -> str:
        ids = ", ".join(self.ids) or "nothing submitted"
        return f"{self.provider} batch {ids} ({len(self.requests)} items, {self.model})"

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "items": len(self.requests),
                "state": self.state, "polls": self.polls, "parts": [p.to_json() for p in self.parts],
                "rejected": len(self.rejected)}


@dataclass(frozen=True)
class BatchItem:
    """One item's outcome: its response (priced at the batch tier) or its error."""

    index: int
    response: ForgeInferenceResponse | None = None
    error: ForgeError | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None


Answer = dict[str, Any] | ForgeError  # an item's raw answer payload, or its mapped error


class BatchAdapter(Protocol):
    """One provider's batch wire format (see ``providers/*_batch.py``)."""

    label: str
    limits: BatchLimits

    def batch_entry(self, item_id: str, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        """The item as the provider's batch takes it (built with the online body builder)."""
        ...

    async def create_batch(
        self, entries: list[dict[str, Any]], model: str, indices: list[int], labels: dict[str, str]
    ) -> BatchPart: ...

    async def refresh_batch(self, part: BatchPart) -> None:
        """Ask the provider how ``part`` is doing and update it."""
        ...

    async def batch_answers(self, part: BatchPart) -> dict[str, Answer]:
        """Item id -> answer payload or error, for every item the provider reports on."""
        ...

    def read_batch_answer(self, payload: dict[str, Any], request: ForgeInferenceRequest, model: str) -> (
        ForgeInferenceResponse): ...

    async def cancel_batch(self, part: BatchPart) -> None: ...


@runtime_checkable
class BatchForge(Protocol):
    """A Forge that can run batches (``EmbeddedForge``; the remote Forge service cannot yet)."""

    async def submit_batch(self, requests: Sequence[ForgeInferenceRequest]) -> BatchJob: ...

    async def poll_batch(self, job: BatchJob) -> BatchJob: ...

    async def collect_batch(self, job: BatchJob) -> list[BatchItem]: ...

    async def cancel_batch(self, job: BatchJob) -> None: ...


def unanswered(part: BatchPart, label: str) -> ForgeError:
    """The error of an item of ``part`` that has no answer, by how the part ended."""
    where = f"{label} batch {part.id}"
    if part.state == "expired":
        return ForgeBatchExpired(f"{where} expired before this item was answered (not billed)")
    if part.state == "cancelled":
        return ForgeBatchCancelled(f"{where} was cancelled before this item ran (not billed)")
    if part.state == "failed":
        return ForgeBatchFailed(f"{where} failed as a whole: {part.message or 'no reason given'}")
    return ForgeMalformedResponse(f"{where} ended without a result for this item")


def outcome_summary(job: BatchJob, items: Sequence[BatchItem]) -> str:
    """``openai batch batch_1 expired: 120 of 200 items answered ($0.12 billed), 80 batch_expired``."""
    answered = [i for i in items if i.ok]
    billed = sum((i.response.cost or 0.0) for i in answered if i.response is not None)
    kinds: dict[str, int] = {}
    for item in items:
        if item.error is not None:
            kinds[item.error.type] = kinds.get(item.error.type, 0) + 1
    text = (f"{job.provider} batch {', '.join(job.ids) or '-'} {job.state}: {len(answered)} of {len(items)} items "
            f"answered (${billed:.6f} billed)")
    if kinds:
        text += ", " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return text


@dataclass(frozen=True)
class PollPolicy:
    """Waits between status polls: ``first`` seconds, times ``multiplier`` each poll, at most ``maximum``."""

    first: float = 1.0
    multiplier: float = 2.0
    maximum: float = 60.0

    def delay(self, poll: int) -> float:
        return min(self.maximum, self.first * self.multiplier ** max(0, poll - 1))


async def run_batch(
    forge: BatchForge,
    requests: Sequence[ForgeInferenceRequest],
    *,
    policy: PollPolicy | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_submitted: Callable[[BatchJob], Awaitable[None]] | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> tuple[BatchJob, list[BatchItem]]:
    """Submit ``requests`` as one batch job, wait for it and return it with every item's outcome,
    in item order.  ``on_submitted`` runs once the provider holds the job (the waiting starts)."""
    log = log or logger
    policy = policy or PollPolicy()
    job = await forge.submit_batch(requests)
    log.info("submitted %s", job.describe())
    try:
        if on_submitted is not None:
            await on_submitted(job)
        job = await _poll(forge, job)
        poll = 0
        while not job.done:
            poll += 1
            await sleep(policy.delay(poll))
            job = await _poll(forge, job)
    except asyncio.CancelledError:
        await asyncio.shield(_cancel(forge, job, log))
        raise
    items = await forge.collect_batch(job)
    log.info("%s", outcome_summary(job, items))
    return job, items


async def _poll(forge: BatchForge, job: BatchJob) -> BatchJob:
    failures = 0
    while True:
        try:
            return await forge.poll_batch(job)
        except ForgeError as error:
            failures += 1
            if not error.is_retryable() or failures >= MAX_POLL_FAILURES:
                raise
            logger.warning("polling %s failed (%s); trying again", job.describe(), error)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** failures))


async def _cancel(forge: BatchForge, job: BatchJob, log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    try:
        await forge.cancel_batch(job)
        log.warning("cancelled %s", job.describe())
    except Exception as error:  # noqa: BLE001 - the cancellation that brought us here must go on
        log.warning("could not cancel %s: %s", job.describe(), error)
