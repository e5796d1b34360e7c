"""The frozen ExecutionPlan: dependencies, branch gates, events, levels, defaults, inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydantic
import pytest

from compiler.compile import CompilationFailed, compile_document, compile_file, compile_text
from compiler.plan import ExecutionPlan

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
VALID = Path(__file__).parent / "corpus" / "valid"


def _is_workflow(path: Path) -> bool:
    """examples/ also holds orchestrator config files (orchestrator-config.yaml, ...): not workflows."""
    return "\napiVersion:" in "\n" + path.read_text(encoding="utf-8")


EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if _is_workflow(p))

HEADER = "apiVersion: orchestrator.llm/v1\nkind: Workflow\nmetadata:\n  name: inline\nspec:\n"


def plan_of(path: Path) -> ExecutionPlan:
    result = compile_file(path)
    assert result.ok, "\n".join(d.render() for d in result.errors)
    return result.plan


def inline(spec: str) -> ExecutionPlan:
    result = compile_text(HEADER + spec)
    assert result.ok, "\n".join(d.render() for d in result.errors)
    return result.plan


def deps(plan: ExecutionPlan) -> dict[str, set[str]]:
    return {i: set(n.depends_on) for i, n in plan.nodes.items()}


# -- dependencies ----------------------------------------------------------------------------------


def test_multi_model_comparison_formatter_depends_on_both_inferences() -> None:
    plan = plan_of(EXAMPLES / "multi-model-comparison.yaml")
    assert deps(plan) == {
        "claude_inference": set(),
        "gpt4_inference": set(),
        "format_comparison": {"claude_inference", "gpt4_inference"},
    }
    node = plan.nodes["format_comparison"]
    assert node.data_dependencies == {"claude_inference", "gpt4_inference"}
    assert node.explicit_depends_on == ("claude_inference", "gpt4_inference")
    assert plan.levels == (("claude_inference", "gpt4_inference"), ("format_comparison",))


def test_expression_reference_alone_makes_a_dependency() -> None:
    plan = inline("""  tasks:
    - id: a
      executor: llm-forge:offline
      inputs: {prompt: hi}
    - id: b
      executor: llm-forge:offline
      inputs:
        messages:
          - role: user
            content: "about ${{ tasks.a.outputs.response }}"
""")
    assert deps(plan) == {"a": set(), "b": {"a"}}
    assert plan.nodes["b"].data_dependencies == {"a"}
    assert plan.nodes["b"].explicit_depends_on == ()
    assert plan.levels == (("a",), ("b",))


def test_depends_on_only_is_an_ordering_edge_not_a_data_edge() -> None:
    plan = plan_of(EXAMPLES / "governed-llm-workflow.yaml")
    node = plan.nodes["llm_inference"]
    assert node.depends_on == {"policy_check"}
    assert node.data_dependencies == frozenset()


def test_depends_on_as_single_string() -> None:
    plan = plan_of(VALID / "if_always_and_status.yaml")
    assert plan.nodes["cleanup"].depends_on == {"risky"}
    assert plan.nodes["cleanup"].explicit_depends_on == ("risky",)


@pytest.mark.parametrize(
    ("where", "expression"),
    [
        ("if", "${{ tasks.a.outputs.response != '' }}"),
        ("cache", "${{ tasks.a.outputs.response }}"),
        ("forEach", "${{ fromJSON(tasks.a.outputs.response) }}"),
    ],
)
def test_references_outside_inputs_are_dependencies(where: str, expression: str) -> None:
    extra = {
        "if": f'      if: "{expression}"\n',
        "cache": f'      cache:\n        key: "{expression}"\n',
        "forEach": f'      forEach: "{expression}"\n',
    }[where]
    plan = inline(
        """  tasks:
    - id: a
      executor: llm-forge:offline
      inputs: {prompt: hi}
    - id: b
      executor: llm-forge:offline
"""
        + extra
        + """      inputs: {prompt: hi}
