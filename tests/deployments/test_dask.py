"""`task_runner: dask`: a workflow's task runs on a Dask cluster through prefect-dask.

The same 100-item forEach runs on the default runner and on a LocalCluster with two workers:
same outputs, and every task run went through the cluster (rebuilt there from the shipped run
description, the path a worker on another machine takes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.workflows import fan_out, write
from tests.flows.helpers import run

pytest.importorskip("prefect_dask")
pytestmark = pytest.mark.usefixtures("prefect_harness")

CONFIG: dict[str, Any] = {"orchestrator": {
    "concurrency": {"max_parallel_tasks": 16},
    "integrations": {"llm-forge": {"offline": True, "offline_latency": 0.0}},
}}


def _config(task_runner: str) -> dict[str, Any]:
    return {"orchestrator": {**CONFIG["orchestrator"], "task_runner": task_runner}}


@pytest.fixture(scope="module")
def threads_cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=4, processes=False, dashboard_address=None) as cluster:
        yield cluster


def _executed(cluster: Any) -> int:
    """Task runs of ours that the cluster's scheduler has seen reach memory (finish)."""
    prefix = cluster.scheduler.task_prefixes.get("run_remote_node")
    return int(prefix.state_counts.get("memory", 0)) if prefix is not None else 0


async def test_a_100_item_foreach_on_dask_matches_the_default_runner(threads_cluster: Any, tmp_path: Path) -> None:
    path = str(write(tmp_path, "fan-out.yaml", fan_out()))
    items = [f"thing {i}" for i in range(100)]
    state, default = await run(path, {"items": items}, _config("default"))  # type: ignore[arg-type]
    assert state.is_completed(), state.message
    before = _executed(threads_cluster)
    state, dask = await run(path, {"items": items}, _config(f"dask:{threads_cluster.scheduler_address}"))  # type: ignore[arg-type]
    assert state.is_completed(), state.message
    assert dask["outputs"] == default["outputs"]
    assert len(dask["outputs"]["responses"]) == 100 and dask["outputs"]["text"].startswith("100 responses")
    assert dask["tasks"]["shout"]["state"] == "completed" and dask["tasks"]["shout"]["items"] == 100
    assert _executed(threads_cluster) - before == 101  # 100 items + the transform, all on the cluster


async def test_dask_worker_processes_rebuild_the_run_from_what_is_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers in other processes have no live run objects: they rebuild it and produce the same outputs."""
    monkeypatch.setenv("LLM_ORCHESTRATOR_DASK_CLUSTER_KWARGS",
                       '{"n_workers": 2, "threads_per_worker": 2, "processes": true, "dashboard_address": ":0"}')
    path = str(write(tmp_path, "fan-out.yaml", fan_out("fan-out-procs")))
    items = [f"p{i}" for i in range(8)]
    _, default = await run(path, {"items": items}, _config("default"))  # type: ignore[arg-type]
    state, dask = await run(path, {"items": items}, _config("dask"))  # type: ignore[arg-type]
    assert state.is_completed(), state.message
    assert dask["outputs"] == default["outputs"]


async def test_an_unknown_task_runner_fails_the_run_before_any_task(tmp_path: Path) -> None:
    path = str(write(tmp_path, "fan-out.yaml", fan_out()))
    state, data = await run(path, {"items": ["a"]}, _config("ray"))  # type: ignore[arg-type]
    assert state.is_failed()
    assert "unknown task runner 'ray'" in state.message and data["tasks"] == {}


def test_run_task_runner_option_validates_and_sets_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from flows.taskrunner import TASK_RUNNER_ENV
    from llm_orchestrator.cli_deploy import apply_task_runner

    monkeypatch.delenv(TASK_RUNNER_ENV, raising=False)
    apply_task_runner("dask:tcp://127.0.0.1:8786")
    import os

    assert os.environ[TASK_RUNNER_ENV] == "dask:tcp://127.0.0.1:8786"
    with pytest.raises(typer.Exit) as caught:
        apply_task_runner("spark")
    assert caught.value.exit_code == 2 and TASK_RUNNER_ENV not in os.environ
