"""Loose config and expressions get a clear error instead of running on a silent default.

`storage.type` that names no store, `${{ secrets.X }}` (not supported: it would always be null),
`${{ env.X }}` for a variable the config does not allow (it would render empty), and
`recommendations` for a workflow nothing is known about.  Each exits non-zero with a message
that names the problem, and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_orchestrator.cli import app

WORKFLOW = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {{name: loose-inputs}}
spec:
  tasks:
    - id: say
      executor: orchestrator:template
      inputs:
        template: "{{{{ v }}}}"
        values: {{v: "{expression}"}}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", ["sqlit", "mongodb"])
def test_a_storage_type_that_names_no_store_is_a_config_error(tmp_path: Path, kind: str) -> None:
    config = write(tmp_path, "config.yaml", f"orchestrator:\n  storage:\n    type: {kind}\n")
    workflow = write(tmp_path, "wf.yaml", WORKFLOW.format(expression="hi"))
    code, output = invoke("validate", workflow, "--config", config)
    assert code == 1
    assert f"config.yaml:3:11: E203 invalid value '{kind}' for orchestrator.storage.type" in output
    assert "'sqlite' or 'postgresql'" in output


def test_the_secrets_context_is_a_compile_error(tmp_path: Path) -> None:
    workflow = write(tmp_path, "wf.yaml", WORKFLOW.format(expression="${{ secrets.OPENAI }}"))
    code, output = invoke("validate", workflow)
    assert code == 1
    assert "wf.yaml:10:" in output and "E410 'secrets.OPENAI': the secrets context is not supported" in output


def test_an_env_variable_the_config_does_not_allow_is_a_compile_error(tmp_path: Path) -> None:
    workflow = write(tmp_path, "wf.yaml", WORKFLOW.format(expression="${{ env.HOME }}"))
    code, output = invoke("validate", workflow)
    assert code == 1
    assert "E411 'env.HOME': environment variable 'HOME' is not in the config's env_allowlist" in output
    allowing = write(tmp_path, "config.yaml", "orchestrator:\n  env_allowlist: [HOME]\n")
    code, output = invoke("validate", workflow, "--config", allowing)
    assert code == 0, output


def test_recommendations_for_an_unknown_workflow_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ORCHESTRATOR_HOME", str(tmp_path))
    code, output = invoke("recommendations", "nosuchwf")
    assert code == 1
    assert "no workflow file named 'nosuchwf' and no performance metrics recorded" in output
