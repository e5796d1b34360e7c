"""``compiler.optimize.apply_recommendations``: pure plan rewriting, with stale advice refused."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from compiler.compile import compile_text
from compiler.optimize import apply_recommendations
from compiler.plan import ExecutionPlan

HEADER = "apiVersion: orchestrator.llm/v1\nkind: Workflow\nmetadata:\n  name: inline\nspec:\n"

PIPELINE = """
  tasks:
    - id: summarize
      type: llm
      executor: llm-forge:claude-api
      inputs:
        prompt: "Summarize ${{ workflow.inputs.text }}"
        config: {model: claude-sonnet-4-5, temperature: 0.7, max_tokens: 4096}
    - id: translate
      type: llm
      executor: llm-forge:claude-api
      dependsOn: [summarize]
      inputs:
        prompt: "Translate ${{ workflow.inputs.text }}"
        config: {model: claude-sonnet-4-5}
    - id: review
      type: llm
      executor: llm-forge:claude-api
      dependsOn: [translate]
      inputs:
        prompt: "Review ${{ tasks.summarize.outputs.response }}"
    - id: cleanup
      type: llm
      executor: llm-forge:claude-api
      dependsOn: [review]
      if: ${{ always() }}
      inputs:
        prompt: done
    - id: cached_already
      type: llm
      executor: llm-forge:claude-api
      cache: {ttl: 60s}
      inputs: {prompt: "x"}
    - id: not_cached
      type: llm
      executor: llm-forge:claude-api
      cache: false
      inputs: {prompt: "x"}
    - id: notify
      executor: notification:alert
      inputs: {message: "hi", severity: info}
"""


def plan() -> ExecutionPlan:
    result = compile_text(HEADER + PIPELINE)
    assert result.ok, "\n".join(d.render() for d in result.errors)
    return result.plan


def rec(kind: str, evidence: dict[str, Any] | None = None, confidence: float = 0.97, **fields: Any) -> dict[str, Any]:
    return {"id": f"{kind}-1", "recommendation_type": {"kind": kind, **fields}, "confidence": confidence,
            "expected_impact": {}, "evidence": evidence or {}}


SWITCH_EVIDENCE = {"method": "paired_bootstrap", "n_pairs": 12, "n_candidate": 12, "n_baseline": 12,
                   "diff": -0.004, "quality_margin": 0.02, "saving_ratio": 0.8}


def switch(frm: str = "claude-sonnet-4-5", to: str = "claude-haiku-4-5", task: str = "summarize") -> dict[str, Any]:
    return rec("model_switch", SWITCH_EVIDENCE, task_id=task, to=to, reason="cheaper", **{"from": frm})


def test_model_switch_replaces_the_model_in_a_new_plan_and_leaves_the_old_one_unchanged() -> None:
    old = plan()
    before = dict(old.nodes["summarize"].inputs)
    new, applied, skipped = apply_recommendations(old, [switch()])
    assert new is not old and skipped == []
    assert new.nodes["summarize"].inputs["config"] == {"model": "claude-haiku-4-5", "temperature": 0.7, "max_tokens": 4096}
    assert new.nodes["summarize"].inputs["prompt"] == before["prompt"]
    assert old.nodes["summarize"].inputs == before  # the old plan is untouched
    assert old.nodes["summarize"].inputs["config"]["model"] == "claude-sonnet-4-5"
    assert old.applied == () and new.applied == tuple(applied)
    assert applied == ["switched summarize from claude-sonnet-4-5 to claude-haiku-4-5: quality within 0.02 (-0.004), "
                       "cost -80% (n=12)"]
    assert new.nodes["translate"] is old.nodes["translate"]  # other nodes are shared, not copied


def test_offline_model_names_compare_without_their_prefix_and_the_plan_keeps_the_users_spelling() -> None:
    new, applied, skipped = apply_recommendations(
        plan(), [switch("offline:claude-sonnet-4-5", "offline:claude-haiku-4-5")])
    assert skipped == [] and len(applied) == 1
    assert new.nodes["summarize"].inputs["config"]["model"] == "claude-haiku-4-5"


def test_a_stale_model_switch_is_skipped_with_the_reason() -> None:
    old = plan()
    new, applied, skipped = apply_recommendations(old, [switch(frm="gpt-4o"), switch(task="gone")])
    assert applied == [] and new.nodes == old.nodes
    assert "stale: 'summarize' now uses claude-sonnet-4-5, not gpt-4o" in skipped[0]
    assert "task 'gone' is not in the workflow" in skipped[1]


def test_a_model_switch_needs_a_literal_model() -> None:
    _, applied, skipped = apply_recommendations(plan(), [switch(task="review")])
    assert applied == [] and "names no model" in skipped[0]
    result = compile_text(HEADER + """
  inputs: [{name: m, type: string}]
  tasks:
    - id: a
      type: llm
      executor: llm-forge:claude-api
      inputs: {prompt: p, config: {model: "${{ workflow.inputs.m }}"}}
