"""Response schemas on llm tasks: the declaration, the schema's own checks, references walked
through it (did-you-mean, positions), the static types it gives, and what the plan carries."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.compile import compile_text
from compiler.diagnostics import Diagnostic
from compiler.explain import explain, render
from compiler.graph import to_text
from compiler.jsonschema import workflow_schema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["urgency", "customer"],
    "additionalProperties": False,
    "properties": {
        "urgency": {"type": "string", "enum": ["low", "high"]},
        "score": {"type": ["integer", "null"]},
        "customer": {"$ref": "#/$defs/customer"},
        "items": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                             "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}},
        "contact": {"anyOf": [
            {"type": "object", "properties": {"email": {"type": "string"}}, "additionalProperties": False},
            {"type": "object", "properties": {"phone": {"type": "string"}}, "additionalProperties": False},
        ]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "extra": {"type": "object"},
        "open": {"type": "object", "properties": {"city": {"type": "string"}}},
        "tree": {"$ref": "#/$defs/node"},
    },
    "$defs": {
        "customer": {"type": "object", "additionalProperties": False,
                     "properties": {"email": {"type": "string"}, "name": {"type": "string"}}},
        "node": {"type": "object", "additionalProperties": False,
                 "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}},
    },
}


def document(schema: Any = SCHEMA, *, prompt: str = "hi", condition: str | None = None, for_each: bool = False,
             output: dict[str, Any] | None = None, executor: str = "llm-forge:claude-api") -> str:
    """A two-task workflow: ``extract`` answers to ``schema``; ``use`` reads it in ``prompt`` (line 22)."""
    declared = output if output is not None else {"data": {"schema": schema}}
    lines = [
        "apiVersion: orchestrator.llm/v1",
        "kind: Workflow",
        "metadata: {name: t}",
        "spec:",
        "  inputs: [{name: ticket, type: string}]",
        "  tasks:",
        "    - id: extract",
        f"      executor: {executor}",
        f"      forEach: {'${{ fromJSON(workflow.inputs.ticket) }}' if for_each else 'null'}",
        "      inputs:",
        "        prompt: ${{ workflow.inputs.ticket }}" if executor.startswith("llm-forge:") else "        template: x",
        f"      outputs: {json.dumps(declared)}",
        "    - id: use",
        "      executor: llm-forge:claude-api",
        f"      if: {json.dumps(condition) if condition else 'true'}",
        "      inputs:",
        "        system: a",
        "        cache: [system]",
        "        config:",
        "          model: [claude-haiku-4-5, gpt-4o-mini]",
        "          max_tokens: 10",
        f"        prompt: {json.dumps(prompt)}",
    ]
    return "\n".join(lines) + "\n"


PROMPT_LINE = 22
IF_LINE = 15


def diagnostics(text: str) -> list[Diagnostic]:
    return compile_text(text, "t.yaml").diagnostics


def codes(text: str) -> list[str]:
    return [d.code for d in diagnostics(text)]


def test_the_document_helper_compiles_cleanly() -> None:
    result = compile_text(document(prompt="${{ tasks.extract.outputs.data.urgency }}"))
    assert result.ok and not result.diagnostics, [d.render() for d in result.diagnostics]
    assert "prompt:" in document().splitlines()[PROMPT_LINE - 1]


# -- references walked through the schema -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("data.urgency", None),
        ("data.customer.email", None),  # through $ref
        ("data.customer.emial", "E409"),  # closed object: did you mean 'email'?
        ("data.custmer", "E409"),  # closed root
        ("data.Customer.EMAIL", None),  # lookups are case-insensitive, as at run time
        ("data['urgency']", None),
        ("data.items[0].qty", None),  # items
        ("data.items[0].qtty", "E409"),
        ("data.items.*.sku", None),  # .* over an array
        ("data.items.*.skus", "E409"),
        ("data.items.sku", "E409"),  # a property of an array
        ("data.contact.email", None),  # anyOf: in one branch
        ("data.contact.phone", None),
        ("data.contact.fax", "E409"),  # in no branch, and both closed
        ("data.labels.team", None),  # a map: any name
        ("data.labels.team.lead", "E409"),  # ...whose values are strings
        ("data.extra.anything.at.all", None),  # an object that lists nothing
        ("data.open.city", None),
        ("data.open.cty", "W409"),  # listed properties, others allowed: a warning
        ("data.urgency.level", "E409"),  # a string has no properties
        ("data.score.value", "E409"),  # integer or null
        ("data.tree.children[0].children[1].name", None),  # a recursive $ref
        ("data.tree.children[0].children[1].nme", "E409"),
        ("data.items[workflow.inputs.ticket].qtty", None),  # a dynamic index: not known statically
        ("data", None),
        ("response", None),
        ("usage.prompt_tokens", None),
    ],
)
def test_reference_into_the_schema(reference: str, expected: str | None) -> None:
    found = [d for d in diagnostics(document(prompt=f"say ${{{{ tasks.extract.outputs.{reference} }}}}"))
             if d.code in ("E409", "W409", "E404")]
    assert [d.code for d in found] == ([expected] if expected else []), [d.render() for d in found]
    for d in found:
        assert d.line == PROMPT_LINE and d.column == 17
        assert d.hint, d.render()
        assert f"tasks.extract.outputs.{reference}" in d.message


@pytest.mark.parametrize(
    ("reference", "hint"),
    [
        ("data.customer.emial", "did you mean 'email'?"),
        ("data.custmer.email", "did you mean 'customer'?"),
        ("data.items[0].qtty", "did you mean 'qty'?"),
        ("data.contact.emali", "did you mean 'email'?"),
        ("data.open.cty", "did you mean 'city'?"),
        ("data.customer.zzz", "properties of $.customer: email, name"),
        ("data.urgency.level", "read $.urgency as a whole"),
    ],
)
def test_hint_of_a_wrong_reference(reference: str, hint: str) -> None:
    (d,) = [d for d in diagnostics(document(prompt=f"${{{{ tasks.extract.outputs.{reference} }}}}")) if d.code in ("E409", "W409")]
    assert hint in (d.hint or ""), d.render()


def test_the_message_names_where_the_reference_leaves_the_schema() -> None:
    (d,) = [d for d in diagnostics(document(prompt="${{ tasks.extract.outputs.data.items[0].qtty }}")) if d.code == "E409"]
    assert "no property 'qtty' at $.items[0]" in d.message and "'extract'" in d.message


def test_references_in_if_branches_and_workflow_outputs_are_checked_too() -> None:
    assert "E409" in codes(document(condition="${{ tasks.extract.outputs.data.custmer.email == 'a' }}"))
    text = document() + "  outputs:\n    who: ${{ tasks.extract.outputs.data.customer.emial }}\n"
    (d,) = [d for d in diagnostics(text) if d.code == "E409"]
    assert d.line == PROMPT_LINE + 2


def test_a_foreach_task_answers_are_a_list() -> None:
    ok = document(for_each=True, prompt="${{ tasks.extract.outputs.data[0].customer.email }} "
                                        "${{ tasks.extract.outputs.data.*.urgency }}")
    assert [c for c in codes(ok) if c in ("E409", "W409")] == []
    wrong = [d for d in diagnostics(document(for_each=True, prompt="${{ tasks.extract.outputs.data.urgency }}"))
             if d.code == "E409"]
    assert len(wrong) == 1 and "data[0].urgency" in (wrong[0].hint or "")
    assert "E409" in codes(document(for_each=True, prompt="${{ tasks.extract.outputs.data[0].customer.emial }}"))


# -- static types: the "certain type errors" check sees through the schema --------------------------


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("tasks.extract.outputs.data.score > 3", False),  # integer (or null) with a number
        ("tasks.extract.outputs.data.urgency > 3", True),  # a string with a number
        ("tasks.extract.outputs.data.items == 1", True),  # an array with a number
        ("tasks.extract.outputs.data.items.*.qty == 'x'", True),  # .* makes a list
        ("tasks.extract.outputs.data.customer.email == true", True),
        ("tasks.extract.outputs.data.urgency == 'high'", False),
        ("tasks.extract.outputs.data.urgency == 'HIGH'", False),  # string comparison ignores case
        ("tasks.extract.outputs.data.urgency == 'urgent'", True),  # never one of the enum's values
        ("'urgent' != tasks.extract.outputs.data.urgency", True),
        ("tasks.extract.outputs.data.labels.team == 3", True),
        ("tasks.extract.outputs.data.extra.x == 3", False),  # nothing known about it
        ("tasks.extract.outputs.data.urgency == null", False),
    ],
)
def test_static_type_of_a_schema_reference(condition: str, error: bool) -> None:
    found = [d for d in diagnostics(document(condition=f"${{{{ {condition} }}}}")) if d.code == "E406"]
    assert bool(found) == error, [d.render() for d in found]
    assert all(d.line == IF_LINE for d in found)


def test_an_enum_mismatch_suggests_a_close_value() -> None:
    (d,) = [d for d in diagnostics(document(condition="${{ tasks.extract.outputs.data.urgency == 'hihg' }}")) if d.code == "E406"]
    assert "did you mean 'high'?" in (d.hint or "") and "'low', 'high'" in d.message


# -- the declaration and the schema itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ({"data": {"schema": {"type": "object"}}}, "object"),
        ({"data": {"schema": {"type": "array", "items": {"type": "string"}}}}, "array"),
        ({"data": {"schema": {"type": "integer"}}}, "integer"),
        ({"data": {"schema": {"type": ["integer", "number", "null"]}}}, "number"),
        ({"data": {"schema": {"anyOf": [{"type": "string"}, {"type": "object"}]}}}, "any"),
        ({"data": {"schema": {"enum": ["a", "b"]}}}, "string"),
        ({"data": {"schema": {"description": "anything"}}}, "any"),
        ({"data": {"type": "any", "schema": {"type": "object"}}}, "any"),
        ({"data": {"type": "float", "schema": {"type": "integer"}}}, "float"),
    ],
)
def test_the_output_type_comes_from_the_schema_when_not_given(output: dict[str, Any], expected: str) -> None:
    result = compile_text(document(output=output))
    assert result.ok, [d.render() for d in result.errors]
    node = result.plan.nodes["extract"]
    assert node.declared_outputs["data"] == expected
    assert node.structured_output == ("data", output["data"]["schema"])


def test_the_plan_carries_the_schema_and_the_plain_forms_still_work() -> None:
    output = {"data": {"type": "object", "description": "the fields", "schema": SCHEMA}, "note": "string",
              "more": {"type": "integer", "description": "no schema"}}
    plan = compile_text(document(output=output)).plan
    node = plan.nodes["extract"]
    assert dict(node.output_schemas) == {"data": SCHEMA}
    assert dict(node.declared_outputs) == {"data": "object", "note": "string", "more": "integer"}
    assert plan.nodes["use"].output_schemas == {} and plan.nodes["use"].structured_output is None


def test_plan_graph_and_explain_show_the_structured_output() -> None:
    plan = compile_text(document()).plan
    label = "data: object (schema: urgency, score, customer, items, ...)"
    assert f"extract [llm-forge:claude-api, llm] -> {label}" in str(plan)
    assert f"extract (llm-forge:claude-api) -> {label}" in to_text(plan)
    assert f"extract (llm-forge:claude-api) -> {label}: no dependencies" in render(plan, explain(plan, {"ticket": "x"}))
    assert str(plan).splitlines()[-1].strip() == "use [llm-forge:claude-api, llm]"  # no structured output


@pytest.mark.parametrize(
    ("output", "executor", "expected"),
    [
        ({"data": {"schema": {"type": "object"}}}, "orchestrator:template", "E208"),  # not an llm task
        ({"a": {"schema": {"type": "object"}}, "b": {"schema": {"type": "object"}}}, "llm-forge:claude-api", "E208"),
        ({"a": {"schema": {"type": "str"}}, "b": {"schema": {"type": "object"}}}, "llm-forge:claude-api", "E208"),
        ({"response": {"schema": {"type": "object"}}}, "llm-forge:claude-api", "E208"),
        ({"data": {"type": "string", "schema": {"type": "object"}}}, "llm-forge:claude-api", "E208"),
        ({"data": {"type": "integer", "schema": {"type": "number"}}}, "llm-forge:claude-api", "E208"),
        ({"data": {"type": "object", "schema": {"type": ["object", "string"]}}}, "llm-forge:claude-api", "E208"),
    ],
)
def test_a_schema_where_none_can_be(output: dict[str, Any], executor: str, expected: str) -> None:
    found = [d for d in diagnostics(document(output=output, executor=executor)) if d.code == expected]
    assert len(found) == 1 and found[0].line == 12 and found[0].hint, [d.render() for d in found]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {"a": {"type": "string"}}}, []),
        ({"type": "object", "properties": {"a": {"type": "str"}}}, ["E209"]),
        ({"type": ["string", "nul"]}, ["E209"]),
        ({"type": "float"}, ["E209"]),
        ({"type": "object", "required": "a"}, ["E209"]),
        ({"type": "object", "properties": [1]}, ["E209"]),
        ({"type": "array", "items": 5}, ["E209"]),
        ({"type": "string", "pattern": "("}, ["W209", "E209"]),  # not a regex: Forge would refuse it
        ({"enum": 5}, ["E209"]),
        ({"$ref": "https://example.com/s.json"}, ["E209"]),
        ({"$ref": "#/$defs/missing", "$defs": {"present": {"type": "string"}}}, ["E209"]),
        ({"$ref": 5}, ["E209"]),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"type": "object", "properties": {"self": {"$ref": "#"}}}}}, []),
        ({"type": "string", "minLength": 2, "format": "email"}, ["W209", "W209"]),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, ["W209"]),
        ({"type": "object", "requried": ["a"]}, ["W210"]),
        ({"type": "object", "required": ["b"], "properties": {"a": {"type": "string"}}}, ["W210"]),
        ({"type": "string", "nullable": True}, ["W210"]),
        ({"type": "object", "title": "T", "description": "d", "$comment": "c", "examples": [{}]}, []),
    ],
)
def test_the_schema_itself_is_checked(schema: dict[str, Any], expected: list[str]) -> None:
    found = [d for d in diagnostics(document(schema)) if d.code in ("E209", "W209", "W210")]
    assert sorted(d.code for d in found) == sorted(expected), [d.render() for d in found]
    assert all(d.line == 12 and "Traceback" not in d.render() for d in found)


def test_schema_diagnostics_point_into_the_schema() -> None:
    text = document(output={}).replace("      outputs: {}\n", """      outputs:
        data:
          schema:
            type: object
            properties:
              urgency: {type: str}
              code: {type: string, pattern: '^A'}
