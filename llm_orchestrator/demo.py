"""``make demo``: real example workflows end to end on the embedded defaults, offline.

Every example is validated first; then a selection runs as Prefect flows with the offline
provider (no network, no keys) through the same code path as ``llm-orchestrator run``, and
their summaries and outputs are printed.  The demo fails (exit 1) if any of them fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CONFIG = EXAMPLES / "demo-config.yaml"

RUNS: list[tuple[str, dict[str, object]]] = [
    ("multi-model-comparison.yaml", {"prompt": "Explain retrieval-augmented generation in one paragraph."}),
    ("llm-with-evaluation.yaml", {"prompt": "What is the capital of France?", "expected_response": "The capital of France is Paris."}),
    ("governed-llm-workflow.yaml", {"prompt": "Summarise the quarterly cost report for the platform team."}),
    ("optimized-inference-pipeline.yaml", {"prompt": "Write a haiku about observability."}),
    ("batch-summaries.yaml", {"documents": ["Prefect runs flows.", "Forge calls models.", "Governance keeps budgets."]}),
    ("support-triage.yaml", {"ticket": "Help! Our production API is down for all customers since 09:00."}),
    # A response schema: the offline provider answers with an object that conforms to it.
    ("ticket-extraction.yaml", {"ticket": "Hi, this is Dana Reyes. We were charged twice for the Pro plan this month "
                                          "and our Teams add-on stopped working."}),
]


def main() -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    console = Console(highlight=False)
    from compiler.compile import compile_file
    from llm_orchestrator.api import run
    from llm_orchestrator.cli import print_summary

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
    console.print(Rule())
    console.print("[green]demo finished: every example ran[/green]" if not failures else f"[red]{failures} example(s) failed[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
