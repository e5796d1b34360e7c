"""Structured output: each provider's wire format, the parsed answer, validation paths, the repair call."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from ecosystem.forge import (
    EmbeddedForge,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeSchemaViolation,
    OpenAICompatibleEndpoint,
    TokenUsage,
    check_response,
    parse_json_answer,
    repair_request,
    validate_answer,
    violation,
)
from ecosystem.forge.schema_dialects import gemini_schema, openai_strict
from ecosystem.forge.structured import synthesize
from tests.ecosystem.forge.conftest import settings_for
from tests.ecosystem.forge.fakes import (
    FakeProvider,
    anthropic_message,
    anthropic_tool_use,
    gemini_content,
    openai_completion,
)

TICKET = {
    "title": "Ticket",
    "type": "object",
    "required": ["urgency", "customer"],
    "properties": {
        "urgency": {"type": "string", "enum": ["low", "high"]},
        "customer": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
        },
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
}
ANSWER = {"urgency": "high", "customer": {"email": "ann@example.com"}}


def extract(model: str, **extra: Any) -> ForgeInferenceRequest:
    return ForgeInferenceRequest(
        prompt="Printer on fire, ann@example.com", model=model, response_schema=TICKET, max_tokens=300, **extra
    )


# ----------------------------------------------------------------- OpenAI and compatible


async def test_openai_sends_strict_json_schema_and_parses_the_answer(openai_fake: FakeProvider) -> None:
    # Strict mode made 'tags' and 'name' required and nullable: the model sends null for them.
    sent = {**ANSWER, "customer": {"email": "ann@example.com", "name": None}, "tags": None}
    openai_fake.queue(openai_completion(json.dumps(sent), model="gpt-4o-2024-08-06"))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(extract("gpt-4o"))
    fmt = openai_fake.requests[0].json["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Ticket" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["urgency", "customer", "tags"]
    assert schema["properties"]["tags"]["type"] == ["array", "null"]
    assert "maxItems" in schema["properties"]["tags"]
    customer = schema["properties"]["customer"]
    assert customer["additionalProperties"] is False and customer["required"] == ["email", "name"]
    assert customer["properties"]["name"] == {"type": ["string", "null"]}
    # The nulls strict mode forced are gone again: the answer matches the user's schema.
    assert response.parsed == ANSWER
    assert validate_answer(response.parsed, TICKET) == []
    assert response.metadata["structured_output"] == "openai:json_schema strict"
    assert any("customer.name" in note for note in response.metadata["schema_notes"])


async def test_openai_falls_back_to_non_strict_and_says_so(openai_fake: FakeProvider) -> None:
    open_schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True}
    openai_fake.queue(openai_completion('{"a": "x", "extra": 1}'))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="q", model="gpt-4o", response_schema=open_schema))
    fmt = openai_fake.requests[0].json["response_format"]["json_schema"]
    assert fmt["strict"] is False and fmt["schema"] == open_schema
    assert any("strict false" in note for note in response.metadata["schema_notes"])
    assert response.parsed == {"a": "x", "extra": 1}


async def test_openai_compatible_endpoint_gets_the_same_response_format(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_completion("```json\n" + json.dumps(ANSWER) + "\n```", model="qwen3"))
    settings = settings_for(endpoints={"vllm": OpenAICompatibleEndpoint(base_url=openai_fake.base_url)})
    async with EmbeddedForge(settings) as forge:
        response = await forge.infer(extract("vllm/qwen3"))
    body = openai_fake.requests[0].json
    assert body["model"] == "qwen3"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert "authorization" not in openai_fake.requests[0].headers
    assert response.parsed == ANSWER  # parsed out of a Markdown fence


async def test_a_non_object_root_is_wrapped_for_strict_mode_and_unwrapped(openai_fake: FakeProvider) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    openai_fake.queue(openai_completion('{"value": ["a", "b"]}'))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="q", model="gpt-4o", response_schema=schema))
    sent = openai_fake.requests[0].json["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["value"] == schema and sent["required"] == ["value"]
    assert response.parsed == ["a", "b"]


# ----------------------------------------------------------------- Anthropic


async def test_anthropic_forces_a_tool_call_and_returns_its_input(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.queue(anthropic_tool_use("Ticket", ANSWER))
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(extract("claude-sonnet-4-5"))
    body = anthropic_fake.requests[0].json
    assert body["tools"] == [
        {
            "name": "Ticket",
            "description": "Record the answer. Its input is the complete answer, matching the schema.",
            "input_schema": TICKET,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "Ticket"}
    assert "output_config" not in body
    assert response.parsed == ANSWER
    assert response.text == ""
    assert response.metadata["structured_output"] == "anthropic:tool"


async def test_anthropic_with_thinking_uses_json_outputs_instead_of_a_forced_tool(
    anthropic_fake: FakeProvider,
) -> None:
    anthropic_fake.queue(
        anthropic_message(
            content=[
                {"type": "thinking", "thinking": "The printer is on fire: urgent.", "signature": "EqQBCg"},
                {"type": "text", "text": json.dumps(ANSWER)},
            ],
            output_tokens=900,
            thinking_tokens=700,
        )
    )
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(extract("claude-sonnet-4-5", thinking_budget=2048))
    body = anthropic_fake.requests[0].json
    assert "tools" not in body and "tool_choice" not in body
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["properties"]["customer"]["additionalProperties"] is False
    assert fmt["schema"]["required"] == ["urgency", "customer"]  # optional stays optional here
    assert response.parsed == ANSWER
    assert response.text == json.dumps(ANSWER)  # the thinking block is not part of the text
    assert response.usage.reasoning_tokens == 700


async def test_anthropic_5_5_models_refuse_forced_tools_so_json_outputs_is_used(
    anthropic_fake: FakeProvider,
) -> None:
    anthropic_fake.queue(anthropic_message(json.dumps(ANSWER), model="claude-sonnet-5-5"))
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        response = await forge.infer(extract("claude-sonnet-5-5"))
    body = anthropic_fake.requests[0].json
    assert "tool_choice" not in body and body["output_config"]["format"]["type"] == "json_schema"
    assert response.parsed == ANSWER


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "tool_use", "id": "toolu_1", "name": "Ticket"}, "KeyError"),
        ({"type": "tool_use", "id": "toolu_1", "name": "Ticket", "input": "not an object"}, "not an object"),
        ({"type": "text", "text": 5}, "TypeError"),
    ],
)
async def test_anthropic_malformed_structured_answers(
    anthropic_fake: FakeProvider, block: dict[str, Any], problem: str
) -> None:
    anthropic_fake.queue(anthropic_message(content=[block]))
    async with EmbeddedForge(settings_for(anthropic_fake)) as forge:
        with pytest.raises(ForgeMalformedResponse, match=problem):
            await forge.infer(extract("claude-sonnet-4-5"))


# ----------------------------------------------------------------- Gemini


async def test_gemini_sends_response_schema_in_its_openapi_subset(gemini_fake: FakeProvider) -> None:
    schema = {
        "type": "object",
        "required": ["urgency"],
        "additionalProperties": False,
        "properties": {
            "urgency": {"type": "string", "enum": ["low", "high"]},
            "note": {"type": ["string", "null"], "maxLength": 40},
            "customer": {"$ref": "#/$defs/customer"},
        },
        "$defs": {"customer": {"type": "object", "properties": {"email": {"type": "string"}}}},
    }
    gemini_fake.queue(gemini_content(json.dumps({"urgency": "low", "note": None}), model="gemini-2.5-pro"))
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="q", model="gemini-2.5-pro", response_schema=schema))
    config = gemini_fake.requests[0].json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "required": ["urgency"],
        "properties": {
            "urgency": {"type": "STRING", "enum": ["low", "high"]},
            "note": {"type": "STRING", "nullable": True},
            "customer": {"type": "OBJECT", "properties": {"email": {"type": "STRING"}}, "propertyOrdering": ["email"]},
        },
        "propertyOrdering": ["urgency", "note", "customer"],
    }
    notes = response.metadata["schema_notes"]
    assert any("additionalProperties" in n for n in notes) and any("maxLength" in n for n in notes)
    assert response.parsed == {"urgency": "low", "note": None}


async def test_gemini_answer_that_is_not_json_has_no_parsed_value(gemini_fake: FakeProvider) -> None:
    gemini_fake.queue(gemini_content("Sorry, I cannot help with that."))
    async with EmbeddedForge(settings_for(gemini_fake)) as forge:
        response = await forge.infer(extract("gemini-2.5-flash"))
    assert response.parsed is None
    problems = check_response(response, TICKET)
    assert [p.path for p in problems] == ["$"] and "not JSON" in problems[0].message


# ----------------------------------------------------------------- validation and repair


def test_validate_answer_names_the_json_path_of_each_problem() -> None:
    value = {"urgency": "urgent", "customer": {"email": 42}, "tags": ["a", "b", "c", "d"]}
    problems = validate_answer(value, TICKET)
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {"$.urgency", "$.customer.email", "$.tags"}
    assert by_path["$.customer.email"].keyword == "type"
    assert by_path["$.urgency"].keyword == "enum"
    missing = validate_answer({"urgency": "low", "customer": {}}, TICKET)
    assert [(p.path, p.message) for p in missing] == [("$.customer.email", "is required but missing")]
    closed = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    assert [p.path for p in validate_answer({"a": 1, "b c": 2}, closed)] == ['$["b c"]']
    assert [p.path for p in validate_answer([{"a": 1}, {"a": "x"}], {"type": "array", "items": closed})] == [
        "$[1].a"
    ]


def test_strict_json_refuses_nan_and_infinity() -> None:
    with pytest.raises(ForgeSchemaViolation, match="not JSON"):
        parse_json_answer('{"score": NaN}')
    with pytest.raises(ForgeSchemaViolation, match="not JSON"):
        parse_json_answer("[Infinity]")
    problems = validate_answer({"score": math.inf}, {"type": "object"})
    assert [p.path for p in problems] == ["$.score"]


def test_parse_json_answer_takes_json_out_of_prose_and_fences() -> None:
    assert parse_json_answer('Here it is: {"a": [1, 2]} -- done') == {"a": [1, 2]}
    assert parse_json_answer("```json\n[1, 2]\n```") == [1, 2]
    assert parse_json_answer(" 3 ") == 3
    with pytest.raises(ForgeSchemaViolation):
        parse_json_answer("no json here")


def test_an_invalid_schema_is_the_requests_fault() -> None:
    with pytest.raises(ForgeInvalidRequest, match="not a valid JSON Schema"):
        validate_answer({}, {"type": "no-such-type"})


def test_repair_request_adds_the_bad_answer_and_the_problems() -> None:
    request = extract("claude-sonnet-4-5", system="You extract fields.", cache=["system"], max_attempts=1)
    bad = '{"urgency": "urgent", "customer": {}}'
    problems = validate_answer(json.loads(bad), TICKET)
    repair = repair_request(request, bad, problems)
    turns = repair.conversation()
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[0].content == request.prompt and turns[1].content == bad
    assert "$.urgency" in turns[2].content and "$.customer.email" in turns[2].content
    assert json.dumps(TICKET, separators=(",", ":"), sort_keys=True) in turns[2].content
    # The stable prefix and the contract are unchanged, so the cache still hits.
    assert (repair.system, repair.cache, repair.response_schema, repair.max_attempts) == (
        request.system, ["system"], TICKET, 1,
    )
    assert repair.metadata["schema_repair"] is True


def test_check_response_and_violation_for_the_fallback_loop() -> None:
    response = ForgeInferenceResponse(
        text='{"urgency": "low"}', model="m", usage=TokenUsage(), provider="p", parsed={"urgency": "low"}
    )
    problems = check_response(response, TICKET)
    assert [p.path for p in problems] == ["$.customer"]
    error = violation(problems, model="gpt-4o")
    assert isinstance(error, ForgeSchemaViolation)
    assert error.type == "schema_violation" and not error.is_retryable() and not error.falls_back
    assert "$.customer" in error.message and "gpt-4o" in error.message


# ----------------------------------------------------------------- dialects and offline answers


def test_openai_strict_conversion_reports_what_it_dropped() -> None:
    converted = openai_strict({"type": "object", "properties": {"s": {"type": "string", "minLength": 2}}})
    assert converted.strict
    assert "minLength" not in converted.schema["properties"]["s"]
    assert any("minLength" in note for note in converted.notes)
    assert not openai_strict({"allOf": [{"type": "object"}]}).strict
    # A property that happens to be called like a keyword is just a property.
    named = openai_strict({"type": "object", "properties": {"if": {"type": "string"}, "not": {"type": "integer"}}})
    assert named.strict and named.schema["required"] == ["if", "not"]


def test_gemini_conversion_inlines_recursion_safely() -> None:
    node = {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}
    converted = gemini_schema({"$ref": "#/$defs/node", "$defs": {"node": node}})
    # The root is the node, inlined; its child would repeat it: an untyped object instead.
    assert converted.schema["type"] == "OBJECT"
    assert converted.schema["properties"]["child"] == {"type": "OBJECT"}
    assert any("recursive" in note for note in converted.notes)


@pytest.mark.parametrize(
    "schema",
    [
        TICKET,
        {"type": "array", "items": {"type": "integer", "minimum": 3, "maximum": 5}, "minItems": 2},
        {"type": "object", "properties": {"when": {"type": "string", "format": "date"}, "n": {"type": "number",
         "exclusiveMinimum": 0, "multipleOf": 0.5}, "flag": {"type": "boolean"}, "kind": {"const": "x"}},
         "required": ["when", "n", "flag", "kind"]},
        {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}],
         "$defs": {"a": {"type": "string", "minLength": 30}}},
    ],
)
def test_synthesize_builds_a_conforming_value_deterministically(schema: dict[str, Any]) -> None:
    value = synthesize(schema, "seed")
    assert validate_answer(value, schema) == []
    assert synthesize(schema, "seed") == value


async def test_without_a_schema_json_text_stays_text(openai_fake: FakeProvider) -> None:
    openai_fake.queue(openai_completion('{"a": 1}'))
    async with EmbeddedForge(settings_for(openai_fake)) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="q", model="gpt-4o"))
    assert response.parsed is None and response.text == '{"a": 1}'
    assert "response_format" not in openai_fake.requests[0].json
