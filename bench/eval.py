"""Eval suites, measured in one process against one Prefect server.

A 200-case x 2-variant suite (the matrix varies the classifier's model) over a small offline
workflow (an LLM call of 50 ms, then a JSON-extract tool), run by ``run_eval_suite`` at
concurrency 20, against the same 400 workflow runs started directly (``run_workflow``, 20 at a
time, the settings resolved once as ``llm_orchestrator.run`` does).  Both are measured cold (the
suite's call cache empty); then the suite is run again with nothing changed and the calls that
reach the provider are counted.
Targets (issue 19): suite / direct wall <= 1.2; the re-run makes 0 provider calls.
The server is a `prefect server start` on PostgreSQL when PostgreSQL is reachable, else Prefect's
temporary SQLite server.  Last line: one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
_HOME = tempfile.mkdtemp(prefix="llmo-bench-eval-")
os.environ.setdefault("PREFECT_HOME", os.path.join(_HOME, "prefect"))
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_HOME, "prefect", "storage")
os.environ["LLM_ORCHESTRATOR_HOME"] = os.path.join(_HOME, "data")

import yaml  # noqa: E402

from blocks.settings import OrchestratorSettings  # noqa: E402
from compiler.suite import compile_suite  # noqa: E402
from ecosystem.forge.providers.offline import OfflineProvider  # noqa: E402
from flows.evals import LocalEval, local_eval, run_eval_suite  # noqa: E402
from flows.workflow import LocalRun, local_run, run_workflow  # noqa: E402

CASES = int(os.environ.get("BENCH_EVAL_CASES", "200"))
CONCURRENCY = 20
LATENCY = 0.05
CATEGORIES = ("billing", "technical", "account", "shipping")

WORKFLOW = {
    "apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": "bench-eval-classifier"},
    "spec": {
        "inputs": [{"name": "ticket", "type": "string", "required": True}],
        "tasks": [
            {"id": "classify", "type": "llm", "executor": "llm-forge:openai-api",
             "inputs": {"prompt": "${{ workflow.inputs.ticket }}", "config": {"model": "gpt-4o-mini", "max_tokens": 80}}},
            {"id": "fields", "type": "transform", "executor": "llm-forge:tool:json-extract",
             "inputs": {"text": "${{ tasks.classify.outputs.response }}"}},
        ],
        "outputs": {"category": {"value": "${{ tasks.fields.outputs.data.category }}"}},
    },
}

CALLS = {"n": 0}
_infer = OfflineProvider.infer


async def _counted(self: OfflineProvider, request: Any, model: str) -> Any:
    CALLS["n"] += 1
    return await _infer(self, request, model)


OfflineProvider.infer = _counted  # type: ignore[method-assign]


def write_files(folder: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    # The offline provider echoes the prompt, so each ticket is the JSON answer it should get back;
    # every tenth case expects another category, so the suite has failures to report.
    cases = []
    for i in range(CASES):
        category = CATEGORIES[i % len(CATEGORIES)]
        expected = CATEGORIES[(i + 1) % len(CATEGORIES)] if i % 10 == 9 else category
        ticket = json.dumps({"category": category, "ticket": i, "text": f"customer message number {i}"})
        cases.append({"id": f"case-{i:03d}", "inputs": {"ticket": ticket}, "expected": {"category": expected}})
    suite = {
        "apiVersion": "orchestrator.llm/v1", "kind": "EvalSuite", "metadata": {"name": "bench-eval"},
        "spec": {
            "workflow": "workflow.yaml", "cases": cases, "repeat": 1, "concurrency": CONCURRENCY,
            "matrix": {"models": {"classify": ["gpt-4o-mini", "gpt-4o"]}},
            "assert": [{"output": "category", "metric": "exact_match", "ground_truth": "${{ case.expected.category }}"}],
        },
    }
    (folder / "workflow.yaml").write_text(yaml.safe_dump(WORKFLOW, sort_keys=False))
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return folder / "suite.yaml", folder / "workflow.yaml", cases


def settings() -> OrchestratorSettings:
    return OrchestratorSettings.model_validate({"offline": True, "integrations": {"llm-forge": {
        "offline": True, "offline_latency": LATENCY,
        "offline_models": {"gpt-4o-mini": {"cost": 0.0001}, "gpt-4o": {"cost": 0.0025}}}}})


async def direct_runs(workflow: Path, cases: list[dict[str, Any]], config: OrchestratorSettings) -> float:
    """The suite's 400 runs as plain workflow runs, 20 at a time."""
    documents = []
    for model in ("gpt-4o-mini", "gpt-4o"):
        document = json.loads(json.dumps(WORKFLOW))
        document["spec"]["tasks"][0]["inputs"]["config"]["model"] = model
        documents.append(document)
    gate = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def one(document: dict[str, Any], case: dict[str, Any]) -> None:
        nonlocal failed
        async with gate:
            state = await run_workflow(document, case["inputs"], None, return_state=True)
        failed += not state.is_completed()

    started = time.perf_counter()
    with local_run(LocalRun(settings=config, offline=True)):
        await asyncio.gather(*(one(d, c) for d in documents for c in cases))
    if failed:
        raise SystemExit(f"{failed} direct run(s) failed")
    return time.perf_counter() - started


async def suite_run(suite: Path, config: OrchestratorSettings, plan: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    with local_eval(LocalEval(settings=config, offline=True, plan=plan)):
        state = await run_eval_suite(str(suite), return_state=True)
    wall = time.perf_counter() - started
    data = await state.result(raise_on_failure=False)
    if not isinstance(data, dict) or data.get("errored"):
        raise SystemExit(f"the suite run failed: {state.message}")
    return wall, data


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
    folder = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    suite, workflow, cases = write_files(folder)
    config = settings()
    plan = compile_suite(suite, config.compile_options()).raise_for_errors()
    # Warm up both code paths (imports, the server's first requests) on a few runs.
    await direct_runs(workflow, cases[:4], config)
    direct = await direct_runs(workflow, cases, config)
    CALLS["n"] = 0
    cold, first = await suite_run(suite, config, plan)
    first_calls = CALLS["n"]
    CALLS["n"] = 0
    warm, again = await suite_run(suite, config, plan)
    rerun_calls = CALLS["n"]
    same = ("pass_rate", "passes", "cost_mean_usd", "cost_total_usd")  # latency also counts the tools, run again
    if [[row[k] for k in same] for row in first["summary"]] != [[row[k] for k in same] for row in again["summary"]]:
        raise SystemExit("a re-run with nothing changed must report the same pass rates and costs")
    rates = ", ".join(f"{row['label']} {row['pass_rate']:.1%}" for row in first["summary"])
    print(f"{CASES} cases x 2 variants = {len(first['runs'])} runs at {CONCURRENCY} at a time: suite {cold:.2f}s, "
          f"the same runs started directly {direct:.2f}s, ratio {cold / direct:.3f}; pass rates {rates}")
    print(f"re-run with nothing changed: {warm:.2f}s, {rerun_calls} provider call(s) (first run: {first_calls})")
    print(json.dumps({
        "bench": "eval",
        "cases": CASES,
        "variants": 2,
        "runs": len(first["runs"]),
        "concurrency": CONCURRENCY,
        "suite_s": round(cold, 3),
        "direct_s": round(direct, 3),
        "wall_ratio": round(cold / direct, 3),
        "rerun_s": round(warm, 3),
        "first_provider_calls": first_calls,
        "rerun_provider_calls": rerun_calls,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "server": server,
    }))


if __name__ == "__main__":
    asyncio.run(main())
