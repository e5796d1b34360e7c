"""The tool registry: built-in tools, the http-request allow-list and entry-point user tools."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import pytest
from fastapi import FastAPI

from ecosystem.forge import ForgeSettings, ToolError, ToolNotFound, ToolRegistry
from ecosystem.forge.tools import ENTRY_POINT_GROUP, extract_json, host_allowed
from ecosystem.service import serve_in_thread
from tests.ecosystem.forge.fakes import FakeProvider, Reply

RESPONSES = [{"model": "Claude", "text": "Paris is the capital."}, {"model": "GPT-4", "text": "Paris."}]


async def test_response_formatter_markdown() -> None:
    out = await ToolRegistry().run("response-formatter", {"responses": RESPONSES})
    text = out["formatted_output"]
    assert text.startswith("# Model comparison\n")
    assert "| Claude | 21 | 4 |" in text and "| GPT-4 | 6 | 1 |" in text
    assert text.index("## Claude\n\nParis is the capital.") < text.index("## GPT-4\n\nParis.")


async def test_response_formatter_text_and_json() -> None:
    registry = ToolRegistry()
    text = await registry.run(
        "response-formatter", {"responses": RESPONSES, "format": "text", "title": "Cmp"}
    )
    assert (
        text["formatted_output"]
        == "Cmp\n===\n\n=== Claude ===\nParis is the capital.\n\n=== GPT-4 ===\nParis.\n"
    )
    doc = json.loads(
        (await registry.run("response-formatter", {"responses": RESPONSES, "format": "json"}))[
            "formatted_output"
        ]
    )
    assert doc["responses"][1] == {"model": "GPT-4", "text": "Paris."}


@pytest.mark.parametrize(
    "inputs",
    [{"responses": "nope"}, {"responses": [{"model": "x"}]}, {"responses": RESPONSES, "format": "yaml"}],
)
async def test_response_formatter_rejects_bad_inputs(inputs: dict[str, object]) -> None:
    with pytest.raises(ToolError):
        await ToolRegistry().run("response-formatter", inputs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Here you go:\n```json\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ('```\nnot json\n```\n```json\n{"b": true}\n```', {"b": True}),
        ('The answer is {"score": 0.9, "label": "ok"} as requested.', {"score": 0.9, "label": "ok"}),
        ("List: [1, 2, 3].", [1, 2, 3]),
        ('{not json} but then {"x": null}', {"x": None}),
    ],
)
def test_extract_json(text: str, expected: object) -> None:
    assert extract_json(text) == (True, expected)


async def test_json_extract_validates_against_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"score": {"type": "number", "maximum": 1}, "label": {"type": "string"}},
        "required": ["score", "label"],
    }
    registry = ToolRegistry()
    good = await registry.run(
        "json-extract", {"text": '```json\n{"score": 0.5, "label": "ok"}\n```', "schema": schema}
    )
    assert good == {"data": {"score": 0.5, "label": "ok"}, "valid": True, "errors": []}
    bad = await registry.run("json-extract", {"text": '{"score": 3}', "schema": schema})
    assert bad["valid"] is False
    assert bad["errors"] == [
        "<root>: 'label' is a required property",
        "score: 3 is greater than the maximum of 1",
    ]
    nothing = await registry.run("json-extract", {"text": "no json here"})
    assert nothing == {"data": None, "valid": False, "errors": ["no JSON value found in the text"]}
    with pytest.raises(ToolError, match="not a valid JSON Schema"):
        await registry.run("json-extract", {"text": "{}", "schema": {"type": "banana"}})


async def test_json_extract_never_fetches_a_schema_reference() -> None:
    hits: list[str] = []
    app = FastAPI()

    @app.get("/schema.json")
    async def schema_json() -> dict[str, object]:
        hits.append("fetched")
        return {"type": "object"}

    with serve_in_thread(app) as base:
        with pytest.raises(ToolError, match=r"\$ref that cannot be resolved"):
            await ToolRegistry().run("json-extract", {"text": "{}", "schema": {"$ref": f"{base}/schema.json"}})
    assert hits == []
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert (await ToolRegistry().run("json-extract", {"text": '{"a": "x"}', "schema": local}))["errors"] == [
        "a: 'x' is not of type 'integer'"
    ]


def test_host_allow_list() -> None:
    allowed = ["api.example.com", "*.internal.net"]
    assert host_allowed("api.example.com", allowed)
    assert host_allowed("API.example.com", allowed)
    assert host_allowed("svc.internal.net", allowed)
    assert not host_allowed("internal.net", allowed)
    assert not host_allowed("evil.com", allowed)
    assert not host_allowed("api.example.com.evil.com", allowed)
    assert not host_allowed("evilinternal.net", allowed)


async def test_http_request_to_allowed_host() -> None:
    with FakeProvider("openai") as server:
        server.queue(Reply(201, {"ok": True}), Reply(302, None, {"location": "http://evil.com/"}))
        registry = ToolRegistry(ForgeSettings(http_tool_allowed_hosts=["127.0.0.1"]))
        url = f"http://127.0.0.1:{server.port}/hook"
        out = await registry.run(
            "http-request", {"url": url, "method": "post", "json": {"x": 1}, "headers": {"X-A": "b"}}
        )
        redirected = await registry.run("http-request", {"url": url})
    assert out == {"status": 201, "body": '{"ok": true}', "json": {"ok": True}}
    first = server.requests[0]
    assert (first.method, first.path, first.json, first.headers["x-a"]) == ("POST", "/hook", {"x": 1}, "b")
    assert redirected["status"] == 302 and len(server.requests) == 2  # the redirect was not followed


@pytest.mark.parametrize(
    ("allowed", "url", "match"),
    [
        ([], "http://127.0.0.1/", "disabled"),
        (["api.example.com"], "http://127.0.0.1/", "not in http_tool_allowed_hosts"),
        (["127.0.0.1"], "file:///etc/passwd", "not an http"),
    ],
)
async def test_http_request_refuses(allowed: list[str], url: str, match: str) -> None:
    with pytest.raises(ToolError, match=match):
        await ToolRegistry(ForgeSettings(http_tool_allowed_hosts=allowed)).run("http-request", {"url": url})


def _points(*pairs: tuple[str, str]) -> list[EntryPoint]:
    return [
        EntryPoint(name=name, value=f"tests.ecosystem.forge.user_tools:{attr}", group=ENTRY_POINT_GROUP)
        for name, attr in pairs
    ]


async def test_entry_point_tools_sync_and_async() -> None:
    registry = ToolRegistry(
        entry_point_loader=lambda: _points(("shout", "shout"), ("count-words", "count_words"))
    )
    assert await registry.run("shout", {"text": "hi"}) == {"text": "HI"}
    assert await registry.run("count-words", {"text": "one two three"}) == {"count": 3}
    info = {i.name: i for i in registry.infos()}
    assert info["shout"].inputs == ["text"] and info["shout"].description == "Upper-case a text."
    assert {"response-formatter", "json-extract", "http-request", "shout", "count-words"} <= set(
        registry.names()
    )


async def test_entry_point_tool_failures_are_tool_errors() -> None:
    registry = ToolRegistry(
        entry_point_loader=lambda: [
            *_points(("broken", "broken"), ("listy", "not_a_dict")),
            EntryPoint(
                name="missing", value="tests.ecosystem.forge.no_such_module:x", group=ENTRY_POINT_GROUP
            ),
        ]
    )
    with pytest.raises(ToolError, match="the database is on fire"):
        await registry.run("broken", {})
    with pytest.raises(ToolError, match="not an object"):
        await registry.run("listy", {})
    with pytest.raises(ToolError, match="loading entry point"):
        await registry.run("missing", {})
    with pytest.raises(ToolNotFound):
        await registry.run("nothing-here", {})
