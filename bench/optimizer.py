"""Auto-Optimizer: one workflow as written, then with its recommendations applied.

Offline Forge with per-model latency and cost (``offline_models``): claude-sonnet-4-5 answers in
400 ms for 0.01 USD a call, claude-haiku-4-5 in 100 ms for 0.002 USD; both give the same canned
answer, which is also the ground truth Test-Bench auto-evaluates against (``exact_match``), so
their quality is equal by construction.  The workflow (``bench-optimizer``):

    draft     llm, forEach over 4 documents, sonnet            (a ModelSwitch candidate)
    context   llm, sonnet, dependsOn [draft] but reads nothing  (a Parallelization candidate)
    glossary  llm, sonnet, the same prompt every run            (a Caching candidate)

History: one run with draft on haiku, four as written (every metric collected into a scratch
SQLite store).  Then one warm-up run with ``auto-optimizer.apply-recommendations`` (the cache a Caching
recommendation enables is filled by the first run that has it; the 300 s recommendation cache
keeps the advice the same for every applied run), and three pairs of (as written, applied)
runs; the best wall time of each side is compared (the temporary Prefect server now and then
stalls a run by a second or two).  Every run gets new documents, so only ``glossary`` repeats.
Wall time is end to end (what a user waits for); the scheduler's own duration is printed too.  Last line:
``{"bench": "optimizer", "cost_ratio": R, "wall_ratio": R}`` (applied / as written; lower is better).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_HOME = tempfile.mkdtemp(prefix="llmo-bench-optimizer-")
os.environ["PREFECT_HOME"] = os.path.join(_HOME, "prefect")  # a fresh result cache every time
os.environ["LLM_ORCHESTRATOR_HOME"] = os.path.join(_HOME, "data")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")

from flows.workflow import run_workflow  # noqa: E402

SONNET, HAIKU = "claude-sonnet-4-5", "claude-haiku-4-5"
ANSWER = "A short, faithful summary."
REPEAT = 3

CONFIG: dict[str, Any] = {
    "offline": True,
    "storage": {"url": f"sqlite:///{_HOME}/store.db"},
    "integrations": {
        "llm-forge": {
            "offline": True,
            "offline_responses": {"Summarize": ANSWER, "Glossary": "Terms: EBITDA, churn.", "Context": "Context."},
            "offline_models": {SONNET: {"latency": 0.4, "cost": 0.01}, HAIKU: {"latency": 0.1, "cost": 0.002}},
        },
        "llm-test-bench": {"default_metrics": ["exact_match"]},
        "llm-auto-optimizer": {"min_samples": 4, "bootstrap_resamples": 500},
    },
}


def document(draft_model: str, *, apply: bool) -> dict[str, Any]:
    annotations = {"auto-optimizer.enabled": "true", "test-bench.auto-evaluate": "true"}
    if apply:
        annotations["auto-optimizer.apply-recommendations"] = "true"
    llm = {"type": "llm", "executor": "llm-forge:claude-api"}
    return {
        "apiVersion": "orchestrator.llm/v1",
        "kind": "Workflow",
        "metadata": {"name": "bench-optimizer", "annotations": annotations},
        "spec": {
            "inputs": [{"name": "docs", "type": "array"}, {"name": "expected_response", "type": "string"}],
            "tasks": [
                {"id": "draft", **llm, "forEach": "${{ workflow.inputs.docs }}",
                 "inputs": {"prompt": "Summarize ${{ item }}", "config": {"model": draft_model}}},
                {"id": "context", **llm, "dependsOn": ["draft"],
                 "inputs": {"prompt": "Context for ${{ workflow.id }}", "config": {"model": SONNET}}},
                {"id": "glossary", **llm, "inputs": {"prompt": "Glossary of finance terms", "config": {"model": SONNET}}},
            ],
            "outputs": {"summaries": {"value": "${{ tasks.draft.outputs.response }}"}},
        },
    }


_runs = 0


async def one(doc: dict[str, Any]) -> tuple[dict[str, Any], float]:
    global _runs
    _runs += 1
    docs = [f"quarterly report {_runs}-{i}" for i in range(4)]  # new documents every run: no repeats
    written = copy.deepcopy(doc)
    started = time.perf_counter()
    state = await run_workflow(doc, {"docs": docs, "expected_response": ANSWER}, CONFIG, return_state=True)
    wall = time.perf_counter() - started
    data = await state.result(raise_on_failure=False)
    if not state.is_completed():
        raise SystemExit(f"benchmark run failed: {data.get('error')}")
    assert doc == written, "the workflow document must never be edited"
    print(f"  run {_runs}: wall {wall:.3f}s, scheduler {data['duration']:.3f}s", flush=True)
    return data, wall


def cost(data: dict[str, Any]) -> float:
    return float(data["total_cost"])


def quality(data: dict[str, Any]) -> float:
    """Mean Test-Bench score of the run's draft calls, from the metrics the run stored."""
    import statistics

    from sqlalchemy import select

    from ecosystem.store import Store
    from ecosystem.store.optimizer_models import PerformanceMetricRow

    with Store.open(CONFIG["storage"]["url"]) as store, store.session(readonly=True) as session:
        scores = list(session.scalars(select(PerformanceMetricRow.quality_score).where(
            PerformanceMetricRow.run_id == data["run_id"], PerformanceMetricRow.task_id == "draft")))
    return statistics.mean(s for s in scores if s is not None)


def describe(label: str, data: dict[str, Any], wall: float) -> None:
    tasks = data["tasks"]
    states = ", ".join(f"{t}={r['state']}" + (f" ({r['model']})" if r.get("model") else "") for t, r in tasks.items())
    print(f"{label}: wall {wall:.3f}s (scheduler {data['duration']:.3f}s), cost {cost(data):.4f} USD, "
          f"draft quality {quality(data):.3f}; {states}")


async def main() -> None:
    print("building history: 1 run with draft on haiku, 4 as written ...", flush=True)
    await one(document(HAIKU, apply=False))
    for _ in range(4):
        await one(document(SONNET, apply=False))
    print("warm-up applied run (fills the cache a Caching recommendation enabled) ...", flush=True)
    warmup, warmup_wall = await one(document(SONNET, apply=True))
    print(f"measuring {REPEAT} x (as written, applied); best wall of each ...", flush=True)
    pairs = []
    for _ in range(REPEAT):
        pairs.append((await one(document(SONNET, apply=False)), await one(document(SONNET, apply=True))))
    written, written_wall = min((p[0] for p in pairs), key=lambda r: r[1])
    applied, applied_wall = min((p[1] for p in pairs), key=lambda r: r[1])
    describe("as written", written, written_wall)
    describe("applied (warm-up)", warmup, warmup_wall)
    describe("applied", applied, applied_wall)
    for sentence in applied["applied"]:
        print(f"  applied: {sentence}")
    cost_ratio = cost(applied) / cost(written)
    wall_ratio = applied_wall / written_wall
    print(f"cost ratio {cost_ratio:.3f} ({cost(applied):.4f} / {cost(written):.4f} USD); wall ratio {wall_ratio:.3f} "
          f"({applied_wall:.3f} / {written_wall:.3f} s); scheduler ratio {applied['duration'] / written['duration']:.3f}")
    print(json.dumps({"bench": "optimizer", "cost_ratio": round(cost_ratio, 3), "wall_ratio": round(wall_ratio, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
