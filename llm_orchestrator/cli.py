"""The ``llm-orchestrator`` command line.

Typer for parsing, rich for output.  Two rules hold for every command: bad input gets a
compiler-style diagnostic or a one-line error with exit code 1 (2 for usage errors such as a
missing file), never a traceback; and Prefect is imported only by the commands that run things,
so ``validate`` stays fast enough for an editor's save hook.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import compile_settings_or_exit, err
from llm_orchestrator.cli_support import fail as _fail

app = typer.Typer(
    name="llm-orchestrator",
    help="Declarative YAML LLM workflows compiled into Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=160)  # piped output: no 80-column truncation

FORMAT_TEXT = "text"


ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")]


def _compile_one(path: Path, config: Path | None = None, *, quiet_warnings: bool = False) -> Any:
    from compiler.compile import compile_file

    result = compile_file(path, compile_settings_or_exit(config).compile_options())
    if any(d.code == "E100" for d in result.diagnostics):
        for d in result.diagnostics:
            err.print(d.render(), markup=False)
        raise typer.Exit(2)
    if not result.ok:
        for d in result.diagnostics:
            err.print(d.render(), markup=False)
        raise typer.Exit(1)
    if not quiet_warnings:
        for d in result.warnings:
            err.print(d.render(), markup=False)
    if len(result.plans) != 1:
        raise _fail(f"{path}: expected exactly one workflow document, found {len(result.plans)}", 2)
    return result.plans[0]


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Workflow files to check.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="text or json")] = FORMAT_TEXT,
    config: ConfigOption = None,
) -> None:
    """Check workflows and eval suites statically; print diagnostics like a compiler (exit 1 on any error).

    An orchestrator-config.yaml among the files (``validate examples/*.yaml``) is checked as a
    config, with the same positioned diagnostics."""
    from blocks.settings import ConfigError, load_config_file
    from compiler.compile import compile_file
    from compiler.source import is_config_file
    from compiler.suite import compile_suite, looks_like_suite

    if format not in ("text", "json"):
        raise _fail(f"unknown --format '{format}' (use text or json)", 2)
    options = compile_settings_or_exit(config).compile_options()
    diagnostics = []
    unreadable = False
    plans = suites = 0
    configs = 0
    for path in files:
        if is_config_file(path):
            configs += 1
            try:
                load_config_file(path)
            except ConfigError as exc:
                diagnostics.extend(exc.diagnostics)
            continue
        result = compile_suite(path, options) if looks_like_suite(path) else compile_file(path, options)
        unreadable |= any(d.code == "E100" for d in result.diagnostics)
        diagnostics.extend(result.diagnostics)
        if hasattr(result, "plans"):
            plans += len(result.plans)
        else:
            suites += result.ok
    errors = [d for d in diagnostics if d.is_error]
    if format == "json":
        out.print(json.dumps([d.to_json() for d in diagnostics], indent=2), markup=False)
    else:
        for d in diagnostics:
            out.print(d.render(), markup=False)
        warnings = len(diagnostics) - len(errors)
        status = "[green]ok[/green]" if not errors else "[red]failed[/red]"
        found = f"{plans} workflow(s)" + (f", {suites} suite(s)" if suites else "") + (f", {configs} config(s)" if configs else "")
        out.print(f"{status}: {len(files)} file(s), {found}, {len(errors)} error(s), {warnings} warning(s)")
    if unreadable:
        raise typer.Exit(2)
    raise typer.Exit(1 if errors else 0)


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="Workflow file.")],
    format: Annotated[str, typer.Option("--format", help="mermaid or text")] = "text",
    config: ConfigOption = None,
) -> None:
    """Draw the workflow's DAG, branches and events."""
    from compiler.graph import to_mermaid, to_text

    if format not in ("mermaid", "text"):
        raise _fail(f"unknown --format '{format}' (use mermaid or text)", 2)
    plan = _compile_one(file, config)
    out.print(to_mermaid(plan) if format == "mermaid" else to_text(plan), markup=False)


@app.command()
def explain(
    file: Annotated[Path, typer.Argument(help="Workflow file.")],
    input: Annotated[list[str] | None, typer.Option("--input", "-i", help="An input as name=value (repeatable).")] = None,
    inputs_file: Annotated[Path | None, typer.Option("--inputs-file", help="JSON or YAML file of inputs.")] = None,
    config: ConfigOption = None,
) -> None:
    """Show which tasks would run, in which order, for these inputs (nothing is executed)."""
    from compiler.explain import explain as explain_plan
    from compiler.explain import render
    from compiler.inputs import InputError, resolve_inputs

    plan = _compile_one(file, config)
    try:
        values = resolve_inputs(plan, _gather_inputs(plan, input or [], inputs_file))
    except InputError as exc:
        raise _fail(str(exc)) from None
    out.print(render(plan, explain_plan(plan, values)), markup=False)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the workflow document (executor inputs included), for editors."""
    from compiler.jsonschema import workflow_schema

    text = json.dumps(workflow_schema(), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Workflow file.")],
    input: Annotated[list[str] | None, typer.Option("--input", "-i", help="An input as name=value (repeatable).")] = None,
    inputs_file: Annotated[Path | None, typer.Option("--inputs-file", help="JSON or YAML file of inputs.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    offline: Annotated[bool, typer.Option("--offline", help="Serve every LLM call from the offline provider.")] = False,
    task_runner: Annotated[str | None, typer.Option("--task-runner", help="default, dask (a local Dask cluster) or "
                                                    "dask:<scheduler address>; needs the dask extra.")] = None,
) -> None:
    """Validate, then run a workflow as a Prefect flow; print a summary and its outputs."""

    from blocks.settings import ConfigError
    from compiler.inputs import InputError, resolve_inputs
    from llm_orchestrator.api import compile_for, run_settings
    from llm_orchestrator.cli_deploy import apply_task_runner
    from llm_orchestrator.cli_support import config_exit_code, print_diagnostics

    apply_task_runner(task_runner)
    if output not in ("text", "json"):
        raise _fail(f"unknown --output '{output}' (use text or json)", 2)
    try:
        settings = run_settings(config, offline=offline)
    except ConfigError as exc:
        print_diagnostics(exc.diagnostics)
        raise typer.Exit(config_exit_code(exc.diagnostics)) from None
    compiled = compile_for(file, settings)
    if not compiled.ok or len(compiled.plans) != 1:
        print_diagnostics(compiled.diagnostics)
        if compiled.ok:
            raise _fail(f"{file}: expected exactly one workflow document, found {len(compiled.plans)}", 2)
        raise typer.Exit(2 if any(d.code == "E100" for d in compiled.diagnostics) else 1)
    plan = compiled.plans[0]
    if output != "json":
        print_diagnostics(compiled.warnings)
    try:
        values = resolve_inputs(plan, _gather_inputs(plan, input or [], inputs_file))
    except InputError as exc:
        raise _fail(str(exc)) from None
    result = _run_flow(file, values, config, settings, len(plan.nodes))
    if output == "json":
        sys.stdout.write(json.dumps({k: result.get(k) for k in ("run_id", "state", "error", "outputs", "tasks", "total_cost", "duration", "applied", "warnings")}, indent=2, default=str) + "\n")
    else:
        print_summary(result)
    raise typer.Exit(0 if result.get("state") == "completed" else 1)


def _run_flow(file: Path, values: dict[str, Any], config: Path | None, settings: Any, total: int) -> dict[str, Any]:
    from llm_orchestrator.api import run_prepared
    from llm_orchestrator.local_server import ServerStartError, local_server
    from llm_orchestrator.progress import ProgressHook

    try:  # a temporary server, always stopped, unless PREFECT_API_URL is set (llm_orchestrator.local_server)
        with local_server(lambda note: err.print(note, markup=False, style="dim")), ProgressHook(err, total) as progress:
            return run_prepared(file, values, config, settings, [progress]).to_json()
    except ServerStartError as exc:
        raise _fail(str(exc)) from None
def print_summary(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"run {result.get('run_id', '')}", title_justify="left")
    for column in ("task", "state", "duration", "attempts", "cost (USD)", "model"):
        table.add_column(column, justify="right" if column in ("duration", "attempts", "cost (USD)") else "left")
    styles = {"completed": "green", "cached": "cyan", "failed": "red", "skipped": "dim"}
    for task_id, record in (result.get("tasks") or {}).items():
        state = record.get("state", "")
        duration = record.get("duration")
        cost = record.get("cost")
        table.add_row(
            task_id,
            f"[{styles.get(state, '')}]{state}[/]" if state in styles else state,
            f"{duration:.2f}s" if isinstance(duration, int | float) else "",
            str(record.get("attempts") or ""),
            f"{cost:.6f}" if isinstance(cost, int | float) else "",
            str(record.get("model") or ""),
        )
    out.print(table)
    for task_id, record in (result.get("tasks") or {}).items():
        if record.get("state") in ("failed", "skipped") and record.get("reason"):
            out.print(f"  {task_id}: {record['reason']}", markup=False)
    state = result.get("state")
    colour = "green" if state == "completed" else "red"
    out.print(f"[{colour}]{state}[/{colour}] total cost {result.get('total_cost') or 0:.6f} USD"
              + (f", error: {result.get('error')}" if result.get("error") else ""))
    for warning in result.get("warnings") or []:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    if result.get("outputs"):
        out.print("outputs:")
        out.print(json.dumps(result["outputs"], indent=2, default=str), markup=False)


@app.command()
def report(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="Only this workflow (metadata.name).")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 30d, 12h.")] = "30d",
    by: Annotated[str, typer.Option("--by", help="task, model or day")] = "task",
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv, json or markdown")] = "table",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml (for storage.url).")] = None,
    evals: Annotated[bool, typer.Option("--evals", help="Eval suite runs and their comparisons instead.")] = False,
) -> None:
    """Costs, tokens, latency percentiles and quality across runs, from the store."""
    from blocks.resolve import resolve_settings
    from blocks.settings import ConfigError
    from ecosystem.store import Store, StoreError
    from llm_orchestrator import report as reporting

    if by not in ("task", "model", "day"):
        raise _fail(f"unknown --by '{by}' (use task, model or day)", 2)
    if format not in ("table", "csv", "json", "markdown"):
        raise _fail(f"unknown --format '{format}' (use table, csv, json or markdown)", 2)
    try:
        start = reporting.since_datetime(since)
    except ValueError as exc:
        raise _fail(f"--since: {exc}", 2) from None
    if evals:
        from llm_orchestrator.cli_eval import report_evals

        return report_evals(workflow, start, format, config)
    try:
        settings = resolve_settings(config)
        store = Store.open(settings.storage.url)
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None
    except StoreError as exc:
        raise _fail(str(exc)) from None
    try:
        costs, metrics, scores = reporting.load(store, workflow=workflow, since=start)
    finally:
        store.close()
    frame = reporting.summarise(costs, metrics, scores, by)
    if format in ("csv", "json"):
        sys.stdout.write(reporting.render(frame, format) + "\n")
        return
    if format == "markdown":
        out.print(reporting.render(frame, "markdown"), markup=False)
        return
    from rich.table import Table

    table = Table(title=f"since {since}" + (f", workflow {workflow}" if workflow else "") + f", by {by}", title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column in ("workflow", "task_id", "model", "day") else "right")
    for row in frame.astype(object).where(frame.notna(), "").itertuples(index=False):
        table.add_row(*(reporting.cell(v, str(c)) for v, c in zip(row, frame.columns, strict=True)))
    out.print(table)
    if frame.empty:
        out.print("no runs recorded in that window")
    else:
        out.print(f"total {frame['cost_usd'].fillna(0).sum():.6f} USD over {int(frame['calls'].sum())} call(s)")


def _register_subcommands() -> None:
    from llm_orchestrator.cli_governance import audit, db_upgrade

    app.command()(audit)
    db_app = typer.Typer(help="The SQL store (cost ledger, budgets, audit log, metrics).", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
    from llm_orchestrator.cli_config import config_app
    from llm_orchestrator.cli_deploy import deploy
    from llm_orchestrator.cli_ecosystem import ecosystem_app
    from llm_orchestrator.cli_optimizer import recommendations

    app.add_typer(config_app, name="config")
    app.command()(deploy)
    app.command()(recommendations)

    app.add_typer(ecosystem_app, name="ecosystem")
    from llm_orchestrator.cli_prices import prices_app

    app.add_typer(prices_app, name="prices")
    from llm_orchestrator.cli_eval import eval_suite

    app.command(name="eval")(eval_suite)


_register_subcommands()


def _gather_inputs(plan: Any, assignments: list[str], inputs_file: Path | None) -> dict[str, Any]:
    import yaml

    from compiler.inputs import InputError, coerce_assignments

    values: dict[str, Any] = {}
    if inputs_file is not None:
        try:
            loaded = yaml.safe_load(inputs_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise _fail(f"cannot read inputs file {inputs_file}: {exc.strerror or exc}", 2) from None
        except yaml.YAMLError as exc:
            raise _fail(f"inputs file {inputs_file} is not valid JSON/YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise _fail(f"inputs file {inputs_file} must hold a mapping of input names to values")
        values.update(loaded)
    try:
        values.update(coerce_assignments(plan, assignments))
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except Exception as exc:  # YAML parse errors of a single value
        raise _fail(f"cannot parse input value: {exc}") from None
    return values


def main() -> None:
    import os

    # The temporary server's telemetry heartbeat competes for its SQLite lock and logs tracebacks.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
