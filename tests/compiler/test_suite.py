"""compile_suite: matrix expansion, datasets, resolved checks, variant documents, robustness."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.compile import compile_document
from compiler.diagnostics import CompilationFailed
from compiler.suite import MAX_VARIANTS, NEEDS_GROUND_TRUTH, NEEDS_PROMPT, compile_suite, compile_suite_text
from compiler.suite_plan import BASELINE, LimitCheck, MetricCheck, SuitePlan

SUITES = Path(__file__).parent / "suites"
VALID = SUITES / "valid"


def plan_of(name: str) -> SuitePlan:
    return compile_suite(VALID / name).raise_for_errors()


def suite_text(spec: str) -> str:
    return f"apiVersion: orchestrator.llm/v1\nkind: EvalSuite\nmetadata: {{name: t}}\nspec:\n  workflow: ../workflow.yaml\n{spec}"


def compile_here(spec: str) -> Any:
    # The file name anchors `../workflow.yaml`; nothing is written to disk.
    return compile_suite_text(suite_text(spec), str(VALID / "inline-test.yaml"))


def test_matrix_expands_to_the_cartesian_product_in_document_order() -> None:
    plan = plan_of("inline.yaml")
    assert len(plan.variants) == 2 * 2 * 2 * 2
    assert plan.run_count == 16 * 2 * 3 == len(list(plan.runs()))
    first, last = plan.variants[0], plan.variants[-1]
    assert first.id == "model.classify=gpt-4o-mini,prompt.classify=original,config.reply.temperature=0,input.tone=formal"
    assert last.label == "classify=claude-haiku-4-5, classify prompt=strict, reply temperature=0.7, tone=casual"
    assert [v.choices[-1][1] for v in plan.variants[:2]] == ["formal", "casual"], "the last dimension varies fastest"
    assert len({v.id for v in plan.variants}) == 16
    assert first.models["classify"].model == "gpt-4o-mini" and first.models["classify"].executor is None
    assert last.models["classify"].executor == "llm-forge:claude-api", "a claude model runs on the claude executor"
    assert dict(last.config["reply"]) == {"temperature": 0.7}
    assert last.prompts["classify"].system == "Answer only billing, technical or account."


def test_document_for_applies_a_variant_to_a_copy() -> None:
    plan = plan_of("inline.yaml")
    before = copy.deepcopy(dict(plan.workflow_document))
    last = plan.variants[-1]
    document = plan.document_for(last)
    classify, _, reply = document["spec"]["tasks"]
    assert classify["executor"] == "llm-forge:claude-api"
    assert classify["inputs"]["config"] == {"model": "claude-haiku-4-5", "temperature": 0}
    assert classify["inputs"]["system"] == "Answer only billing, technical or account."
    assert classify["inputs"]["prompt"] == "${{ workflow.inputs.ticket }}"
    assert reply["inputs"]["config"] == {"temperature": 0.7}
    assert dict(plan.workflow_document) == before, "the compiled workflow document is never modified"
    original = plan.document_for(plan.variants[0])["spec"]["tasks"][0]["inputs"]
    assert original["system"].startswith("Classify the ticket"), "a null prompt variant keeps the prompt as written"
    for variant in plan.variants:
        assert compile_document(plan.document_for(variant)).ok


def test_inputs_for_puts_the_matrix_choice_over_the_case() -> None:
    plan = plan_of("inline.yaml")
    crash = next(c for c in plan.cases if c.id == "crash")
    casual = next(v for v in plan.variants if v.inputs["tone"] == "casual")
    assert plan.inputs_for(crash, casual) == {"ticket": "The app crashes on start.", "max_words": 20, "tone": "casual"}


def test_checks_are_resolved_per_case_suite_first() -> None:
    plan = plan_of("inline.yaml")
    refund, crash = plan.cases
    assert [c.name for c in refund.checks] == ["category.exact_match", "cost_usd"]
    assert [c.name for c in crash.checks] == ["category.exact_match", "cost_usd", "reply.contains"]
    exact = crash.checks[0]
    assert isinstance(exact, MetricCheck) and exact.ground_truth == "technical" and exact.threshold == 1.0
    contains = crash.checks[2]
    assert isinstance(contains, MetricCheck) and contains.options == {"value": "The app crashes on start."}
    assert contains.weight == 0
    assert isinstance(refund.checks[1], LimitCheck) and refund.checks[1].max == 0.01
    assert [(r.measure, r.minimum) for r in plan.fail_under] == [("pass_rate", 0.8), ("mean_score", 0.5)]


def test_case_values_are_data_never_templates() -> None:
    result = compile_here("""  cases:
    - {id: sneaky, inputs: {ticket: "${{ case.id }}"}, expected: {category: "${{ case.id }}"}}
  assert:
    - {output: category, metric: exact_match, ground_truth: "${{ case.expected.category }}"}
    - {output: reply, metric: contains, options: {value: "${{ case.inputs.ticket }}"}}
