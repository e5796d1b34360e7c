"""Scale-out, measured in one run against one real Prefect server on PostgreSQL.

(a) Throughput: a small offline workflow deployed to a process work pool; N flow runs created at
    once and drained by one process worker, then N more by two workers (runs per minute, from
    the first run's creation to the last run's end).
(b) Per-task overhead the server adds: a 20-task chain run in-process as the Prefect flow against
    that server, against the same executor bodies awaited one after another in plain asyncio.
Bounded: every phase has a deadline; the whole bench stays under 5 minutes.
Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
_HOME = tempfile.mkdtemp(prefix="llmo-bench-scale-")
os.environ.setdefault("PREFECT_HOME", os.path.join(_HOME, "prefect"))
os.environ["LLM_ORCHESTRATOR_HOME"] = os.path.join(_HOME, "data")

RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "12"))
CHAIN = 20
PHASE_DEADLINE = 100.0

SMALL = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: bench-small}
spec:
  inputs:
    - {name: topic, type: string, default: scaling}
  tasks:
    - id: ask
      type: llm
      executor: llm-forge:claude-api
      inputs: {prompt: "one line on ${{ workflow.inputs.topic }}", config: {model: claude-haiku-4-5, max_tokens: 30}}
    - id: shape
      executor: orchestrator:template
      inputs: {template: "answer: {{ a }}", values: {a: "${{ tasks.ask.outputs.response }}"}}
  outputs:
    text: ${{ tasks.shape.outputs.text }}
"""


def chain(n: int) -> str:
    tasks = []
    for i in range(n):
        after = f", dependsOn: [t{i - 1}]" if i else ""
        tasks.append(f"    - {{id: t{i}, executor: 'orchestrator:template', inputs: {{template: 'step {{{{ i }}}}', values: {{i: {i}}}}}{after}}}")
    return "apiVersion: orchestrator.llm/v1\nkind: Workflow\nmetadata: {name: bench-chain}\nspec:\n  tasks:\n" + "\n".join(tasks) + "\n"


async def drain(deployment_id: object, n: int) -> float:
    """Create n runs at once; seconds until every one is final (raises past the deadline)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        started = time.perf_counter()
        runs = [await client.create_flow_run_from_deployment(deployment_id, parameters={"inputs": {"topic": f"t{i}"}})
                for i in range(n)]
        pending = {r.id for r in runs}
        while pending:
            if time.perf_counter() - started > PHASE_DEADLINE:
                raise TimeoutError(f"{len(pending)} of {n} runs unfinished after {PHASE_DEADLINE:.0f}s")
            await asyncio.sleep(0.5)
            for run_id in list(pending):
                state = (await client.read_flow_run(run_id)).state
                if state is not None and state.is_final():
                    if not state.is_completed():
                        raise RuntimeError(f"run {run_id} ended {state.name}: {state.message}")
                    pending.discard(run_id)
        return time.perf_counter() - started


async def overhead(path: str) -> float:
    """(flow on the server - plain asyncio) / tasks, in ms."""
    from blocks.clients import Clients
    from blocks.settings import OrchestratorSettings
    from compiler.compile import compile_file
    from flows.workflow import run_workflow
    from tasks.base import ExecutorContext
    from tasks.registry import body_for
    from tasks.state import WorkflowRun

    await run_workflow(path, {}, None)  # warm: imports, flow registration, first connections
    started = time.perf_counter()
    state = await run_workflow(path, {}, None, return_state=True)
    with_prefect = time.perf_counter() - started
    assert state.is_completed(), state.message
    plan = compile_file(path).plan
    import logging

    plain_run = WorkflowRun(plan, {}, Clients(OrchestratorSettings(offline=True)), "plain")
    started = time.perf_counter()
    for node in plan.main_nodes:
        ctx = ExecutorContext(node=node, run=plain_run, attempt=1, logger=logging.getLogger("bench"))
        await body_for(node.spec)(dict(node.inputs), ctx)
    plain = time.perf_counter() - started
    return (with_prefect - plain) / len(plan.main_nodes) * 1000


def main() -> None:
    from deployments.build import collect
    from deployments.testing import pg_available, prefect_server, worker

    reason = pg_available()
    if reason:
        sys.exit(f"bench/scale.py needs PostgreSQL: {reason}")
    work = Path(_HOME)
    small = work / "bench-small.yaml"
    small.write_text(SMALL)
    chained = work / "bench-chain.yaml"
    chained.write_text(chain(CHAIN))
    env = {"LLM_ORCHESTRATOR_OFFLINE": "1", "LLM_ORCHESTRATOR_HOME": os.path.join(_HOME, "worker-data")}
    bench_started = time.perf_counter()
    with prefect_server() as server:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: server.api_url}):
            from deployments.apply import apply_all

            ids = asyncio.run(apply_all(collect([small]), "bench"))
            deployment_id = ids["llm-workflow/bench-small"]
            with worker(server, "bench", env=env, name="w1"):
                one = asyncio.run(drain(deployment_id, RUNS))
                with worker(server, "bench", env=env, name="w2"):
                    two = asyncio.run(drain(deployment_id, RUNS))
            per_task = asyncio.run(overhead(str(chained)))
    per_min_1 = RUNS / one * 60
    per_min_2 = RUNS / two * 60
    print(f"{RUNS} runs, 1 worker: {one:.1f}s ({per_min_1:.1f}/min); 2 workers: {two:.1f}s ({per_min_2:.1f}/min); "
          f"{CHAIN}-task chain: {per_task:.1f} ms/task over plain asyncio; bench {time.perf_counter() - bench_started:.0f}s; "
          f"{os.cpu_count()} CPU(s)")
    print(json.dumps({"bench": "scale", "runs_per_min_1_worker": round(per_min_1, 2),
                      "runs_per_min_2_workers": round(per_min_2, 2), "two_vs_one": round(per_min_2 / per_min_1, 3),
                      "per_task_overhead_ms": round(per_task, 2)}))


if __name__ == "__main__":
    main()
