"""``llm-orchestrator recommendations``: the Auto-Optimizer's advice for a workflow, never applied.

Hooked into the typer app by ``llm_orchestrator.cli``:

    from llm_orchestrator.cli_optimizer import recommendations
    app.command()(recommendations)

``WORKFLOW`` is a workflow file (its ``metadata.name`` is asked for, and the advice is checked
against its compiled plan: what a run with ``auto-optimizer.apply-recommendations`` would apply,
and what it would skip and why) or a workflow name / run id as stored in the metric history.
The optimizer is the configured one (``integrations.llm-auto-optimizer``: remote ``endpoint``, or
embedded on ``storage.url``).  ``--format table`` prints each recommendation with its evidence
(sample sizes, effect, interval, confidence) and the notes on what was considered and turned
down; ``--format json`` prints the whole answer.  Bad input is a one-line error with exit code 1
(2 for usage errors), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import err as _err
from llm_orchestrator.cli_support import fail as _fail
from llm_orchestrator.cli_support import settings_or_exit as _settings

FORMATS = ("table", "json")





def _plan_of(workflow: str, settings: Any) -> Any:
    """The compiled plan when ``workflow`` is a file, else None (a name or run id)."""
    path = Path(workflow)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        return None
    if not path.is_file():
        raise _fail(f"workflow file {workflow} does not exist", 2)
    from compiler.compile import compile_file

    result = compile_file(path, settings.compile_options())
    if not result.ok:
        for d in result.diagnostics:
            _err.print(d.render(), markup=False)
        raise typer.Exit(2 if any(d.code == "E100" for d in result.diagnostics) else 1)
    if len(result.plans) != 1:
        raise _fail(f"{workflow}: expected exactly one workflow document, found {len(result.plans)}", 2)
    return result.plans[0]


async def _fetch(settings: Any, workflow: str) -> Any:
    from blocks.clients import Clients

    clients = Clients(settings)
    try:
        return await clients.optimizer.get_recommendations(workflow, True)
    finally:
        await clients.aclose()


def _target(rtype: dict[str, Any]) -> str:
    kind = rtype.get("kind")
    if kind == "model_switch":
        return f"{rtype['task_id']}: {rtype['from']} -> {rtype['to']}"
    if kind == "parameter_tuning":
        return f"{rtype['task_id']}: {rtype['parameter']} {rtype['old_value']} -> {rtype['new_value']}"
    if kind == "parallelization":
        return "drop " + ", ".join(f"{u} -> {v}" for u, v in rtype.get("remove_edges") or [])
    if kind == "caching":
        return f"{rtype['task_id']}: cache {rtype['ttl_seconds']} s"
    return json.dumps(rtype, sort_keys=True)


def _impact(impact: dict[str, Any]) -> str:
    parts = []
    if impact.get("cost_delta_usd"):
        parts.append(f"cost {impact['cost_delta_usd']:+.6f} USD ({impact.get('cost_ratio', 1):.2f}x)")
    if impact.get("latency_delta_ms"):
        parts.append(f"latency {impact['latency_delta_ms']:+.0f} ms ({impact.get('latency_ratio', 1):.2f}x)")
    if impact.get("quality_delta"):
        parts.append(f"quality {impact['quality_delta']:+.3f}")
    return ", ".join(parts) or "-"


def _evidence(evidence: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in evidence.items())


def recommendations(
    workflow: Annotated[str, typer.Argument(help="A workflow file (its metadata.name is used), or a workflow name or run id.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """Show the Auto-Optimizer's recommendations for a workflow, with their evidence (nothing is applied)."""
    from ecosystem.errors import EcosystemError
    from ecosystem.store import StoreError

    if format not in FORMATS:
        raise _fail(f"unknown --format '{format}' (use {', '.join(FORMATS)})", 2)
    settings = _settings(config)
    plan = _plan_of(workflow, settings)
    name = plan.name if plan is not None else workflow
    try:
        answer = asyncio.run(_fetch(settings, name))
    except (EcosystemError, StoreError) as exc:
        raise _fail(str(exc)) from None
    data = answer.model_dump(mode="json", by_alias=True)
    if plan is None and not data.get("sample_size") and not data.get("items"):
        # A name nothing was ever recorded for: most likely a typo, not "no recommendations yet".
        raise _fail(f"no workflow file named '{workflow}' and no performance metrics recorded for a workflow of "
                    "that name in this config's store (give a workflow file, or the metadata.name of a workflow "
                    "that has run with the Auto-Optimizer's metrics)")
    preview: dict[str, list[str]] | None = None
    if plan is not None:
        from compiler.optimize import apply_recommendations
        from flows.integrations.optimizer import call_defaults

        _, applied, skipped = apply_recommendations(plan, answer.items, call_defaults=call_defaults())
        preview = {"would_apply": applied, "would_skip": skipped}
    if format == "json":
        sys.stdout.write(json.dumps({"workflow": name, **data, **({"preview": preview} if preview else {})},
                                    indent=2, default=str) + "\n")
        return
    _print(name, data, preview)


def _print(name: str, data: dict[str, Any], preview: dict[str, list[str]] | None) -> None:
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=True, width=200)
    items = data.get("items") or []
    table = Table(title=f"recommendations for {name}: {len(items)} (from {data.get('sample_size', 0)} metric(s))",
                  title_justify="left")
    table.add_column("#", justify="right")
    for column in ("kind", "change", "confidence", "expected impact per run"):
        table.add_column(column, no_wrap=column == "change", overflow="fold")
    for number, item in enumerate(items, 1):
        rtype = item["recommendation_type"]
        table.add_row(str(number), rtype["kind"], _target(rtype), f"{item['confidence']:.2f}",
                      _impact(item["expected_impact"]))
    out.print(table)
    for number, item in enumerate(items, 1):
        reason = str(item["recommendation_type"].get("reason") or "")
        if reason:
            out.print(f"{number}. reason: {reason}")
        out.print(f"{number}. evidence: {_evidence(item.get('evidence') or {})}")
    total = data.get("estimated_improvement") or {}
    if items:
        out.print(f"all applied: {_impact(total)} (baseline {total.get('baseline_cost_usd', 0):.6f} USD, "
                  f"{total.get('baseline_latency_ms', 0):.0f} ms critical path)")
    for note in data.get("notes") or []:
        task = f" [{note['task_id']}]" if note.get("task_id") else ""
        out.print(f"note{task} {note['kind']}: {note['message']}")
    if preview is not None:
        for sentence in preview["would_apply"]:
            out.print(f"would apply: {sentence}")
        for sentence in preview["would_skip"]:
            out.print(f"would skip: {sentence}")
