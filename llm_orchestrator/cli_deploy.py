"""``llm-orchestrator deploy`` and the ``--task-runner`` option of ``run``.

Hooked into the typer app by ``llm_orchestrator.cli``:

    from llm_orchestrator.cli_deploy import deploy
    app.command()(deploy)

and in ``run``: a parameter ``task_runner: TaskRunnerOption = None`` and, first thing in the body,
``apply_task_runner(task_runner)``.

``deploy FILE...`` compiles every file first (any error: the compiler's diagnostics, exit 1, and
nothing is created), writes ``prefect.yaml`` (``prefect deploy --all`` accepts it), then creates
or updates one deployment per workflow in the work pool (created as a process pool when
missing), or with ``--serve`` serves them all from this process with no worker.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import err as _err
from llm_orchestrator.cli_support import fail as _fail

_out = Console(highlight=False, soft_wrap=True)

TaskRunnerOption = Annotated[
    str | None,
    typer.Option("--task-runner", help="default, dask (a local Dask cluster) or dask:<scheduler address>; "
                                       "overrides orchestrator.task_runner. Needs the [dask] extra."),
]



def apply_task_runner(value: str | None) -> None:
    """For ``run --task-runner``: validate and hand the choice to the flow (an env override)."""
    if value is None:
        return
    from blocks.settings import ConfigError, OrchestratorSettings
    from flows.taskrunner import TASK_RUNNER_ENV, check_task_runner

    os.environ[TASK_RUNNER_ENV] = value.strip()
    try:
        check_task_runner(OrchestratorSettings())
    except ConfigError as exc:
        os.environ.pop(TASK_RUNNER_ENV, None)
        raise _fail(str(exc).split(": ", 2)[-1], 2) from None


def _api_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def _schedule_text(item: Any) -> str:
    schedule = item.schedule
    if schedule is None:
        return "-"
    text = f"cron '{schedule.cron}'" if schedule.cron else f"every {schedule.interval:g}s"
    text += f" ({schedule.timezone})"
    return text + ("" if schedule.active else ", paused")


def deploy(
    files: Annotated[list[Path], typer.Argument(help="Workflow files, one deployment each.", show_default=False)],
    pool: Annotated[str | None, typer.Option("--pool", "-p", help="Work pool (created as a process pool when "
                                                                   "missing). Default: llm-orchestrator.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Schedule every deployment with this cron "
                                                            "expression (overrides spec.schedule).")] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Schedule every deployment every N "
                                                                      "seconds (overrides spec.schedule).")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the deployments from this process (no work pool, "
                                                        "no worker) until interrupted.")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml the runs use "
                                                                       "(a deployment parameter).")] = None,
    prefect_file: Annotated[Path | None, typer.Option("--prefect-file", help="Where to write prefect.yaml "
                                                                             "(default: the project root).")] = None,
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="Create the deployments (--no-apply only "
                                                                  "writes prefect.yaml).")] = True,
    limit: Annotated[int | None, typer.Option("--limit", help="With --serve: at most this many runs at once.")] = None,
    crash_detection: Annotated[bool, typer.Option(
        "--crash-detection/--no-crash-detection",
        help="Install (or update) the Prefect automation that marks a flow run Crashed when its process stops "
             "sending heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, 180 s by default).")] = True,
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="name=value: an input of the "
                                                     "deployment's runs (its Run form's default, and what scheduled "
                                                     "runs get, over spec.schedule.inputs). Repeatable.")] = None,
) -> None:
    """One Prefect deployment per workflow (flow llm-workflow, named after metadata.name), with schedules."""
    from blocks.settings import ConfigError
    from deployments.build import DEFAULT_POOL, DeployError, collect, project_root, write_prefect_yaml

    if cron is not None and interval is not None:
        raise _fail("use either --cron or --interval, not both", 2)
    if config is not None and not config.is_file():
        raise _fail(f"config file not found: {config}", 2)
    try:
        skipped: list[str] = []
        items = collect(files, cron=cron, interval=interval, config=config, inputs=inputs or (), skipped=skipped)
    except ConfigError as exc:
        for d in exc.diagnostics:
            _err.print(d.render(), markup=False)
        raise typer.Exit(2 if any(d.code == "E100" for d in exc.diagnostics) else 1) from None
    except DeployError as exc:
        for d in exc.diagnostics:
            _err.print(d.render(), markup=False)
        errors = sum(1 for d in exc.diagnostics if d.is_error)
        _err.print(f"[red]nothing deployed:[/red] {errors} error(s)", markup=True)
        raise typer.Exit(2 if any(d.code == "E100" for d in exc.diagnostics) else 1) from None
    for name in skipped:
        _err.print(f"skipped {name}: an orchestrator config file, not a workflow (pass it with --config)",
                   markup=False)
    if not items:
        raise _fail("nothing to deploy: no workflow files given", 2)
    pool_name = pool or os.environ.get("PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME") or DEFAULT_POOL
    target = prefect_file or (project_root() / "prefect.yaml")
    try:
        write_prefect_yaml(items, pool_name, target)
    except OSError as exc:
        raise _fail(f"cannot write {target}: {exc.strerror or exc}") from None
    _out.print(f"wrote {target} ({len(items)} deployment(s); `prefect deploy --all` from {project_root()} applies it)")
    if not apply and not serve:
        return
    if not _api_url():
        raise _fail("PREFECT_API_URL is not set: deployments need a Prefect server. Start `prefect server start` "
                    "and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)")
    _print_table(items, None if serve else pool_name)
    if serve:
        from deployments.apply import serve_all

        serve_all(items, limit=limit)
        return
    from deployments.apply import apply_all, ensure_process_pool

    try:
        created = asyncio.run(ensure_process_pool(pool_name))
        ids = asyncio.run(apply_all(items, pool_name, create_pool=False))
    except Exception as exc:  # the server refused (unreachable, bad schedule ...): one line, no traceback
        raise _fail(f"deploying failed: {type(exc).__name__}: {exc}") from None
    if created:
        _out.print(f"created work pool '{pool_name}' (type process)")
    if crash_detection:
        _install_crash_detection()
    for name, deployment_id in ids.items():
        _out.print(f"deployed {name} ({deployment_id})")
    example = items[0]
    _out.print(f"\nstart a worker:  prefect worker start --pool {pool_name}")
    sample = json.dumps(example.sample_inputs()).replace("'", "'\\''")  # quoted for a POSIX shell
    _out.print(f"run one:         prefect deployment run '{example.full_name}' -p inputs='{sample}'")


def _install_crash_detection() -> None:
    from deployments.crash import AUTOMATION_NAME, ensure_crash_detection, heartbeat_note, heartbeat_seconds

    note = heartbeat_note()
    if note:
        _err.print(f"[yellow]warning:[/yellow] {note}")
    try:
        automation_id, outcome = asyncio.run(ensure_crash_detection())
    except Exception as exc:  # an old server without automations: say so, the deployments stand
        _err.print(f"[yellow]warning:[/yellow] could not install the crash-detection automation: {type(exc).__name__}: {exc}")
        return
    _out.print(f"automation '{AUTOMATION_NAME}' {outcome} ({automation_id}): runs silent for "
               f"{3 * heartbeat_seconds()}s are marked Crashed")


def _print_table(items: list[Any], pool: str | None) -> None:
    from rich.table import Table

    table = Table(title="deployments", title_justify="left")
    for column in ("deployment", "workflow", "schedule", "work pool"):
        table.add_column(column)
    for item in items:
        table.add_row(item.full_name, item.file, _schedule_text(item), pool or "(served here)")
    _out.print(table)


def standalone_app() -> typer.Typer:
    """``python -m llm_orchestrator.cli_deploy deploy ...`` works before the main CLI wires it."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
    app.command()(deploy)

    @app.callback()
    def _main() -> None:
        """llm-orchestrator deployments."""

    return app


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    standalone_app()()
