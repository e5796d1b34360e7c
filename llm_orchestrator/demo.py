"""``make demo``: real example workflows end to end on the embedded defaults, offline.

Every example is validated first; then a selection runs as Prefect flows with the offline
provider (no network, no keys) through the same code path as ``llm-orchestrator run``, and
their summaries and outputs are printed.  Last, the example eval suite
(``examples/evals/triage-quality.yaml``: 24 tickets x two models x two classify prompts) runs as
``llm-orchestrator eval`` runs it and its comparison is printed (the same comparison is the
suite run's markdown artifact in Prefect).  The demo fails (exit 1) if any of them fails to run.

Without ``PREFECT_API_URL`` one temporary Prefect server serves all the examples
(``llm_orchestrator.local_server``): started once, with a start-up deadline sized for a busy
machine, and stopped at the end whatever happens.  If it cannot start, the demo says why and how
to use a long-lived server, and exits 1 without leaving a process behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CONFIG = EXAMPLES / "demo-config.yaml"
SUITE = EXAMPLES / "evals" / "triage-quality.yaml"
SUITE_CONFIG = EXAMPLES / "evals" / "offline-config.yaml"

RUNS: list[tuple[str, dict[str, object]]] = [
    ("multi-model-comparison.yaml", {"prompt": "Explain retrieval-augmented generation in one paragraph."}),
    ("llm-with-evaluation.yaml", {"prompt": "What is the capital of France?", "expected_response": "The capital of France is Paris."}),
    ("governed-llm-workflow.yaml", {"prompt": "Summarise the quarterly cost report for the platform team."}),
    ("optimized-inference-pipeline.yaml", {"prompt": "Write a haiku about observability."}),
    ("batch-summaries.yaml", {"documents": ["Prefect runs flows.", "Forge calls models.", "Governance keeps budgets."]}),
    ("support-triage.yaml", {"ticket": "Help! Our production API is down for all customers since 09:00."}),
    ("nightly-ticket-digest.yaml", {"tickets": ["The production API is down for every customer.",
                                                "Why was my invoice charged twice?",
                                                "The export button does nothing in Firefox."]}),
    # A response schema: the offline provider answers with an object that conforms to it.
    ("ticket-extraction.yaml", {"ticket": "Hi, this is Dana Reyes. We were charged twice for the Pro plan this month "
                                          "and our Teams add-on stopped working."}),
]


def main() -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    console = Console(highlight=False)
    from compiler.compile import compile_file
    from llm_orchestrator.local_server import ServerStartError, local_server

    console.print(Rule("1. validate every example"))
    invalid = 0
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name in ("orchestrator-config.yaml", "demo-config.yaml"):
            continue
        compiled = compile_file(path)
        status = "[green]ok[/green]" if compiled.ok else "[red]errors[/red]"
        console.print(f"{status} {path.name}: {len(compiled.errors)} error(s), {len(compiled.warnings)} warning(s)")
        for diagnostic in compiled.diagnostics:
            console.print("   " + diagnostic.render(), markup=False)
        invalid += not compiled.ok
    failures = invalid
    try:
        with local_server(lambda note: console.print(note, markup=False, style="dim")):
            failures += run_examples(console)
    except ServerStartError as exc:
        console.print(f"error: {exc}", style="red", markup=False)
        return 1
    console.print(Rule())
    console.print("[green]demo finished: every example ran[/green]" if not failures else f"[red]{failures} example(s) failed[/red]")
    return 1 if failures else 0


def run_examples(console: Console) -> int:
    """Run every example in RUNS; the number that failed."""
    from llm_orchestrator.api import run
    from llm_orchestrator.cli import print_summary

    failures = 0
    for number, (name, inputs) in enumerate(RUNS, start=2):
        console.print(Rule(f"{number}. run {name} (offline)"))
        try:
            result = run(EXAMPLES / name, inputs, config=CONFIG, offline=True).to_json()
        except Exception as exc:  # the demo reports every example, then fails at the end
            console.print(f"[red]could not run {name}:[/red] {exc}")
            failures += 1
            continue
        print_summary(result)
        failures += result.get("state") != "completed"
    console.print(Rule(f"{len(RUNS) + 2}. eval suite {SUITE.relative_to(ROOT)} (offline)"))
    failures += not run_suite(console)
    return failures


def run_suite(console: Console) -> bool:
    """The example suite, as ``llm-orchestrator eval`` runs it; True when every run could be judged."""
    import asyncio

    from compiler.suite import compile_suite
    from ecosystem.testbench.suites import SuiteResults
    from flows.evals import LocalEval, local_eval, run_eval_suite
    from llm_orchestrator.api import run_settings
    from llm_orchestrator.cli_eval import EvalProgress, print_results

    settings = run_settings(SUITE_CONFIG, offline=True)
    compiled = compile_suite(SUITE, settings.compile_options())
    if compiled.plan is None:
        for diagnostic in compiled.diagnostics:
            console.print(diagnostic.render(), markup=False)
        return False
    console.print(str(compiled.plan), markup=False)
    with EvalProgress(console, compiled.plan.run_count) as progress, \
            local_eval(LocalEval(settings=settings, offline=True, plan=compiled.plan, progress=progress)):
        state: Any = asyncio.run(run_eval_suite(str(SUITE), return_state=True))  # type: ignore[arg-type]
    data = state.result(raise_on_failure=False)
    if asyncio.iscoroutine(data):
        data = asyncio.run(data)
    if not isinstance(data, dict) or data.get("state") == "error":
        console.print(f"[red]the suite could not run:[/red] {state.message}")
        return False
    results = SuiteResults.from_json(data)
    print_results(results)
    console.print(f"comparison artifact: {results.suite}-eval (Prefect UI, Artifacts); the results are in the store "
                  "(`llm-orchestrator report --evals`)", markup=False)
    return results.errored_runs == 0


if __name__ == "__main__":
    sys.exit(main())
