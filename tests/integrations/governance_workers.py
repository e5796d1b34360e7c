"""Workflow runs in separate OS processes, for the Governance run tests.

    python -m tests.integrations.governance_workers <job.json>

The job names a workflow document, inputs and config; the worker counts offline provider calls
(by wrapping ``OfflineProvider.infer``), optionally waits for a start file so that several
workers begin together, runs ``run_workflow`` against the Prefect API in ``PREFECT_API_URL`` (the
test session's harness) and prints one JSON line: the run's state, id and the provider calls.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


def _count_offline_calls() -> dict[str, int]:
    from ecosystem.forge.providers.offline import OfflineProvider

    counter = {"calls": 0}
    original = OfflineProvider.infer

    async def counting(self: Any, request: Any, model: str) -> Any:
        counter["calls"] += 1
        return await original(self, request, model)

    OfflineProvider.infer = counting  # type: ignore[method-assign]
    return counter


async def _run(job: dict[str, Any]) -> dict[str, Any]:
    from flows.workflow import run_workflow

    state = await run_workflow(job["workflow"], job.get("inputs") or {}, job.get("config"), return_state=True)
    data = await state.result(raise_on_failure=False)
    return data if isinstance(data, dict) else {"state": "failed", "error": str(data)}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    counter = _count_offline_calls()
    import flows.workflow  # noqa: F401  (import before the start signal: the runs start together)

    go = job.get("go_file")
    if go:
        Path(job["ready_file"]).write_text("ready", encoding="utf-8")
        deadline = time.monotonic() + 60
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    data = asyncio.run(_run(job))
    tasks = data.get("tasks") or {}
    summary = {
        "state": data.get("state"),
        "run_id": data.get("run_id"),
        "error": data.get("error"),
        "calls": counter["calls"],
        "item_costs": {k: (v.get("metadata") or {}).get("item_costs") for k, v in tasks.items()},
    }
    sys.stdout.write("RESULT " + json.dumps(summary) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
