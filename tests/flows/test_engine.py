"""The engine's semantics (DESIGN.md section 5), run as real Prefect flows in the test harness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.flows.helpers import permanent, probe, register, retryable, run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(autouse=True)
def _fresh_probe() -> None:
    register()
    probe.reset()


async def test_dependencies_order_tasks_and_outputs_flow_between_them() -> None:
    doc = workflow("""
    - id: fetch
      executor: test:work
      inputs: {sleep: 0.05, value: 21}
    - id: double
      executor: test:work
      inputs: {value: "${{ tasks.fetch.outputs.value * 2 }}"}
    - id: last
      executor: test:work
      dependsOn: [double]
      inputs: {value: "${{ tasks.double.outputs.value }}!"}
""", extra="""  outputs:
    answer: ${{ tasks.last.outputs.value }}
    doubled: ${{ tasks.double.outputs.value }}""")
    state, data = await run(doc)
    assert state.is_completed()
    assert probe.order == ["fetch", "double", "last"]
    assert data["outputs"] == {"answer": "42!", "doubled": 42}
    assert {t["state"] for t in data["tasks"].values()} == {"completed"}


async def test_independent_tasks_start_without_waiting_for_a_whole_level() -> None:
    # slow -> after_slow, fast -> after_fast: after_fast must not wait for slow.
    doc = workflow("""
    - {id: slow, executor: test:work, inputs: {sleep: 0.6}}
    - {id: fast, executor: test:work, inputs: {sleep: 0.0}}
    - {id: after_fast, executor: test:work, dependsOn: [fast]}
    - {id: after_slow, executor: test:work, dependsOn: [slow]}
""")
    await run(doc)
    assert probe.order.index("after_fast") < probe.order.index("after_slow")


async def test_parallelism_never_exceeds_max_parallel_tasks() -> None:
    tasks = "\n".join(f"    - {{id: t{i}, executor: test:work, inputs: {{sleep: 0.15}}}}" for i in range(9))
    doc = workflow(tasks, extra="  concurrency:\n    maxParallelTasks: 3")
    state, _ = await run(doc)
    assert state.is_completed()
    assert probe.max_active == 3


async def test_a_slot_is_given_back_while_a_task_waits_to_retry_and_taken_again_for_the_retry() -> None:
    # Two slots, three tasks: `flaky` fails, waits 0.3 s to retry; meanwhile the slot it gave back
    # lets `c` run beside `b`; the retry then waits for a slot again, so never more than 2 run.
    probe.fail_plan["flaky"] = [retryable(), None]
    doc = workflow("""
    - id: flaky
      executor: test:work
      inputs: {sleep: 0.05}
      retry: {maxAttempts: 2, initialDelay: 0.3, backoff: constant, jitter: false}
    - {id: b, executor: test:work, inputs: {sleep: 0.5}}
    - {id: c, executor: test:work, inputs: {sleep: 0.5}}
""", extra="  concurrency:\n    maxParallelTasks: 2")
    state, data = await run(doc)
    assert state.is_completed()
    assert probe.calls["flaky"] == 2 and data["tasks"]["flaky"]["attempts"] == 2
    assert probe.max_active == 2
    assert probe.order.index("c") < probe.order.index("flaky", 1)  # c started during flaky's retry delay


async def test_foreach_items_share_the_parallelism_bound() -> None:
    doc = workflow("""
    - id: fan
      executor: test:work
      forEach: ${{ workflow.inputs.items }}
      inputs: {sleep: 0.1, key: "item-${{ index }}", value: "${{ item }}"}
""", inputs="  inputs:\n    - {name: items, type: array, required: true}", extra="  concurrency:\n    maxParallelTasks: 2")
    state, data = await run(doc, {"items": list(range(6))})
    assert state.is_completed()
    assert probe.max_active == 2
    assert data["tasks"]["fan"]["outputs"]["value"] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("items", [[], ["only"], ["a", "b", "c", "d", "e"]])
async def test_foreach_over_zero_one_and_many_items_keeps_input_order(items: list[str]) -> None:
    doc = workflow("""
    - id: fan
      executor: test:work
      forEach: ${{ workflow.inputs.items }}
      inputs: {sleep: "${{ (5 - index) * 0.02 }}", key: "i${{ index }}", value: "${{ upper(item) }}"}
    - id: count
      executor: test:work
      inputs: {value: "${{ len(tasks.fan.outputs.value) }}"}
