"""MAX_RESULT_SIZE and value-shape limits (built values, not text, so they live here)."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.expressions import (
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_RESULT_SIZE,
    ExpressionEvaluationError,
    ExpressionLimitError,
    evaluate,
    parse,
    render,
)

HALF = "x" * (MAX_RESULT_SIZE // 2 + 1)
CONTEXT: dict[str, Any] = {
    "half": HALF,
    "items": ["y" * 1000] * (MAX_RESULT_SIZE // 1000 + 1),
    "many": list(range(MAX_RESULT_SIZE // 2 + 1)),
    "small": "ok",
}


def test_constants() -> None:
    assert (MAX_EXPRESSION_LENGTH, MAX_DEPTH, MAX_RESULT_SIZE) == (21_000, 50, 1_000_000)


@pytest.mark.parametrize(
    "expression",
    [
        "half + half",
        "format('{0}{0}', half)",
        "join(items, '')",
        "join(fromJSON('[1, 2, 3]'), half)",
        "many + many",
        "toJSON(items)",
        "upper(half) + lower(half)",
    ],
)
def test_built_results_over_the_limit(expression: str) -> None:
    with pytest.raises(ExpressionLimitError) as info:
        evaluate(expression, CONTEXT)
    assert "MAX_RESULT_SIZE" in info.value.message


def test_values_passed_through_are_not_limited() -> None:
    # Reading a large task output is fine; only what an expression builds is capped.
    assert evaluate("half", CONTEXT) is HALF
    assert render("${{ half }}", CONTEXT) is HALF


def test_rendered_text_over_the_limit() -> None:
    with pytest.raises(ExpressionLimitError, match="MAX_RESULT_SIZE"):
        render("${{ half }} and ${{ half }}", CONTEXT)


def test_just_under_the_limit_is_fine() -> None:
    context = {"s": "x" * (MAX_RESULT_SIZE // 2)}
    assert len(evaluate("s + s", context)) == MAX_RESULT_SIZE


def test_cyclic_context_values_are_a_limit_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ExpressionLimitError, match="nested deeper"):
        evaluate("toJSON(x)", {"x": loop})
    with pytest.raises(ExpressionLimitError):
        render("v=${{ x }}", {"x": loop})


def test_deeply_nested_json_input_is_an_expression_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ExpressionEvaluationError, match="fromJSON"):
        evaluate("fromJSON(x)", {"x": deep})


def test_huge_integers_do_not_break_string_conversion() -> None:
    assert evaluate("format('{0}', x)", {"x": 10**5000}) == "Infinity"
    assert evaluate("x * x", {"x": 2**60}) == float(2**120)


def test_exactly_max_length_parses() -> None:
    assert parse("1" + " " * (MAX_EXPRESSION_LENGTH - 1)) is not None
    with pytest.raises(ExpressionLimitError):
        parse("1" + " " * MAX_EXPRESSION_LENGTH)


def test_exactly_max_depth_parses() -> None:
    chain = "a" + ".b" * (MAX_DEPTH - 1)
    assert evaluate(chain, {"a": None}) is None
    with pytest.raises(ExpressionLimitError):
        parse(chain + ".b")
