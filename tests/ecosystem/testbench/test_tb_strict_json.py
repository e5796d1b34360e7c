"""json_valid and json_schema accept RFC 8259 JSON only, and enforce the formats they claim to."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecosystem.testbench import EmbeddedTestBench, EvaluationRequest, MetricResult
from ecosystem.testbench.jsonstrict import ENFORCED_FORMATS, NotStrictJson, parse_strict, unchecked_formats


async def score(bench: EmbeddedTestBench, metric: str, response: Any, **options: Any) -> MetricResult:
    request = EvaluationRequest(task_id="t", response=response, metrics=[metric], options={metric: options})
    return (await bench.evaluate(request)).metrics[metric]


NON_FINITE = [
    ("NaN", "NaN at the top level"),
    ("Infinity", "Infinity at the top level"),
    ("-Infinity", "-Infinity at the top level"),
    ('{"x": Infinity}', "Infinity at /x"),
    ('{"a": [1, {"b": NaN}]}', "NaN at /a/1/b"),
    ('{"big": 1e400}', "number 1e400 at /big overflows"),
    ('```json\n{"x": -Infinity}\n```', "-Infinity at /x"),
]


@pytest.mark.parametrize(("text", "explanation"), NON_FINITE)
async def test_json_valid_refuses_non_finite_numbers(lexical_bench: EmbeddedTestBench, text: str, explanation: str) -> None:
    json.loads(text.strip("`json\n"))  # Python's parser accepts every one of these
    result = await score(lexical_bench, "json_valid", text)
    assert not result.passed and result.score == 0.0
    assert explanation in (result.explanation or "")
    assert "RFC 8259" in (result.explanation or "")


async def test_non_finite_numbers_in_parsed_values_never_reach_a_metric(lexical_bench: EmbeddedTestBench) -> None:
    # A workflow output can carry a Python float('nan'): the request itself refuses it (it is not JSON).
    with pytest.raises(ValueError, match="NaN and Infinity are not JSON"):
        await score(lexical_bench, "json_valid", {"scores": [0.5, float("nan")]})
    assert (await score(lexical_bench, "json_valid", {"scores": [0.5, 1e308]})).passed


async def test_nan_no_longer_passes_a_minimum(lexical_bench: EmbeddedTestBench) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number", "minimum": 0}}}
    assert (await score(lexical_bench, "json_schema", '{"x": 3}', schema=schema)).passed
    for text in ('{"x": NaN}', '{"x": Infinity}', "NaN"):
        result = await score(lexical_bench, "json_schema", text, schema={"type": "number", "minimum": 0} if text == "NaN" else schema)
        assert not result.passed
        assert "invalid JSON" in (result.explanation or "") and "not JSON" in (result.explanation or "")


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2025-02-28", "2025-02-30"),
        ("date-time", "2025-11-14T09:30:00Z", "2025-11-14 09:30"),
        ("date-time", "2025-11-14T09:30:00.5+02:00", "2025-11-14T25:30:00Z"),
        ("time", "23:59:60Z", "24:00:00Z"),
        ("email", "ada@example.org", "ada.example.org"),
        ("ipv4", "192.168.0.1", "192.168.0.256"),
        ("ipv6", "::1", "::g"),
        ("uuid", "1c9a3b8e-6f3e-4a77-9d0e-1b2c3d4e5f60", "1c9a3b8e6f3e4a779d0e1b2c3d4e5f60"),
        ("regex", "^a+$", "(unclosed"),
    ],
)
async def test_enforced_formats(lexical_bench: EmbeddedTestBench, fmt: str, good: str, bad: str) -> None:
    assert fmt in ENFORCED_FORMATS
    schema = {"type": "object", "properties": {"v": {"type": "string", "format": fmt}}}
    assert (await score(lexical_bench, "json_schema", json.dumps({"v": good}), schema=schema)).passed
    result = await score(lexical_bench, "json_schema", json.dumps({"v": bad}), schema=schema)
    assert not result.passed and f"is not a '{fmt}'" in (result.explanation or "")


async def test_other_formats_are_labels_and_the_explanation_says_so(lexical_bench: EmbeddedTestBench) -> None:
    schema = {"type": "object", "properties": {"site": {"type": "string", "format": "uri"},
                                               "format": {"type": "string"}}}
    result = await score(lexical_bench, "json_schema", '{"site": "not a uri", "format": "x"}', schema=schema)
    assert result.passed
    assert "format 'uri' not checked" in (result.explanation or "")
    assert unchecked_formats(schema) == ["uri"]
    assert unchecked_formats({"type": "string", "format": "email"}) == []


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
))
def test_parse_strict_agrees_with_json_on_real_json(value: Any) -> None:
    text = json.dumps(value)
    assert parse_strict(text) == json.loads(text)


@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-2E+500"]), st.integers(0, 3))
def test_parse_strict_refuses_non_finite_at_any_depth(token: str, depth: int) -> None:
    text = token
    for _ in range(depth):
        text = '{"k": [' + text + "]}"
    with pytest.raises(NotStrictJson, match="RFC 8259"):
        parse_strict(text)
