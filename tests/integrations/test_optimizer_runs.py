"""The Auto-Optimizer in real workflow runs (Prefect test harness, offline Forge, a scratch store).

Every task gives a metric; the buffer flushes by batch, by interval and at the end of the run; a
remote optimizer that cannot be reached never fails a run and loses nothing (the spool is re-sent
by the next run).  Then the loop the seed describes: a history is built, recommendations come out
of it, and a run with ``auto-optimizer.apply-recommendations`` runs a different plan - another
model, an edge fewer, a cache - while the user's document stays as written.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ecosystem.store import Store
from ecosystem.store.optimizer_models import PerformanceMetricRow
from flows.workflow import LocalRun, local_run
from tasks.hooks import Hook
from tasks.optimizer import run_metrics
from tests.flows.helpers import probe, register, run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "optimized-inference-pipeline.yaml")
SONNET, HAIKU = "claude-sonnet-4-5", "claude-haiku-4-5"
SUMMARY = "A short summary."
ENABLED = {"auto-optimizer.enabled": "true"}
APPLY = {**ENABLED, "auto-optimizer.apply-recommendations": "true"}


@pytest.fixture(autouse=True)
def _fresh_probe() -> None:
    register()
    probe.reset()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def config(tmp_path: Path, store_url: str, *, forge: dict[str, Any] | None = None, offline: bool = True,
           **optimizer: Any) -> dict[str, Any]:
    section = {"spool_dir": str(tmp_path / "spool"), "recommendation_cache_ttl": 0, "min_samples": 3,
               "bootstrap_resamples": 200, **optimizer}
    return {
        "offline": offline,
        "storage": {"url": store_url},
        "integrations": {
            "llm-forge": {"offline": True, "offline_responses": {"Summarize": SUMMARY},
                          "offline_models": {SONNET: {"cost": 0.01}, HAIKU: {"cost": 0.002}}, **(forge or {})},
            "llm-auto-optimizer": section,
        },
    }


def rows(store_url: str, workflow_name: str | None = None) -> list[PerformanceMetricRow]:
    with Store.open(store_url) as store, store.session(readonly=True) as session:
        query = select(PerformanceMetricRow).order_by(PerformanceMetricRow.id)
        if workflow_name:
            query = query.where(PerformanceMetricRow.workflow == workflow_name)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


class Capture(Hook):
    """An extra hook: the buffer's delivered count each time a task finishes, and the run."""

    def __init__(self) -> None:
        self.flushed: list[int] = []
        self.runs: list[tuple[Any, Any]] = []

    async def task_finished(self, run: Any, record: Any) -> None:
        self.flushed.append(run_metrics(run).buffer.flushed)

    async def after_workflow(self, run: Any, result: Any) -> None:
        self.runs.append((run, result))


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    with local_run(LocalRun(hooks=[capture])):
        yield capture


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- collection ------------------------------------------------------------------------------------


MIXED = """
    - id: summarize
      type: llm
      executor: llm-forge:claude-api
      inputs:
        prompt: "Summarize ${{ workflow.inputs.text }}"
        config: {model: claude-sonnet-4-5, temperature: 0.3, max_tokens: 200}
    - id: fan
      executor: test:work
      forEach: [1, 2, 3]
      inputs: {key: "fan-${{ item }}", value: "${{ item }}"}
    - id: after
      executor: test:work
      dependsOn: [fan]
      inputs: {value: "${{ tasks.summarize.outputs.response }}"}
    - id: never
      executor: test:work
      if: ${{ false }}
      inputs: {}
    - id: broken
      executor: test:work
      continueOnError: true
      retry: {maxAttempts: 1}
      inputs: {key: broken}
"""


