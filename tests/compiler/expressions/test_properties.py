"""Property tests: no input makes the expression engine raise anything but ExpressionError."""

from __future__ import annotations

import math
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.expressions import (
    Binary,
    Call,
    ContextRef,
    ExpressionError,
    Filter,
    Index,
    Literal,
    Logical,
    Node,
    Property,
    Ternary,
    Unary,
    evaluate,
    find_spans,
    parse,
    references,
    render,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONTEXT: dict[str, Any] = {
    "tasks": {"a": {"outputs": {"x": "X", "n": 2, "l": [1, "2", None, {"k": True}]}, "status": "success"}},
    "workflow": {"inputs": {"s": "text", "f": 1.5, "e": ""}, "id": "w"},
    "item": [{"k": 1}, {"k": [2, 3]}, "s", None],
    "index": 0,
    "env": {},
    "n": None,
    "big": 2**70,
    "nan": math.nan,
}

TOKENS = [
    "tasks",
    "workflow",
    "item",
    "index",
    "env",
    "n",
    "big",
    "nan",
    "a",
    "outputs",
    "x",
    "l",
    "k",
    "s",
    ".",
    ".*",
    "[",
    "]",
    "(",
    ")",
    ",",
    "*",
    "!",
    "-",
    "+",
    "/",
    "%",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "??",
    "?",
    ":",
    "=",
    "&",
    "|",
    "'",
    "''",
    "'s'",
    "'{0}'",
    "'{{'",
    "'}}'",
    '"',
    "0",
    "1",
    "-1",
    "1.5",
    "0xff",
    "2e3",
    ".5",
    "1e999",
    "NaN",
    "Infinity",
    "null",
    "true",
    "false",
    "case",
    "contains",
    "startsWith",
    "endsWith",
    "format",
    "join",
    "toJSON",
    "fromJSON",
    "len",
    "lower",
    "upper",
    "trim",
    "round",
    "min",
    "max",
    "sum",
    "success",
    "failure",
    "cancelled",
    "always",
    "'[1,2]'",
    "'{\"a\": 1}'",
    "${{",
    "}}",
    " ",
    "\n",
    "é",
    "日",
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=25)
spaced = token_soup.map(" ".join)
glued = token_soup.map("".join)
any_text = st.text(max_size=80)

LEAVES = [
    "tasks",
    "tasks.a.outputs.x",
    "tasks.a.outputs.l",
    "tasks.a.outputs.l[3].k",
    "workflow.inputs",
    "item",
    "item.*.k",
    "index",
    "n",
    "big",
    "nan",
    "0",
    "1",
    "-1",
    "1.5",
    "0xff",
    "NaN",
    "Infinity",
    "null",
    "true",
    "false",
    "''",
    "'s'",
    "'1'",
    "'{0}'",
    "'[1, {\"a\": 2}]'",
]
BINARY_OPS = ["==", "!=", "<", "<=", ">", ">=", "&&", "||", "??", "+", "-", "*", "/", "%"]
CALLS = [
    "case",
    "contains",
    "startsWith",
    "endsWith",
    "format",
    "join",
    "toJSON",
    "fromJSON",
    "len",
    "lower",
    "upper",
    "trim",
    "round",
    "min",
    "max",
    "sum",
    "success",
    "always",
]


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(BINARY_OPS), children).map(" ".join),
        st.tuples(st.sampled_from(["!", "-"]), children).map(lambda t: t[0] + "(" + t[1] + ")"),
        children.map(lambda c: "(" + c + ")"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        st.tuples(st.sampled_from(CALLS), st.lists(children, max_size=3)).map(
            lambda t: t[0] + "(" + ", ".join(t[1]) + ")"
        ),
        st.tuples(children, st.sampled_from([".k", ".*", "[0]", "['x']", ".outputs"])).map(
            lambda t: "(" + t[0] + ")" + t[1]
        ),
        st.tuples(children, children).map(lambda t: f"({t[0]})[{t[1]}]"),
    )


