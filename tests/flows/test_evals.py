"""``run_eval_suite``: suites run end to end offline through Prefect, judged, compared and stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blocks.resolve import resolve_settings
from compiler.compile import compile_text
from ecosystem.forge import ForgeSettings
from ecosystem.store import Store
from ecosystem.testbench.suites import SuiteResults
from flows.evals import (
    LocalEval,
    cached_calls,
    call_fingerprint,
    critical_path_ms,
    local_eval,
    run_cost,
    run_eval_suite,
)
from tasks.state import RunResult, TaskRecord
from tests.flows.eval_fixtures import TICKETS, CallCounter, answer, provider_calls, write_suite

__all__ = ["provider_calls"]  # the fixture, imported so tests here can use it


async def run_suite(suite: Path, config: Path, **options: Any) -> tuple[Any, dict[str, Any]]:
    settings = resolve_settings(config)
    with local_eval(LocalEval(settings=settings, offline=True)):
        state = await run_eval_suite(str(suite), None, options.get("concurrency"), options.get("fail_under"),
                                     options.get("cache", True), return_state=True)
    return state, await state.result(raise_on_failure=False)


@pytest.mark.usefixtures("prefect_harness")
async def test_a_suite_runs_end_to_end_is_stored_published_and_a_rerun_reuses_every_answer(
        tmp_path: Path, provider_calls: CallCounter) -> None:
    cases = {**TICKETS, "broken": ("This one always breaks the model", "billing")}
    responses = {ticket: answer("billing" if case_id == "parcel" else category)  # one wrong answer
                 for case_id, (ticket, category) in cases.items()}
    files = write_suite(tmp_path, cases=cases, models=["gpt-4o-mini", "gpt-4o"], responses=responses,
                        failures={"always breaks": {"error": "invalid_request", "message": "bad request"}})
    state, data = await run_suite(files.suite, files.config)
    assert state.is_completed(), state.message  # no failUnder rule; one broken case does not abort the suite
    results = SuiteResults.from_json(data)
    assert len(results.runs) == 10 and results.errored_runs == 2
    broken = [r for r in results.runs if r.case_id == "broken"]
    assert all(r.state == "failed" and "bad request" in (r.error or "") for r in broken)
    mini, big = results.variant_stats
    assert (mini.passes, big.passes) == (3, 3)
    assert mini.pass_rate.estimate == pytest.approx(0.6) and mini.cost_mean_usd == pytest.approx(0.0001)
    assert big.cost_mean_usd == pytest.approx(0.0025) and big.cost_unknown_runs == 1  # the broken run's cost is unknown
    assert results.frontier_ids == [mini.variant_id]  # as good and cheaper: gpt-4o is dominated
    parcel = next(r for r in results.runs if r.case_id == "parcel")
    assert not parcel.passed and parcel.outputs == {"category": "billing"}
    assert parcel.checks[0].name == "category.exact_match" and parcel.checks[0].score == 0.0
    first_calls = provider_calls.calls
    assert first_calls == 10

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        stored = SuiteResults.load(store, results.suite_run_id)
    assert stored is not None
    assert [v.pass_rate.estimate for v in stored.variant_stats] == [0.6, 0.6]
    assert stored.frontier_ids == results.frontier_ids

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{files.name}-suite-eval"])))
    text = str(artifacts[0].data)
    assert "## Cases side by side" in text and "cost/quality frontier" in text and "| parcel | ✗ billing" in text

    # Nothing changed: every answer comes from the cache; only the call that failed is made again.
    state, data = await run_suite(files.suite, files.config)
    again = SuiteResults.from_json(data)
    assert provider_calls.prompts[first_calls:] == ["This one always breaks the model"] * 2
    assert again.cached_tasks == 8 and again.spent_usd == 0.0
    assert again.summary_json()[0]["cost_mean_usd"] == pytest.approx(0.0001)  # cost as when the calls were made
    assert [v.pass_rate.estimate for v in again.variant_stats] == [0.6, 0.6]


@pytest.mark.usefixtures("prefect_harness")
async def test_repeats_find_the_flaky_case_and_fail_under_fails_the_flow_run(tmp_path: Path,
                                                                           provider_calls: CallCounter) -> None:
    cases = {k: TICKETS[k] for k in ("refund", "login")}
    # The first call for the login ticket fails (not retryable); its other repeats succeed.
    files = write_suite(tmp_path, cases=cases, repeat=3, fail_under={"pass_rate": 0.9},
                        failures={"Login page": {"error": "invalid_request", "times": 1}})
    state, data = await run_suite(files.suite, files.config)
    results = SuiteResults.from_json(data)
    [flaky] = results.flaky
    assert (flaky.case_id, flaky.passes, flaky.runs) == ("login", 2, 3)
    [stats] = results.variant_stats
    assert stats.pass_rate.estimate == pytest.approx((1 + 2 / 3) / 2)  # the case is the unit
    assert stats.runs == 6 and stats.errored == 1
    assert state.is_failed()
    assert state.message.startswith("baseline: pass rate 83.3% is under 90.0%")
    assert provider_calls.calls == 6  # repeats are separate samples, never each other's cache hits


@pytest.mark.usefixtures("prefect_harness")
async def test_a_bad_suite_fails_the_flow_run_with_diagnostics(tmp_path: Path) -> None:
    files = write_suite(tmp_path, suite_text="apiVersion: orchestrator.llm/v1\nkind: EvalSuite\nmetadata: {name: x}\n"
                                             "spec:\n  workflow: workflow.yaml\n  cases: []\n  repaet: 2\n")
    state, data = await run_suite(files.suite, files.config)
    assert state.is_failed() and data["state"] == "error"
    assert {d["code"] for d in data["diagnostics"]} >= {"E201"}
    assert f"{files.suite}:7:3: E201" in state.message


# -- pure parts -----------------------------------------------------------------------------------

DAG = """
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: dag}
spec:
  tasks:
    - {id: a, type: llm, executor: "llm-forge:openai-api", inputs: {prompt: hi}}
    - {id: b, type: llm, executor: "llm-forge:openai-api", inputs: {prompt: "${{ tasks.a.outputs.response }}"}, cache: false}
    - {id: c, type: llm, executor: "llm-forge:openai-api", inputs: {prompt: "${{ tasks.a.outputs.response }}"},
       cache: {ttl: 1h, key: "${{ workflow.inputs.v }}"}}
    - {id: d, type: transform, executor: "llm-forge:tool:json-extract", inputs: {text: "${{ tasks.c.outputs.response }}"}}
  events:
    always:
      - {id: e, executor: "notification:alert", inputs: {message: done}}
