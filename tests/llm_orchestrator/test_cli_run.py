"""`llm-orchestrator run`: exit codes, JSON output, input errors before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_orchestrator.cli import app
from tests.flows.helpers import permanent, probe, register

pytestmark = pytest.mark.usefixtures("prefect_harness")

WORKFLOW = """
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: cli-run-test}
spec:
  inputs:
    - {name: who, type: string, required: true}
    - {name: times, type: integer, default: 2}
  tasks:
    - id: greet
      executor: test:work
      inputs: {value: "hello ${{ workflow.inputs.who }}", cost: 0.25, model: test-model}
    - id: gate
      executor: orchestrator:assert
      inputs:
        condition: ${{ workflow.inputs.times > 0 }}
        error_message: times must be positive
  outputs:
    greeting: ${{ tasks.greet.outputs.value }}
"""


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    register()
    probe.reset()
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_run_prints_json_with_outputs_and_task_records(workflow_file: Path) -> None:
    result = invoke("run", str(workflow_file), "--input", "who=Ada", "--output", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["state"] == "completed"
    assert payload["outputs"] == {"greeting": "hello Ada"}
    assert payload["tasks"]["greet"]["state"] == "completed"
    assert payload["tasks"]["greet"]["cost"] == 0.25
    assert payload["tasks"]["greet"]["model"] == "test-model"
    assert payload["total_cost"] == 0.25
    assert payload["run_id"]


def test_run_exits_1_when_a_task_fails_and_says_which(workflow_file: Path) -> None:
    result = invoke("run", str(workflow_file), "-i", "who=Ada", "-i", "times=0")
    assert result.exit_code == 1
    assert "times must be positive" in result.output
    assert "failed" in result.output


def test_run_summary_table_shows_state_cost_and_model(workflow_file: Path) -> None:
    result = invoke("run", str(workflow_file), "-i", "who=Ada")
    assert result.exit_code == 0, result.output
    assert "greet" in result.output and "completed" in result.output
    assert "0.250000" in result.output and "test-model" in result.output
    assert '"greeting": "hello Ada"' in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "times=3"], "missing required input 'who'"),
        (["-i", "who=Ada", "-i", "times=lots"], "input 'times' must be integer"),
        (["-i", "who=Ada", "-i", "tims=3"], "unknown input 'tims' (did you mean 'times'?)"),
    ],
)
def test_input_errors_are_reported_before_anything_runs(workflow_file: Path, args: list[str], message: str) -> None:
    result = invoke("run", str(workflow_file), *args)
    assert result.exit_code == 1
    assert message in result.output
    assert probe.calls == {}
    assert "Traceback" not in result.output


def test_invalid_workflow_gets_diagnostics_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(WORKFLOW.replace("dependsOn", "x").replace("executor: orchestrator:assert", "executor: orchestrator:asert"))
    result = invoke("run", str(path), "-i", "who=Ada")
    assert result.exit_code == 1
    assert "E301 unknown executor 'orchestrator:asert'" in result.output
    assert "did you mean 'orchestrator:assert'?" in result.output


def test_missing_file_and_bad_config_are_usage_errors(tmp_path: Path, workflow_file: Path) -> None:
    assert invoke("run", str(tmp_path / "nope.yaml")).exit_code == 2
    config = tmp_path / "config.yaml"
    config.write_text("orchestrator:\n  concurrency:\n    max_parallel_tasks: many\n")
    result = invoke("run", str(workflow_file), "-i", "who=Ada", "--config", str(config))
    assert result.exit_code == 1
    assert "max_parallel_tasks" in result.output


def test_failed_task_in_json_output_carries_error_and_reason(workflow_file: Path) -> None:
    probe.fail_plan["greet"] = [permanent("provider rejected the prompt")]
    result = invoke("run", str(workflow_file), "-i", "who=Ada", "--output", "json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["state"] == "failed"
    assert "provider rejected the prompt" in payload["tasks"]["greet"]["error"]
    assert payload["error"].startswith("task 'greet' failed")