""", inputs="  inputs:\n    - {name: items, type: array, required: true}")
    state, data = await run(doc, {"items": items})
    assert state.is_completed()
    assert data["tasks"]["fan"]["outputs"]["value"] == [i.upper() for i in items]
    assert data["tasks"]["count"]["outputs"]["value"] == len(items)
    assert sum(probe.calls.values()) == len(items) + 1


async def test_failure_skips_dependents_and_stops_new_work_but_running_tasks_finish() -> None:
    probe.fail_plan["boom"] = [permanent("provider said no")]
    doc = workflow("""
    - {id: boom, executor: test:work, inputs: {sleep: 0.05}}
    - {id: long, executor: test:work, inputs: {sleep: 0.5}}
    - {id: child, executor: test:work, dependsOn: [boom]}
    - {id: grandchild, executor: test:work, dependsOn: [child]}
    - {id: after_long, executor: test:work, dependsOn: [long]}
""")
    state, data = await run(doc)
    tasks = data["tasks"]
    assert state.is_failed()
    assert "boom" in state.message and "provider said no" in state.message
    assert tasks["boom"]["state"] == "failed"
    assert tasks["long"]["state"] == "completed"  # already running: allowed to finish
    assert tasks["child"] == tasks["child"] | {"state": "skipped", "reason": "upstream boom failed"}
    assert tasks["grandchild"]["state"] == "skipped"
    assert tasks["after_long"]["state"] == "skipped"
    assert "workflow failed" in tasks["after_long"]["reason"]
    assert "after_long" not in probe.calls


async def test_continue_on_error_lets_dependents_run_and_see_the_failure() -> None:
    probe.fail_plan["flaky"] = [permanent("nope")]
    doc = workflow("""
    - {id: flaky, executor: test:work, continueOnError: true}
    - id: fallback
      executor: test:work
      inputs: {value: "${{ tasks.flaky.status == 'failed' ? 'used fallback' : 'primary' }}"}
""")
    state, data = await run(doc)
    assert state.is_completed()
    assert data["tasks"]["flaky"]["state"] == "failed"
    assert data["tasks"]["fallback"]["outputs"]["value"] == "used fallback"


async def test_if_false_skips_with_the_condition_as_reason_and_propagates() -> None:
    doc = workflow("""
    - {id: maybe, executor: test:work, if: "${{ workflow.inputs.enabled }}"}
    - {id: after, executor: test:work, dependsOn: [maybe]}
    - {id: regardless, executor: test:work, dependsOn: [maybe], if: always()}
""", inputs="  inputs:\n    - {name: enabled, type: boolean, default: false}")
    state, data = await run(doc)
    assert state.is_completed()
    assert data["tasks"]["maybe"]["state"] == "skipped"
    assert data["tasks"]["maybe"]["reason"].startswith("if is false")
    assert data["tasks"]["after"]["reason"] == "upstream maybe skipped"
    assert data["tasks"]["regardless"]["state"] == "completed"


@pytest.mark.parametrize(("score", "taken", "not_taken"), [(0.9, "celebrate", "improve"), (0.2, "improve", "celebrate")])
async def test_branches_run_one_arm_and_skip_the_other(score: float, taken: str, not_taken: str) -> None:
    doc = workflow("""
    - {id: judge, executor: test:work, inputs: {value: "${{ workflow.inputs.score }}"}}
""", inputs="  inputs:\n    - {name: score, type: float, required: true}", extra="""
  branches:
    - id: good
      condition: ${{ tasks.judge.outputs.value >= 0.5 }}
      tasks:
        - {id: celebrate, executor: test:work}
      else:
        - {id: improve, executor: test:work}
""")
    state, data = await run(doc, {"score": score})
    assert state.is_completed()
    assert data["tasks"][taken]["state"] == "completed"
    assert data["tasks"][not_taken]["state"] == "skipped"
    assert "branch good not taken" in data["tasks"][not_taken]["reason"]


@pytest.mark.parametrize("fail", [False, True])
async def test_events_run_by_outcome_and_on_failure_sees_the_error(fail: bool) -> None:
    if fail:
        probe.fail_plan["main"] = [permanent("quota gone")]
    doc = workflow("""
    - {id: main, executor: test:work}
""", extra="""
  events:
    onSuccess:
      - executor: test:work
        inputs: {key: ok_event}
    onFailure:
      - executor: test:work
        inputs: {key: fail_event, value: "${{ workflow.error }}"}
    always:
      - executor: test:work
        inputs: {key: always_event, value: "${{ workflow.status }}"}
""")
    state, data = await run(doc)
    tasks = data["tasks"]
    assert state.is_failed() is fail
    assert tasks["always-1"]["outputs"]["value"] == ("failure" if fail else "success")
    if fail:
        assert tasks["onSuccess-1"]["state"] == "skipped"
        assert "quota gone" in tasks["onFailure-1"]["outputs"]["value"]
    else:
        assert tasks["onSuccess-1"]["state"] == "completed"
        assert tasks["onFailure-1"]["state"] == "skipped"


async def test_retry_retries_only_retryable_errors_and_counts_attempts() -> None:
    probe.fail_plan["transient"] = [retryable(), retryable(), None]
    probe.fail_plan["fatal"] = [permanent(), None]
    doc = workflow("""
    - id: transient
      executor: test:work
      retry: {maxAttempts: 4, initialDelay: 0.05, backoff: constant, jitter: false}
    - id: fatal
      executor: test:work
      continueOnError: true
      retry: {maxAttempts: 4, initialDelay: 0.05}