"""
    )
    assert plan.nodes["b"].depends_on == {"a"}


def test_workflow_output_references_add_no_edges() -> None:
    plan = plan_of(EXAMPLES / "llm-with-evaluation.yaml")
    assert set(plan.outputs) == {"response", "quality_metrics", "passed_quality_gate"}
    assert deps(plan) == {
        "llm_inference": set(),
        "evaluate_response": {"llm_inference"},
        "quality_gate": {"evaluate_response"},
    }


# -- branches ----------------------------------------------------------------------------------------


def test_branch_condition_reads_become_dependencies_of_its_tasks() -> None:
    plan = plan_of(EXAMPLES / "governed-llm-workflow.yaml")
    alert = plan.nodes["budget_alert"]
    assert alert.depends_on == {"track_cost"}  # only through the branch condition
    assert alert.data_dependencies == frozenset()
    assert alert.group == "branch"
    assert alert.gate is not None and alert.gate.arm == "then" and alert.gate.branch_id == "branch-1"
    assert "within_budget" in alert.gate.condition
    assert plan.levels[-1] == ("budget_alert",)


def test_branch_condition_reads_reach_both_arms() -> None:
    plan = inline("""  tasks:
    - id: a
      executor: llm-forge:offline
      inputs: {prompt: hi}
    - id: unrelated
      executor: llm-forge:offline
      inputs: {prompt: hi}
  branches:
    - id: check
      condition: ${{ tasks.a.outputs.response == 'yes' }}
      tasks:
        - id: yes_task
          executor: notification:alert
          inputs: {message: "y"}
      else:
        - id: no_task
          executor: notification:alert
          inputs: {message: "n"}
        - id: after_no
          executor: notification:alert
          dependsOn: [no_task]
          inputs: {message: later}
""")
    assert plan.nodes["yes_task"].depends_on == {"a"}
    assert plan.nodes["no_task"].depends_on == {"a"}
    assert plan.nodes["after_no"].depends_on == {"a", "no_task"}
    assert plan.nodes["unrelated"].depends_on == frozenset()
    assert plan.nodes["yes_task"].gate.arm == "then"  # type: ignore[union-attr]
    assert plan.nodes["no_task"].gate.arm == "else"  # type: ignore[union-attr]
    assert [g.branch_id for g in plan.branches] == ["check"]
    assert plan.levels == (("a", "unrelated"), ("yes_task", "no_task"), ("after_no",))


def test_support_triage_branch_arms() -> None:
    plan = plan_of(EXAMPLES / "support-triage.yaml")
    assert plan.nodes["escalation_draft"].gate.arm == "then"  # type: ignore[union-attr]
    assert plan.nodes["auto_reply"].gate.arm == "else"  # type: ignore[union-attr]
    assert plan.nodes["auto_reply"].depends_on == {"fields"}
    assert plan.levels == (("classify",), ("fields",), ("escalation_draft", "auto_reply"))


def test_unnamed_branches_are_numbered() -> None:
    plan = plan_of(VALID / "branch_with_else.yaml")
    assert [g.branch_id for g in plan.branches] == ["urgent", "branch-2"]
    assert plan.nodes["always_taken"].gate.branch_id == "branch-2"  # type: ignore[union-attr]


# -- events ----------------------------------------------------------------------------------------------


def test_event_tasks_without_id_are_numbered_per_event() -> None:
    plan = plan_of(VALID / "seed_event_tasks_without_id.yaml")
    assert dict(plan.events) == {
        "onSuccess": ("onSuccess-1",),
        "onFailure": ("onFailure-1",),
        "always": ("always-1", "always-2"),
    }
    for kind, ids in plan.events.items():
        for node_id in ids:
            node = plan.nodes[node_id]
            assert node.group == "event" and node.event == kind
    assert [n.id for n in plan.event_nodes("always")] == ["always-1", "always-2"]


def test_event_tasks_are_not_in_levels_and_add_no_edges() -> None:
    plan = plan_of(VALID / "seed_event_tasks_without_id.yaml")
    assert plan.levels == (("inference",),)
    # always-2 reads tasks.inference but events run after the whole main graph: no edge needed.
    assert plan.nodes["always-2"].depends_on == frozenset()
    assert [n.id for n in plan.main_nodes] == ["inference"]


def test_seed_examples_event_ids() -> None:
    assert dict(plan_of(EXAMPLES / "optimized-inference-pipeline.yaml").events)["onSuccess"] == (
        "onSuccess-1",
    )
    assert dict(plan_of(EXAMPLES / "batch-summaries.yaml").events)["onFailure"] == ("onFailure-1",)
    assert dict(plan_of(EXAMPLES / "support-triage.yaml").events)["always"] == ("always-1",)


def test_events_may_depend_on_each_other() -> None:
    plan = inline("""  tasks:
    - {id: a, executor: llm-forge:offline, inputs: {prompt: hi}}
  events:
    always:
      - id: first
        executor: notification:alert
        inputs: {message: one}
      - id: second
        executor: notification:alert
        dependsOn: [first, a]
        inputs: {message: "${{ tasks.first.outputs.delivered }}"}
