"""The tool registry behind ``llm-forge:tool:<name>``: built-in tools plus user tools.

A tool is an async callable ``(inputs: dict) -> dict`` with a name, a description and the names
of its inputs and outputs.  Built-ins: ``response-formatter`` (the seed's multi-model comparison),
``json-extract`` (JSON out of an LLM answer, optionally checked against a JSON Schema) and
``http-request`` (only to hosts the settings allow; redirects are not followed, so an allowed
host cannot bounce a call to one that is not).  User tools come from the entry-point group
``llm_orchestrator.tools``; each loads to a sync or async callable (sync ones run in a thread so
they cannot stall the event loop), optionally with ``inputs``/``outputs``/``description``
attributes.  Entry points are loaded only when a name is not a built-in, so a broken plugin
cannot break the built-ins.  Every failure leaves as ``ToolError`` or ``ToolNotFound``.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema

from ecosystem.forge.config import ForgeSettings
from ecosystem.forge.errors import ForgeError, ToolError, ToolNotFound
from ecosystem.forge.models import ToolInfo
from ecosystem.jsonschemas import Unresolvable, local_validator

ENTRY_POINT_GROUP = "llm_orchestrator.tools"
MAX_HTTP_BODY = 1_000_000

ToolFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    name: str
    fn: ToolFn
    description: str = ""
    inputs: tuple[str, ...] | None = None
    required: tuple[str, ...] = ()
    outputs: tuple[str, ...] | None = None

    def info(self) -> ToolInfo:
        return ToolInfo(
            name=self.name,
            description=self.description,
            inputs=list(self.inputs) if self.inputs is not None else None,
            outputs=list(self.outputs) if self.outputs is not None else None,
        )


# ---------------------------------------------------------------- response-formatter


def _responses(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    items = inputs.get("responses")
    if not isinstance(items, list):
        raise ToolError("response-formatter: 'responses' must be a list of {model, text}")
    found = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "text" not in item:
            raise ToolError(f"response-formatter: responses[{i}] must be an object with 'model' and 'text'")
        text = item["text"]
        found.append(
            (
                str(item.get("model") or f"response {i + 1}"),
                text if isinstance(text, str) else json.dumps(text),
            )
        )
    return found


async def response_formatter(inputs: dict[str, Any]) -> dict[str, Any]:
    responses = _responses(inputs)
    fmt = inputs.get("format") or "markdown"
    title = inputs.get("title")
    if fmt == "json":
        document: dict[str, Any] = {"responses": [{"model": m, "text": t} for m, t in responses]}
        if title:
            document["title"] = title
        return {"formatted_output": json.dumps(document, indent=2, ensure_ascii=False)}
    if fmt == "markdown":
        parts = [f"# {title or 'Model comparison'}"]
        parts.append("| Model | Characters | Words |\n|---|---:|---:|")
        parts[-1] += "".join(
            f"\n| {m.replace('|', '/')} | {len(t)} | {len(t.split())} |" for m, t in responses
        )
        parts.extend(f"## {m}\n\n{t}" for m, t in responses)
        return {"formatted_output": "\n\n".join(parts) + "\n"}
    if fmt == "text":
        sections = [f"{title}\n{'=' * len(title)}"] if title else []
        sections.extend(f"=== {m} ===\n{t}" for m, t in responses)
        return {"formatted_output": "\n\n".join(sections) + "\n"}
    raise ToolError(f"response-formatter: unknown format {fmt!r} (use markdown, json or text)")


# ---------------------------------------------------------------- json-extract

_FENCE_OPEN = "```"


def _fenced_blocks(text: str) -> Iterable[str]:
    """Contents of ``` fences, ```json ones first."""
    blocks: list[tuple[bool, str]] = []
    start = 0
    while True:
        opening = text.find(_FENCE_OPEN, start)
        if opening < 0:
            break
        line_end = text.find("\n", opening)
        if line_end < 0:
            break
        closing = text.find(_FENCE_OPEN, line_end)
        if closing < 0:
            break
        language = text[opening + 3 : line_end].strip().lower()
        blocks.append((language == "json", text[line_end + 1 : closing]))
        start = closing + 3
    blocks.sort(key=lambda block: not block[0])
    return [body for _, body in blocks]


def extract_json(text: str) -> tuple[bool, Any]:
    """(found, value): the whole text, a fenced block, or the first parsable object/array in it."""
    decoder = json.JSONDecoder()
    for candidate in (text, *_fenced_blocks(text)):
        try:
            return True, json.loads(candidate)
        except ValueError:
            continue
    for index, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, index)
            except ValueError:
                continue
            return True, value
    return False, None


async def json_extract(inputs: dict[str, Any]) -> dict[str, Any]:
    text = inputs.get("text")
    if not isinstance(text, str):
        if isinstance(text, dict | list):  # already structured: nothing to extract
            found, data = True, text
        else:
            raise ToolError("json-extract: 'text' must be a string")
    else:
        found, data = extract_json(text)
    if not found:
        return {"data": None, "valid": False, "errors": ["no JSON value found in the text"]}
    schema = inputs.get("schema")
    if schema is None:
        return {"data": data, "valid": True, "errors": []}
    if not isinstance(schema, dict):
        raise ToolError("json-extract: 'schema' must be a JSON Schema object")
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ToolError(f"json-extract: the schema is not a valid JSON Schema: {exc.message}") from exc
    try:
        found_errors = sorted(local_validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    except Unresolvable:
        raise ToolError(
            "json-extract: the schema has a $ref that cannot be resolved; "
            "only references inside the schema are followed"
        ) from None
    errors = [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}" for error in found_errors]
    return {"data": data, "valid": not errors, "errors": errors}


# ---------------------------------------------------------------- http-request


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _http_request_tool(settings: ForgeSettings, transport: httpx.AsyncBaseTransport | None) -> ToolFn:
    async def http_request(inputs: dict[str, Any]) -> dict[str, Any]:
        url = inputs.get("url")
        if not isinstance(url, str) or not url:
            raise ToolError("http-request: 'url' is required")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(f"http-request: {url!r} is not an http(s) URL")
        if not settings.http_tool_allowed_hosts:
            raise ToolError(
                "http-request is disabled: no hosts are allowed (settings http_tool_allowed_hosts)"
            )
        if not host_allowed(parts.hostname, settings.http_tool_allowed_hosts):
            raise ToolError(f"http-request: host {parts.hostname!r} is not in http_tool_allowed_hosts")
        method = str(inputs.get("method") or "GET").upper()
        headers = inputs.get("headers") or {}
        if not isinstance(headers, dict):
            raise ToolError("http-request: 'headers' must be an object")
        timeout = float(inputs.get("timeout") or settings.timeout)
        kwargs: dict[str, Any] = {"headers": {str(k): str(v) for k, v in headers.items()}}
        if inputs.get("json") is not None:
            kwargs["json"] = inputs["json"]
        elif inputs.get("body") is not None:
            kwargs["content"] = str(inputs["body"]).encode()
        try:
            async with httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False
            ) as client:
                response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ToolError(
                f"http-request: {method} {parts.scheme}://{parts.hostname} failed: {type(exc).__name__}"
            ) from exc
        body = response.text[:MAX_HTTP_BODY]
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        return {"status": response.status_code, "body": body, "json": parsed}

    return http_request


# ---------------------------------------------------------------- registry


def _from_callable(name: str, loaded: Any) -> Tool:
    if isinstance(loaded, Tool):
        return loaded
    if not callable(loaded):
        raise ToolError(f"tool {name!r}: entry point does not load to a callable")

    async def call(inputs: dict[str, Any]) -> dict[str, Any]:
        if inspect.iscoroutinefunction(loaded):
            result = await loaded(inputs)
        else:
            result = await asyncio.to_thread(loaded, inputs)
            if inspect.isawaitable(result):
                result = await result
        return result  # type: ignore[no-any-return]

    def names(attribute: str) -> tuple[str, ...] | None:
        value = getattr(loaded, attribute, None)
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else None

    return Tool(
        name=name,
        fn=call,
        description=str(
            getattr(loaded, "description", None) or (inspect.getdoc(loaded) or "").split("\n")[0]
        ),
        inputs=names("inputs"),
        required=names("required") or (),
        outputs=names("outputs"),
    )


class ToolRegistry:
    """Built-in tools, tools registered in code, and entry-point tools loaded on first use."""

    def __init__(
        self,
        settings: ForgeSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        entry_point_loader: Callable[[], Iterable[EntryPoint]] | None = None,
    ) -> None:
        settings = settings or ForgeSettings()
        self._entry_points = entry_point_loader or (lambda: entry_points(group=ENTRY_POINT_GROUP))
        self._entry_points_loaded = False
        self._tools: dict[str, Tool] = {}
        self._pending: dict[str, EntryPoint] = {}
        self.register(
            Tool(
                "response-formatter",
                response_formatter,
                "Format several model responses side by side (markdown, JSON or text).",
                inputs=("responses", "format", "title"),
                required=("responses",),
                outputs=("formatted_output",),
            )
        )
        self.register(
            Tool(
                "json-extract",
                json_extract,
                "Extract JSON from an LLM response and optionally validate it against a JSON Schema.",
                inputs=("text", "schema"),
                required=("text",),
                outputs=("data", "valid", "errors"),
            )
        )
        self.register(
            Tool(
                "http-request",
                _http_request_tool(settings, transport),
                "An HTTP call to a host allowed by http_tool_allowed_hosts.",
                inputs=("url", "method", "headers", "json", "body", "timeout"),
                required=("url",),
                outputs=("status", "body", "json"),
            )
        )

    def register(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        self._pending = {point.name: point for point in self._entry_points() if point.name not in self._tools}

    def get(self, name: str) -> Tool:
        if name in self._tools:
            return self._tools[name]
        self._load_entry_points()
        point = self._pending.pop(name, None)
        if point is None:
            known = self.names()
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ToolNotFound(f"no tool {name!r}{hint}; known tools: {', '.join(known)}")
        try:
            loaded = point.load()
        except Exception as exc:  # a plugin's import error must not look like ours
            raise ToolError(f"tool {name!r}: loading entry point {point.value!r} failed: {exc}") from exc
        tool = _from_callable(name, loaded)
        self._tools[name] = tool
        return tool

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted({*self._tools, *self._pending})

    def infos(self) -> list[ToolInfo]:
        infos = []
        for name in self.names():
            try:
                infos.append(self.get(name).info())
            except ForgeError:
                infos.append(ToolInfo(name=name, description="(failed to load)"))
        return infos

    async def run(self, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        tool = self.get(name)
        if not isinstance(inputs, dict):
            raise ToolError(f"tool {name!r}: inputs must be an object")
        missing = [key for key in tool.required if inputs.get(key) is None]
        if missing:
            raise ToolError(f"tool {name!r}: missing required input(s) {', '.join(missing)}")
        try:
            outputs = await tool.fn(inputs)
        except ForgeError:
            raise
        except Exception as exc:  # a user tool's own failure: keep its message, never its traceback
            raise ToolError(f"tool {name!r} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(outputs, dict):
            raise ToolError(f"tool {name!r} returned {type(outputs).__name__}, not an object of outputs")
        return outputs