""")
    state, data = await run(doc)
    assert probe.calls["transient"] == 3
    assert data["tasks"]["transient"]["state"] == "completed"
    assert data["tasks"]["transient"]["attempts"] == 3
    assert probe.calls["fatal"] == 1
    assert data["tasks"]["fatal"]["state"] == "failed"


async def test_retry_after_hint_takes_precedence_over_backoff() -> None:
    probe.fail_plan["limited"] = [retryable(retry_after=0.8), None]
    doc = workflow("""
    - id: limited
      executor: test:work
      retry: {maxAttempts: 2, initialDelay: 0, backoff: constant, jitter: false}
""")
    started = time.perf_counter()
    state, data = await run(doc)
    assert state.is_completed()
    assert probe.calls["limited"] == 2
    assert time.perf_counter() - started >= 0.8


async def test_retry_on_narrows_which_kinds_are_retried() -> None:
    probe.fail_plan["picky"] = [retryable("limited"), None]
    doc = workflow("""
    - id: picky
      executor: test:work
      retry: {maxAttempts: 3, initialDelay: 0, retryOn: [timeout]}
""")
    state, _ = await run(doc)
    assert state.is_failed()
    assert probe.calls["picky"] == 1


async def test_timeout_fails_the_task_with_a_timeout_error() -> None:
    doc = workflow("""
    - {id: slow, executor: test:work, timeout: 0.2s, inputs: {sleep: 3}}
""")
    started = time.perf_counter()
    state, data = await run(doc)
    assert time.perf_counter() - started < 3
    assert state.is_failed()
    assert "timed out after 0.2s" in data["tasks"]["slow"]["error"]


async def test_cache_hit_on_second_run_costs_nothing() -> None:
    doc = workflow("""
    - id: expensive
      executor: test:work
      cache: {ttl: 1h}
      inputs: {value: "${{ workflow.inputs.q }}", cost: 0.5}
""", inputs="  inputs:\n    - {name: q, type: string, required: true}")
    _, first = await run(doc, {"q": "same"})
    _, second = await run(doc, {"q": "same"})
    _, other = await run(doc, {"q": "different"})
    assert probe.calls["expensive"] == 2
    assert first["tasks"]["expensive"]["state"] == "completed"
    assert second["tasks"]["expensive"]["state"] == "cached"
    assert second["tasks"]["expensive"]["cost"] == 0.0
    assert second["tasks"]["expensive"]["outputs"] == {"value": "same"}
    assert other["tasks"]["expensive"]["state"] == "completed"


async def test_rerun_after_failure_resumes_from_cached_tasks() -> None:
    probe.fail_plan["second"] = [permanent("flaky dependency")]
    doc = workflow("""
    - {id: first, executor: test:work, cache: {ttl: 1h}, inputs: {value: 1}}
    - {id: second, executor: test:work, cache: {ttl: 1h}, inputs: {value: "${{ tasks.first.outputs.value + 1 }}"}}
""", extra="  defaults:\n    cache: {ttl: 1h}")
    failed_state, failed = await run(doc)
    resumed_state, resumed = await run(doc)
    assert failed_state.is_failed() and resumed_state.is_completed()
    assert probe.calls == {"first": 1, "second": 2}
    assert resumed["tasks"]["first"]["state"] == "cached"
    assert resumed["tasks"]["second"]["state"] == "completed"


async def test_declared_output_type_mismatch_fails_naming_task_output_and_types() -> None:
    doc = workflow("""
    - id: typed
      executor: test:work
      inputs: {output: {count: "three"}}
      outputs: {count: integer}
""")
    state, data = await run(doc)
    assert state.is_failed()
    assert "task 'typed' output 'count' should be integer but is string" in data["tasks"]["typed"]["error"]


async def test_bad_inputs_fail_the_run_before_any_task_starts() -> None:
    doc = workflow("    - {id: t, executor: test:work}",
                   inputs="  inputs:\n    - {name: n, type: integer, required: true}")
    state, data = await run(doc, {"n": "many", "extra": 1})
    assert state.is_failed()
    assert "input 'n' must be integer" in state.message
    assert "unknown input 'extra'" in state.message
    assert probe.calls == {}


async def test_llm_output_is_never_evaluated_as_a_template() -> None:
    doc = workflow("""
    - {id: llm, executor: test:work, inputs: {value: "${{ '$' }}{{ workflow.inputs.secret }}"}}
    - {id: echo, executor: test:work, inputs: {value: "said: ${{ tasks.llm.outputs.value }}"}}
