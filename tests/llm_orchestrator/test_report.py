"""`llm-orchestrator report`: money from the ledger, latency and quality from the metrics, by task,
model and day, in every format; filtered and unfiltered totals add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecosystem.store import Store
from ecosystem.store.models import CostRecordRow
from ecosystem.store.optimizer_models import PerformanceMetricRow
from ecosystem.store.testbench_models import EvaluationScoreRow
from llm_orchestrator.cli import app


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    now = datetime.now(UTC)
    store = Store.open(url)
    rows = []
    # summarize: 10 runs on model-a, 100..1000 ms, 0.01 USD each; classify: 4 runs on model-b, 0.002 USD
    for i in range(10):
        rows.append(dict(task="summarize", model="model-a", ms=100 * (i + 1), cost=0.01, run=f"r{i}", tokens=(100, 50), quality=0.8))
    for i in range(4):
        rows.append(dict(task="classify", model="model-b", ms=20, cost=0.002, run=f"r{i}", tokens=(10, 2), quality=None))
    old = dict(task="summarize", model="model-a", ms=5, cost=5.0, run="ancient", tokens=(1, 1), quality=None)
    with store.session() as session:
        for n, row in enumerate([*rows, old]):
            when = now - (timedelta(days=90) if row["run"] == "ancient" else timedelta(hours=n))
            session.add(PerformanceMetricRow(
                metric_id=f"m{n}", source="test", workflow="wf", workflow_id="wf", run_id=row["run"], task_id=row["task"],
                executor="llm-forge:offline", model=row["model"], status="completed", timestamp=when, started_at=when,
                finished_at=when, received_at=when, execution_time_ms=row["ms"], cpu_usage_percent=1.0, memory_usage_mb=10,
                token_count=sum(row["tokens"]), prompt_tokens=row["tokens"][0], completion_tokens=row["tokens"][1],
                cost_nanos=int(row["cost"] * 1e9), quality_score=row["quality"], depends_on=[], data_dependencies=[], custom={},
            ))
            session.add(ledger_row(n, "wf", row["run"], row["task"], row["model"], row["tokens"], row["cost"], when))
        session.add(EvaluationScoreRow(run_id="r1", workflow="wf", task_id="classify", metric="exact_match", score=0.5,
                                       passed=False, overall_score=0.5, task_passed=False, created_at=now))
    store.close()
    path = tmp_path / "config.yaml"
    path.write_text(f"orchestrator:\n  storage:\n    url: {url}\n")
    return path


def ledger_row(n: int, workflow: str, run: str, task: str, model: str | None, tokens: tuple[int, int], cost: float,
               when: datetime) -> CostRecordRow:
    return CostRecordRow(id=f"c{workflow}{n}", organization_id="default", workflow_id=workflow, run_id=run, task_id=task,
                         executor="llm-forge:offline", model=model, prompt_tokens=tokens[0], completion_tokens=tokens[1],
                         total_tokens=sum(tokens), cost_nanos=int(round(cost * 1e9)), cached=False, unsettled=False,
                         timestamp=when, created_at=when)


def report(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["report", "--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_by_task_sums_costs_and_tokens_and_computes_percentiles_and_quality(config: Path) -> None:
    rows = {r["task_id"]: r for r in json.loads(report(config, "--format", "json"))}
    assert set(rows) == {"summarize", "classify"}  # the 90-day-old row is outside the window
    summarize = rows["summarize"]
    assert summarize["runs"] == 10 and summarize["calls"] == 10
    assert summarize["cost_usd"] == pytest.approx(0.10)
    assert summarize["total_tokens"] == 1500
    assert summarize["p50_ms"] == pytest.approx(550)
    assert summarize["p95_ms"] == pytest.approx(955)
    assert summarize["quality"] == pytest.approx(0.8)
    assert rows["classify"]["quality"] == pytest.approx(0.5)  # from the Test-Bench scores


def test_by_model_and_by_day_and_other_formats(config: Path) -> None:
    models = {r["model"]: r["cost_usd"] for r in json.loads(report(config, "--by", "model", "--format", "json"))}
    assert models == pytest.approx({"model-a": 0.10, "model-b": 0.008})
    days = json.loads(report(config, "--by", "day", "--format", "json"))
    assert sum(r["calls"] for r in days) == 14
    csv = report(config, "--format", "csv")
    assert csv.splitlines()[0].startswith("workflow,task_id,runs,calls")
    assert "| summarize |" in report(config, "--format", "markdown").replace("| wf | summarize |", "| summarize |")
    assert report(config, "--since", "200d", "--format", "json").count('"ancient"') == 0
    assert json.loads(report(config, "--since", "200d", "--format", "json"))[0]["cost_usd"] == pytest.approx(5.10)


def test_bad_options_are_usage_errors(config: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["report", "--config", str(config), "--by", "week"]).exit_code == 2
    assert runner.invoke(app, ["report", "--config", str(config), "--since", "a while"]).exit_code == 2


def test_filtered_and_unfiltered_totals_add_up_whatever_was_measured(tmp_path: Path) -> None:
    """Issue 17, finding 1: the unfiltered report read the ledger only when no metrics existed at
    all, so spend of workflows without metrics vanished from it."""
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    now = datetime.now(UTC)
    store = Store.open(url)
    with store.session() as session:
        session.add(ledger_row(1, "measured", "r1", "ask", "m", (10, 5), 0.0015, now))
        session.add(PerformanceMetricRow(
            metric_id="m1", source="test", workflow="measured", workflow_id="measured", run_id="r1", task_id="ask",
            executor="llm-forge:offline", model="m", status="completed", timestamp=now, started_at=now, finished_at=now,
            received_at=now, execution_time_ms=40, cpu_usage_percent=1.0, memory_usage_mb=1, token_count=15,
            prompt_tokens=10, completion_tokens=5, cost_nanos=1_500_000, quality_score=None, depends_on=[],
            data_dependencies=[], custom={}))
        for n in range(3):  # a workflow whose runs left no metrics, with forEach items
            session.add(ledger_row(10 + n, "batch-summaries", "r2", f"summarize[{n}]", "m", (100, 50), 0.0023, now))
    store.close()
    config = tmp_path / "c.yaml"
    config.write_text(f"orchestrator:\n  storage:\n    url: {url}\n")
    every = json.loads(report(config, "--format", "json"))
    assert sum(r["cost_usd"] for r in every) == pytest.approx(0.0015 + 3 * 0.0023)
    assert {(r["workflow"], r["task_id"], r["calls"]) for r in every} == {("measured", "ask", 1), ("batch-summaries", "summarize", 3)}
    parts = [json.loads(report(config, "--workflow", name, "--format", "json")) for name in ("measured", "batch-summaries")]
    assert sum(r["cost_usd"] for part in parts for r in part) == pytest.approx(sum(r["cost_usd"] for r in every))
    measured = next(r for r in every if r["workflow"] == "measured")
    assert measured["p50_ms"] == pytest.approx(40)
