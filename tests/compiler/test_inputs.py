"""Workflow inputs: ``coerce`` (command-line text -> typed value) and ``resolve_inputs`` (checks)."""

from __future__ import annotations

import pytest

from compiler.compile import compile_text
from compiler.inputs import InputError, coerce, coerce_assignments, parse_assignment, resolve_inputs
from compiler.plan import ExecutionPlan

WORKFLOW = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: inputs}
spec:
  inputs:
    - name: prompt
      type: string
      required: true
      description: What to ask.
    - name: threshold
      type: float
      default: 0.75
    - name: count
      type: integer
      default: 2
    - name: tier
      type: string
      default: standard
      enum: [standard, premium]
    - name: verbose
      type: boolean
      default: false
    - name: documents
      type: array
    - name: options
      type: object
    - name: anything
      type: any
  tasks:
    - id: a
      executor: llm-forge:offline
      inputs:
        prompt: ${{ workflow.inputs.prompt }}
"""

DEFAULTS = {
    "threshold": 0.75,
    "count": 2,
    "tier": "standard",
    "verbose": False,
    "documents": None,
    "options": None,
    "anything": None,
}


@pytest.fixture(scope="module")
def plan() -> ExecutionPlan:
    return compile_text(WORKFLOW).plan


def problems(plan: ExecutionPlan, supplied: dict[str, object]) -> list[str]:
    with pytest.raises(InputError) as info:
        resolve_inputs(plan, supplied)
    return info.value.problems


# -- resolve_inputs -----------------------------------------------------------------------------------


def test_defaults_fill_in(plan: ExecutionPlan) -> None:
    assert resolve_inputs(plan, {"prompt": "hi"}) == {"prompt": "hi", **DEFAULTS}


def test_supplied_values_win(plan: ExecutionPlan) -> None:
    values = resolve_inputs(
        plan,
        {
            "prompt": "hi",
            "tier": "premium",
            "count": 5,
            "verbose": True,
            "documents": ["a"],
            "options": {"k": 1},
            "anything": 3,
        },
    )
    assert values["tier"] == "premium" and values["count"] == 5 and values["verbose"] is True
    assert values["documents"] == ["a"] and values["options"] == {"k": 1} and values["anything"] == 3


def test_missing_required_input(plan: ExecutionPlan) -> None:
    (problem,) = problems(plan, {})
    assert "missing required input 'prompt'" in problem
    assert "string" in problem and "What to ask." in problem


def test_none_for_a_required_input_is_an_error(plan: ExecutionPlan) -> None:
    (problem,) = problems(plan, {"prompt": None})
    assert "'prompt'" in problem


def test_none_for_an_optional_input_means_default(plan: ExecutionPlan) -> None:
    assert resolve_inputs(plan, {"prompt": "x", "threshold": None})["threshold"] == 0.75


def test_unknown_input_with_did_you_mean(plan: ExecutionPlan) -> None:
    (problem,) = problems(plan, {"prompt": "x", "treshold": 0.5})
    assert "unknown input 'treshold'" in problem and "did you mean 'threshold'?" in problem


def test_unknown_input_without_close_match_lists_the_inputs(plan: ExecutionPlan) -> None:
    (problem,) = problems(plan, {"prompt": "x", "zzzzzz": 1})
    assert "unknown input 'zzzzzz'" in problem and "prompt" in problem and "threshold" in problem


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("count", "three", ["'count'", "integer", "string"]),
        ("count", 2.5, ["'count'", "integer", "float"]),
        ("count", True, ["'count'", "integer", "boolean"]),
        ("threshold", "high", ["'threshold'", "float", "string"]),
        ("verbose", "yes", ["'verbose'", "boolean", "string"]),
        ("documents", "a,b", ["'documents'", "array", "string"]),
        ("options", [1], ["'options'", "object", "array"]),
        ("prompt", 42, ["'prompt'", "string", "integer"]),
    ],
)
def test_wrong_type(plan: ExecutionPlan, name: str, value: object, words: list[str]) -> None:
    supplied = {"prompt": "x", name: value}
    (problem,) = problems(plan, supplied)
    for word in words:
        assert word in problem, problem


def test_enum_violation(plan: ExecutionPlan) -> None:
    (problem,) = problems(plan, {"prompt": "x", "tier": "gold"})
    assert "'tier'" in problem and "standard" in problem and "premium" in problem and "gold" in problem


def test_float_accepts_an_int(plan: ExecutionPlan) -> None:
    value = resolve_inputs(plan, {"prompt": "x", "threshold": 1})["threshold"]
    assert value == 1.0 and isinstance(value, float)


def test_every_problem_is_reported_at_once(plan: ExecutionPlan) -> None:
    found = problems(plan, {"count": "x", "tier": "gold", "nope": 1})
    assert len(found) == 4  # unknown, missing prompt, wrong type, enum
    message = str(InputError(found))
    assert message.startswith("invalid workflow inputs:") and message.count("\n  - ") == 4


def test_no_inputs_supplied_at_all() -> None:
    plan = compile_text(WORKFLOW.replace("      required: true\n", "", 1)).plan
    assert resolve_inputs(plan, None)["prompt"] is None


def test_implicit_input_is_required() -> None:
    text = (
        WORKFLOW.split("  inputs:")[0]
        + """  tasks:
    - id: a
      executor: llm-forge:offline
      inputs:
        prompt: ${{ workflow.inputs.question }}
