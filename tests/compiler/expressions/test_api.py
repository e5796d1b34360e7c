"""The public surface other packages are written against."""

from __future__ import annotations

import dataclasses

import pytest

import compiler.expressions as ex
from compiler.expressions import (
    Binary,
    Call,
    ContextRef,
    Filter,
    Index,
    Literal,
    Logical,
    Property,
    Span,
    Ternary,
    Unary,
    evaluate,
    find_spans,
    has_expression,
    parse,
    render,
)


def test_exports() -> None:
    for name in ex.__all__:
        assert hasattr(ex, name)
    assert set(ex.FUNCTIONS) >= {
        "case",
        "contains",
        "startsWith",
        "endsWith",
        "format",
        "join",
        "toJSON",
        "fromJSON",
        "success",
        "failure",
        "cancelled",
        "always",
        "len",
        "lower",
        "upper",
        "trim",
        "round",
        "min",
        "max",
        "sum",
    }


def test_tree_shape_and_columns() -> None:
    node = parse("!tasks.a['b'].* && f == 1 ? len(x) : -y")
    assert isinstance(node, Ternary) and node.column == 26
    condition = node.condition
    assert isinstance(condition, Logical) and condition.op == "&&" and condition.column == 16
    negation, comparison = condition.terms
    assert isinstance(comparison, Binary) and comparison.op == "==" and comparison.column == 21
    assert isinstance(negation, Unary) and negation.op == "!" and negation.column == 0
    star = negation.operand
    assert isinstance(star, Filter)
    index = star.target
    assert isinstance(index, Index) and index.index == Literal("b", 9) and index.column == 8
    prop = index.target
    assert isinstance(prop, Property) and prop.name == "a" and prop.target == ContextRef("tasks", 1)
    call = node.then
    assert isinstance(call, Call) and call.name == "len" and call.column == 28
    assert node.otherwise == Unary("-", ContextRef("y", 38), 37)


def test_a_run_of_and_or_is_one_node() -> None:
    # GitHub flattens a run of && (or ||) into one node, even across parentheses.
    node = parse("a && (b && c) && d || e")
    assert isinstance(node, Logical) and node.op == "||" and node.column == 19
    run = node.terms[0]
    assert isinstance(run, Logical) and run.op == "&&" and run.column == 2
    assert [term.name for term in run.terms if isinstance(term, ContextRef)] == ["a", "b", "c", "d"]
    assert str(node) == "(a && b && c && d) || e"


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse("a.b == 1")
    assert isinstance(node, Binary)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.op = "!="  # type: ignore[misc]
    assert hash(node) == hash(parse("a.b == 1"))


def test_function_names_are_canonical_in_the_tree() -> None:
    node = parse("TOJSON(1)")
    assert isinstance(node, Call) and node.name == "toJSON"


def test_parse_is_memoised() -> None:
    assert parse("tasks.a.outputs.b == 'x'") is parse("tasks.a.outputs.b == 'x'")


def test_evaluate_accepts_a_tree() -> None:
    node = parse("tasks.a.outputs.n * 2")
    assert evaluate(node, {"tasks": {"a": {"outputs": {"n": 21}}}}) == 42


def test_filter_results_are_plain_lists() -> None:
    result = evaluate("x.*", {"x": {"a": 1}})
    assert type(result) is list


def test_access_returns_the_context_object_itself() -> None:
    outputs = {"big": [1, 2]}
    assert evaluate("tasks.a.outputs", {"tasks": {"a": {"outputs": outputs}}}) is outputs


def test_tuples_count_as_arrays() -> None:
    assert evaluate("x[1] + len(x)", {"x": (1, 2)}) == 4


def test_has_expression() -> None:
    assert has_expression("a ${{ b }}")
    assert has_expression("${{")
    assert not has_expression("a $ { { b")
    assert not has_expression("")


def test_find_spans_returns_spans() -> None:
    assert find_spans("x ${{ a.b }} y") == [Span(2, 12, "a.b")]


def test_render_without_expressions_returns_the_same_object() -> None:
    text = "no expressions here"
    assert render(text, {}) is text


def test_render_whole_keeps_type_embedded_makes_text() -> None:
    context = {"n": 3, "d": {"k": [1, None, True]}}
    assert render("${{ n }}", context) == 3
    assert render(" ${{ d }} ", context) is context["d"]
    assert render("${{ d }}.", context) == '{"k":[1,null,true]}.'


def test_str_of_a_node_is_canonical_source() -> None:
    assert str(parse("tasks.a['b c'].d  ==  'x''y'")) == "tasks.a['b c'].d == 'x''y'"
    assert str(parse("(1 + 2) * -3")) == "(1 + 2) * (-3)"
    assert str(parse("a ? b : c ?? d")) == "a ? b : (c ?? d)"