""")
    _, applied, skipped = apply_recommendations(result.plan, [switch(task="a")])
    assert applied == [] and "expression" in skipped[0]


def test_parameter_tuning_sets_the_parameter_only_when_it_still_has_the_old_value() -> None:
    tune = rec("parameter_tuning", task_id="summarize", parameter="max_tokens", old_value=4096, new_value=256,
               reason="p99 of 20 completions is 120 tokens")
    stale = rec("parameter_tuning", task_id="summarize", parameter="temperature", old_value=1.0, new_value=0.2,
                reason="x")
    new, applied, skipped = apply_recommendations(plan(), [tune, stale])
    assert new.nodes["summarize"].inputs["config"]["max_tokens"] == 256
    assert new.nodes["summarize"].inputs["config"]["temperature"] == 0.7
    assert applied == ["set max_tokens of summarize from 4096 to 256: p99 of 20 completions is 120 tokens"]
    assert skipped == ["temperature of summarize (1.0 -> 0.2): stale: temperature of 'summarize' is now 0.7, not 1.0"]


def test_a_parameter_the_task_does_not_set_is_compared_with_the_call_default() -> None:
    tune = rec("parameter_tuning", task_id="translate", parameter="max_tokens", old_value=1000, new_value=128,
               reason="r")
    _, applied, skipped = apply_recommendations(plan(), [tune])
    assert applied == [] and "now None, not 1000" in skipped[0]
    new, applied, _ = apply_recommendations(plan(), [tune], call_defaults={"max_tokens": 1000})
    assert len(applied) == 1 and new.nodes["translate"].inputs["config"] == {"model": "claude-sonnet-4-5", "max_tokens": 128}


def test_parallelization_removes_an_order_only_edge_and_recomputes_levels() -> None:
    old = plan()
    par = rec("parallelization", {"critical_path_ms": 900.0, "critical_path_without_edge_ms": 500.0},
              tasks=["summarize", "translate"], expected_speedup=1.8, remove_edges=[["summarize", "translate"]])
    new, applied, skipped = apply_recommendations(old, [par])
    assert skipped == []
    assert new.nodes["translate"].depends_on == frozenset()
    assert new.nodes["translate"].explicit_depends_on == ()
    assert old.nodes["translate"].depends_on == frozenset({"summarize"})
    assert "translate" in new.levels[0] and "translate" not in old.levels[0]
    assert applied == ["removed the order-only dependsOn summarize -> translate so they run in parallel: "
                       "expected speedup 1.80x, critical path 900 ms -> 500 ms"]


def test_an_edge_that_carries_data_or_status_or_no_longer_exists_is_kept() -> None:
    old = plan()

    def par(u: str, v: str) -> dict[str, Any]:
        return rec("parallelization", tasks=[u, v], expected_speedup=1.5, remove_edges=[[u, v]])

    new, applied, skipped = apply_recommendations(old, [
        par("summarize", "review"),   # review reads summarize's response
        par("review", "cleanup"),     # if: always() needs the ordering
        par("summarize", "review2"),  # not in the workflow
        par("translate", "summarize"),  # no such edge
    ])
    assert applied == [] and new.nodes == old.nodes
    assert "carries data" in skipped[0]
    assert "status function" in skipped[1]
    assert "not in the workflow" in skipped[2]
    assert "stale: 'summarize' no longer depends on 'translate'" in skipped[3]


def test_an_edge_from_a_branch_condition_is_kept() -> None:
    result = compile_text(HEADER + """
  tasks:
    - {id: check, executor: orchestrator:assert, inputs: {condition: true}}
  branches:
    - id: b
      condition: ${{ tasks.check.status == 'completed' }}
      tasks:
        - {id: inside, type: llm, executor: llm-forge:claude-api, inputs: {prompt: p}}