""")
    [case] = result.raise_for_errors().cases
    exact, contains = case.checks
    assert isinstance(exact, MetricCheck) and exact.ground_truth == "${{ case.id }}"
    assert isinstance(contains, MetricCheck) and contains.options["value"] == "${{ case.id }}"


def test_no_matrix_is_one_baseline_variant() -> None:
    plan = plan_of("jsonl.yaml")
    assert [v.id for v in plan.variants] == [BASELINE]
    assert plan.document_for(plan.variants[0]) == dict(plan.workflow_document)


def test_jsonl_cases() -> None:
    plan = plan_of("jsonl.yaml")
    refund, unnamed, typed = plan.cases
    assert refund.id == "refund" and refund.tags == ("billing",) and refund.source == "cases.jsonl:1"
    assert unnamed.id == "cases.jsonl:3", "a case without an id is named after its line (blank line 2 skipped)"
    assert "\u2028" in unnamed.inputs["ticket"], "U+2028 inside a JSON string does not split the line"
    assert typed.inputs["max_words"] == 12
    assert [c.name for c in typed.checks] == ["category.exact_match", "latency_ms"]


def test_csv_cases() -> None:
    plan = plan_of("csv.yaml")
    refund, unnamed = plan.cases
    assert refund.id == "refund", "a UTF-8 byte order mark does not hide the first column's name"
    assert dict(refund.inputs) == {"ticket": "Charged twice, please refund", "max_words": 12}
    assert isinstance(refund.inputs["max_words"], int), "cells are converted to the declared input type"
    assert refund.expected == {"category": "billing"} and refund.tags == ("billing", "refund")
    assert "tone" not in refund.inputs, "an empty cell is 'not given', so the default applies"
    assert unnamed.id == "cases.csv:3" and unnamed.inputs["ticket"] == "Two\nlines"


def test_yaml_dataset_cases() -> None:
    plan = plan_of("yaml-dataset.yaml")
    assert [c.id for c in plan.cases] == ["refund", "cases.yaml:4"]
    assert plan.cases[1].inputs["ticket"] == "A long ticket\nover two lines.\n"


def test_too_many_variants_is_one_diagnostic() -> None:
    values = "[" + ", ".join(str(i / 10) for i in range(7)) + "]"
    result = compile_here(f"""  cases: [{{inputs: {{ticket: hi}}}}]
  matrix:
    config: {{classify: {{temperature: {values}, top_p: {values}}}, reply: {{temperature: {values}}}}}
  assert: [{{latency_ms: {{max: 10}}}}]
""")
    assert [d.code for d in result.errors] == ["E618"]
    assert f"343 variants; the limit is {MAX_VARIANTS}" in result.errors[0].message
    assert (result.errors[0].line, result.errors[0].column) == (7, 3)  # the `matrix` key


def test_a_workflow_file_is_not_a_suite() -> None:
    result = compile_suite(SUITES / "workflow.yaml")
    assert [(d.code, d.message) for d in result.errors] == [("E206", "this is a Workflow, not an EvalSuite")]
    with pytest.raises(CompilationFailed, match="E206"):
        result.raise_for_errors()


def test_missing_suite_file() -> None:
    result = compile_suite(SUITES / "nowhere.yaml")
    assert [d.code for d in result.errors] == ["E100"] and result.plan is None


def test_metric_facts_match_test_bench() -> None:
    from ecosystem.testbench import METRICS

    assert {n for n, s in METRICS.items() if s.needs_ground_truth} == NEEDS_GROUND_TRUTH
    assert {n for n, s in METRICS.items() if s.needs_prompt} == NEEDS_PROMPT


def test_the_example_suite_compiles_with_enough_cases() -> None:
    plan = compile_suite(Path(__file__).parents[2] / "examples" / "evals" / "triage-quality.yaml").raise_for_errors()
    assert len(plan.cases) >= 20
    assert len({v.models["classify"].model for v in plan.variants}) == 2
    assert len({v.prompts["classify"].name for v in plan.variants}) == 2
    assert plan.workflow.name == "support-triage"


# -- robustness: whatever the suite says, the answer is diagnostics, never a traceback ----------

BASE = yaml.safe_load((VALID / "inline.yaml").read_text(encoding="utf-8"))
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["${{ case.expected }}", "${{ nope(", "${{ case.inputs.zz }}", "classify"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


PATHS = _paths(BASE)[1:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSONISH), min_size=1, max_size=3))
def test_mutated_suites_never_raise(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    result = compile_suite_text(yaml.safe_dump(data), str(VALID / "fuzz.yaml"))
    assert result.plan is not None or result.errors


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]",:\n\r \\ab1.-NaInfty#\u2028\ufeff')), max_size=80))
def test_dataset_loaders_never_raise(text: str) -> None:
    from compiler.suite_dataset import load_csv, load_jsonl, load_yaml_cases

    for loaded in (load_jsonl(text, "d.jsonl"), load_csv(text, "d.csv", {"ticket": "string", "max_words": "integer"}),
                   load_csv(text, "d.csv", None), load_yaml_cases(text, "d.yaml")):
        assert isinstance(loaded.doc.data, list)
        assert len(loaded.default_ids) == len(loaded.doc.data)