"""
    )
    result = compile_text(text)
    assert [d.code for d in result.warnings] == ["W405"]
    (problem,) = problems(result.plan, {})
    assert "missing required input 'question'" in problem
    assert resolve_inputs(result.plan, {"question": "why"}) == {"question": "why"}


# -- coerce ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "type_name", "expected"),
    [
        ("hello", "string", "hello"),
        ("42", "string", "42"),
        ("true", "string", "true"),
        ("  spaced  ", "string", "  spaced  "),
        ("42", "integer", 42),
        ("-7", "integer", -7),
        ("0.5", "float", 0.5),
        ("3", "float", 3.0),
        ("true", "boolean", True),
        ("false", "boolean", False),
        ('["a", "b"]', "array", ["a", "b"]),
        ("[1, 2]", "array", [1, 2]),
        ('{"k": 1}', "object", {"k": 1}),
        ("k: 1", "object", {"k": 1}),
        ("7", "any", 7),
        ("text", "any", "text"),
    ],
)
def test_coerce(raw: str, type_name: str, expected: object) -> None:
    value = coerce(raw, type_name)
    assert value == expected and type(value) is type(expected)


def test_coerce_float_from_int_text_is_a_float() -> None:
    assert isinstance(coerce("2", "float"), float)


def test_coerce_leaves_unparseable_text_for_resolve_to_reject(plan: ExecutionPlan) -> None:
    assert coerce("abc", "integer") == "abc"
    (problem,) = problems(plan, {"prompt": "x", "count": coerce("abc", "integer")})
    assert "'count'" in problem


def test_coerce_assignments_uses_declared_types(plan: ExecutionPlan) -> None:
    values = coerce_assignments(
        plan, ["prompt=1", "count=3", "threshold=1", "verbose=true", "documents=[1]", "extra=5"]
    )
    assert values == {
        "prompt": "1",
        "count": 3,
        "threshold": 1.0,
        "verbose": True,
        "documents": [1],
        "extra": 5,
    }
    assert isinstance(values["threshold"], float)


def test_parse_assignment() -> None:
    assert parse_assignment("a=b=c") == ("a", "b=c")
    assert parse_assignment(" name =x") == ("name", "x")
    assert parse_assignment("empty=") == ("empty", "")
    with pytest.raises(InputError):
        parse_assignment("no-equals-sign")


@pytest.mark.parametrize(("raw", "expected"), [("1e3", 1000.0), ("1.5e3", 1500.0), ("2E-2", 0.02)])
def test_coerce_float_in_exponent_notation(raw: str, expected: float) -> None:
    assert coerce(raw, "float") == pytest.approx(expected)


@pytest.mark.parametrize(("raw", "expected"), [("010", 10), ("12:30", "12:30")])
def test_coerce_integer_is_decimal(raw: str, expected: object) -> None:
    assert coerce(raw, "integer") == expected


@pytest.mark.parametrize(
    ("raw", "type_name", "expected"),
    [("2025-01-01", "any", "2025-01-01"), ("[2025-01-01]", "array", ["2025-01-01"])],
)
def test_coerce_keeps_dates_as_text(raw: str, type_name: str, expected: object) -> None:
    assert coerce(raw, type_name) == expected