"""


def _record(task_id: str, state: str, seconds: float | None, wall: float = 9.0, cost: Any = 0.001) -> TaskRecord:
    record = TaskRecord(task_id, "llm-forge:openai-api" if task_id in "abc" else "x:y", "llm" if task_id in "abc" else "custom",
                        state=state, started=100.0, finished=100.0 + wall)  # type: ignore[arg-type]
    if seconds is not None:
        record.metadata = {"execution_time": seconds, **({"cost": cost} if task_id in "abc" else {})}  # type: ignore[typeddict-item]
    return record


def test_latency_is_the_critical_path_of_executor_times_and_cost_counts_cached_calls() -> None:
    plan = compile_text(DAG).plans[0]
    tasks = {"a": _record("a", "cached", 1.0), "b": _record("b", "completed", 2.0),
             "c": _record("c", "completed", 0.5, cost=0.002), "d": _record("d", "completed", 4.0),
             "e": _record("e", "completed", 0.25)}
    result = RunResult("r", "dag", "completed", {}, tasks)
    # a (1.0, as when it was made) then the longer of b (2.0) and c + d (4.5); the event after all: 5.75 s.
    assert critical_path_ms(plan, result) == 5750.0
    assert run_cost(result) == pytest.approx(0.004)  # a's cost counts although it came from the cache
    tasks["b"] = _record("b", "completed", 2.0, cost=None)
    assert run_cost(result) is None  # an unpriced call: unknown, never 0
    tasks["b"] = _record("b", "failed", None)
    assert run_cost(result) is None  # a failed call may have been billed
    assert critical_path_ms(plan, RunResult("r", "dag", "failed", {}, {i: TaskRecord(i, "x", "llm", state="skipped")
                                                                        for i in tasks})) is None


def test_inference_tasks_get_a_cache_key_with_the_settings_fingerprint_and_the_repeat() -> None:
    plan = compile_text(DAG).plans[0]
    fingerprint = call_fingerprint(ForgeSettings(offline=True))
    first, second = cached_calls(plan, fingerprint, 0), cached_calls(plan, fingerprint, 1)
    a = first.nodes["a"].cache
    assert a is not None and a.key is not None and fingerprint in a.key and a.ttl == 30 * 24 * 3600
    assert second.nodes["a"].cache is not None and second.nodes["a"].cache.key != a.key
    assert first.nodes["b"].cache is not None and not first.nodes["b"].cache.enabled  # the user's cache: false wins
    c = first.nodes["c"].cache
    assert c is not None and c.ttl == 3600 and c.key is not None and c.key.endswith("${{ workflow.inputs.v }}")
    assert first.nodes["d"].cache is None and first.nodes["e"].cache is None  # tools and alerts are not LLM calls
    assert plan.nodes["a"].cache is None  # the plan itself is not changed


def test_the_fingerprint_changes_with_what_changes_answers_and_not_with_keys() -> None:
    base = call_fingerprint(ForgeSettings(offline=True, offline_responses={"x": "y"}))
    assert call_fingerprint(ForgeSettings(offline=True, offline_responses={"x": "z"})) != base
    priced = ForgeSettings(offline=True, offline_responses={"x": "y"}, offline_models={"m": {"cost": 0.1}})  # type: ignore[dict-item]
    assert call_fingerprint(priced) != base  # offline, a reported cost is configuration too
    assert call_fingerprint(ForgeSettings(offline=False)) != call_fingerprint(ForgeSettings(offline=True))
    assert call_fingerprint(ForgeSettings(base_urls={"openai": "http://localhost:1/v1"})) != call_fingerprint(ForgeSettings())
    with_key = ForgeSettings(offline=True, offline_responses={"x": "y"}, api_keys={"openai": "sk-test-1234"})  # type: ignore[dict-item]
    assert call_fingerprint(with_key) == base
