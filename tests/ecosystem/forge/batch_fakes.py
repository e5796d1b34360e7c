"""Fake batch APIs: OpenAI's Batch API, Anthropic's Message Batches and Gemini's batch mode.

``FakeBatches(kind)`` is a ``FakeProvider`` (real HTTP on 127.0.0.1) that also keeps batches:
it accepts a submission in the provider's wire format, answers ``polls`` status requests with the
batch still running, then ends it the way ``outcome`` says (``completed``, ``expired`` after
answering ``answered`` items, ``failed`` as a whole) and serves the results in the provider's
format - a JSONL output and error file (OpenAI), a JSONL results file (Anthropic), inline
responses (Gemini) - in *reverse* item order, so a client that does not match results by id
gets them wrong.  ``item_errors`` scripts a per-item error by the item's prompt: ``invalid`` (the
provider's 400) or ``server`` (its 500/overloaded).  A cancel request ends the batch cancelled at
the next poll.  Every request is recorded (``requests``) and every submission kept
(``submissions``: the parsed entries of each batch) for assertions field by field.

Item answers echo the prompt (``echo: <prompt>``) with fixed usage: 1,000 prompt and 200
completion tokens, so costs are easy to check.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.ecosystem.forge.fakes import (
    FakeProvider,
    Kind,
    Recorded,
    Reply,
    anthropic_message,
    gemini_content,
    openai_completion,
)

PROMPT_TOKENS = 1000
COMPLETION_TOKENS = 200
Outcome = Literal["completed", "expired", "failed"]


@dataclass
class Held:
    id: str
    entries: list[dict[str, Any]]
    model: str
    polls_left: int
    status: str = "running"  # running | ended
    cancelled: bool = False
    body: dict[str, Any] = field(default_factory=dict)


def _prompt(kind: str, entry: dict[str, Any]) -> str:
    try:
        if kind == "openai":
            return str(entry["body"]["messages"][-1]["content"])
        if kind == "anthropic":
            content = entry["params"]["messages"][-1]["content"]
            return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
        return str(entry["request"]["contents"][-1]["parts"][0]["text"])
    except (KeyError, IndexError, TypeError):
        return ""


def _item_id(kind: str, entry: dict[str, Any]) -> str:
    return str(entry["metadata"]["key"] if kind == "gemini" else entry["custom_id"])


class FakeBatches(FakeProvider):
    def __init__(self, kind: Kind, *, polls: int = 1, outcome: Outcome = "completed", answered: int = 0,
                 item_errors: dict[str, Literal["invalid", "server"]] | None = None) -> None:
        super().__init__(kind)
        self.polls = polls
        self.outcome = outcome
        self.answered = answered
        self.item_errors = dict(item_errors or {})
        self.batches: dict[str, Held] = {}
        self.files: dict[str, bytes] = {}
        self.submissions: list[list[dict[str, Any]]] = []
        self.uploads: list[dict[str, str]] = []  # OpenAI: the form fields of each upload
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # -- routing -----------------------------------------------------------------------------

    def respond(self, record: Recorded, parsed: Any) -> Reply:
        method, path = record.method, record.path.split("?", 1)[0]
        with self._state:
            if self.kind == "openai":
                found = self._openai(method, path, record, parsed)
            elif self.kind == "anthropic":
                found = self._anthropic(method, path, parsed)
            else:
                found = self._gemini(method, path, parsed)
        return found if found is not None else super().respond(record, parsed)

    def _advance(self, held: Held) -> None:
        if held.status == "running":
            held.polls_left -= 1
            if held.cancelled or held.polls_left < 0:
                held.status = "ended"

    def _fate(self, held: Held, position: int, entry: dict[str, Any]) -> str:
        """succeeded | invalid | server | expired | cancelled | failed for one item."""
        if held.cancelled:
            return "cancelled"
        if self.outcome == "failed":
            return "failed"
        if self.outcome == "expired" and position >= self.answered:
            return "expired"
        prompt = _prompt(self.kind, entry)
        return next((kind for key, kind in self.item_errors.items() if key in prompt), "succeeded")

    def _answer_body(self, held: Held, entry: dict[str, Any]) -> dict[str, Any]:
        text = f"echo: {_prompt(self.kind, entry)}"
        if self.kind == "openai":
            reply = openai_completion(text, model=held.model, prompt_tokens=PROMPT_TOKENS,
                                      completion_tokens=COMPLETION_TOKENS)
        elif self.kind == "anthropic":
            reply = anthropic_message(text, model=held.model, input_tokens=PROMPT_TOKENS,
                                      output_tokens=COMPLETION_TOKENS)
        else:
            reply = gemini_content(text, model=held.model, prompt_tokens=PROMPT_TOKENS,
                                   candidates_tokens=COMPLETION_TOKENS)
        body: dict[str, Any] = reply.body
        return body

    def _ordered(self, held: Held) -> list[tuple[int, dict[str, Any]]]:
        return list(reversed(list(enumerate(held.entries))))

    # -- OpenAI --------------------------------------------------------------------------------

    def _openai(self, method: str, path: str, record: Recorded, parsed: Any) -> Reply | None:
        if method == "POST" and path == "/v1/files":
            fields, content = self._multipart(record)
            self.uploads.append(fields)
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = content
            return Reply(body={"id": file_id, "object": "file", "bytes": len(content), "created_at": 1_700_000_000,
                               "filename": fields.get("filename", ""), "purpose": fields.get("purpose"),
                               "status": "processed"})
        if method == "POST" and path == "/v1/batches":
            content = self.files.get(str(parsed.get("input_file_id")))
            if content is None:
                return Reply(404, {"error": {"message": "No such File object", "type": "invalid_request_error",
                                             "param": "input_file_id", "code": None}})
            entries = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
            self.submissions.append(entries)
            batch_id = f"batch_{next(self._ids)}"
            held = Held(batch_id, entries, str(entries[0]["body"].get("model")), self.polls, body=dict(parsed))
            self.batches[batch_id] = held
            return Reply(body=self._openai_batch(held, status="validating"))
        match = re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path)
        if match and match.group(1) in self.batches:
            held = self.batches[match.group(1)]
            if match.group(2):
                held.cancelled = True
                return Reply(body=self._openai_batch(held, status="cancelling"))
            self._advance(held)
            return Reply(body=self._openai_batch(held))
        match = re.fullmatch(r"/v1/files/([^/]+)/content", path)
        if match and match.group(1) in self.files:
            return Reply(raw=self.files[match.group(1)], headers={"content-type": "application/octet-stream"})
        return None

    def _openai_batch(self, held: Held, status: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": held.id, "object": "batch", "endpoint": held.body.get("endpoint"), "errors": None,
            "input_file_id": held.body.get("input_file_id"), "completion_window": held.body.get("completion_window"),
            "created_at": 1_700_000_000, "expires_at": 1_700_086_400, "metadata": held.body.get("metadata"),
            "output_file_id": None, "error_file_id": None,
            "request_counts": {"total": len(held.entries), "completed": 0, "failed": 0},
        }
        if status is not None:
            body["status"] = status
            return body
        if held.status == "running":
            body["status"] = "in_progress"
            return body
        if self.outcome == "failed" and not held.cancelled:
            body["status"] = "failed"
            body["errors"] = {"object": "list", "data": [{"code": "invalid_json_line", "line": 1,
                                                           "message": "This line is not parseable as valid JSON."}]}
            return body
        out, err = [], []
        for position, entry in self._ordered(held):
            fate = self._fate(held, position, entry)
            line: dict[str, Any] = {"id": f"batch_req_{position}", "custom_id": entry["custom_id"]}
            if fate == "succeeded":
                line.update(response={"status_code": 200, "request_id": f"req_{position}",
                                      "body": self._answer_body(held, entry)}, error=None)
                out.append(line)
            elif fate in ("invalid", "server"):
                status_code = 400 if fate == "invalid" else 500
                kind = "invalid_request_error" if fate == "invalid" else "server_error"
                line.update(response={"status_code": status_code, "request_id": f"req_{position}",
                                      "body": {"error": {"message": f"{fate} item", "type": kind,
                                                         "param": None, "code": None}}}, error=None)
                err.append(line)
            else:
                code = "batch_expired" if fate == "expired" else "batch_cancelled"
                line.update(response=None, error={"code": code, "message": f"This request {fate}."})
                err.append(line)
        for rows, key in ((out, "output_file_id"), (err, "error_file_id")):
            if rows:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                body[key] = file_id
        body["status"] = "cancelled" if held.cancelled else "expired" if self.outcome == "expired" else "completed"
        body["request_counts"] = {"total": len(held.entries), "completed": len(out), "failed": len(err)}
        return body

    @staticmethod
    def _multipart(record: Recorded) -> tuple[dict[str, str], bytes]:
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"content-type: " + record.headers["content-type"].encode() + b"\r\n\r\n" + record.body
        )
        fields: dict[str, str] = {}
        content = b""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                content = payload
                fields["filename"] = str(part.get_param("filename", header="content-disposition"))
                fields["file_content_type"] = part.get_content_type()
            elif isinstance(name, str):
                fields[name] = payload.decode()
        return fields, content

    # -- Anthropic -----------------------------------------------------------------------------

    def _anthropic(self, method: str, path: str, parsed: Any) -> Reply | None:
        if method == "POST" and path == "/v1/messages/batches":
            entries = list(parsed["requests"])
            self.submissions.append(entries)
            batch_id = f"msgbatch_{next(self._ids):04d}"
            held = Held(batch_id, entries, str(entries[0]["params"].get("model")), self.polls)
            self.batches[batch_id] = held
            return Reply(body=self._anthropic_batch(held))
        match = re.fullmatch(r"/v1/messages/batches/([^/]+)(/cancel|/results)?", path)
        if not match or match.group(1) not in self.batches:
            return None
        held = self.batches[match.group(1)]
        if match.group(2) == "/cancel":
            held.cancelled = True
            return Reply(body=self._anthropic_batch(held))
        if match.group(2) == "/results":
            return Reply(raw="".join(json.dumps(r) + "\n" for r in self._anthropic_results(held)).encode(),
                         headers={"content-type": "application/binary"})
        self._advance(held)
        return Reply(body=self._anthropic_batch(held))

    def _anthropic_results(self, held: Held) -> list[dict[str, Any]]:
        rows = []
        for position, entry in self._ordered(held):
            fate = self._fate(held, position, entry)
            if fate == "succeeded":
                result: dict[str, Any] = {"type": "succeeded", "message": self._answer_body(held, entry)}
            elif fate in ("invalid", "server"):
                kind = "invalid_request_error" if fate == "invalid" else "overloaded_error"
                result = {"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": f"{fate} item"}}}
            else:
                result = {"type": "canceled" if fate == "cancelled" else "expired"}
            rows.append({"custom_id": entry["custom_id"], "result": result})
        return rows

    def _anthropic_batch(self, held: Held) -> dict[str, Any]:
        counts = {"processing": len(held.entries), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        body: dict[str, Any] = {
            "id": held.id, "type": "message_batch", "processing_status": "in_progress",
            "request_counts": counts, "ended_at": None, "created_at": "2026-11-30T02:00:00Z",
            "expires_at": "2026-12-01T02:00:00Z", "archived_at": None,
            "cancel_initiated_at": "2026-11-30T02:00:05Z" if held.cancelled else None, "results_url": None,
        }
        if held.status == "running":
            body["processing_status"] = "canceling" if held.cancelled else "in_progress"
            return body
        counts["processing"] = 0
        for row in self._anthropic_results(held):
            kind = row["result"]["type"]
            counts[{"succeeded": "succeeded", "errored": "errored", "canceled": "canceled"}.get(kind, "expired")] += 1
        body.update(processing_status="ended", ended_at="2026-11-30T02:10:00Z",
                    results_url=f"http://127.0.0.1:{self.port}/v1/messages/batches/{held.id}/results")
        return body

    # -- Gemini --------------------------------------------------------------------------------

    def _gemini(self, method: str, path: str, parsed: Any) -> Reply | None:
        match = re.fullmatch(r"/v1beta/models/([^/:]+):batchGenerateContent", path)
        if method == "POST" and match:
            batch = parsed["batch"]
            entries = list(batch["inputConfig"]["requests"]["requests"])
            self.submissions.append(entries)
            name = f"batches/{next(self._ids)}abc"
            held = Held(name, entries, match.group(1), self.polls, body=dict(batch))
            self.batches[name] = held
            return Reply(body=self._gemini_operation(held))
        match = re.fullmatch(r"/v1beta/(batches/[^/:]+)(:cancel)?", path)
        if not match or match.group(1) not in self.batches:
            return None
        held = self.batches[match.group(1)]
        if match.group(2):
            held.cancelled = True
            return Reply(body={})
        self._advance(held)
        return Reply(body=self._gemini_operation(held))

    def _gemini_operation(self, held: Held) -> dict[str, Any]:
        n = len(held.entries)
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": f"models/{held.model}", "displayName": held.body.get("displayName"),
            "createTime": "2026-11-30T02:00:00Z", "updateTime": "2026-11-30T02:00:00Z",
            "batchStats": {"requestCount": str(n), "pendingRequestCount": str(n)},
            "state": "BATCH_STATE_RUNNING" if held.polls_left < self.polls else "BATCH_STATE_PENDING",
        }
        operation: dict[str, Any] = {"name": held.id, "metadata": metadata}
        if held.status == "running":
            return operation
        operation["done"] = True
        if held.cancelled:
            metadata["state"] = "BATCH_STATE_CANCELLED"
            return operation
        if self.outcome in ("expired", "failed"):
            metadata["state"] = "BATCH_STATE_EXPIRED" if self.outcome == "expired" else "BATCH_STATE_FAILED"
            if self.outcome == "failed":
                operation["error"] = {"code": 3, "message": "the batch input was invalid"}
            return operation
        rows: list[dict[str, Any]] = []
        failed = 0
        for position, entry in self._ordered(held):
            fate = self._fate(held, position, entry)
            row: dict[str, Any] = {"metadata": {"key": _item_id("gemini", entry)}}
            if fate == "succeeded":
                row["response"] = self._answer_body(held, entry)
            else:
                failed += 1
                status = ("INVALID_ARGUMENT", 400) if fate == "invalid" else ("INTERNAL", 500)
                row["error"] = {"code": status[1], "message": f"{fate} item", "status": status[0]}
            rows.append(row)
        output = {"inlinedResponses": {"inlinedResponses": rows}}
        metadata.update(state="BATCH_STATE_SUCCEEDED", output=output, endTime="2026-11-30T02:10:00Z",
                        batchStats={"requestCount": str(n), "successfulRequestCount": str(n - failed),
                                    "failedRequestCount": str(failed)})
        operation["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                                          "GenerateContentBatchOutput", **output}
        return operation
