"""Gemini's batch mode with inline requests (checked against google-genai's ``batches`` converters).

Submit: ``POST /v1beta/models/{model}:batchGenerateContent {batch: {displayName, inputConfig:
{requests: {requests: [{request, metadata: {key}}]}}}}``, each ``request`` a generateContent body
built by ``GeminiProvider.plan``; the answer is an operation named ``batches/{id}`` whose
``metadata`` is the batch.  Inline requests must stay under 20 MB in total, so parts are cut
below that (there is no documented request count limit).  Poll: ``GET /v1beta/batches/{id}``;
``metadata.state`` BATCH_STATE_PENDING / RUNNING are running, then SUCCEEDED, FAILED, CANCELLED
or EXPIRED (the SDK's JOB_STATE_* spellings are accepted too); ``batchStats`` counts arrive as
int64 strings.  Results: ``metadata.output.inlinedResponses.inlinedResponses`` (or the
operation's ``response``), each ``{response, metadata: {key}}`` or ``{error: {code, message,
status}, metadata}``; an item error's gRPC ``status`` maps like an online error's.  Cancel:
``POST /v1beta/batches/{id}:cancel``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ecosystem.forge.batch import Answer, BatchLimits, BatchPart, PartState, custom_id
from ecosystem.forge.errors import ForgeError, ForgeMalformedResponse
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.providers.gemini import _STATUSES, GeminiProvider

INLINE_LIMIT = 20_000_000 - 64 * 1024  # under the 20 MB inline limit, with room for the envelope
_STATES: dict[str, PartState] = {
    "PENDING": "running", "RUNNING": "running", "SUCCEEDED": "completed", "FAILED": "failed",
    "CANCELLED": "cancelled", "EXPIRED": "expired",
}


def display_name(labels: dict[str, str]) -> str:
    return "-".join(v for v in labels.values() if v)[:128] or "llm-orchestrator-batch"


class GeminiBatches:
    limits = BatchLimits(max_requests=None, max_bytes=INLINE_LIMIT)

    def __init__(self, provider: GeminiProvider) -> None:
        self.provider = provider
        self.label = provider.label

    def batch_entry(self, item_id: str, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        body, _, _ = self.provider.plan(request, model.removeprefix("models/"))
        return {"request": body, "metadata": {"key": item_id}}

    async def create_batch(
        self, entries: list[dict[str, Any]], model: str, indices: list[int], labels: dict[str, str]
    ) -> BatchPart:
        model_id = model.removeprefix("models/")
        body = {"batch": {"displayName": display_name(labels),
                          "inputConfig": {"requests": {"requests": entries}}}}
        operation = await self.provider.send_json(
            "POST", f"/v1beta/models/{quote(model_id, safe='.-_')}:batchGenerateContent", json=body
        )
        name = str(operation.get("name") or "")
        if not name.startswith("batches/"):
            raise ForgeMalformedResponse(f"{self.label} answered the batch creation without a batches/ name")
        part = BatchPart(id=name, indices=indices)
        self._update(part, operation)
        return part

    def _update(self, part: BatchPart, operation: dict[str, Any]) -> None:
        metadata = operation.get("metadata")
        batch: dict[str, Any] = metadata if isinstance(metadata, dict) else operation
        state = str(batch.get("state") or "BATCH_STATE_PENDING")
        short = state.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        if short not in _STATES:
            raise ForgeMalformedResponse(f"{self.label} batch {part.id} has an unknown state {state!r}")
        part.status, part.state = state, _STATES[short]
        stats = batch.get("batchStats") or {}
        part.counts = {k: int(stats.get(k) or 0) for k in
                       ("requestCount", "successfulRequestCount", "failedRequestCount", "pendingRequestCount")}
        output = batch.get("output") or operation.get("response") or {}
        inline = (output.get("inlinedResponses") or {}).get("inlinedResponses") if isinstance(output, dict) else None
        if isinstance(inline, list):
            part.ref["inlined"] = inline
        elif isinstance(output, dict) and output.get("responsesFile"):
            part.ref["responses_file"] = str(output["responsesFile"])
        if part.state == "failed":
            error = operation.get("error") or {}
            part.message = self.provider.redact(str(error.get("message") or "")) or None

    async def refresh_batch(self, part: BatchPart) -> None:
        self._update(part, await self.provider.send_json("GET", f"/v1beta/{part.id}"))

    async def batch_answers(self, part: BatchPart) -> dict[str, Answer]:
        inline = part.ref.get("inlined")
        if inline is None:
            if part.ref.get("responses_file"):
                raise ForgeMalformedResponse(
                    f"{self.label} batch {part.id} answered with a responses file; inline requests expect "
                    "inline responses"
                )
            return {}
        answers: dict[str, Answer] = {}
        for position, row in enumerate(inline):
            if not isinstance(row, dict):
                continue
            # Inlined responses keep the request order; the key says which item when present.
            key = (row.get("metadata") or {}).get("key")
            if not key and position >= len(part.indices):
                continue
            item_id = str(key) if key else custom_id(part.indices[position])
            error = row.get("error")
            if isinstance(error, dict):
                status = str(error.get("status") or "")
                cls = _STATUSES.get(status, ForgeError)
                answers[item_id] = cls(f"{self.label}: {status or error.get('code') or 'error'}: "
                                       f"{self.provider.redact(str(error.get('message') or ''))}")
            elif isinstance(row.get("response"), dict):
                answers[item_id] = row["response"]
        return answers

    def read_batch_answer(self, payload: dict[str, Any], request: ForgeInferenceRequest, model: str) -> (
            ForgeInferenceResponse):
        model_id = model.removeprefix("models/")
        _, dropped, converted = self.provider.plan(request, model_id)
        return self.provider.read_answer(payload, model_id, dropped, converted)

    async def cancel_batch(self, part: BatchPart) -> None:
        await self.provider.send("POST", f"/v1beta/{part.id}:cancel")
