"""Anthropic's Message Batches (checked against anthropic-sdk-python's ``messages.batches`` types).

Submit: ``POST /v1/messages/batches {requests: [{custom_id, params}]}``, each ``params`` built by
``AnthropicProvider.plan``.  Limits: 100,000 requests or 256 MB per batch.  Poll: ``GET
/v1/messages/batches/{id}``: ``processing_status`` in_progress / canceling / ended, with
``request_counts`` (processing, succeeded, errored, canceled, expired) and, once ended, a
``results_url``.  An ended batch with expired requests expired; one whose cancellation was
initiated (``cancel_initiated_at``) was cancelled.  Results: ``GET results_url`` (``Accept:
application/binary``), JSONL lines ``{custom_id, result: {type: succeeded, message} | {type:
errored, error: {type: error, error: {type, message}}} | {type: canceled} | {type: expired}}``, in
no particular order.  The results URL is followed only on the API's own host (it is sent the
key); elsewhere the documented path on the base URL is used instead.
"""

from __future__ import annotations

import json
from typing import Any

from ecosystem.forge.batch import Answer, BatchLimits, BatchPart
from ecosystem.forge.errors import (
    ForgeBatchCancelled,
    ForgeBatchExpired,
    ForgeError,
    ForgeMalformedResponse,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.providers.anthropic import _ERROR_TYPES, AnthropicProvider

PATH = "/v1/messages/batches"


class AnthropicBatches:
    limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)

    def __init__(self, provider: AnthropicProvider) -> None:
        self.provider = provider
        self.label = provider.label

    def batch_entry(self, item_id: str, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        return {"custom_id": item_id, "params": self.provider.plan(request, model)[0]}

    async def create_batch(
        self, entries: list[dict[str, Any]], model: str, indices: list[int], labels: dict[str, str]
    ) -> BatchPart:
        batch = await self.provider.send_json("POST", PATH, json={"requests": entries})
        part = BatchPart(id=str(batch.get("id") or ""), indices=indices)
        if not part.id:
            raise ForgeMalformedResponse(f"{self.label} answered the batch creation without an id")
        self._update(part, batch)
        return part

    def _update(self, part: BatchPart, batch: dict[str, Any]) -> None:
        status = str(batch.get("processing_status") or "")
        counts = batch.get("request_counts") or {}
        part.counts = {k: int(counts.get(k) or 0) for k in ("processing", "succeeded", "errored", "canceled", "expired")}
        part.status = status
        if status in ("in_progress", "canceling"):
            part.state = "running"
        elif status == "ended":
            if batch.get("cancel_initiated_at"):
                part.state = "cancelled"
            elif part.counts["expired"]:
                part.state = "expired"
            else:
                part.state = "completed"
            if batch.get("results_url"):
                part.ref["results_url"] = str(batch["results_url"])
        else:
            raise ForgeMalformedResponse(f"{self.label} batch {part.id} has an unknown processing_status {status!r}")

    async def refresh_batch(self, part: BatchPart) -> None:
        self._update(part, await self.provider.send_json("GET", f"{PATH}/{part.id}"))

    async def batch_answers(self, part: BatchPart) -> dict[str, Answer]:
        url = part.ref.get("results_url")
        if not url or not self.provider.same_origin(str(url)):
            url = f"{PATH}/{part.id}/results"
        response = await self.provider.send("GET", str(url), headers={"accept": "application/binary"})
        answers: dict[str, Answer] = {}
        for number, line in enumerate(response.text.splitlines(), 1):
            if line.strip():
                item_id, answer = self._answer(line, part.id, number)
                answers[item_id] = answer
        return answers

    def _answer(self, line: str, batch_id: str, number: int) -> tuple[str, Answer]:
        try:
            row = json.loads(line)
            item_id = str(row["custom_id"])
            result = row["result"]
            kind = result["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ForgeMalformedResponse(f"{self.label} batch {batch_id} result line {number} is malformed") from exc
        if kind == "succeeded" and isinstance(result.get("message"), dict):
            return item_id, result["message"]
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            error_type = str(error.get("type") or "api_error")
            cls = _ERROR_TYPES.get(error_type, ForgeError)
            return item_id, cls(f"{self.label}: {error_type}: {self.provider.redact(str(error.get('message') or ''))}")
        if kind == "canceled":
            return item_id, ForgeBatchCancelled(f"{self.label} batch {batch_id} cancelled this item before it ran")
        if kind == "expired":
            return item_id, ForgeBatchExpired(f"{self.label} batch {batch_id} expired before this item was answered")
        return item_id, ForgeMalformedResponse(f"{self.label} batch {batch_id}: result type {kind!r} for {item_id}")

    def read_batch_answer(self, payload: dict[str, Any], request: ForgeInferenceRequest, model: str) -> (
            ForgeInferenceResponse):
        _, plan = self.provider.plan(request, model)
        return self.provider.read_answer(payload, model, plan)

    async def cancel_batch(self, part: BatchPart) -> None:
        self._update(part, await self.provider.send_json("POST", f"{PATH}/{part.id}/cancel"))
