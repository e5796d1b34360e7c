"""Fake LLM provider servers: real HTTP on 127.0.0.1, each speaking one provider's wire format.

A small asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) in a background thread gives
full control of the bytes on the wire, which FastAPI/uvicorn would not: a connection dropped
half-way through a response, a truncated JSON body, a non-JSON body, a slow answer.  Each fake
is scripted per test with a FIFO queue of ``Reply`` objects; when the queue is empty it answers
with a well-formed success that echoes the last user turn.  Every request is recorded (method,
path, lower-cased headers, parsed JSON) for assertions on the request mapping.

    with FakeProvider("anthropic") as fake:
        fake.queue(anthropic_error(429, "rate_limit_error", "slow down", retry_after=1))
        settings = ForgeSettings(api_keys={"anthropic": SecretStr("k")}, base_urls={"anthropic": fake.base_url})

Later engine tests reuse these fakes (``from tests.ecosystem.forge.fakes import ...``).

The default answers also cover embeddings (OpenAI ``/v1/embeddings``, Gemini ``:embedContent`` and
``:batchEmbedContents``), and ``FakeProvider("anthropic", prompt_cache=True)`` answers the way
Anthropic's prompt cache does: the prefix up to the last ``cache_control`` block is written on the
first call (``cache_creation_input_tokens``) and read on every later call with the same prefix
(``cache_read_input_tokens``); tokens are counted at 4 characters each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

Kind = Literal["anthropic", "openai", "gemini"]


@dataclass
class Reply:
    """One scripted answer: a status, a body (dict -> JSON) and headers, or a failure mode."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # send the headers and half the body, then close the connection
    raw: bytes | None = None  # send this body verbatim (non-JSON, truncated JSON)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def last_user_text(kind: str, body: Any) -> str:
    try:
        if kind == "gemini":
            users = [c for c in body["contents"] if c.get("role", "user") == "user"]
            return str(users[-1]["parts"][0]["text"])
        users = [m for m in body["messages"] if m["role"] == "user"]
        content = users[-1]["content"]
        if isinstance(content, list):  # content blocks (a cache-marked turn)
            return "".join(str(b.get("text", "")) for b in content)
        return str(content)
    except (KeyError, IndexError, TypeError):
        return ""


# ----------------------------------------------------------------- provider bodies


def anthropic_message(
    text: str = "Hello from Claude",
    *,
    model: str = "claude-sonnet-4-5-20250929",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int | None = None,
    cache_write: int | None = None,
    stop_reason: str = "end_turn",
    content: list[dict[str, Any]] | None = None,
    thinking_tokens: int | None = None,
) -> Reply:
    """A Messages API answer; ``content`` replaces the single text block (tool_use, thinking...)."""
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    if cache_write is not None:
        usage["cache_creation_input_tokens"] = cache_write
    if thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    return Reply(
        body={
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content if content is not None else [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        },
        headers={"request-id": "req_018EeWyXxfu5pfWkrYcMdjWG"},
    )


def anthropic_tool_use(name: str, value: Any, **kw: Any) -> Reply:
    """A forced tool call's answer: one ``tool_use`` block whose ``input`` is ``value``."""
    block: dict[str, Any] = {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": name}
    if value is not ...:
        block["input"] = value
    return anthropic_message(content=[block], stop_reason="tool_use", **kw)


def anthropic_error(status: int, error_type: str, message: str, *, retry_after: float | None = None) -> Reply:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return Reply(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)


def openai_completion(
    text: str | None = "Hello from GPT",
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    finish_reason: str = "stop",
    refusal: str | None = None,
    reasoning_tokens: int | None = None,
) -> Reply:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens, "audio_tokens": 0}
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return Reply(
        body={
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": refusal, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
            "service_tier": "default",
        }
    )


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status,
        {"error": {"message": message, "type": error_type, "param": param, "code": code}},
        headers or {},
    )


def gemini_content(
    text: str = "Hello from Gemini",
    *,
    model: str = "gemini-2.5-flash",
    prompt_tokens: int = 10,
    candidates_tokens: int = 5,
    cached_tokens: int | None = None,
    thoughts_tokens: int | None = None,
    finish_reason: str = "STOP",
) -> Reply:
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": candidates_tokens}
    total = prompt_tokens + candidates_tokens
    if cached_tokens is not None:
        usage["cachedContentTokenCount"] = cached_tokens
    if thoughts_tokens is not None:
        usage["thoughtsTokenCount"] = thoughts_tokens
        total += thoughts_tokens
    usage["totalTokenCount"] = total
    return Reply(
        body={
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": finish_reason,
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": "mv7gaMLnDo2tz7IPw8LvgAs",
        }
    )


