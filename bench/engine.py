"""Engine overhead, measured in one process and one run.

(a) A 50-task DAG (5 layers of 10, each task after two of the previous layer) of an executor
    that sleeps 100 ms, compiled from YAML and run by the scheduler, against the same DAG
    hand-written as an async Prefect flow (each task started as soon as its parents finish).
(b) 200 independent 200 ms tasks with maxParallelTasks 20, against the ideal
    ceil(200/20) x 200 ms and against plain asyncio with a semaphore (no Prefect at all); for
    reference, the same fan-out hand-written in Prefect (a semaphore around task calls).
Targets (issue 3): compiled / hand-written Prefect <= 1.10; fan-out wall <= 1.5x ideal.
Both Prefect variants talk to the same Prefect server: a `prefect server start` on PostgreSQL
when PostgreSQL is reachable (as in production), else Prefect's temporary SQLite server.  The
hand-written flow tags its task runs as the compiled ones are, so both pay the same per-task
API work.  The compiled runs use the
default settings, so task runs carry their [namespace, type] tags, for which Prefect takes a
tag-concurrency lease per task run; (b) is also measured with `concurrency.task_tags: false`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")

import yaml  # noqa: E402
from prefect import flow, task  # noqa: E402

from compiler.executors import ExecutorSpec  # noqa: E402
from flows.workflow import run_workflow  # noqa: E402
from tasks.base import TaskOutput  # noqa: E402
from tasks.registry import register_executor  # noqa: E402

LAYERS, WIDTH, STEP = 5, 10, 0.1
FANOUT, LIMIT, FAN_STEP = 200, 20, 0.2


async def sleeper(inputs: dict, ctx: object) -> TaskOutput:  # type: ignore[type-arg]
    await asyncio.sleep(float(inputs["sleep"]))
    return TaskOutput({"done": True})


register_executor(ExecutorSpec("bench:sleep", frozenset({"custom"}), None, {"done": "boolean"}, "sleeps"), sleeper)


def parents(layer: int, i: int) -> list[str]:
    if layer == 0:
        return []
    return [f"t{layer - 1}_{i}", f"t{layer - 1}_{(i + 1) % WIDTH}"]


def dag_document() -> dict:  # type: ignore[type-arg]
    tasks = []
    for layer in range(LAYERS):
        for i in range(WIDTH):
            tasks.append({"id": f"t{layer}_{i}", "executor": "bench:sleep", "dependsOn": parents(layer, i), "inputs": {"sleep": STEP}})
    return {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": "bench-dag"},
            "spec": {"concurrency": {"maxParallelTasks": 50}, "tasks": tasks}}


def fanout_document() -> dict:  # type: ignore[type-arg]
    tasks = [{"id": f"f{i}", "executor": "bench:sleep", "inputs": {"sleep": FAN_STEP}} for i in range(FANOUT)]
    return {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": "bench-fanout"},
            "spec": {"concurrency": {"maxParallelTasks": LIMIT}, "tasks": tasks}}


@task(tags=["bench", "custom"])  # the tags a compiled bench:sleep task run carries
async def sleep_task(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return True


@flow(name="hand-written-dag")
async def hand_written_dag() -> None:
    started: dict[str, asyncio.Task[bool]] = {}

    async def node(name: str, deps: list[str]) -> bool:
        await asyncio.gather(*(started[d] for d in deps))
        return await sleep_task.with_options(task_run_name=name)(STEP)

    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"t{layer}_{i}"
            started[name] = asyncio.create_task(node(name, parents(layer, i)))
    await asyncio.gather(*started.values())


@flow(name="hand-written-fanout")
async def hand_written_fanout() -> None:
    semaphore = asyncio.Semaphore(LIMIT)

    async def one(i: int) -> bool:
        async with semaphore:
            return await sleep_task.with_options(task_run_name=f"f{i}")(FAN_STEP)

    await asyncio.gather(*(one(i) for i in range(FANOUT)))


async def plain_asyncio_fanout() -> None:
    semaphore = asyncio.Semaphore(LIMIT)

    async def one() -> None:
        async with semaphore:
            await asyncio.sleep(FAN_STEP)

    await asyncio.gather(*(one() for _ in range(FANOUT)))


async def timed(coro_factory, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        result = await coro_factory()
        best = min(best, time.perf_counter() - started)
        state = getattr(result, "type", None)
        if state is not None and not result.is_completed():
            raise SystemExit(f"benchmark run failed: {result.message}")
    return best


async def main() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.testing import pg_available, prefect_server

    if pg_available() is None:
        with prefect_server() as server, temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            await measure("prefect server on PostgreSQL")
    else:
        await measure("Prefect's temporary SQLite server")


async def measure(server: str) -> None:
    print(f"server: {server}")
    # The workflows as a user writes them: YAML files, compiled by the flow at run time (as
    # `llm-orchestrator run FILE` and deployments do).
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    dag, fan = str(folder / "dag.yaml"), str(folder / "fanout.yaml")
    Path(dag).write_text(yaml.safe_dump(dag_document()))
    Path(fan).write_text(yaml.safe_dump(fanout_document()))
    # Warm up the temporary server and both code paths once.
    await run_workflow(dag, {}, None, return_state=True)
    await hand_written_dag(return_state=True)
    # Interleaved, best of several each: every variant sees the same drift in the server's load
    # (on a shared 2-core machine a run's wall time swings by half from one minute to the next).
    compiled, hand = math.inf, math.inf
    for _ in range(7):
        compiled = min(compiled, await timed(lambda: run_workflow(dag, {}, None, return_state=True), repeat=1))
        hand = min(hand, await timed(lambda: hand_written_dag(return_state=True), repeat=1))
    untagged_config = {"orchestrator": {"concurrency": {"task_tags": False}}}
    fanout, untagged, hand_fanout = math.inf, math.inf, math.inf
    for _ in range(3):
        fanout = min(fanout, await timed(lambda: run_workflow(fan, {}, None, return_state=True), repeat=1))
        untagged = min(untagged, await timed(lambda: run_workflow(fan, {}, untagged_config, return_state=True), repeat=1))
        hand_fanout = min(hand_fanout, await timed(lambda: hand_written_fanout(return_state=True), repeat=1))
    plain = await timed(plain_asyncio_fanout, repeat=2)
    ideal = math.ceil(FANOUT / LIMIT) * FAN_STEP
    critical = LAYERS * STEP
    print(f"(a) 50-task DAG, critical path {critical:.2f}s: compiled {compiled:.3f}s, hand-written Prefect {hand:.3f}s, "
          f"ratio {compiled / hand:.3f}")
    print(f"(b) {FANOUT} x {FAN_STEP}s at {LIMIT} parallel: compiled {fanout:.3f}s, ideal {ideal:.3f}s, "
          f"plain asyncio {plain:.3f}s; vs ideal {fanout / ideal:.3f}, Prefect vs asyncio {fanout / plain:.3f}")
    print(f"    without task tags: {untagged:.3f}s, vs ideal {untagged / ideal:.3f}; "
          f"the same fan-out hand-written in Prefect: {hand_fanout:.3f}s, vs ideal {hand_fanout / ideal:.3f}")
    print(json.dumps({
        "bench": "engine",
        "compiled_vs_prefect": round(compiled / hand, 3),
        "fanout_vs_ideal": round(fanout / ideal, 3),
        "prefect_vs_asyncio": round(fanout / plain, 3),
        "dag_compiled_s": round(compiled, 3),
        "dag_hand_written_s": round(hand, 3),
        "fanout_s": round(fanout, 3),
        "fanout_untagged_vs_ideal": round(untagged / ideal, 3),
        "hand_written_fanout_vs_ideal": round(hand_fanout / ideal, 3),
        "server": server,
    }))


if __name__ == "__main__":
    asyncio.run(main())
