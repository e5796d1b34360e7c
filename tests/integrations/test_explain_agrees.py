"""``explain`` and a run decide alike (one decision model): a property test over generated
workflows whose conditions read only workflow inputs, run for real through Prefect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.compile import compile_document
from compiler.explain import explain
from tests.flows.helpers import register, run

pytestmark = pytest.mark.usefixtures("prefect_harness")

# (declared type, value): GitHub truthiness makes [] and {} true, '' and 0 false.
VALUES = [("array", []), ("array", [1]), ("object", {}), ("object", {"a": 1}), ("integer", 0), ("integer", 2),
          ("string", ""), ("string", "a"), ("string", "false"), ("boolean", True), ("boolean", False)]
NAMES = ("x", "y", "z")


def _atom(draw: Any) -> str:
    name = draw(st.sampled_from(NAMES))
    ref = f"workflow.inputs.{name}"
    return draw(st.sampled_from([
        ref, f"!{ref}", f"format('{{0}}', {ref}) == 'a'", f"toJSON({ref}) != '0'", f"contains(toJSON({ref}), '1')",
        f"{ref} && true",
        "success()", "always()", "failure()", f"always() && {ref}", "true", "false",
    ]))


@st.composite
def workflows(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs: dict[str, Any] = {}
    declared = []
    for name in NAMES:
        if draw(st.booleans()):
            kind, value = draw(st.sampled_from(VALUES))
            declared.append({"name": name, "type": kind})
            inputs[name] = value
        else:  # an input that is not given reads as null
            declared.append({"name": name, "type": "string"})
    tasks: list[dict[str, Any]] = []
    for index in range(draw(st.integers(2, 6))):
        task: dict[str, Any] = {"id": f"t{index}", "executor": "test:work"}
        earlier = [t["id"] for t in tasks]
        if earlier:
            deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2))
            if deps:
                task["dependsOn"] = deps
        if draw(st.booleans()):
            condition = _atom(draw)
            if draw(st.booleans()):
                condition = f"{condition} {draw(st.sampled_from(['&&', '||']))} {_atom(draw)}"
            task["if"] = "${{ " + condition + " }}"
        tasks.append(task)
    spec: dict[str, Any] = {"inputs": declared, "tasks": tasks}
    if draw(st.booleans()):
        arm_then = {"id": "then_arm", "executor": "test:work"}
        arm_else = {"id": "else_arm", "executor": "test:work"}
        if draw(st.booleans()):
            arm_then["dependsOn"] = [tasks[-1]["id"]]
        spec["branches"] = [{"condition": "${{ " + _atom(draw) + " }}", "tasks": [arm_then], "else": [arm_else]}]
    document = {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": "explain-agrees"},
                "spec": spec}
    return document, inputs


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(workflows())
def test_explain_decides_as_the_run_does(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    register()
    document, inputs = case
    plan = compile_document(document).plan
    expected = {step.task: step.decision for step in explain(plan, inputs) if step.group != "event"}
    assert "runtime" not in expected.values()  # conditions read only inputs: everything is known
    state, data = asyncio.run(run(document, inputs))
    actual = {task: record["state"] for task, record in data["tasks"].items()}
    assert {task: {"run": "completed", "skip": "skipped"}[decision] for task, decision in expected.items()} == actual
    reasons = {step.task: step.reason for step in explain(plan, inputs) if step.decision == "skip"}
    assert reasons == {task: record["reason"] for task, record in data["tasks"].items() if record["state"] == "skipped"}