""")
    assert plan.nodes["second"].depends_on == {"first"}


# -- levels --------------------------------------------------------------------------------------------


def test_levels_are_longest_paths() -> None:
    plan = inline("""  tasks:
    - {id: root, executor: llm-forge:offline, inputs: {prompt: hi}}
    - {id: left, executor: llm-forge:offline, dependsOn: [root], inputs: {prompt: hi}}
    - {id: deep, executor: llm-forge:offline, dependsOn: [left], inputs: {prompt: hi}}
    - {id: join, executor: llm-forge:offline, dependsOn: [root, deep], inputs: {prompt: hi}}
    - {id: lone, executor: llm-forge:offline, inputs: {prompt: hi}}
""")
    assert plan.levels == (("root", "lone"), ("left",), ("deep",), ("join",))
    assert {i: n.level for i, n in plan.nodes.items()} == {
        "root": 0,
        "lone": 0,
        "left": 1,
        "deep": 2,
        "join": 3,
    }


def test_batch_summaries_levels_and_defaults() -> None:
    plan = plan_of(EXAMPLES / "batch-summaries.yaml")
    assert plan.levels == (("summarize",), ("digest",), ("report",))
    assert plan.nodes["report"].depends_on == {"digest", "summarize"}
    summarize = plan.nodes["summarize"]
    assert summarize.for_each == "${{ workflow.inputs.documents }}"
    assert (
        summarize.retry is not None and summarize.retry.max_attempts == 3 and summarize.retry.max_delay == 30
    )
    assert summarize.timeout == 120
    assert summarize.cache is not None and summarize.cache.ttl == 3600
    assert plan.nodes["report"].condition == "always()"
    assert plan.max_parallel_tasks == 8


def test_every_example_levels_cover_main_nodes_once() -> None:
    for path in EXAMPLE_FILES:
        plan = plan_of(path)
        flat = [i for level in plan.levels for i in level]
        assert sorted(flat) == sorted(n.id for n in plan.main_nodes), path.name
        for node in plan.main_nodes:
            assert all(plan.nodes[d].level < node.level for d in node.depends_on if d in flat), (
                path.name,
                node.id,
            )


# -- task settings ------------------------------------------------------------------------------------


def test_if_literals_and_task_overrides() -> None:
    plan = plan_of(VALID / "if_always_and_status.yaml")
    assert plan.nodes["disabled"].condition == "false"
    assert plan.nodes["risky"].condition is None and plan.nodes["risky"].continue_on_error
    assert plan.nodes["on_error"].condition == "${{ failure() }}"


def test_cache_shorthand_and_overrides() -> None:
    plan = plan_of(VALID / "cache_with_key.yaml")
    a, b = plan.nodes["a"], plan.nodes["b"]
    assert a.cache is not None and a.cache.ttl == 7200 and a.cache.key == "${{ workflow.inputs.user }}"
    assert b.cache is not None and b.cache.enabled is False
    assert b.timeout == 5400 and a.timeout == 60
    assert (
        a.retry is not None
        and a.retry.backoff == "linear"
        and a.retry.initial_delay == 0.5
        and a.retry.jitter == 0.1
    )


def test_task_type_is_implied_by_the_executor() -> None:
    plan = plan_of(VALID / "cache_with_key.yaml")
    assert plan.nodes["a"].type == "llm"
    assert plan.nodes["a"].tags == ("llm-forge", "llm")


def test_anchors_and_merge_keys_expand() -> None:
    plan = plan_of(VALID / "anchors_and_merge_keys.yaml")
    second = plan.nodes["second"]
    assert str(second.executor) == "llm-forge:claude-api"
    assert second.inputs["system"] == "Be brief."
    assert second.inputs["config"]["model"] == "claude-haiku-4-5"
    assert plan.nodes["third"].retry == plan.nodes["first"].retry
    assert plan.nodes["third"].depends_on == {"first", "second"}


def test_multi_document_file_gives_one_plan_per_document() -> None:
    result = compile_file(VALID / "multi_document.yaml")
    assert result.ok
    assert [p.name for p in result.plans] == ["first", "second"]
    with pytest.raises(CompilationFailed):
        _ = result.plan


def test_task_line_numbers_point_at_the_task() -> None:
    plan = plan_of(EXAMPLES / "multi-model-comparison.yaml")
    lines = (EXAMPLES / "multi-model-comparison.yaml").read_text().splitlines()
    for node in plan.nodes.values():
        assert f"id: {node.id}" in lines[node.line - 1]


# -- rendering and immutability ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in EXAMPLE_FILES])
def test_str_of_plan_names_every_task(path: Path) -> None:
    plan = plan_of(path)
    text = str(plan)
    assert text.splitlines()[0].startswith(
        f"ExecutionPlan {plan.name} v{plan.version} ({len(plan.nodes)} tasks"
    )
    for node_id, node in plan.nodes.items():
        assert node_id in text
        assert str(node.executor) in text
    for depth in range(len(plan.levels)):
        assert f"level {depth}:" in text
    assert "object at 0x" not in text


def test_str_of_plan_shows_edges_gates_and_events() -> None:
    text = str(plan_of(EXAMPLES / "support-triage.yaml"))
    assert "fields [llm-forge:tool:json-extract, transform]; after classify" in text
    assert "when branch urgent is taken" in text and "when branch urgent is not taken" in text
    assert "always:" in text and "always-1" in text
    assert "retry x4 exponential" in text and "timeout 45s" in text
    assert "inputs: ticket: string, customer_tier: string?" in text


def test_plan_is_frozen() -> None:
    plan = plan_of(EXAMPLES / "multi-model-comparison.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.nodes["x"] = plan.nodes["claude_inference"]  # type: ignore[index]
    with pytest.raises(TypeError):
        plan.events["onSuccess"] = ()  # type: ignore[index]
    node = plan.nodes["claude_inference"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.depends_on = frozenset({"x"})  # type: ignore[misc]
    with pytest.raises(TypeError):
        node.declared_outputs["x"] = "string"  # type: ignore[index]
    with pytest.raises(pydantic.ValidationError):
        plan.workflow.metadata.name = "other"  # type: ignore[misc]
    assert isinstance(plan.levels, tuple) and all(isinstance(level, tuple) for level in plan.levels)
    assert isinstance(plan.inputs, tuple)


def test_replace_nodes_builds_a_new_plan() -> None:
    plan = plan_of(EXAMPLES / "multi-model-comparison.yaml")
    node = plan.nodes["format_comparison"]
    changed = plan.replace_nodes(
        {node.id: dataclasses.replace(node, depends_on=frozenset({"claude_inference"}))}, "drop edge"
    )
    assert plan.nodes["format_comparison"].depends_on == {"claude_inference", "gpt4_inference"}
    assert changed.applied == ("drop edge",) and plan.applied == ()
    assert changed.nodes["format_comparison"].depends_on == {"claude_inference"}
    assert "applied: drop edge" in str(changed)


# -- inputs ------------------------------------------------------------------------------------------


def test_implicit_input_is_a_required_input_with_one_warning() -> None:
    path = EXAMPLES / "governed-llm-workflow.yaml"
    result = compile_file(path)
    assert result.ok
    (warning,) = result.warnings
    assert warning.code == "W405" and "'prompt'" in warning.message
    assert (warning.line, warning.column) == (23, 19)  # the first use, in policy_check's context
    declared = result.plan.input("prompt")
    assert declared is not None and declared.required and declared.type == "string"
    assert "prompt: string" in str(result.plan)


def test_implicit_inputs_come_after_declared_ones() -> None:
    plan = inline("""  inputs:
    - {name: declared, type: integer, default: 3}
  tasks:
    - id: a
      executor: llm-forge:offline
      inputs: {prompt: "${{ workflow.inputs.zeta }} ${{ workflow.inputs.declared }} ${{ workflow.inputs.alpha }}"}
