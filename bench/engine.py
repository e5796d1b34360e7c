"""Engine overhead: the compiled workflow against the same work hand-written in Prefect.

(a) A 50-task DAG (5 layers of 10, each task after two of the previous layer) of an executor
    that sleeps 100 ms, compiled from YAML and run by the scheduler, against the same DAG
    hand-written as an async Prefect flow (each task started as soon as its parents finish).
(b) 200 independent 200 ms tasks with maxParallelTasks 20, against the ideal
    ceil(200/20) x 200 ms, against plain asyncio with a semaphore (no Prefect at all), and against
    the same fan-out hand-written in Prefect (a semaphore around task calls).
Each figure is taken against two servers, each in a process of its own: Prefect's temporary
SQLite-backed server (what ``llm-orchestrator run`` starts) and ``prefect server start`` on
PostgreSQL (as in production; skipped when PostgreSQL is not reachable).  Compiled runs use the
default settings (``concurrency.task_tags: auto``: with no tag limit on the server, task runs
carry no tags), so the hand-written tasks carry none either; (b) is also measured with
``task_tags: always`` (every task run asks Prefect for a tag-concurrency lease).
Targets (issues 3 and 12, on PostgreSQL): compiled_vs_prefect <= 1.10,
fanout_vs_hand_written_prefect <= 1.15, fanout_vs_ideal <= 1.5.
Last line: one JSON object; the top-level figures are PostgreSQL's (SQLite's when PostgreSQL is
not reachable), and each server's figures are under its name.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
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


@task  # no tags: a compiled bench:sleep task run carries none while the server has no tag limit
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


def main() -> None:
    """Measure against each server in a child process, then print both and the summary line."""
    from _common import client_env, postgres_server, temporary_server

    folder = Path(tempfile.mkdtemp(prefix="llmo-bench-engine-"))
    figures: dict[str, dict[str, object]] = {}
    for name, server in (("sqlite", temporary_server), ("postgres", postgres_server)):
        with server() as url:
            if url is None:
                continue
            done = subprocess.run([sys.executable, __file__, "--measure", name], env=client_env(url, folder / name),
                                  capture_output=True, text=True, timeout=3600)
            if done.returncode != 0:
                raise SystemExit(f"engine bench against {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            lines = done.stdout.strip().splitlines()
            print("\n".join(lines[:-1]), flush=True)
            figures[name] = json.loads(lines[-1])
    main_server = "postgres" if "postgres" in figures else "sqlite"
    top = {key: figures[main_server][key] for key in ("compiled_vs_prefect", "fanout_vs_hand_written_prefect", "fanout_vs_ideal")}
    print(json.dumps({"bench": "engine", **top, "targets_on": main_server, **figures}))


async def measure(server: str) -> dict[str, object]:
    print(f"server: {server}")
    # The workflows as a user writes them: YAML files, compiled by the flow at run time (as
    # `llm-orchestrator run FILE` and deployments do).
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    dag, fan = str(folder / "dag.yaml"), str(folder / "fanout.yaml")
    Path(dag).write_text(yaml.safe_dump(dag_document()))
    Path(fan).write_text(yaml.safe_dump(fanout_document()))
    # Warm up the server and both code paths once.
    await run_workflow(dag, {}, None, return_state=True)
    await hand_written_dag(return_state=True)
    # Interleaved, best of several each: every variant sees the same drift in the server's load
    # (on a shared 2-core machine a run's wall time swings by half from one minute to the next).
    compiled, hand = math.inf, math.inf
    for _ in range(7):
        compiled = min(compiled, await timed(lambda: run_workflow(dag, {}, None, return_state=True), repeat=1))
        hand = min(hand, await timed(lambda: hand_written_dag(return_state=True), repeat=1))
    tagged_config = {"orchestrator": {"concurrency": {"task_tags": "always"}}}
    fanout, tagged, hand_fanout = math.inf, math.inf, math.inf
    for _ in range(3):
        fanout = min(fanout, await timed(lambda: run_workflow(fan, {}, None, return_state=True), repeat=1))
        tagged = min(tagged, await timed(lambda: run_workflow(fan, {}, tagged_config, return_state=True), repeat=1))
        hand_fanout = min(hand_fanout, await timed(lambda: hand_written_fanout(return_state=True), repeat=1))
    plain = await timed(plain_asyncio_fanout, repeat=2)
    ideal = math.ceil(FANOUT / LIMIT) * FAN_STEP
    critical = LAYERS * STEP
    print(f"(a) 50-task DAG, critical path {critical:.2f}s: compiled {compiled:.3f}s, hand-written Prefect {hand:.3f}s, "
          f"ratio {compiled / hand:.3f}")
    print(f"(b) {FANOUT} x {FAN_STEP}s at {LIMIT} parallel: compiled {fanout:.3f}s, hand-written Prefect {hand_fanout:.3f}s "
          f"(ratio {fanout / hand_fanout:.3f}), ideal {ideal:.3f}s, plain asyncio {plain:.3f}s; vs ideal {fanout / ideal:.3f}")
    print(f"    every task run tagged (task_tags: always): {tagged:.3f}s, vs ideal {tagged / ideal:.3f}")
    return {
        "compiled_vs_prefect": round(compiled / hand, 3),
        "fanout_vs_hand_written_prefect": round(fanout / hand_fanout, 3),
        "fanout_vs_ideal": round(fanout / ideal, 3),
        "prefect_vs_asyncio": round(fanout / plain, 3),
        "dag_compiled_s": round(compiled, 3),
        "dag_hand_written_s": round(hand, 3),
        "fanout_s": round(fanout, 3),
        "fanout_hand_written_s": round(hand_fanout, 3),
        "fanout_tagged_vs_ideal": round(tagged / ideal, 3),
        "hand_written_fanout_vs_ideal": round(hand_fanout / ideal, 3),
        "server": server,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(asyncio.run(measure(sys.argv[2]))))
    else:
        main()
