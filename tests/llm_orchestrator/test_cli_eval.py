"""``llm-orchestrator eval``: exit codes for CI, output formats, diagnostics; ``report --evals``; ``validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_orchestrator.cli import app
from tests.flows.eval_fixtures import CallCounter, answer, provider_calls, write_suite

__all__ = ["provider_calls"]

BAD_SUITE = """\
apiVersion: orchestrator.llm/v1
kind: EvalSuite
metadata: {name: bad}
spec:
  workflow: workflow.yaml
  matrix:
    models: {clasify: [gpt-4o-mini]}
  cases:
    - {id: one, inputs: {ticket: hello}, expected: {category: billing}}
    - {id: one, inputs: {ticket: again}}
  assert:
    - {output: categroy, metric: exact_match, ground_truth: "${{ case.expected.category }}"}
"""


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_a_suite_with_errors_is_diagnosed_at_file_line_col_and_nothing_runs(tmp_path: Path) -> None:
    files = write_suite(tmp_path, suite_text=BAD_SUITE)
    result = invoke("eval", str(files.suite), "--config", str(files.config), "--offline")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert f"{files.suite}:7:14: E603 unknown task 'clasify' in the matrix" in stderr
    assert f"{files.suite}:10:12: E616 duplicate case id 'one'" in stderr
    assert f"{files.suite}:12:16: E608 the workflow has no output 'categroy'" in stderr
    assert "the suite was not run" in stderr and "Traceback" not in stderr + result.stdout  # type: ignore[attr-defined]
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xml"], "unknown --format 'xml'"),
    (["--fail-under", "pass_rate=high"], "'high' is not a number"),
    (["--fail-under", "accuracy=0.9"], "use pass_rate=<0..1> or mean_score=<0..1>"),
    (["--fail-under", "pass_rate=1.5"], "must be between 0 and 1"),
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    files = write_suite(tmp_path)
    result = invoke("eval", str(files.suite), "--config", str(files.config), *args)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in result.stderr  # type: ignore[attr-defined]


def test_a_missing_suite_file_exits_2(tmp_path: Path) -> None:
    result = invoke("eval", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "E100 no such file" in result.stderr  # type: ignore[attr-defined]


def test_validate_checks_suites_beside_workflows(tmp_path: Path) -> None:
    files = write_suite(tmp_path)
    result = invoke("validate", str(files.suite), str(files.workflow))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "2 file(s), 1 workflow(s), 1 suite(s), 0 error(s)" in result.stdout  # type: ignore[attr-defined]
    bad = write_suite(tmp_path / "bad", suite_text=BAD_SUITE)
    result = invoke("validate", str(bad.suite))
    assert result.exit_code == 1 and f"{bad.suite}:7:14: E603" in result.stdout  # type: ignore[attr-defined]


@pytest.mark.usefixtures("prefect_harness")
def test_fail_under_exit_codes_formats_the_cache_and_report(tmp_path: Path, provider_calls: CallCounter) -> None:
    # 3 of 4 tickets are classified right: pass rate 75%.
    files = write_suite(tmp_path, fail_under={"pass_rate": 0.9},
                        responses={"charged twice": answer("billing"), "error 500": answer("technical"),
                                   "parcel is late": answer("billing"), "reset mail": answer("account")})
    common = [str(files.suite), "--config", str(files.config), "--offline"]

    passing = invoke("eval", *common, "--fail-under", "pass_rate=0.7", "--format", "json")
    assert passing.exit_code == 0, passing.stderr  # type: ignore[attr-defined]
    payload = json.loads(passing.stdout)  # type: ignore[attr-defined]
    assert payload["passed"] is True and payload["fail_under"] == {"pass_rate": 0.7}
    assert payload["summary"][0]["pass_rate"] == 0.75 and len(payload["runs"]) == 4
    assert "eval: 4/4 runs, 3 passed, 1 failed, 0 errored" in passing.stderr  # type: ignore[attr-defined]
    assert provider_calls.calls == 4

    failing = invoke("eval", *common, "--fail-under", "pass_rate=80%", "--format", "csv")
    assert failing.exit_code == 1  # type: ignore[attr-defined]
    assert "under failUnder: baseline: pass rate 75.0% is under 80.0%" in failing.stderr  # type: ignore[attr-defined]
    header, row = failing.stdout.strip().splitlines()  # type: ignore[attr-defined]
    assert header.startswith("variant,variant_id,cases,runs,passes,errored,pass_rate,") and ",0.75," in row
    assert provider_calls.calls == 4  # the re-run changed nothing: every answer came from the cache

    own_rule = invoke("eval", *common, "--format", "markdown")  # the suite's failUnder: pass_rate 0.9
    assert own_rule.exit_code == 1  # type: ignore[attr-defined]
    assert "**FAILED (pass_rate >= 90.0%)" in own_rule.stdout and "| parcel | ✗ billing" in own_rule.stdout  # type: ignore[attr-defined]

    table = invoke("eval", *common, "--no-cache", "--fail-under", "pass_rate=0.5")
    assert table.exit_code == 0 and provider_calls.calls == 8  # type: ignore[attr-defined]
    assert "75.0% (" in table.stdout and "cost/quality frontier" in table.stdout  # type: ignore[attr-defined]

    report = invoke("report", "--evals", "--config", str(files.config))
    assert report.exit_code == 0, report.output  # type: ignore[attr-defined]
    assert f"{files.name}-suite" in report.stdout and "FAILED" in report.stdout  # type: ignore[attr-defined]
    stored = json.loads(invoke("report", "--evals", "--config", str(files.config), "--format", "json").stdout)  # type: ignore[attr-defined]
    assert len(stored) == 4 and stored[0]["variants"][0]["pass_rate"] == 0.75
    assert [run["passed"] for run in stored] == [True, False, False, True]  # newest first