def gemini_blocked(block_reason: str = "SAFETY") -> Reply:
    """A prompt the safety system blocked: no candidates, ``promptFeedback.blockReason``."""
    return Reply(
        body={
            "promptFeedback": {"blockReason": block_reason, "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.5-flash",
        }
    )


def openai_embeddings(vectors: list[list[float]], *, model: str = "text-embedding-3-small", tokens: int = 8) -> Reply:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return Reply(
        body={
            "object": "list",
            "data": list(reversed(data)),  # out of order on purpose: index decides
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def gemini_embeddings(vectors: list[list[float]], *, batch: bool = True) -> Reply:
    if batch:
        return Reply(body={"embeddings": [{"values": v} for v in vectors]})
    return Reply(body={"embedding": {"values": vectors[0]}})


def fake_vector(text: str, dimensions: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 4) for b in digest[:dimensions]]


def gemini_error(status: int, grpc_status: str, message: str, *, details: list[Any] | None = None) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details is not None:
        error["details"] = details
    return Reply(status, {"error": error})


def _anthropic_blocks(body: Any) -> tuple[list[str], int]:
    """The texts of an Anthropic body in order, and how many of them the last cache mark covers."""
    texts: list[str] = []
    marked = 0
    system = body.get("system")
    blocks: list[Any] = [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in body.get("messages", []):
        content = message.get("content")
        blocks.extend([{"type": "text", "text": content}] if isinstance(content, str) else content or [])
    for block in blocks:
        texts.append(str(block.get("text", "")))
        if block.get("cache_control"):
            marked = len(texts)
    return texts, marked


def anthropic_cached_answer(body: Any, seen: set[str], text: str) -> Reply:
    """What Anthropic reports for ``body``: the marked prefix written once, then read."""
    texts, marked = _anthropic_blocks(body)
    prefix = "".join(texts[:marked])
    prefix_tokens = math.ceil(len(prefix) / 4)
    rest_tokens = math.ceil(len("".join(texts[marked:])) / 4)
    read = write = 0
    if marked:
        key = hashlib.sha256(f"{body.get('model')}\x00{prefix}".encode()).hexdigest()
        if key in seen:
            read = prefix_tokens
        else:
            seen.add(key)
            write = prefix_tokens
    else:
        rest_tokens += prefix_tokens
    return anthropic_message(
        text,
        model=str(body.get("model", "claude")),
        input_tokens=rest_tokens,
        output_tokens=math.ceil(len(text) / 4),
        cache_read=read,
        cache_write=write,
    )


def success_for(kind: str, request_body: Any, path: str = "") -> Reply:
    """The default answer: a success echoing the last user turn (or vectors for embeddings)."""
    if path.endswith("/embeddings"):
        inputs = request_body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        return openai_embeddings([fake_vector(t) for t in inputs], model=str(request_body.get("model")))
    if path.endswith(":batchEmbedContents"):
        texts = [r["content"]["parts"][0]["text"] for r in request_body.get("requests", [])]
        return gemini_embeddings([fake_vector(t) for t in texts])
    if path.endswith(":embedContent"):
        return gemini_embeddings([fake_vector(request_body["content"]["parts"][0]["text"])], batch=False)
    text = f"echo: {last_user_text(kind, request_body)}"
    if kind == "anthropic":
        return anthropic_message(text, model=str(request_body.get("model", "claude")))
    if kind == "gemini":
        return gemini_content(text)
    return openai_completion(text, model=str(request_body.get("model", "gpt")))


# ----------------------------------------------------------------- the server


class FakeProvider:
    """A scriptable fake of one provider on a loopback port, served from a background thread."""

    def __init__(self, kind: Kind, *, prompt_cache: bool = False) -> None:
        self.kind = kind
        self.prompt_cache = prompt_cache
        self._cached: set[str] = set()
        self.requests: list[Recorded] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        """The URL settings' ``base_urls`` take (OpenAI-style URLs include ``/v1``)."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.kind == "openai" else root

    def queue(self, *replies: Reply) -> FakeProvider:
        with self._lock:
            self._replies.extend(replies)
        return self

    def _next(self, body: Any, path: str = "") -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
            if self.prompt_cache and self.kind == "anthropic" and isinstance(body, dict):
                return anthropic_cached_answer(body, self._cached, f"echo: {last_user_text('anthropic', body)}")
        return success_for(self.kind, body, path)

    def respond(self, record: Recorded, parsed: Any) -> Reply:
        """The reply to one request (subclasses serve more routes; ``batch_fakes``)."""
        return self._next(parsed, record.path)

    # -- lifecycle

    def __enter__(self) -> FakeProvider:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"fake {self.kind} server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                record = Recorded(method, path, headers, body, time.monotonic())
                self.requests.append(record)
                try:
                    parsed = record.json
                except ValueError:
                    parsed = None
                reply = self.respond(record, parsed)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if not await self._send(writer, reply):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        if reply.raw is not None:
            payload = reply.raw
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        reason = (
            HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else "Unknown"
        )
        headers = {"content-type": "application/json", "content-length": str(len(payload)), **reply.headers}
        head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if reply.drop:
            writer.write(head.encode() + b"\r\n" + payload[: len(payload) // 2])
            await writer.drain()
            writer.transport.abort()
            return False
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        return True
