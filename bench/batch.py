"""Batch mode: a 200-item forEach on the offline provider, per-call vs batch, and what waiting holds.

(a) Cost: the same 200-item ``forEach`` (offline provider, ``offline_cost`` 0.002 USD a call) run
    once per call (``config.mode: online``) and once as one batch (``mode: batch``; items cost
    ``offline_batch_discount`` = 50% of a call, as at the three providers).  ``cost_ratio`` is
    batch / per-call, from the runs' recorded costs.
(b) Waiting: a 20-item batch whose offline provider takes ``WAIT`` (60) seconds of fake provider
    time.  This engine waits by polling on asyncio sleeps (``tasks/batch.py`` says why, not
    Prefect suspend/resume), so what a wait holds is measured directly: ``slot_held_s``, the
    seconds the batch task held a ``maxParallelTasks`` slot (the compute a worker gives it);
    ``cpu_s_while_waiting``, the CPU the whole process spent over the wait (polls included);
    ``polls``; and ``process_alive_s``, the wall time the flow-run process stayed alive for
    it - the honest cost of polling over suspend/resume, which would end the process.

Last line: ``{"bench": "batch", "items": 200, "cost_ratio": R, "wait_s": 60, "slot_held_s": S,
"cpu_s_while_waiting": C, "polls": N, "process_alive_s": A}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_HOME = tempfile.mkdtemp(prefix="llmo-bench-batch-")
os.environ["PREFECT_HOME"] = os.path.join(_HOME, "prefect")
os.environ["LLM_ORCHESTRATOR_HOME"] = os.path.join(_HOME, "data")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from flows.workflow import run_workflow  # noqa: E402
from tasks.state import Slot  # noqa: E402

ITEMS = 200
WAIT = float(os.environ.get("BENCH_BATCH_WAIT", "60"))


def config(**forge: Any) -> dict[str, Any]:
    return {"offline": True, "storage": {"url": f"sqlite:///{_HOME}/store.db"},
            "integrations": {"llm-forge": {"offline": True, "offline_cost": 0.002, **forge}}}


def document(mode: str, items: int) -> dict[str, Any]:
    return {
        "apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": f"bench-batch-{mode}"},
        "spec": {
            "inputs": [{"name": "docs", "type": "array", "required": True}],
            "concurrency": {"maxParallelTasks": 20},
            "tasks": [{"id": "summarize", "executor": "llm-forge:claude-api", "forEach": "${{ workflow.inputs.docs }}",
                       "inputs": {"prompt": "Summarise ${{ item }}",
                                  "config": {"model": "claude-haiku-4-5", "max_tokens": 100, "mode": mode}}}],
        },
    }


async def execute(mode: str, items: int, **forge: Any) -> dict[str, Any]:
    docs = [f"ticket {i}: the export button does nothing" for i in range(items)]
    state = await run_workflow(document(mode, items), {"docs": docs}, config(**forge), return_state=True)
    data: dict[str, Any] = await state.result(raise_on_failure=False)
    if data.get("state") != "completed":
        raise SystemExit(f"{mode} run failed: {data.get('error')}")
    return data


class SlotClock:
    """Seconds each Slot was held, by patching acquire/release (the batch task's slot is the one held last)."""

    def __init__(self) -> None:
        self.held: dict[int, float] = {}
        self.since: dict[int, float] = {}
        acquire, release = Slot.acquire, Slot.release
        clock = self

        async def timed_acquire(slot: Slot) -> None:
            was = slot.held
            await acquire(slot)
            if not was:
                clock.since[id(slot)] = time.perf_counter()

        def timed_release(slot: Slot) -> None:
            if slot.held:
                clock.held[id(slot)] = clock.held.get(id(slot), 0.0) + time.perf_counter() - clock.since.pop(id(slot))
            release(slot)

        Slot.acquire = timed_acquire  # type: ignore[method-assign]
        Slot.release = timed_release  # type: ignore[method-assign]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main() -> None:
    await execute("online", 2)  # warm-up: the temporary Prefect server and imports
    online = await execute("online", ITEMS)
    batch = await execute("batch", ITEMS)
    online_cost, batch_cost = online["total_cost"], batch["total_cost"]
    ratio = batch_cost / online_cost
    print(f"(a) {ITEMS} items: per-call ${online_cost:.4f}, batch ${batch_cost:.4f}, ratio {ratio:.3f}")

    clock = SlotClock()
    cpu_before, started = cpu(), time.perf_counter()
    waited = await execute("batch", 20, offline_batch_delay=WAIT, batch_poll_interval=15)
    alive, spent = time.perf_counter() - started, cpu() - cpu_before
    held = sum(clock.held.values())
    polls = int(waited["tasks"]["summarize"]["metadata"]["batch"]["polls"])
    print(f"(b) a batch taking {WAIT:.0f}s of provider time: slot held {held:.2f}s, process CPU {spent:.2f}s over "
          f"{alive:.1f}s alive, {polls} polls")
    print(json.dumps({"bench": "batch", "items": ITEMS, "cost_ratio": round(ratio, 4), "wait_s": WAIT,
                      "slot_held_s": round(held, 3), "cpu_s_while_waiting": round(spent, 3), "polls": polls,
                      "process_alive_s": round(alive, 2)}))


if __name__ == "__main__":
    asyncio.run(main())
