"""Whole-process cost of `llm-orchestrator run` for a 1-task offline workflow, against the same
flow written by hand as a Prefect script, both against one running Prefect server.

The workflow runs one built-in (``orchestrator:json``: parse a JSON text and pick a key); the
script is an async Prefect flow with one task doing the same.  Each is started as its own process
(``llm-orchestrator run FILE --offline -o json`` and ``python script.py``), interleaved, best of
N (``BENCH_STARTUP_ROUNDS``, default 7) after one warm-up each; measured per process: wall, CPU
(user + system) and peak RSS.  The server: ``prefect server start`` on PostgreSQL when reachable
(as in production), else the temporary SQLite server.  Target (issue 12): CPU ratio <= 1.3.
Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import client_env, measure, postgres_server, temporary_server  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_STARTUP_ROUNDS", "7"))
BIN = Path(sys.executable).parent

WORKFLOW = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: bench-one-task}
spec:
  tasks:
    - id: shape
      executor: orchestrator:json
      inputs: {parse: '{"a": 1}', pick: a}
  outputs:
    a: ${{ tasks.shape.outputs.result }}
"""

SCRIPT = """\
import asyncio
import json

from prefect import flow, task


@task
async def shape(parse: str, pick: str) -> object:
    return json.loads(parse)[pick]


@flow(name="bench-one-task-by-hand")
async def one_task() -> object:
    return await shape('{"a": 1}', "a")


if __name__ == "__main__":
    print(json.dumps({"a": asyncio.run(one_task())}))
"""


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="llmo-bench-startup-"))
    (folder / "one.yaml").write_text(WORKFLOW)
    (folder / "by_hand.py").write_text(SCRIPT)
    with postgres_server() as url:
        if url is not None:
            run(folder, url, "prefect server on PostgreSQL")
            return
    with temporary_server() as url:
        run(folder, url, "temporary SQLite server")


def run(folder: Path, api_url: str, server: str) -> None:
    env = client_env(api_url, folder)
    compiled = [str(BIN / "llm-orchestrator"), "run", str(folder / "one.yaml"), "--offline", "-o", "json"]
    by_hand = [sys.executable, str(folder / "by_hand.py")]
    for argv in (compiled, by_hand):  # warm-up: the server registers the flows, the OS caches the files
        measure(argv, env)
    runs: dict[str, list] = {"compiled": [], "by_hand": []}  # type: ignore[type-arg]
    for _ in range(ROUNDS):
        runs["compiled"].append(measure(compiled, env))
        runs["by_hand"].append(measure(by_hand, env))
    assert json.loads(runs["compiled"][-1].stdout)["outputs"] == {"a": 1}
    best = {name: (min(m.wall for m in ms), min(m.cpu for m in ms), min(m.rss_mib for m in ms)) for name, ms in runs.items()}
    (cw, cc, cr), (hw, hc, hr) = best["compiled"], best["by_hand"]
    print(f"server: {server}; best of {ROUNDS}, interleaved")
    print(f"llm-orchestrator run: wall {cw:.2f}s, CPU {cc:.2f}s, max RSS {cr:.0f} MiB")
    print(f"hand-written script:  wall {hw:.2f}s, CPU {hc:.2f}s, max RSS {hr:.0f} MiB")
    print(json.dumps({
        "bench": "startup",
        "cpu_ratio": round(cc / hc, 3),
        "wall_ratio": round(cw / hw, 3),
        "rss_ratio": round(cr / hr, 3),
        "compiled_cpu_s": round(cc, 3),
        "hand_written_cpu_s": round(hc, 3),
        "compiled_wall_s": round(cw, 3),
        "hand_written_wall_s": round(hw, 3),
        "compiled_rss_mib": round(cr, 1),
        "hand_written_rss_mib": round(hr, 1),
        "rounds": ROUNDS,
        "server": server,
    }))


if __name__ == "__main__":
    main()