""")
    found = {d.code: d for d in diagnostics(text)}
    assert (found["E209"].line, found["E209"].column) == (17, 31)
    assert found["E209"].hint == "JSON Schema calls it 'string'"
    assert (found["W209"].line, found["W209"].column) == (18, 36)
    assert "$.code" in found["W209"].message


def test_a_schema_that_fails_its_checks_does_not_reach_the_plan() -> None:
    assert not compile_text(document({"type": "object", "properties": {"a": {"type": "str"}}})).ok


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "enum": [{"x": 1}]}}},
        {"type": "object", "properties": {"a": {"$ref": "#/properties/a"}}},  # a $ref to itself
        {"type": "object", "properties": {"a": {"$ref": "#/properties/b"}, "b": {"$ref": "#/properties/a"}}},
        {"allOf": [{"$ref": "#"}]},
        {"type": "object", "properties": {"a": {"$ref": "#/properties/a", "type": "object"}}},
    ],
)
def test_odd_but_valid_schemas_never_crash_a_reference(schema: dict[str, Any]) -> None:
    result = compile_text(document(schema, prompt="${{ tasks.extract.outputs.data.a.b.c[0].* }}"))
    assert all("Traceback" not in d.render() for d in result.diagnostics)


def test_nested_any_of_does_not_explode() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"leaf": {"type": "string"}}, "additionalProperties": False}
    for _ in range(30):
        schema = {"anyOf": [schema, {"type": "object", "properties": {"leaf": {"type": "string"}}, "additionalProperties": False}]}
    started = time.perf_counter()
    found = codes(document(schema, prompt="${{ tasks.extract.outputs.data.lef }}"))
    assert time.perf_counter() - started < 30  # 2**30 branches if the walk were not bounded
    assert "E409" in found


# -- the editor schema (`llm-orchestrator schema`) --------------------------------------------------


def test_the_editor_schema_accepts_both_output_forms_and_refuses_others() -> None:
    schema = workflow_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    good = yaml.safe_load(document(output={"data": {"type": "object", "description": "d", "schema": SCHEMA}, "n": "string"}))
    assert not [e.message for e in validator.iter_errors(good)]
    bad = yaml.safe_load(document(output={"n": "strng"}))
    assert list(validator.iter_errors(bad))
    bad_schema = yaml.safe_load(document({"type": "object", "properties": {"a": {"type": "str"}}}))
    assert list(validator.iter_errors(bad_schema))
