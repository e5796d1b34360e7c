"""Task tags only where Prefect acts on them; runs findable by workflow (flows.tags).

Against the session's real Prefect server (the test harness).  Lease requests are counted on the
wire by a proxy in front of it; tag limits are created with the operator's own command,
``prefect concurrency-limit create``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from compiler.executors import ExecutorSpec
from flows.tags import TaskTags, flow_run_tags
from tasks.base import ExecutorContext, TaskOutput
from tasks.registry import register_executor
from tests.fixtures.counting_proxy import CountingProxy
from tests.flows.helpers import run, work, workflow
from tests.flows.test_engine import recorded_task_runs

pytestmark = pytest.mark.usefixtures("prefect_harness")
LEASE = "/v2/concurrency_limits/increment-with-lease"
LIMITS_READ = "/v2/concurrency_limits/filter"


INTERVALS: list[tuple[str, float, float]] = []  # (run id, start, end) of each timed_work call


async def timed_work(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    started = time.monotonic()
    await asyncio.sleep(float(inputs.get("sleep") or 0))
    INTERVALS.append((ctx.run_id, started, time.monotonic()))
    return TaskOutput({"value": inputs.get("key")})


def most_at_once(intervals: list[tuple[str, float, float]]) -> int:
    events = sorted([(start, 1) for _, start, _ in intervals] + [(end, -1) for _, _, end in intervals])
    active = peak = 0
    for _, step in events:  # an end sorts before a start at the same instant
        active += step
        peak = max(peak, active)
    return peak


def fresh_executor(body: Any = work) -> str:
    """An executor in a namespace of its own, so its tag is this test's alone (limits are global)."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    register_executor(ExecutorSpec(f"{namespace}:work", frozenset({"custom"}), None, {"value": "any"}, "probe",
                                   open_outputs=True), body)
    return namespace