grammar = st.recursive(st.sampled_from(LEAVES), _grow, max_leaves=12)
expressions = st.one_of(any_text, spaced, glued, grammar)


def _only_expression_errors(call: Any) -> Any:
    try:
        return call()
    except ExpressionError as error:
        str(error)  # rendering the message must not fail either
        return error


@SETTINGS
@given(expressions)
def test_parse_and_evaluate_raise_only_expression_errors(text: str) -> None:
    _only_expression_errors(lambda: parse(text))
    for status in ("success", "failure"):
        _only_expression_errors(lambda status=status: evaluate(text, CONTEXT, status=status))


@SETTINGS
@given(st.one_of(any_text, spaced, glued, token_soup.map(lambda ts: "${{ " + " ".join(ts) + " }}")))
def test_templates_raise_only_expression_errors(text: str) -> None:
    _only_expression_errors(lambda: find_spans(text))
    _only_expression_errors(lambda: render(text, CONTEXT))
    _only_expression_errors(lambda: render("prefix " + text, CONTEXT))


def _shape(node: Node) -> Any:
    """The tree without columns (NaN made comparable)."""
    if isinstance(node, Literal):
        return ("lit", repr(node.value), type(node.value).__name__)
    if isinstance(node, ContextRef):
        return ("ref", node.name)
    if isinstance(node, Property):
        return ("prop", _shape(node.target), node.name)
    if isinstance(node, Index):
        return ("index", _shape(node.target), _shape(node.index))
    if isinstance(node, Filter):
        return ("filter", _shape(node.target))
    if isinstance(node, Unary):
        return ("unary", node.op, _shape(node.operand))
    if isinstance(node, Binary):
        return ("binary", node.op, _shape(node.left), _shape(node.right))
    if isinstance(node, Logical):
        return ("logical", node.op, tuple(_shape(term) for term in node.terms))
    if isinstance(node, Ternary):
        return ("ternary", _shape(node.condition), _shape(node.then), _shape(node.otherwise))
    assert isinstance(node, Call)
    return ("call", node.name, tuple(_shape(arg) for arg in node.args))


@SETTINGS
@given(st.one_of(spaced, grammar))
def test_canonical_text_round_trips(text: str) -> None:
    try:
        node = parse(text)
    except ExpressionError:
        return
    started = time.perf_counter()
    again = parse(str(node))
    assert time.perf_counter() - started < 1.0
    assert _shape(again) == _shape(node)
    for reference in references(node):
        assert reference.root in reference.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(json_values, st.sampled_from(TOKENS[:30] + ["x"]), st.one_of(spaced, grammar))
def test_arbitrary_context_values(value: Any, name: str, text: str) -> None:
    context = {**CONTEXT, "x": value, name: value}
    for expression in (text, "x " + text, "toJSON(x)", "join(x)", "x.*.*", "format('{0}', x) + x"):
        _only_expression_errors(lambda expression=expression: evaluate(expression, context))
    _only_expression_errors(lambda: render("v=${{ x }}", context))


@SETTINGS
@given(st.text(max_size=60) | token_soup.map(" ".join))
def test_values_are_never_rendered_again(value: str) -> None:
    # A task output containing ${{ ... }} must come back verbatim: no template injection.
    context = {"tasks": {"a": {"outputs": {"text": value}}}, "workflow": {"secret": "S3CR3T"}}
    assert render("${{ tasks.a.outputs.text }}", context) == value
    assert render("<${{ tasks.a.outputs.text }}>", context) == "<" + value + ">"


@SETTINGS
@given(st.lists(st.sampled_from(["(", "[", "!", "-", "len(", "a.", "x ? ", "'"]), min_size=60, max_size=3000))
def test_deep_nesting_is_a_limit_error_not_a_recursion_error(parts: list[str]) -> None:
    text = "".join(parts)
    _only_expression_errors(lambda: evaluate(text, CONTEXT))
