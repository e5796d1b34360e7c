"""``llm-orchestrator audit --unsettled``: reservations counted as spent, from a real SQLite store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.ledger import Ledger
from ecosystem.store import Store
from llm_orchestrator.cli_governance import audit


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(audit)
    app.command("noop")(lambda: None)  # two commands, so "audit" is a subcommand as in the real CLI
    return app


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def lapsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A config whose store holds one reservation that lapsed unsettled and one settled in time."""
    directory = tmp_path_factory.mktemp("unsettled")
    url = f"sqlite:///{directory}/ledger.db"
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump({"orchestrator": {"storage": {"url": url}, "offline": True}}), encoding="utf-8")
    clock = _Clock()
    with Store.open(url) as store:
        ledger = Ledger(store, AuditLog(store), reservation_ttl=60, clock=clock)
        lost = ledger.reserve("run-killed-0001", "nightly", "summarise[3]", "default", 0.25, 1.0)
        kept = ledger.reserve("run-fine-0002", "nightly", "classify", "default", 0.1, 1.0)
        ledger.settle(kept.id, 0.05)
        clock.now += timedelta(seconds=61)  # past the TTL; the CLI's listing sweeps it
    return config, {"id": lost.id, "reserved_at": lost.created_at, "expired_at": lost.expires_at}


def test_audit_unsettled_lists_run_workflow_task_amount_and_times(lapsed: tuple[Path, dict[str, Any]]) -> None:
    config, lost = lapsed
    runner = CliRunner()
    result = runner.invoke(_app(), ["audit", "--unsettled", "--format", "json", "-c", str(config)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert (row["run_id"], row["workflow"], row["task_id"], row["amount_usd"]) == (
        "run-killed-0001", "nightly", "summarise[3]", 0.25)
    assert row["reservation_id"] == lost["id"]
    assert datetime.fromisoformat(row["reserved_at"]) == lost["reserved_at"]
    assert datetime.fromisoformat(row["expired_at"]) == lost["expired_at"]

    as_csv = runner.invoke(_app(), ["audit", "--unsettled", "--format", "csv", "--workflow", "nightly", "-c", str(config)])
    assert as_csv.exit_code == 0, as_csv.output
    [parsed] = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert parsed["task_id"] == "summarise[3]" and parsed["budgets"] == "run:run-killed-0001"

    table = runner.invoke(_app(), ["audit", "--unsettled", "-c", str(config)])
    assert table.exit_code == 0, table.output
    assert "run-killed-0001" in table.stdout and "0.250000" in table.stdout and ": 1" in table.stdout

    other = runner.invoke(_app(), ["audit", "--unsettled", "--run", "run-fine-0002", "--format", "json", "-c", str(config)])
    assert json.loads(other.stdout) == []
    events = runner.invoke(_app(), ["audit", "--kind", "reservation_unsettled", "--format", "json", "-c", str(config)])
    [event] = json.loads(events.stdout)
    assert (event["run_id"], event["task_id"], event["amount_usd"]) == ("run-killed-0001", "summarise[3]", 0.25)


def test_audit_unsettled_rejects_bad_input_without_a_traceback(lapsed: tuple[Path, dict[str, Any]]) -> None:
    config, _ = lapsed
    runner = CliRunner()
    with_kind = runner.invoke(_app(), ["audit", "--unsettled", "--kind", "release", "-c", str(config)])
    assert with_kind.exit_code == 2 and "cannot be combined with --unsettled" in with_kind.output
    bad_since = runner.invoke(_app(), ["audit", "--unsettled", "--since", "soon", "-c", str(config)])
    assert bad_since.exit_code == 2 and "invalid --since" in bad_since.output
    bad_format = runner.invoke(_app(), ["audit", "--unsettled", "--format", "xml", "-c", str(config)])
    assert bad_format.exit_code == 2 and "unknown --format" in bad_format.output
    for result in (with_kind, bad_since, bad_format):
        assert "Traceback" not in result.output
