"""The offline provider's batch mode: the same life as a real batch, in memory, after a fake delay.

A submitted batch is held in this process (every event loop of it: a batch outlives the loop
that submitted it) and reports ``running`` until ``ForgeSettings.offline_batch_delay`` seconds
have passed since it was created; then every item is answered as an offline call would be
(echo, canned, synthesized structured output, scripted failures per item), without the per-call
latency.  Cancelling a running batch leaves its items unanswered.  Items cost
``offline_cost`` (or the model's) times ``offline_batch_discount``, the way the providers' batch
tiers discount their prices (see ``EmbeddedForge``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ecosystem.forge.batch import Answer, BatchLimits, BatchPart
from ecosystem.forge.errors import ForgeError, ForgeInvalidRequest
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.providers.offline import OfflineProvider


@dataclass
class _Held:
    entries: list[dict[str, Any]]
    model: str
    ready_at: float
    cancelled: bool = False


class OfflineBatches:
    limits = BatchLimits()
    _held: ClassVar[dict[str, _Held]] = {}
    _ids = itertools.count(1)
    _lock = threading.Lock()

    def __init__(self, provider: OfflineProvider, delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.label = provider.label
        self.delay = delay
        self.clock = clock

    def batch_entry(self, item_id: str, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        return {"custom_id": item_id, "request": request}

    async def create_batch(
        self, entries: list[dict[str, Any]], model: str, indices: list[int], labels: dict[str, str]
    ) -> BatchPart:
        with self._lock:
            batch_id = f"offline-batch-{next(self._ids)}"
            self._held[batch_id] = _Held(entries, model, self.clock() + self.delay)
        part = BatchPart(id=batch_id, indices=indices, status="in_progress")
        return part

    def _get(self, part: BatchPart) -> _Held:
        held = self._held.get(part.id)
        if held is None:
            raise ForgeInvalidRequest(f"offline batch {part.id} is not held by this process")
        return held

    async def refresh_batch(self, part: BatchPart) -> None:
        held = self._get(part)
        total = len(held.entries)
        if held.cancelled:
            part.state, part.status = "cancelled", "cancelled"
        elif self.clock() >= held.ready_at:
            part.state, part.status = "completed", "completed"
        part.counts = {"total": total, "done": total if part.state == "completed" else 0}

    async def batch_answers(self, part: BatchPart) -> dict[str, Answer]:
        held = self._get(part)
        if held.cancelled:
            return {}
        answers: dict[str, Answer] = {}
        for entry in held.entries:
            try:
                answers[entry["custom_id"]] = self.provider.answer(entry["request"], held.model).model_dump()
            except ForgeError as error:
                answers[entry["custom_id"]] = error
        with self._lock:
            self._held.pop(part.id, None)
        return answers

    def read_batch_answer(self, payload: dict[str, Any], request: ForgeInferenceRequest, model: str) -> (
            ForgeInferenceResponse):
        return ForgeInferenceResponse.model_validate(payload)

    async def cancel_batch(self, part: BatchPart) -> None:
        held = self._held.get(part.id)
        if held is not None and self.clock() < held.ready_at:
            held.cancelled = True
            part.state, part.status = "cancelled", "cancelled"