""", inputs="  inputs:\n    - {name: secret, type: string, default: hunter2}")
    _, data = await run(doc)
    assert data["tasks"]["echo"]["outputs"]["value"] == "said: ${{ workflow.inputs.secret }}"


async def test_assert_executor_is_a_quality_gate() -> None:
    doc = workflow("""
    - {id: score, executor: test:work, inputs: {value: 0.4}}
    - id: gate
      executor: orchestrator:assert
      inputs:
        condition: ${{ tasks.score.outputs.value >= 0.75 }}
        error_message: Quality score below threshold
""")
    state, data = await run(doc)
    assert state.is_failed()
    assert data["tasks"]["gate"]["error"] == "Quality score below threshold"


async def recorded_task_runs(client: Any, run_id: str, count: int) -> list[Any]:
    """The run's task runs once the server has recorded all ``count`` as finished: task runs
    reach the server as events, which it may still be processing when the flow run returns."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 15
    while True:
        task_runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        if len(task_runs) == count and all(t.state_type and t.state_type.value == "COMPLETED" for t in task_runs):
            return list(task_runs)
        if time.monotonic() > deadline:
            return list(task_runs)
        await asyncio.sleep(0.2)


async def test_prefect_sees_the_workflow_edges_names_and_run_tags() -> None:
    from prefect.client.orchestration import get_client

    doc = workflow("""
    - {id: first, executor: test:work}
    - {id: second, executor: test:work, inputs: {value: "${{ tasks.first.outputs.value }}"}}
""", name="edges-demo")
    _, data = await run(doc)
    async with get_client() as client:
        flow_run = await client.read_flow_run(data["run_id"])
        task_runs = await recorded_task_runs(client, data["run_id"], 2)
    assert flow_run.name == f"edges-demo-{data['run_id'][:8]}"
    by_name = {t.name: t for t in task_runs}
    assert set(by_name) == {"first", "second"}
    assert "workflow:edges-demo" in flow_run.tags  # findable by workflow (flows.tags)
    assert by_name["second"].tags == []  # no tag limit on the server, so no tags and no lease requests
    upstream = {ref.id for ref in by_name["second"].task_inputs.get("upstream", [])}
    assert by_name["first"].id in upstream


async def test_a_name_given_to_the_run_is_kept() -> None:
    from prefect.client.orchestration import get_client

    from flows.workflow import run_workflow

    doc = workflow("    - {id: only, executor: test:work}", name="named-demo")
    named = run_workflow.with_options(flow_run_name="ticket-4711-refund")
    state = await named(doc, {}, None, return_state=True)
    data = await state.result()
    async with get_client() as client:
        flow_run = await client.read_flow_run(data["run_id"])
    assert flow_run.name == "ticket-4711-refund"


def test_only_names_shaped_like_prefects_generated_ones_are_replaced() -> None:
    from prefect.utilities.names import generate_slug

    from flows.naming import is_generated_name

    assert all(is_generated_name(generate_slug(2)) for _ in range(200))
    for given in ("ticket-4711-refund", "weekly-report", "support-triage-1a2b3c4d", "nightly", "Crimson-Panda"):
        assert not is_generated_name(given), given


async def test_a_run_whose_workflow_does_not_compile_is_named_after_the_file(tmp_path: Any) -> None:
    from prefect.client.orchestration import get_client

    from flows.workflow import run_workflow

    path = tmp_path / "broken-pipeline.yaml"
    path.write_text("apiVersion: orchestrator.llm/v1\nkind: Workflow\nmetadata: {name: x}\nspec: {tasks: [{id: a, executor: nope:thing}]}\n")
    state = await run_workflow(str(path), {}, None, return_state=True)
    assert state.is_failed()
    data = await state.result(raise_on_failure=False)
    async with get_client() as client:
        flow_run = await client.read_flow_run(data["run_id"])
    assert flow_run.name == f"broken-pipeline-{data['run_id'][:8]}"


async def test_flow_parameters_are_validated() -> None:
    from flows.workflow import run_workflow

    state = await run_workflow(workflow=["not", "a", "workflow"], return_state=True)  # type: ignore[arg-type]
    assert state.is_failed()
    assert "workflow" in (state.message or "")


async def test_task_tags_can_be_turned_off_for_wide_fan_outs() -> None:
    from prefect.client.orchestration import get_client

    doc = workflow("    - {id: only, executor: test:work}")
    _, data = await run(doc, config={"orchestrator": {"concurrency": {"task_tags": False}}})
    async with get_client() as client:
        [task_run] = await recorded_task_runs(client, data["run_id"], 1)
    assert task_run.tags == []
