"""``llm-orchestrator audit`` and ``llm-orchestrator db upgrade``: Governance from the command line.

Hooked into the typer app by ``llm_orchestrator.cli``:

    from llm_orchestrator.cli_governance import audit, db_upgrade
    app.command()(audit)
    db_app = typer.Typer(help="The SQL store (cost ledger, budgets, audit log, metrics).", no_args_is_help=True)
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")

``audit`` reads the audit log of the configured Governance (embedded store or remote service):
``--workflow``, ``--run``, ``--kind``, ``--since 7d`` (or an ISO date/time), ``--limit``, printed as
a table, JSON or CSV.  ``audit --unsettled`` lists instead the reservations that lapsed without a
settlement and were counted as spent (run, workflow, task, amount, reserved at, expired at;
``--since`` filters on the expiry), with the same filters and formats.  ``db upgrade`` applies the store's migrations to ``--url`` (else the
configured ``storage.url``, else the embedded SQLite default) and prints the revision.  Bad
input is a one-line error with exit code 1 (2 for usage errors), never a traceback.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import fail as _fail
from llm_orchestrator.cli_support import settings_or_exit as _settings

FORMATS = ("table", "json", "csv")
COLUMNS = ("timestamp", "kind", "workflow", "run_id", "task_id", "policy", "decision", "budget", "amount_usd", "reason")
UNSETTLED_COLUMNS = ("run_id", "workflow", "task_id", "amount_usd", "reserved_at", "expired_at", "reservation_id",
                     "budgets")




def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``7d``, ``24h``, ``90m`` (ago), or an ISO date/time (UTC when no zone is given)."""
    if value is None or not value.strip():
        return None
    from compiler.durations import DurationError, parse_duration

    text = value.strip()
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=parse_duration(text))
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid --since {value!r}: use a duration such as 7d, 24h or 30m, or an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)



async def _read_audit(settings: Any, query: Any) -> list[Any]:
    from blocks.clients import Clients

    clients = Clients(settings)
    try:
        return list(await clients.governance.audit(query))
    finally:
        await clients.aclose()


async def _read_unsettled(settings: Any, query: Any) -> list[Any]:
    from blocks.clients import Clients

    clients = Clients(settings)
    try:
        return list(await clients.governance.unsettled(query))
    finally:
        await clients.aclose()


def _unsettled_row(item: Any) -> dict[str, Any]:
    data = item.model_dump(mode="json")
    return {
        "run_id": data["run_id"], "workflow": data["workflow"], "task_id": data["task_id"],
        "amount_usd": data["amount"], "reserved_at": data["reserved_at"], "expired_at": data["expired_at"],
        "reservation_id": data["reservation_id"], "budgets": data["budgets"],
    }


def _row(event: Any) -> dict[str, Any]:
    data = event.model_dump(mode="json")
    return {column: data.get(column) for column in COLUMNS} | {"id": data["id"], "details": data.get("details") or {}}


def audit(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="Only events of this workflow.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events newer than this: 7d, 24h, 30m or an ISO date.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only events of this run id.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only events of this kind (policy_decision, reservation, ...).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many events (oldest first).")] = 1000,
    unsettled: Annotated[bool, typer.Option(
        "--unsettled", help="List reservations that lapsed unsettled and were counted as spent, instead of events.",
    )] = False,
) -> None:
    """Show the Governance audit log: policy decisions, approvals, reservations, settlements."""
    from ecosystem.errors import EcosystemError
    from ecosystem.governance import AuditQuery, UnsettledQuery
    from ecosystem.store import StoreError

    if format not in FORMATS:
        raise _fail(f"unknown --format '{format}' (use {', '.join(FORMATS)})", 2)
    if unsettled and kind is not None:
        raise _fail("--kind filters audit events; it cannot be combined with --unsettled", 2)
    try:
        moment = parse_since(since)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    settings = _settings(config)
    if unsettled:
        unsettled_query = UnsettledQuery(workflow=workflow, run_id=run, since=moment, limit=limit)
        try:
            items = asyncio.run(_read_unsettled(settings, unsettled_query))
        except (EcosystemError, StoreError) as exc:
            raise _fail(str(exc)) from None
        _write([_unsettled_row(i) for i in items], UNSETTLED_COLUMNS, format, _unsettled_title(len(items), workflow, since))
        return
    query = AuditQuery(workflow=workflow, run_id=run, kind=kind, since=moment, limit=limit)
    try:
        events = asyncio.run(_read_audit(settings, query))
    except (EcosystemError, StoreError) as exc:
        raise _fail(str(exc)) from None
    rows = [_row(e) for e in events]
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, "id", "details"], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "details": json.dumps(row["details"], sort_keys=True, default=str)})
        sys.stdout.write(buffer.getvalue())
    else:
        _print_table(rows, workflow, since)


def _unsettled_title(count: int, workflow: str | None, since: str | None) -> str:
    scope = " ".join(filter(None, [f"workflow {workflow}" if workflow else None, f"expired since {since}" if since else None]))
    return f"unsettled reservations counted as spent{' (' + scope + ')' if scope else ''}: {count}"


def _write(rows: list[dict[str, Any]], columns: tuple[str, ...], format: str, title: str) -> None:
    """Rows as JSON, CSV (lists joined with spaces) or a table."""
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()})
        sys.stdout.write(buffer.getvalue())
    else:
        _table(rows, columns, title)


def _print_table(rows: list[dict[str, Any]], workflow: str | None, since: str | None) -> None:
    scope = " ".join(filter(None, [f"workflow {workflow}" if workflow else None, f"since {since}" if since else None]))
    _table(rows, COLUMNS, f"audit log{' (' + scope + ')' if scope else ''}: {len(rows)} event(s)", short_run_ids=True)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], title: str, *, short_run_ids: bool = False) -> None:
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out = Console(highlight=False, soft_wrap=True, width=200)
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column == "amount_usd" else "left", overflow="fold")
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if (column == "timestamp" or column.endswith("_at")) and isinstance(value, str):
                value = value.replace("T", " ")[:19]
            elif column == "amount_usd" and isinstance(value, int | float):
                value = f"{value:.6f}"
            elif column == "run_id" and short_run_ids and isinstance(value, str):
                value = value[:8]
            elif isinstance(value, list):
                value = " ".join(map(str, value))
            cells.append("" if value is None else str(value))
        table.add_row(*cells)
    out.print(table)


def db_upgrade(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Database URL (overrides the config's storage.url).")] = None,
) -> None:
    """Apply the store's migrations (PostgreSQL needs this once per release) and print the revision."""
    from sqlalchemy.engine import make_url

    from ecosystem.store import StoreError, normalize_url, upgrade

    target = url
    if not target:
        settings = _settings(config)
        target = settings.storage.url or settings.integration("llm-governance-core").get("storage_url")
    resolved = normalize_url(target)
    try:
        safe = make_url(resolved).render_as_string(hide_password=True)
    except Exception:
        raise _fail(f"invalid database URL {target!r}", 2) from None
    try:
        revision = upgrade(resolved)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # a driver's error for a bad URL (unknown dialect, missing driver)
        raise _fail(f"cannot migrate {safe}: {type(exc).__name__}: {exc}") from None
    typer.echo(f"store {safe} is at revision {revision}")
