"""The command line: validate, graph, explain, schema (no Prefect needed for any of them)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from llm_orchestrator.cli import app

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
INVALID = Path(__file__).parent / "corpus" / "invalid"
VALID = Path(__file__).parent / "corpus" / "valid"


def _is_workflow(path: Path) -> bool:
    """examples/ also holds orchestrator config files (orchestrator-config.yaml, ...): not workflows."""
    return "\napiVersion:" in "\n" + path.read_text(encoding="utf-8")


EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if _is_workflow(p))

runner = CliRunner()

GATED = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: gated}
spec:
  inputs:
    - {name: mode, type: string, default: fast, enum: [fast, careful]}
    - {name: review, type: boolean, default: false}
  tasks:
    - id: draft
      executor: llm-forge:offline
      inputs: {prompt: hi}
    - id: review
      executor: llm-forge:offline
      if: ${{ workflow.inputs.review }}
      inputs: {prompt: "${{ tasks.draft.outputs.response }}"}
    - id: polish
      executor: llm-forge:offline
      if: ${{ tasks.draft.outputs.response != '' }}
      inputs: {prompt: "${{ tasks.draft.outputs.response }}"}
    - id: after_review
      executor: notification:alert
      dependsOn: [review]
      inputs: {message: reviewed}
  branches:
    - id: careful
      condition: ${{ workflow.inputs.mode == 'careful' }}
      tasks:
        - id: double_check
          executor: llm-forge:offline
          inputs: {prompt: check}
      else:
        - id: ship
          executor: notification:alert
          inputs: {message: shipped}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    output = result.output
    assert "Traceback" not in output
    return result.exit_code, output


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED, encoding="utf-8")
    return path


# -- validate ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in EXAMPLE_FILES])
def test_validate_examples_exit_0(path: Path) -> None:
    code, output = invoke("validate", str(path))
    assert code == 0, output
    assert "ok: 1 file(s), 1 workflow(s), 0 error(s)" in output


def test_validate_invalid_exits_1_and_prints_diagnostics() -> None:
    path = INVALID / "e204_unknown_depends_on.yaml"
    code, output = invoke("validate", str(path))
    assert code == 1
    assert f"{path}:16:11: E204 unknown task 'sumarize' in dependsOn" in output
    assert "hint: did you mean 'summarize'?" in output
    assert "failed: 1 file(s), 0 workflow(s), 1 error(s)" in output


def test_validate_several_files_reports_all() -> None:
    files = [
        str(INVALID / "e204_unknown_depends_on.yaml"),
        str(EXAMPLES / "multi-model-comparison.yaml"),
        str(INVALID / "e301_unknown_executor.yaml"),
    ]
    code, output = invoke("validate", *files)
    assert code == 1
    assert "E204" in output and "E301" in output
    assert "3 file(s), 1 workflow(s), 2 error(s)" in output


def test_validate_warnings_only_exits_0() -> None:
    code, output = invoke("validate", str(EXAMPLES / "governed-llm-workflow.yaml"))
    assert code == 0
    assert "W405 warning:" in output and "1 warning(s)" in output


def test_validate_multi_document_file() -> None:
    code, output = invoke("validate", str(VALID / "multi_document.yaml"))
    assert code == 0 and "2 workflow(s)" in output


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, output = invoke("validate", str(missing))
    assert code == 2
    assert f"{missing}:1:1: E100 no such file" in output


def test_validate_missing_file_among_valid_ones_exits_2(tmp_path: Path) -> None:
    code, _ = invoke("validate", str(EXAMPLES / "multi-model-comparison.yaml"), str(tmp_path / "nope.yaml"))
    assert code == 2


def test_validate_directory_exits_2(tmp_path: Path) -> None:
    code, output = invoke("validate", str(tmp_path))
    assert code == 2 and "E100" in output


def test_validate_non_utf8_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    code, output = invoke("validate", str(path))
    assert code == 2 and "E100" in output and "UTF-8" in output


def test_validate_unknown_format_is_a_usage_error() -> None:
    code, output = invoke("validate", "--format", "xml", str(EXAMPLES / "multi-model-comparison.yaml"))
    assert code == 2 and "xml" in output


def test_validate_without_files_is_a_usage_error() -> None:
    code, _ = invoke("validate")
    assert code == 2


def test_validate_json_format() -> None:
    path = INVALID / "multi_semantic_errors.yaml"
    result = runner.invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert isinstance(data, list) and len(data) == 3
    for item in data:
        assert set(item) == {"code", "severity", "message", "file", "line", "column", "hint"}
        assert item["file"] == str(path) and item["severity"] == "error"
        assert isinstance(item["line"], int) and isinstance(item["column"], int)
    assert [(d["code"], d["line"], d["column"]) for d in data] == [
        ("E301", 12, 17),
        ("E204", 18, 11),
        ("E403", 20, 17),
    ]


def test_validate_json_format_ok_and_warning() -> None:
    result = runner.invoke(
        app, ["validate", "--format", "json", str(EXAMPLES / "multi-model-comparison.yaml")]
    )
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = runner.invoke(
        app, ["validate", "--format", "json", str(EXAMPLES / "governed-llm-workflow.yaml")]
    )
    assert result.exit_code == 0
    (warning,) = json.loads(result.stdout)
    assert warning["code"] == "W405" and warning["severity"] == "warning" and warning["hint"]


def test_validate_json_format_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert [d["code"] for d in json.loads(result.stdout)] == ["E100"]


# -- graph -----------------------------------------------------------------------------------------------


def test_graph_text() -> None:
    code, output = invoke("graph", str(EXAMPLES / "multi-model-comparison.yaml"))
    assert code == 0
    assert output.splitlines()[0] == "multi-model-comparison v1.0.0"
    assert "level 0" in output and "level 1" in output
    assert (
        "format_comparison (llm-forge:tool:response-formatter)  <- claude_inference, gpt4_inference" in output
    )


def test_graph_mermaid() -> None:
    code, output = invoke("graph", "--format", "mermaid", str(EXAMPLES / "support-triage.yaml"))
    assert code == 0
    lines = output.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    classify --> fields" in lines
    assert any(line.strip().startswith("subgraph urgent[") for line in lines)
    assert any("always_1[" in line for line in lines)  # '-' is not valid in a Mermaid id
    assert output.count("subgraph") == output.count("\n    end") + output.count("\n        end")


def test_graph_mermaid_ordering_only_edges_are_dotted() -> None:
    code, output = invoke("graph", "--format", "mermaid", str(EXAMPLES / "governed-llm-workflow.yaml"))
    assert code == 0
    assert "policy_check -.-> llm_inference" in output  # dependsOn only
    assert "llm_inference --> track_cost" in output  # reads its usage


def test_graph_unknown_format() -> None:
    code, _ = invoke("graph", "--format", "dot", str(EXAMPLES / "support-triage.yaml"))
    assert code == 2


def test_graph_of_invalid_workflow_exits_1() -> None:
    code, output = invoke("graph", str(INVALID / "e501_cycle_of_two.yaml"))
    assert code == 1 and "E501 dependency cycle: a -> b -> a" in output


def test_graph_of_missing_file_exits_2(tmp_path: Path) -> None:
    code, _ = invoke("graph", str(tmp_path / "nope.yaml"))
    assert code == 2


def test_graph_of_multi_document_file_exits_2() -> None:
    code, output = invoke("graph", str(VALID / "multi_document.yaml"))
    assert code == 2 and "exactly one workflow" in output


# -- explain ---------------------------------------------------------------------------------------------


def _steps(output: str) -> dict[str, str]:
    steps = {}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("["):
            mark, rest = line[1:].split("]", 1)
            task = rest.strip().split(" ", 1)[0]
            steps[task] = mark.strip() + " |" + rest
    return steps


def test_explain_defaults(gated: Path) -> None:
    code, output = invoke("explain", str(gated))
    assert code == 0, output
    steps = _steps(output)
    assert steps["draft"].startswith("run |")
    assert (
        steps["review"].startswith("skip |")
        and "if is false: ${{ workflow.inputs.review }}" in steps["review"]
    )
    assert steps["after_review"].startswith("skip |") and "upstream review skipped" in steps["after_review"]
    assert steps["polish"].startswith("? |") and "run-time" in steps["polish"]
    assert (
        steps["double_check"].startswith("skip |") and "branch careful not taken" in steps["double_check"]
    )
    assert steps["ship"].startswith("run |")
    assert "decided at run time" in output.splitlines()[0]


def test_explain_with_inputs_changes_decisions(gated: Path) -> None:
    code, output = invoke("explain", str(gated), "--input", "review=true", "-i", "mode=careful")
    assert code == 0, output
    steps = _steps(output)
    assert steps["review"].startswith("run |")
    assert steps["after_review"].startswith("run |")
    assert steps["double_check"].startswith("run |")
    assert steps["ship"].startswith("skip |") and "else of branch careful not taken (condition true" in steps["ship"]


def test_explain_conditions_on_task_outputs_are_decided_at_run_time() -> None:
    code, output = invoke("explain", str(EXAMPLES / "governed-llm-workflow.yaml"), "--input", "prompt=hello")
    assert code == 0, output
    steps = _steps(output)
    assert steps["budget_alert"].startswith("? |") and "decided at run time" in steps["budget_alert"]
    assert steps["policy_check"].startswith("run |")


def test_explain_for_each_counts_items() -> None:
    code, output = invoke(
        "explain", str(EXAMPLES / "batch-summaries.yaml"), "--input", 'documents=["a", "b", "c"]'
    )
    assert code == 0, output
    steps = _steps(output)
    assert "once per item (3 items)" in steps["summarize"]
    assert steps["digest"].startswith("run |")
    assert steps["report"].startswith("run |")
    assert "if the workflow fails" in steps["onFailure-1"]


def test_explain_skip_propagates_but_always_runs() -> None:
    code, output = invoke(
        "explain", str(EXAMPLES / "batch-summaries.yaml"), "-i", 'documents=["a"]', "-i", "make_digest=false"
    )
    assert code == 0, output
    steps = _steps(output)
    assert steps["digest"].startswith("skip |") and "if is false" in steps["digest"]
    assert steps["report"].startswith("run |")  # if: always()


def test_explain_inputs_file(gated: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("review: true\nmode: careful\n", encoding="utf-8")
    code, output = invoke("explain", str(gated), "--inputs-file", str(inputs))
    assert code == 0, output
    assert _steps(output)["review"].startswith("run |")


def test_explain_missing_required_input() -> None:
    code, output = invoke("explain", str(EXAMPLES / "llm-with-evaluation.yaml"))
    assert code == 1
    assert (
        "missing required input 'prompt'" in output and "missing required input 'expected_response'" in output
    )


def test_explain_bad_inputs(gated: Path) -> None:
    code, output = invoke("explain", str(gated), "-i", "mode=sloppy", "-i", "reveiw=true")
    assert code == 1
    assert (
        "'mode' must be one of" in output
        and "unknown input 'reveiw'" in output
        and "did you mean 'review'?" in output
    )


def test_explain_malformed_assignment_is_a_usage_error(gated: Path) -> None:
    code, output = invoke("explain", str(gated), "-i", "review")
    assert code == 2 and "name=value" in output


def test_explain_inputs_file_not_a_mapping(gated: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("- a\n- b\n", encoding="utf-8")
    code, output = invoke("explain", str(gated), "--inputs-file", str(inputs))
    assert code == 1 and "mapping" in output


def test_explain_invalid_workflow_exits_1() -> None:
    code, output = invoke("explain", str(INVALID / "e403_unknown_task.yaml"))
    assert code == 1 and "E403" in output


# -- schema ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_schema_is_a_valid_json_schema(schema: dict[str, object]) -> None:
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_accepts_llm_with_evaluation(schema: dict[str, object]) -> None:
    data = yaml.safe_load((EXAMPLES / "llm-with-evaluation.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.__setitem__("kind", "Pipeline"), ["kind"]),
        (lambda d: d["spec"]["tasks"][0].__setitem__("dependson", ["x"]), ["spec", "tasks", 0]),
        (
            lambda d: d["spec"]["tasks"][1]["inputs"].__setitem__("metrics", "coherence"),
            ["spec", "tasks", 1, "inputs", "metrics"],
        ),
        (lambda d: d["spec"]["tasks"][2].__setitem__("type", "llm"), ["spec", "tasks", 2, "type"]),
        (lambda d: d["spec"]["tasks"][0]["inputs"].__setitem__("promt", "x"), ["spec", "tasks", 0, "inputs"]),
    ],
    ids=["kind", "unknown-task-field", "metrics-not-a-list", "type-not-allowed", "unknown-executor-input"],
)
def test_schema_rejects_mistakes(schema: dict[str, object], mutate: object, where: list[object]) -> None:
    data = yaml.safe_load((EXAMPLES / "llm-with-evaluation.yaml").read_text(encoding="utf-8"))
    mutate(data)  # type: ignore[operator]
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(data))
    assert errors
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors), [
        list(e.absolute_path) for e in errors
    ]


def test_schema_written_to_file(tmp_path: Path, schema: dict[str, object]) -> None:
    target = tmp_path / "schema.json"
    code, _ = invoke("schema", "--output", str(target))
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == schema


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem)
        for p in [
            EXAMPLES / "batch-summaries.yaml",
            EXAMPLES / "governed-llm-workflow.yaml",
            EXAMPLES / "support-triage.yaml",
            VALID / "if_always_and_status.yaml",
            VALID / "cache_with_key.yaml",
            VALID / "unquoted_expressions_dated_models.yaml",
        ]
    ],
)
def test_schema_accepts_every_valid_workflow(schema: dict[str, object], path: Path) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    for data in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        errors = [f"{list(e.absolute_path)}: {e.message[:100]}" for e in validator.iter_errors(data)]
        assert not errors, errors


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem)
        for p in [
            EXAMPLES / "llm-with-evaluation.yaml",
            EXAMPLES / "multi-model-comparison.yaml",
            EXAMPLES / "optimized-inference-pipeline.yaml",
            VALID / "seed_event_tasks_without_id.yaml",
            VALID / "nested_lists_of_objects.yaml",
            VALID / "multi_document.yaml",
        ]
    ],
)
def test_schema_accepts_these_valid_workflows(schema: dict[str, object], path: Path) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    for data in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        assert not list(validator.iter_errors(data))
