"""references(): the context access chains the compiler turns into dependency edges."""

from __future__ import annotations

import pytest

from compiler.expressions import Reference, parse, references


def refs(expression: str) -> list[tuple[str, tuple[str | int | None, ...], int, str]]:
    return [(r.root, r.path, r.column, r.text) for r in references(parse(expression))]


def test_dotted_chain() -> None:
    assert refs("tasks.summarize.outputs.response") == [
        ("tasks", ("summarize", "outputs", "response"), 0, "tasks.summarize.outputs.response")
    ]


def test_bracket_keys_are_normalised_into_the_path() -> None:
    assert refs("tasks.summarize.outputs['response'].x") == [
        ("tasks", ("summarize", "outputs", "response", "x"), 0, "tasks.summarize.outputs['response'].x")
    ]


def test_integer_index_and_filter() -> None:
    assert refs("tasks.a.outputs.items[0].name") == [
        ("tasks", ("a", "outputs", "items", 0, "name"), 0, "tasks.a.outputs.items[0].name")
    ]
    assert refs("tasks.*.outputs.label") == [("tasks", ("*", "outputs", "label"), 0, "tasks.*.outputs.label")]
    assert refs("tasks.a.outputs[*]") == [("tasks", ("a", "outputs", "*"), 0, "tasks.a.outputs.*")]


def test_dynamic_index_ends_the_chain_and_is_reported_itself() -> None:
    assert refs("tasks[item.id].outputs.x") == [
        ("tasks", (None,), 0, "tasks[item.id]"),
        ("item", ("id",), 6, "item.id"),
    ]


def test_bare_context_names() -> None:
    assert refs("item") == [("item", (), 0, "item")]
    assert refs("index + 1") == [("index", (), 0, "index")]


def test_calls_operators_and_ternary_in_source_order() -> None:
    expression = "contains(tasks.a.outputs.tags, env.TAG) && (workflow.inputs.x ?? 1) > 0 ? item : secrets.k"
    assert [(root, path) for root, path, _, _ in refs(expression)] == [
        ("tasks", ("a", "outputs", "tags")),
        ("env", ("TAG",)),
        ("workflow", ("inputs", "x")),
        ("item", ()),
        ("secrets", ("k",)),
    ]


def test_nested_references_inside_index_expressions() -> None:
    found = refs("tasks.a.outputs[format('{0}', workflow.inputs.key)]")
    assert found[0][:2] == ("tasks", ("a", "outputs", None))
    assert found[0][3] == "tasks.a.outputs[format('{0}', workflow.inputs.key)]"
    assert found[1][:2] == ("workflow", ("inputs", "key"))


def test_chain_on_a_call_result_is_not_a_context_reference() -> None:
    assert refs("fromJSON(tasks.a.outputs.json).items[0]") == [
        ("tasks", ("a", "outputs", "json"), 9, "tasks.a.outputs.json")
    ]


def test_literals_have_no_references() -> None:
    assert refs("1 + 2 == 3 && 'x'") == []


def test_each_context_ref_yields_one_reference() -> None:
    found = references(parse("tasks.a.outputs.x == tasks.a.outputs.x"))
    assert len(found) == 2
    assert all(isinstance(r, Reference) for r in found)
    assert [r.column for r in found] == [0, 21]


@pytest.mark.parametrize(
    ("expression", "path"),
    [
        ("steps.my-step.outputs.out", ("my-step", "outputs", "out")),
        ("tasks.a['odd key'].x", ("a", "odd key", "x")),
        ("tasks.a[1.0]", ("a", 1)),
        ("tasks.a[true]", ("a", None)),
        ("tasks.a.*.*", ("a", "*", "*")),
    ],
)
def test_path_shapes(expression: str, path: tuple[str | int | None, ...]) -> None:
    (reference,) = references(parse(expression))
    assert reference.path == path


def test_text_reparses_to_the_same_chain() -> None:
    (reference,) = references(parse("tasks.a['odd key'].outputs[0]"))
    assert reference.text == "tasks.a['odd key'].outputs[0]"
    (again,) = references(parse(reference.text))
    assert again.path == reference.path