def fan_out(namespace: str, items: int, sleep: float = 0.0, parallel: int = 20) -> dict[str, Any]:
    return workflow(f"""
    - id: each
      executor: {namespace}:work
      forEach: ${{{{ workflow.inputs.items }}}}
      inputs: {{key: "each-${{{{ index }}}}", sleep: {sleep}}}
""", inputs="  inputs: [{name: items, type: array}]", extra=f"  concurrency: {{maxParallelTasks: {parallel}}}")


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def prefect_cli(*args: str) -> str:
    env = {**os.environ, "PREFECT_API_URL": api_url()}
    done = subprocess.run([str(Path(sys.executable).parent / "prefect"), *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_without_tag_limits_task_runs_make_no_lease_requests_and_the_limits_are_read_once() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    namespace = fresh_executor()
    doc = fan_out(namespace, 12)
    with CountingProxy(api_url()) as proxy, temporary_settings(updates={PREFECT_API_URL: proxy.api_url}):
        state, data = await run(doc, {"items": list(range(12))})
        assert state.is_completed(), data
        auto = (proxy.count("POST", LEASE), proxy.count("POST", LIMITS_READ))
        proxy.reset()
        # The same run carrying its tags (the old behaviour): the proxy does see lease requests.
        state, _ = await run(doc, {"items": list(range(12))}, config={"orchestrator": {"concurrency": {"task_tags": "always"}}})
        assert state.is_completed()
        always = (proxy.count("POST", LEASE), proxy.count("POST", LIMITS_READ))
    assert auto == (0, 1)
    assert always[0] >= 1 and always[1] == 0


async def test_a_tag_concurrency_limit_bounds_task_runs_across_flows() -> None:
    from prefect.client.orchestration import get_client

    namespace = fresh_executor(timed_work)
    prefect_cli("concurrency-limit", "create", namespace, "2")
    doc = fan_out(namespace, 3, sleep=2.5, parallel=3)
    overlapped = False
    try:
        # On a loaded machine one flow can start late enough to find the other already done, which
        # proves nothing about a limit across flows: such a pair is run again (at most three pairs).
        for _ in range(3):
            INTERVALS.clear()
            (s1, d1), (s2, d2) = await asyncio.gather(run(doc, {"items": list(range(3))}),
                                                      run(doc, {"items": list(range(3))}))
            assert s1.is_completed() and s2.is_completed(), (d1, d2)
            # Each flow alone would run its 3 items at once; the limit lets 2 run across both flows.
            assert most_at_once(INTERVALS) == 2
            overlapped = any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in INTERVALS for b in INTERVALS)
            if overlapped:
                break
        async with get_client() as client:
            task_runs = await recorded_task_runs(client, d1["run_id"], 3)
    finally:
        prefect_cli("concurrency-limit", "delete", namespace)
    assert overlapped, "the two flows never ran at the same time"
    assert {tuple(t.tags) for t in task_runs} == {(namespace,)}  # the limited tag only, not the type


async def test_never_carries_no_tags_even_with_a_limit_and_always_carries_both() -> None:
    from prefect.client.orchestration import get_client

    namespace = fresh_executor()
    doc = workflow(f"    - {{id: only, executor: {namespace}:work}}")
    tags = {}
    for mode in ("never", "always", "auto"):
        _, data = await run(doc, config={"orchestrator": {"concurrency": {"task_tags": mode}}})
        async with get_client() as client:
            [task_run] = await recorded_task_runs(client, data["run_id"], 1)
        tags[mode] = sorted(task_run.tags)
    assert tags == {"never": [], "always": ["custom", namespace], "auto": []}


async def test_flow_runs_are_tagged_with_the_workflow_and_its_labels() -> None:
    from prefect.client.orchestration import get_client

    doc = workflow(f"    - {{id: only, executor: {fresh_executor()}:work}}", name="tagged-pipeline")
    doc["metadata"]["labels"] = {"team": "search", "tier": "gold"}
    state, data = await run(doc)
    assert state.is_completed(), data
    async with get_client() as client:
        flow_run = await client.read_flow_run(data["run_id"])
    assert {"workflow:tagged-pipeline", "team:search", "tier:gold"} <= set(flow_run.tags)


def test_flow_run_tags_keep_existing_tags_first_and_never_repeat() -> None:
    class Plan:
        name = "w"

        class workflow:  # noqa: N801 - the attribute path a plan has
            class metadata:  # noqa: N801
                labels = {"team": "a"}

    assert flow_run_tags(Plan, ["deployed", "workflow:w"]) == ["deployed", "workflow:w", "team:a"]


@pytest.mark.parametrize(("value", "mode"), [(True, "auto"), (False, "never"), ("Always", "always"), ("auto", "auto")])
def test_task_tags_config_accepts_the_modes_and_the_old_booleans(value: Any, mode: str) -> None:
    from blocks.settings import settings_from_mapping

    settings = settings_from_mapping({"orchestrator": {"concurrency": {"task_tags": value}}})
    assert settings.concurrency.task_tags == mode


def test_task_tags_config_rejects_other_values() -> None:
    from blocks.settings import ConfigError, settings_from_mapping

    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"orchestrator": {"concurrency": {"task_tags": "sometimes"}}})
    assert "task_tags" in str(caught.value.diagnostics[0])


def test_auto_carries_only_limited_tags() -> None:
    class Node:
        tags = ("llm-forge", "llm")

    assert TaskTags("auto", frozenset({"llm-forge"})).for_node(Node) == ("llm-forge",)
    assert TaskTags("auto").for_node(Node) == ()


async def test_auto_carries_every_tag_when_the_limits_cannot_be_read(caplog: pytest.LogCaptureFixture) -> None:
    from prefect.client.orchestration import PrefectClient

    from flows.tags import task_tags_for_run

    client = PrefectClient("http://127.0.0.1:9/api")  # nothing listens on port 9 (discard)
    try:
        policy = await task_tags_for_run("auto", client=client)
    finally:
        await client._client.aclose()
    assert policy == TaskTags("always")  # a limit an operator set is never skipped because a read failed
    assert "could not read Prefect's tag concurrency limits" in caplog.text