async def test_every_task_produces_a_metric_with_every_field(tmp_path: Path, store_url: str,
                                                              captured: Capture) -> None:
    from tests.flows.helpers import permanent

    probe.fail_plan["broken"] = [permanent("no")]
    doc = workflow(MIXED, inputs="  inputs:\n    - {name: text, type: string}")
    doc["metadata"]["annotations"] = ENABLED
    state, data = await run(doc, {"text": "the quarterly report"}, config(tmp_path, store_url))
    assert state.is_completed(), data.get("error")
    stored = rows(store_url)
    by_task: dict[str, list[PerformanceMetricRow]] = {}
    for row in stored:
        by_task.setdefault(row.task_id, []).append(row)
    assert sorted(by_task) == ["after", "broken", "fan", "never", "summarize"]
    assert len(by_task["fan"]) == 3 and sorted(r.custom["index"] for r in by_task["fan"]) == [0, 1, 2]

    [llm] = by_task["summarize"]
    run_id = data["run_id"]
    assert (llm.workflow, llm.workflow_id, llm.run_id) == (doc["metadata"]["name"], run_id, run_id)
    assert llm.executor == "llm-forge:claude-api" and llm.status == "completed"
    assert llm.model == f"offline:{SONNET}"
    assert llm.cost_nanos == 10_000_000  # 0.01 USD
    usage = data["tasks"]["summarize"]["metadata"]["usage"]
    assert (llm.prompt_tokens, llm.completion_tokens, llm.token_count) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    assert (llm.max_tokens, llm.temperature) == (200, 0.3)
    assert llm.memory_usage_mb > 0 and llm.cpu_usage_percent >= 0
    assert llm.execution_time_ms >= 0 and llm.started_at <= llm.finished_at
    from ecosystem.optimizer import input_hash

    assert llm.input_hash == input_hash({"prompt": "Summarize the quarterly report", "config": {"model": "x"}})
    [after] = by_task["after"]
    assert (after.depends_on, after.data_dependencies) == (["fan", "summarize"], ["summarize"])
    [never] = by_task["never"]
    assert never.status == "skipped" and never.memory_usage_mb == 0 and "if is false" in never.custom["reason"]
    [broken] = by_task["broken"]
    assert broken.status == "failed" and "no" in broken.custom["error"]
    # The buffer delivered everything at the end of the run (nothing pending, nothing spooled).
    _, result = captured.runs[-1]
    assert result.optimizer_stats["recorded"] == len(stored) == 7
    assert (result.optimizer_stats["pending"], result.optimizer_stats["spooled"]) == (0, 0)
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").glob("*.jsonl"))


CHAIN = "\n".join(
    f"    - {{id: s{i}, executor: test:work, {'dependsOn: [s' + str(i - 1) + '], ' if i else ''}inputs: {{sleep: 0.05}}}}"
    for i in range(6))


@pytest.mark.parametrize(("batch_size", "flush_interval"), [(2, 60.0), (100, 0.1)], ids=["batch", "interval"])
async def test_the_buffer_flushes_during_the_run_by_batch_size_or_interval(
        tmp_path: Path, store_url: str, captured: Capture, batch_size: int, flush_interval: float) -> None:
    doc = workflow(CHAIN)
    doc["metadata"]["annotations"] = ENABLED
    state, _ = await run(doc, {}, config(tmp_path, store_url, batch_size=batch_size, flush_interval=flush_interval))
    assert state.is_completed()
    assert captured.flushed[-1] > 0  # delivered before the last task finished, not only at the end
    assert len(rows(store_url)) == 6


async def test_without_annotation_or_config_section_nothing_is_collected(tmp_path: Path, store_url: str) -> None:
    doc = workflow(CHAIN)
    cfg = config(tmp_path, store_url)
    del cfg["integrations"]["llm-auto-optimizer"]
    state, _ = await run(doc, {}, cfg)
    assert state.is_completed()
    doc["metadata"]["annotations"] = {"auto-optimizer.enabled": "false"}
    state, _ = await run(doc, {}, config(tmp_path, store_url))
    assert state.is_completed()
    assert rows(store_url) == []


