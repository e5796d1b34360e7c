"""The accuracy family on edge cases where the right answer is not in doubt."""

from __future__ import annotations

from typing import Any

import pytest

from ecosystem.testbench import EmbeddedTestBench, EvaluationRequest, MetricInputError, MetricResult


async def score(bench: EmbeddedTestBench, metric: str, response: Any, truth: Any = None, **options: Any) -> MetricResult:
    request = EvaluationRequest(
        task_id="t", response=response, ground_truth=truth, metrics=[metric], options={metric: options}
    )
    return (await bench.evaluate(request)).metrics[metric]


@pytest.mark.parametrize(
    ("response", "truth", "expected"),
    [
        ("Paris.", "paris", 1.0),
        ("  The Paris ", "paris", 1.0),  # article and spaces ignored
        ("Lyon", "Paris", 0.0),
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2.0], "a": 1}, 1.0),  # JSON compared as data
        ({"a": 1}, {"a": 2}, 0.0),
        (True, 1, 0.0),  # a boolean is not the number 1
    ],
)
async def test_accuracy_normalises(lexical_bench: EmbeddedTestBench, response: Any, truth: Any, expected: float) -> None:
    result = await score(lexical_bench, "accuracy", response, truth)
    assert result.score == expected
    assert result.passed is (expected == 1.0)


async def test_exact_match_can_be_verbatim(lexical_bench: EmbeddedTestBench) -> None:
    assert (await score(lexical_bench, "exact_match", "Paris.", "paris")).score == 1.0
    verbatim = await score(lexical_bench, "exact_match", "Paris.", "paris", normalize=False)
    assert verbatim.score == 0.0 and verbatim.method == "exact:verbatim"


async def test_contains_value_values_and_case(lexical_bench: EmbeddedTestBench) -> None:
    text = "The capital of France is Paris, on the Seine."
    assert (await score(lexical_bench, "contains", text, "paris")).score == 1.0
    assert (await score(lexical_bench, "contains", text, "paris", case_sensitive=True)).score == 0.0
    partial = await score(lexical_bench, "contains", text, values=["Paris", "Seine", "Loire", "Rhine"])
    assert partial.score == 0.5 and not partial.passed and "Loire" in (partial.explanation or "")
    with pytest.raises(MetricInputError, match="contains: needs a ground truth"):
        await score(lexical_bench, "contains", text)


async def test_regex(lexical_bench: EmbeddedTestBench) -> None:
    assert (await score(lexical_bench, "regex", "Order #12345 shipped", pattern=r"#\d{5}\b")).score == 1.0
    assert (await score(lexical_bench, "regex", "Order shipped", pattern=r"#\d{5}\b")).score == 0.0
    assert (await score(lexical_bench, "regex", "YES", pattern="^yes$", flags="i")).score == 1.0
    assert (await score(lexical_bench, "regex", "yes and more", pattern="yes", full=True)).score == 0.0
    with pytest.raises(MetricInputError, match="pattern .* is required"):
        await score(lexical_bench, "regex", "x")
    with pytest.raises(MetricInputError, match="not a valid regular expression"):
        await score(lexical_bench, "regex", "x", pattern="(unclosed")


async def test_levenshtein_orders_by_edit_distance(lexical_bench: EmbeddedTestBench) -> None:
    same = await score(lexical_bench, "levenshtein", "kitten", "kitten")
    close = await score(lexical_bench, "levenshtein", "kitten", "sitting")
    far = await score(lexical_bench, "levenshtein", "kitten", "umbrella stand")
    assert same.score == 1.0
    assert close.score == pytest.approx(1 - 3 / 7)
    assert same.score > close.score > far.score
    assert (await score(lexical_bench, "levenshtein", "", "")).score == 1.0


async def test_rouge_l(lexical_bench: EmbeddedTestBench) -> None:
    truth = "the cat sat on the mat"
    exact = await score(lexical_bench, "rouge_l", truth, truth)
    reordered = await score(lexical_bench, "rouge_l", "on the mat the cat sat", truth)
    unrelated = await score(lexical_bench, "rouge_l", "stocks fell sharply today", truth)
    assert exact.score == 1.0
    assert 0 < reordered.score < 1.0
    assert unrelated.score == 0.0


@pytest.mark.parametrize(
    ("response", "valid"),
    [
        ('{"a": 1}', True),
        ('```json\n{"a": [1, 2]}\n```', True),  # one code fence is allowed
        ({"already": "parsed"}, True),
        ("{'a': 1}", False),
        ('{"a": 1', False),
        ("", False),
    ],
)
async def test_json_valid(lexical_bench: EmbeddedTestBench, response: Any, valid: bool) -> None:
    assert (await score(lexical_bench, "json_valid", response)).passed is valid


SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}


async def test_json_schema(lexical_bench: EmbeddedTestBench) -> None:
    assert (await score(lexical_bench, "json_schema", '{"name": "Ada", "age": 36}', schema=SCHEMA)).score == 1.0
    bad = await score(lexical_bench, "json_schema", '{"name": "Ada", "age": -1}', schema=SCHEMA)
    assert bad.score == 0.0 and "age" in (bad.explanation or "")
    missing = await score(lexical_bench, "json_schema", '{"age": 3}', schema=SCHEMA)
    assert "'name' is a required property" in (missing.explanation or "")
    not_json = await score(lexical_bench, "json_schema", "name: Ada", schema=SCHEMA)
    assert not_json.score == 0.0 and "invalid JSON" in (not_json.explanation or "")
    with pytest.raises(MetricInputError, match="options.schema .* is required"):
        await score(lexical_bench, "json_schema", "{}")
    with pytest.raises(MetricInputError, match="not a valid JSON Schema"):
        await score(lexical_bench, "json_schema", "{}", schema={"type": "no-such-type"})


async def test_numeric_tolerance(lexical_bench: EmbeddedTestBench) -> None:
    assert (await score(lexical_bench, "numeric_tolerance", "The total is 1,234.5 EUR", 1234.5)).score == 1.0
    assert (await score(lexical_bench, "numeric_tolerance", "about 101", "100", tolerance=2)).passed
    assert (await score(lexical_bench, "numeric_tolerance", "about 104", "100", relative_tolerance=0.05)).passed
    near = await score(lexical_bench, "numeric_tolerance", "about 103", "100", tolerance=2)
    far = await score(lexical_bench, "numeric_tolerance", "about 300", "100", tolerance=2)
    assert not near.passed and not far.passed and near.score > far.score
    assert (await score(lexical_bench, "numeric_tolerance", "no idea", 5)).score == 0.0
    with pytest.raises(MetricInputError, match="holds no number"):
        await score(lexical_bench, "numeric_tolerance", "5", "five-ish")


async def test_json_schema_follows_only_references_inside_the_schema(lexical_bench: EmbeddedTestBench) -> None:
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"age": {"$ref": "#/$defs/n"}}}
    assert (await score(lexical_bench, "json_schema", '{"age": "x"}', schema=local)).score == 0.0
    with pytest.raises(MetricInputError, match=r"\$ref that cannot be resolved"):
        await score(lexical_bench, "json_schema", "{}", schema={"$ref": "http://127.0.0.1:9/schema.json"})

