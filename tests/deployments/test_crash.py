"""A run killed with SIGKILL during an LLM call, end to end on a real Prefect server (PostgreSQL).

``llm-orchestrator deploy`` installs the zombie-run automation; ``llm-orchestrator run`` starts a
workflow whose LLM call hangs (offline latency 10 min) and is killed with SIGKILL once the ledger
holds its reservation.  Then: after the reservation TTL the ledger holds it as unsettled spend
attributed to the killed run (``llm-orchestrator audit --unsettled`` lists it); a new run sharing
the daily budget cannot use that money; and the killed flow run, silent since its last heartbeat,
is marked Crashed by the automation instead of staying Running.  Heartbeats every 30 s (Prefect's
minimum), so the automation fires after 90 s of silence: this test takes about two minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from sqlalchemy import select

from deployments.crash import AUTOMATION_NAME
from deployments.testing import BIN, Server
from ecosystem.store import Store
from ecosystem.store.models import BudgetReservationRow, CostRecordRow, nanos_to_usd

HEARTBEAT = "30"


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def workflow(name: str) -> dict[str, Any]:
    return {"apiVersion": "orchestrator.llm/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"tasks": [{"id": "ask", "executor": "llm-forge:claude-api",
                                "inputs": {"prompt": "Write a long essay about rivers",
                                           "config": {"model": "claude-haiku-4-5", "max_tokens": 50}}}]}}


def config(url: str, org: str, *, latency: float) -> dict[str, Any]:
    return {"orchestrator": {"storage": {"url": url}, "integrations": {
        "llm-forge": {"offline": True, "offline_cost": 0.25, "offline_latency": latency},
        "llm-governance-core": {"organization_id": org, "cost_limits": {"daily": 0.30}, "reservation_ttl": "2s",
                                "reservation_wait": 0},
    }}}


def cli(server: Server, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "llm-orchestrator"), *args], env=server.env(PREFECT_FLOWS_HEARTBEAT_FREQUENCY=HEARTBEAT),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def reservations(url: str, workflow_name: str) -> list[Any]:
    try:
        with Store.open(url) as store, store.session(readonly=True) as session:
            return list(session.execute(select(BudgetReservationRow.run_id, BudgetReservationRow.amount_nanos)
                                        .where(BudgetReservationRow.workflow_id == workflow_name)))
    except Exception:  # noqa: BLE001 - the run may still be creating the schema
        return []


def test_a_killed_run_is_crashed_and_its_reservation_stays_spent(api: Server, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.utilities.asyncutils import run_coro_as_sync

    url, org = f"sqlite:///{tmp_path}/ledger.db", f"org-{uuid.uuid4().hex[:8]}"
    killed_wf, next_wf = f"crash-{uuid.uuid4().hex[:6]}", f"after-{uuid.uuid4().hex[:6]}"
    hanging = write(tmp_path / "hanging.yaml", config(url, org, latency=600))
    quick = write(tmp_path / "quick.yaml", config(url, org, latency=0))

    deployed = cli(api, "deploy", str(write(tmp_path / f"{killed_wf}.yaml", workflow(killed_wf))),
                   "--pool", "crash-pool", "--prefect-file", str(tmp_path / "prefect.yaml"))
    assert deployed.returncode == 0, deployed.stderr
    assert f"automation '{AUTOMATION_NAME}' created" in deployed.stdout and "silent for 90s" in deployed.stdout
    again = cli(api, "deploy", str(tmp_path / f"{killed_wf}.yaml"), "--pool", "crash-pool",
                "--prefect-file", str(tmp_path / "prefect.yaml"))
    assert f"automation '{AUTOMATION_NAME}' unchanged" in again.stdout  # found by name, never duplicated

    process = subprocess.Popen(
        [str(BIN / "llm-orchestrator"), "run", str(tmp_path / f"{killed_wf}.yaml"), "--config", str(hanging)],
        env=api.env(PREFECT_FLOWS_HEARTBEAT_FREQUENCY=HEARTBEAT), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        found: list[Any] = []
        while not found and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.3)
            found = reservations(url, killed_wf)
        assert found, "the run never reserved its LLM call"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    run_id, amount = found[0]
    assert nanos_to_usd(amount) == 0.25

    time.sleep(2.5)  # past the reservation's TTL: the call may have been billed, so it is spent
    listed = cli(api, "audit", "--unsettled", "--format", "json", "--config", str(quick))
    assert listed.returncode == 0, listed.stderr
    [unsettled] = json.loads(listed.stdout)
    assert (unsettled["run_id"], unsettled["workflow"], unsettled["task_id"], unsettled["amount_usd"]) == (
        run_id, killed_wf, "ask", 0.25)
    with Store.open(url) as store, store.session(readonly=True) as session:
        [(cost_run, cost_nanos, flagged)] = list(session.execute(
            select(CostRecordRow.run_id, CostRecordRow.cost_nanos, CostRecordRow.unsettled)))
    assert (cost_run, nanos_to_usd(cost_nanos), flagged) == (run_id, 0.25, True)

    blocked = cli(api, "run", str(write(tmp_path / f"{next_wf}.yaml", workflow(next_wf))), "--config", str(quick))
    assert blocked.returncode != 0
    assert "BudgetExceeded" in blocked.stdout + blocked.stderr and "daily" in blocked.stdout + blocked.stderr

    async def state_of(flow_run_id: str) -> Any:
        async with get_client() as client:
            return (await client.read_flow_run(UUID(flow_run_id))).state

    deadline = time.monotonic() + 240
    state = run_coro_as_sync(state_of(run_id))
    while state.type != StateType.CRASHED and time.monotonic() < deadline:
        assert state.type == StateType.RUNNING, state  # never anything but Running, then Crashed
        time.sleep(3)
        state = run_coro_as_sync(state_of(run_id))
    assert state.type == StateType.CRASHED, f"still {state.type} after 240 s"
    assert "heartbeats" in (state.message or "")


pytestmark = pytest.mark.usefixtures("api")