async def test_an_unreachable_optimizer_never_fails_the_run_and_its_metrics_are_spooled_then_resent(
        tmp_path: Path, store_url: str) -> None:
    doc = workflow(CHAIN)
    doc["metadata"]["annotations"] = ENABLED
    remote = config(tmp_path, store_url, offline=False, endpoint=f"http://127.0.0.1:{closed_port()}",
                    batch_size=2, max_failed_flushes=1, timeout=2)
    state, data = await run(doc, {}, remote)
    assert state.is_completed(), data.get("error")
    assert any("6 metric(s) could not be delivered and were spooled" in w for w in data["warnings"])
    spooled = list((tmp_path / "spool").glob("metrics-*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in spooled) == 6
    assert rows(store_url) == []
    # The next run that reaches an optimizer (embedded on the same store) re-sends the spool first.
    state, data = await run(doc, {}, config(tmp_path, store_url))
    assert state.is_completed() and not data["warnings"]
    assert len(rows(store_url)) == 12
    assert list((tmp_path / "spool").glob("metrics-*.jsonl")) == []


# -- the seed's example ------------------------------------------------------------------------------


async def test_seed_example_runs_offline_with_one_metric_per_task(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url, forge={"offline_cost": 0.001})
    state, data = await run(EXAMPLE, {"prompt": "Summarize the news"}, cfg)
    assert state.is_completed(), data.get("error")
    tasks = data["tasks"]
    assert tasks["collect_metrics"]["outputs"]["recorded"] == 1
    event = next(t for t in tasks.values() if t["executor"] == "llm-auto-optimizer:request-recommendations")
    assert event["state"] == "completed"
    assert event["outputs"]["count"] == len(event["outputs"]["recommendations"]) == 0
    # The run's own metrics were flushed before asking: the baseline is this run.
    assert event["outputs"]["estimated_improvement"]["baseline_cost_usd"] == pytest.approx(0.001)
    stored = rows(store_url, "optimized-inference-pipeline")
    inference = [r for r in stored if r.task_id == "inference"]
    assert len(inference) == 1  # the hook's measurement and the collector's values, once
    [metric] = inference
    assert metric.custom["source"] == "metric-collector"
    assert metric.model == "offline:claude-sonnet-4-5-20250929" and metric.input_hash
    assert metric.token_count == tasks["inference"]["outputs"]["usage"]["total_tokens"]
    assert sorted(r.task_id for r in stored) == sorted(["inference", "collect_metrics", event["id"]])


# -- recommendations applied -----------------------------------------------------------------------


def summarize_workflow(name: str, model: str, annotations: dict[str, str]) -> dict[str, Any]:
    doc = workflow(f"""
    - id: summarize
      type: llm
      executor: llm-forge:claude-api
      forEach: ${{{{ workflow.inputs.docs }}}}
      inputs:
        prompt: "Summarize ${{{{ item }}}}"
        config: {{model: {model}, temperature: 0.2}}
""", name=name, inputs="  inputs:\n    - {name: docs, type: array}\n    - {name: expected_response, type: string}")
    doc["metadata"]["annotations"] = {"test-bench.auto-evaluate": "true", **annotations}
    return doc


async def test_a_cheaper_model_of_equal_quality_is_switched_to_and_the_run_reflects_it(
        tmp_path: Path, store_url: str, captured: Capture) -> None:
    name = "switch-" + tmp_path.name[-8:]
    cfg = config(tmp_path, store_url)
    cfg["integrations"]["llm-test-bench"] = {"default_metrics": ["exact_match"]}
    inputs = {"docs": [f"report {i}" for i in range(4)], "expected_response": SUMMARY}
    # History: the same four inputs on both models, equal quality (canned answer = ground truth).
    for model in (HAIKU, SONNET):
        state, data = await run(summarize_workflow(name, model, ENABLED), inputs, cfg)
        assert state.is_completed(), data.get("error")
    sonnet = data["tasks"]["summarize"]
    assert sonnet["metadata"]["model"] == f"offline:{SONNET}" and data["applied"] == []
    history = rows(store_url, name)
    assert {r.quality_score for r in history} == {1.0} and len({r.input_hash for r in history}) == 4

    document = summarize_workflow(name, SONNET, APPLY)
    as_written = copy.deepcopy(document)
    state, data = await run(document, inputs, cfg)
    assert state.is_completed(), data.get("error")
    assert document == as_written  # the user's workflow is never edited
    switch, tune = data["applied"]
    assert switch == f"switched summarize from {SONNET} to {HAIKU}: quality within 0.02 (+0.000), cost -80% (n=4)"
    # The history also shows completions far below the default max_tokens (1000): tuned too.
    assert tune.startswith("set max_tokens of summarize from 1000 to 64: p99 of 4 completions is 4 tokens")
    switched = data["tasks"]["summarize"]
    assert switched["metadata"]["model"] == f"offline:{HAIKU}"
    assert switched["metadata"]["cost"] == pytest.approx(4 * 0.002)
    assert sonnet["metadata"]["cost"] == pytest.approx(4 * 0.01)
    applied_rows = [r for r in rows(store_url, name) if r.run_id == data["run_id"]]
    assert {(r.model, r.max_tokens) for r in applied_rows} == {(f"offline:{HAIKU}", 64)} and len(applied_rows) == 4
    # Each metric says what the workflow as written had, so the history tells the two plans apart.
    assert all(r.custom["as_written"] == {"model": SONNET, "max_tokens": None} for r in applied_rows)
    assert all("as_written" not in r.custom for r in history)
    run_, _ = captured.runs[-1]
    assert run_.plan.nodes["summarize"].inputs["config"] == {"model": HAIKU, "temperature": 0.2, "max_tokens": 64}
    # Advice is about the workflow as written, so it does not flip-flop from run to run even when
    # recomputed from a history that now holds the optimised runs.
    from tasks.optimizer import clear_recommendation_cache

    for _ in range(2):
        clear_recommendation_cache()
        state, data = await run(summarize_workflow(name, SONNET, APPLY), inputs, cfg)
        assert state.is_completed()
        assert [a.split(":")[0] for a in data["applied"]] == [
            f"switched summarize from {SONNET} to {HAIKU}", "set max_tokens of summarize from 1000 to 64"]
        assert data["tasks"]["summarize"]["metadata"]["model"] == f"offline:{HAIKU}"
    # A workflow written with haiku has nothing cheaper to switch to (its max_tokens is still tunable).
    state, data = await run(summarize_workflow(name, HAIKU, APPLY), inputs, cfg)
    assert state.is_completed()
    assert not [a for a in data["applied"] if a.startswith("switched")]


async def test_an_order_only_edge_is_removed_so_the_next_run_runs_both_tasks_at_once(
        tmp_path: Path, store_url: str, captured: Capture) -> None:
    def doc(annotations: dict[str, str]) -> dict[str, Any]:
        document = workflow("""
    - id: first
      executor: test:work
      forEach: [0, 1, 2]
      inputs: {sleep: 0.15, key: "first-${{ workflow.id }}-${{ item }}"}
    - id: second
      executor: test:work
      forEach: [0, 1, 2]
      dependsOn: [first]
      inputs: {sleep: 0.15, key: "second-${{ workflow.id }}-${{ item }}"}
""", name="parallel-" + tmp_path.name[-8:])
        document["metadata"]["annotations"] = annotations
        return document

    cfg = config(tmp_path, store_url)
    state, data = await run(doc(ENABLED), {}, cfg)
    assert state.is_completed()
    tasks = data["tasks"]
    assert tasks["second"]["started"] >= tasks["first"]["finished"]
    state, data = await run(doc(APPLY), {}, cfg)
    assert state.is_completed(), data.get("error")
    [applied] = data["applied"]
    assert applied.startswith("removed the order-only dependsOn first -> second so they run in parallel: expected speedup")
    tasks = data["tasks"]
    assert tasks["second"]["started"] < tasks["first"]["finished"]  # they overlapped
    run_, _ = captured.runs[-1]
    assert run_.plan.nodes["second"].depends_on == frozenset()
    latest = [r for r in rows(store_url) if r.run_id == data["run_id"] and r.task_id == "second"]
    assert latest and all(r.depends_on == [] and r.custom["as_written"] == {"depends_on": ["first"]} for r in latest)


async def test_a_task_whose_inputs_repeat_is_cached_by_the_next_runs(tmp_path: Path, store_url: str) -> None:
    def doc(annotations: dict[str, str]) -> dict[str, Any]:
        document = workflow("""
    - id: lookup
      executor: test:work
      inputs: {key: lookup, value: 42}
    - id: fresh
      executor: test:work
      inputs: {key: fresh, value: "${{ workflow.id }}"}
""", name="caching-" + tmp_path.name[-8:])
        document["metadata"]["annotations"] = annotations
        return document

    cfg = config(tmp_path, store_url)
    for _ in range(3):
        state, data = await run(doc(ENABLED), {}, cfg)
        assert state.is_completed() and data["tasks"]["lookup"]["state"] == "completed"
    assert probe.calls["lookup"] == 3
    state, data = await run(doc(APPLY), {}, cfg)
    assert state.is_completed(), data.get("error")
    assert data["applied"] == ["cached lookup for 1m: 67% of 3 executions repeated an earlier input"]
    assert data["tasks"]["lookup"]["state"] == "completed" and probe.calls["lookup"] == 4  # computed, then kept
    state, data = await run(doc(APPLY), {}, cfg)
    assert state.is_completed(), data.get("error")
    assert data["tasks"]["lookup"]["state"] == "cached" and probe.calls["lookup"] == 4
    assert data["tasks"]["fresh"]["state"] == "completed"  # its inputs never repeat: not cached
    cached = [r for r in rows(store_url) if r.run_id == data["run_id"] and r.task_id == "lookup"]
    assert [(r.status, r.cost_nanos, r.memory_usage_mb) for r in cached] == [("cached", 0, 0)]
    assert cached[0].custom["as_written"] == {"cache": None}


async def test_an_unreachable_optimizer_leaves_the_plan_as_written(tmp_path: Path, store_url: str) -> None:
    doc = workflow(CHAIN)
    doc["metadata"]["annotations"] = APPLY
    cfg = config(tmp_path, store_url, offline=False, endpoint=f"http://127.0.0.1:{closed_port()}", max_failed_flushes=1)
    state, data = await run(doc, {}, cfg)
    assert state.is_completed(), data.get("error")
    assert data["applied"] == [] and all(t["state"] == "completed" for t in data["tasks"].values())


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_shows_recommendations_with_evidence_without_applying_them(tmp_path: Path, store_url: str) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    import typer
    import yaml
    from typer.testing import CliRunner

    from ecosystem.optimizer import AutoOptimizerSettings, EmbeddedAutoOptimizer, PerformanceMetric
    from llm_orchestrator.cli_optimizer import recommendations

    start = datetime.now(UTC) - timedelta(hours=1)
    history = [
        PerformanceMetric(workflow_id=f"run-{model}", run_id=f"run-{model}", workflow="cli-wf", task_id="summarize",
                          executor="llm-forge:claude-api", execution_time_ms=100, model=model,
                          cost_usd=0.01 if model == SONNET else 0.002, quality_score=0.9, input_hash=f"h{i}",
                          timestamp=start + timedelta(minutes=k * 10 + i))
        for k, model in enumerate((HAIKU, SONNET)) for i in range(6)
    ]
    embedded = EmbeddedAutoOptimizer(AutoOptimizerSettings(storage_url=store_url))
    assert embedded.store_metrics(history, "test") == 12
    embedded.store.close()
    text = yaml.safe_dump(summarize_workflow("cli-wf", SONNET, APPLY), sort_keys=False)
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"orchestrator": {"storage": {"url": store_url}}}), encoding="utf-8")

    app = typer.Typer()
    app.command()(recommendations)
    app.command("other")(lambda: None)  # two commands: typer keeps the subcommand name
    runner = CliRunner()
    table = runner.invoke(app, ["recommendations", str(path), "--config", str(config_file)])
    assert table.exit_code == 0, table.output
    assert "model_switch" in table.output and f"summarize: {SONNET} -> {HAIKU}" in table.output
    assert "n_pairs=6" in table.output
    assert f"would apply: switched summarize from {SONNET} to {HAIKU}" in table.output
    as_json = runner.invoke(app, ["recommendations", "cli-wf", "-c", str(config_file), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.output)
    assert answer["workflow"] == "cli-wf" and "preview" not in answer
    assert answer["items"][0]["recommendation_type"]["from"] == SONNET
    assert answer["items"][0]["evidence"]["method"] == "paired_bootstrap"
    assert path.read_text(encoding="utf-8") == text  # nothing applied to the file
    bad = runner.invoke(app, ["recommendations", "cli-wf", "-c", str(config_file), "--format", "csv"])
    assert bad.exit_code == 2 and "unknown --format" in bad.output
    missing = runner.invoke(app, ["recommendations", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