""")
    assert [(i.name, i.required) for i in plan.inputs] == [
        ("declared", False),
        ("zeta", True),
        ("alpha", True),
    ]


def test_declared_inputs_keep_their_declaration() -> None:
    plan = plan_of(EXAMPLES / "batch-summaries.yaml")
    style = plan.input("style")
    assert (
        style is not None
        and style.default == "bullet points"
        and style.enum == ["bullet points", "one sentence", "headline"]
    )
    assert plan.input("nope") is None


def test_compile_document_matches_compile_text() -> None:
    import yaml

    path = EXAMPLES / "multi-model-comparison.yaml"
    data = yaml.safe_load(path.read_text())
    from_document = compile_document(data).plan
    from_text = plan_of(path)
    assert deps(from_document) == deps(from_text)
    assert from_document.levels == from_text.levels


def test_compile_document_reports_errors_without_positions_crashing() -> None:
    result = compile_document(
        {
            "apiVersion": "orchestrator.llm/v1",
            "kind": "Workflow",
            "metadata": {"name": "x"},
            "spec": {"tasks": [{"id": "a", "executor": "nope:nope"}]},
        }
    )
    assert [d.code for d in result.errors] == ["E301"]
    assert result.plans == []


def test_version_keeps_the_text_as_written() -> None:
    result = compile_text(
        HEADER.replace("  name: inline\n", "  name: inline\n  version: 1.10\n") + "  tasks: []\n"
    )
    assert result.ok
    assert result.plan.version == "1.10"