""")
    assert result.ok, "\n".join(d.render() for d in result.errors)
    par = rec("parallelization", tasks=["check", "inside"], expected_speedup=2.0, remove_edges=[["check", "inside"]])
    _, applied, skipped = apply_recommendations(result.plan, [par])
    assert applied == [] and "branch condition" in skipped[0]


def test_caching_enables_a_cache_policy_only_where_the_workflow_declares_none() -> None:
    old = plan()
    caching = [rec("caching", {"repeat_rate": 0.6, "n": 20}, task_id=t, ttl_seconds=600, reason="repeats")
               for t in ("translate", "cached_already", "not_cached", "notify")]
    new, applied, skipped = apply_recommendations(old, caching)
    assert old.nodes["translate"].cache is None
    assert new.nodes["translate"].cache is not None and new.nodes["translate"].cache.enabled
    assert new.nodes["translate"].cache.ttl == 600
    assert applied == ["cached translate for 10m: 60% of 20 executions repeated an earlier input"]
    assert new.nodes["cached_already"].cache == old.nodes["cached_already"].cache
    assert new.nodes["not_cached"].cache is not None and not new.nodes["not_cached"].cache.enabled
    assert "already declares cache for 'cached_already' (enabled)" in skipped[0]
    assert "(disabled)" in skipped[1]
    assert "side effects" in skipped[2]


def test_pydantic_recommendations_and_whole_answers_are_accepted() -> None:
    from ecosystem.optimizer import Caching, ImpactEstimate, ModelSwitch, Recommendation, Recommendations

    items = [
        Recommendation(id="a", confidence=0.9, expected_impact=ImpactEstimate(),
                       recommendation_type=ModelSwitch.model_validate(
                           {"task_id": "summarize", "from": "claude-sonnet-4-5", "to": "claude-haiku-4-5", "reason": "r"})),
        Recommendation(id="b", confidence=0.9, expected_impact=ImpactEstimate(),
                       recommendation_type=Caching(task_id="translate", ttl_seconds=120, reason="r")),
    ]
    for given in (items, Recommendations(workflow_id="inline", items=items),
                  Recommendations(workflow_id="inline", items=items).model_dump(mode="json")):
        new, applied, skipped = apply_recommendations(plan(), given)  # type: ignore[arg-type]
        assert len(applied) == 2 and skipped == []
        assert new.nodes["summarize"].inputs["config"]["model"] == "claude-haiku-4-5"
        assert new.nodes["translate"].cache is not None and new.nodes["translate"].cache.ttl == 120


def test_low_confidence_and_unknown_kinds_are_skipped() -> None:
    _, applied, skipped = apply_recommendations(plan(), [switch() | {"confidence": 0.4}, rec("teleport")],
                                                min_confidence=0.9)
    assert applied == []
    assert "confidence 0.40 below 0.90" in skipped[0] and "unknown kind 'teleport'" in skipped[1]


def test_applying_twice_is_idempotent() -> None:
    new, applied, _ = apply_recommendations(plan(), [switch()])
    again, applied_again, skipped = apply_recommendations(new, [switch()])
    assert applied_again == [] and "already uses claude-haiku-4-5" in skipped[0]
    assert again.applied == new.applied == tuple(applied)


@pytest.mark.parametrize("banned", ["prefect", "httpx", "ecosystem", "flows", "tasks", "blocks"])
def test_the_module_is_pure(banned: str) -> None:
    source = (Path(__file__).parents[2] / "compiler" / "optimize.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert banned not in imported
