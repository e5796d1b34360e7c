"""OpenAI's Batch API for Chat Completions (checked against openai-python's ``Batch`` types).

Submit: the items as a JSONL file (``{custom_id, method: POST, url: /v1/chat/completions,
body}`` a line, each body built by ``OpenAIProvider.plan``) uploaded with ``POST /files``
(multipart, ``purpose=batch``), then ``POST /batches {input_file_id, endpoint:
/v1/chat/completions, completion_window: 24h, metadata}``.  Limits: 50,000 requests and
200 MB per input file.  Poll: ``GET /batches/{id}``; ``status`` validating / in_progress /
finalizing / cancelling are running, then completed, failed, expired or cancelled; an expired or
cancelled batch keeps what it finished in its output file.  Results: ``GET /files/{id}/content``
of ``output_file_id`` and ``error_file_id``, lines ``{id, custom_id, response: {status_code,
request_id, body} | null, error: {code, message} | null}``; a non-2xx ``response`` maps like an
online error response, ``error.code`` ``batch_expired``/``batch_cancelled``/``request_timeout``
like an expiry, a cancellation or a timeout.  Paths are relative to the OpenAI base URL, which
includes ``/v1``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ecosystem.forge.batch import Answer, BatchLimits, BatchPart, PartState
from ecosystem.forge.errors import (
    ForgeBatchCancelled,
    ForgeBatchExpired,
    ForgeError,
    ForgeMalformedResponse,
    ForgeTimeout,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.providers.openai import OpenAIProvider

ENDPOINT = "/v1/chat/completions"
_STATES: dict[str, PartState] = {
    "validating": "running", "in_progress": "running", "finalizing": "running", "cancelling": "running",
    "completed": "completed", "failed": "failed", "expired": "expired", "cancelled": "cancelled",
}
_ITEM_CODES: dict[str, type[ForgeError]] = {
    "batch_expired": ForgeBatchExpired,
    "batch_cancelled": ForgeBatchCancelled,
    "request_timeout": ForgeTimeout,
}


def metadata_of(labels: dict[str, str]) -> dict[str, str]:
    """Batch metadata: at most 16 keys of 64 characters, values of 512."""
    return {k[:64]: v[:512] for k, v in list(labels.items())[:16]}


class OpenAIBatches:
    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)

    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider
        self.label = provider.label

    def batch_entry(self, item_id: str, request: ForgeInferenceRequest, model: str) -> dict[str, Any]:
        body, _, _ = self.provider.plan(request, model)
        return {"custom_id": item_id, "method": "POST", "url": ENDPOINT, "body": body}

    async def create_batch(
        self, entries: list[dict[str, Any]], model: str, indices: list[int], labels: dict[str, str]
    ) -> BatchPart:
        content = "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in entries)
        uploaded = await self.provider.send_json(
            "POST", "files", data={"purpose": "batch"},
            files={"file": ("batch.jsonl", content.encode(), "application/jsonl")},
        )
        file_id = uploaded.get("id")
        if not isinstance(file_id, str) or not file_id:
            raise ForgeMalformedResponse(f"{self.label} answered the file upload without an id")
        body = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h",
                "metadata": metadata_of(labels)}
        batch = await self.provider.send_json("POST", "batches", json=body)
        part = BatchPart(id=str(batch.get("id") or ""), indices=indices, ref={"input_file_id": file_id})
        if not part.id:
            raise ForgeMalformedResponse(f"{self.label} answered the batch creation without an id")
        self._update(part, batch)
        return part

    def _update(self, part: BatchPart, batch: dict[str, Any]) -> None:
        status = str(batch.get("status") or "")
        if status not in _STATES:
            raise ForgeMalformedResponse(f"{self.label} batch {part.id} has an unknown status {status!r}")
        part.status = status
        part.state = _STATES[status]
        counts = batch.get("request_counts") or {}
        part.counts = {k: int(counts.get(k) or 0) for k in ("total", "completed", "failed")}
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                part.ref[key] = str(batch[key])
        if part.state == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            part.message = "; ".join(
                f"{e.get('code') or 'error'}: {self.provider.redact(str(e.get('message') or ''))}"
                + (f" (line {e['line']})" if e.get("line") else "")
                for e in errors if isinstance(e, dict)
            ) or None

    async def refresh_batch(self, part: BatchPart) -> None:
        self._update(part, await self.provider.send_json("GET", f"batches/{part.id}"))

    async def batch_answers(self, part: BatchPart) -> dict[str, Answer]:
        answers: dict[str, Answer] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = part.ref.get(key)
            if not file_id:
                continue
            response = await self.provider.send("GET", f"files/{file_id}/content")
            for number, line in enumerate(response.text.splitlines(), 1):
                if line.strip():
                    item_id, answer = self._answer(line, file_id, number)
                    answers[item_id] = answer
        return answers

    def _answer(self, line: str, file_id: str, number: int) -> tuple[str, Answer]:
        try:
            row = json.loads(line)
            item_id = str(row["custom_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ForgeMalformedResponse(f"{self.label} batch file {file_id} line {number} is not a result line") from exc
        error = row.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            cls = _ITEM_CODES.get(code, ForgeError)
            return item_id, cls(f"{self.label}: {code or 'error'}: {self.provider.redact(str(error.get('message') or ''))}")
        response = row.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("body"), dict):
            return item_id, ForgeMalformedResponse(f"{self.label}: batch result {item_id} has no response body")
        status = int(response.get("status_code") or 200)
        if status >= 400:
            return item_id, self.provider.error_from(httpx.Response(status), response["body"])
        return item_id, response["body"]

    def read_batch_answer(self, payload: dict[str, Any], request: ForgeInferenceRequest, model: str) -> (
            ForgeInferenceResponse):
        _, dropped, converted = self.provider.plan(request, model)
        return self.provider.read_answer(payload, request, model, dropped, converted)

    async def cancel_batch(self, part: BatchPart) -> None:
        self._update(part, await self.provider.send_json("POST", f"batches/{part.id}/cancel"))
