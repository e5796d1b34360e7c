from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import uuid

import pytest
from ledger_workers import reserve_and_settle_many, reserve_then_hang  # type: ignore[import-not-found]
from sqlalchemy import func, select

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.errors import BudgetExceeded, ReservationNotFound
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel, CostLimits, CostRecord
from ecosystem.store import Store
from ecosystem.store.models import BudgetReservationRow, CostRecordRow


def _ledger(store: Store, **kwargs: object) -> Ledger:
    level = kwargs.pop("level", AuditLevel.FULL)
    return Ledger(store, AuditLog(store, level), **kwargs)  # type: ignore[arg-type]


def _settled_nanos(store: Store, run_id: str) -> int:
    with store.session(readonly=True) as session:
        stmt = select(func.coalesce(func.sum(CostRecordRow.cost_nanos), 0)).where(CostRecordRow.run_id == run_id)
        return int(session.execute(stmt).scalar_one())


async def test_fifty_concurrent_reservations_never_overspend_a_run_budget(store: Store) -> None:
    ledger = _ledger(store, level=AuditLevel.BASIC)
    run_id = f"run-{uuid.uuid4().hex}"

    def reserve_and_settle(index: int) -> str:
        try:
            reservation = ledger.reserve(run_id, "wf", f"task-{index}", "org-a", 0.10, 1.00)
        except BudgetExceeded as exc:
            assert exc.budget == f"run {run_id}"
            assert exc.limit == 1.0
            return "refused"
        ledger.settle(reservation.id, 0.10)
        return "settled"

    outcomes = await asyncio.gather(*(asyncio.to_thread(reserve_and_settle, i) for i in range(50)))
    assert outcomes.count("settled") == 10
    assert outcomes.count("refused") == 40
    assert _settled_nanos(store, run_id) == 1_000_000_000  # exactly 1.00 USD, no float drift
    [status] = ledger.check_budget("org-a", run_id, 1.0)
    assert status.current == 1.0 and status.reserved == 0.0 and status.remaining == 0.0
    assert status.warning and not status.exceeded
    breaches = AuditLog(store).query(run_id=run_id, kind="budget_breach", limit=1000)
    assert len(breaches) == 40


def test_daily_budget_is_shared_across_runs(store: Store) -> None:
    org = f"org-{uuid.uuid4().hex}"
    ledger = _ledger(store, cost_limits=CostLimits(daily=0.5), level=AuditLevel.BASIC)
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> bool:
        try:
            reservation = ledger.reserve(f"run-{index % 7}-{org}", "wf", f"t{index}", org, 0.10, 10.0)
        except BudgetExceeded as exc:
            assert exc.budget.startswith(f"daily {org}")
            return False
        ledger.settle(reservation.id, 0.10)
        return True

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one, range(30)))
    assert outcomes.count(True) == 5
    daily = [s for s in ledger.check_budget(org) if s.kind == "daily"]
    assert daily[0].current == pytest.approx(0.5) and daily[0].remaining == 0.0


def test_two_processes_share_one_budget(store_url: str, store: Store) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=reserve_and_settle_many, args=(store_url, run_id, 25, 0.10, 1.00, None, "org-p", results))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    totals = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert sum(ok for ok, _ in totals) == 10
    assert sum(refused for _, refused in totals) == 40
    assert _settled_nanos(store, run_id) == 1_000_000_000


def test_killed_process_leaves_no_cost_and_its_reservation_lapses(store_url: str, store: Store) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    ttl = 2.0
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=reserve_then_hang, args=(store_url, run_id, 0.8, 1.0, ttl, ready))
    proc.start()
    reservation_id = ready.get(timeout=60)
    os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
    proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL
    started = time.monotonic()

    ledger = _ledger(store, reservation_ttl=ttl)
    assert _settled_nanos(store, run_id) == 0
    [status] = ledger.check_budget("org-crash", run_id, 1.0)
    if time.monotonic() - started < ttl / 2:  # still inside the TTL: the hold counts
        assert status.reserved == pytest.approx(0.8)
        with pytest.raises(BudgetExceeded):
            ledger.reserve(run_id, "wf-crash", "retry", "org-crash", 0.5, 1.0)
    time.sleep(ttl + 0.2)
    [status] = ledger.check_budget("org-crash", run_id, 1.0)
    assert status.reserved == 0.0
    retry = ledger.reserve(run_id, "wf-crash", "retry", "org-crash", 1.0, 1.0)
    ledger.settle(retry.id, 0.9)
    assert _settled_nanos(store, run_id) == 900_000_000
    events = AuditLog(store).query(run_id=run_id, limit=100)
    kinds = [e.kind for e in events]
    assert kinds[0] == "reservation" and events[0].details["reservation_id"] == reservation_id
    assert "reservation_expired" in kinds
    with store.session(readonly=True) as session:
        row = session.scalars(
            select(BudgetReservationRow).where(BudgetReservationRow.reservation_id == reservation_id)
        ).one()
        assert row.status == "expired"


def test_settle_is_idempotent_and_release_frees_money(store: Store) -> None:
    ledger = _ledger(store)
    run_id = f"run-{uuid.uuid4().hex}"
    first = ledger.reserve(run_id, "wf", "a", "org", 0.6, 1.0)
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve(run_id, "wf", "b", "org", 0.6, 1.0)
    assert info.value.reserved == pytest.approx(0.6) and info.value.requested == pytest.approx(0.6)
    released = ledger.release(first.id)
    assert released.status == "released"
    with pytest.raises(ReservationNotFound):
        ledger.settle(first.id, 0.1)
    second = ledger.reserve(run_id, "wf", "b", "org", 0.6, 1.0)
    record = CostRecord(task_id="b", workflow_id="wf", model="m", prompt_tokens=10, completion_tokens=5,
                        total_tokens=15, cost_usd=0.0)
    settled = ledger.settle(second.id, 0.45, record)
    again = ledger.settle(second.id, 0.45, record)
    assert settled.id == again.id and settled.cost_usd == pytest.approx(0.45) and settled.model == "m"
    assert _settled_nanos(store, run_id) == 450_000_000
    with pytest.raises(ReservationNotFound):
        ledger.release(second.id)
    with pytest.raises(ReservationNotFound):
        ledger.settle(str(uuid.uuid4()), 0.1)


def test_record_cost_counts_against_budgets_and_reports_breach(store: Store) -> None:
    org = f"org-{uuid.uuid4().hex}"
    ledger = _ledger(store, cost_limits=CostLimits(daily=1.0, monthly=10.0))
    run_id = f"run-{uuid.uuid4().hex}"
    ledger.reserve(run_id, "wf", "a", org, 0.5, 2.0)  # creates the budget rows
    ledger.record_cost(CostRecord(task_id="x", workflow_id="wf", run_id=run_id, organization_id=org, cost_usd=0.95))
    statuses = {s.kind: s for s in ledger.check_budget(org, run_id, 2.0)}
    assert statuses["run"].current == pytest.approx(0.95) and statuses["run"].reserved == pytest.approx(0.5)
    assert statuses["daily"].warning and not statuses["daily"].exceeded
    assert statuses["monthly"].utilization == pytest.approx(0.145)
    ledger.record_cost(CostRecord(task_id="y", workflow_id="wf", run_id=run_id, organization_id=org, cost_usd=0.2))
    assert {s.kind: s for s in ledger.check_budget(org)}["daily"].exceeded
    breaches = AuditLog(store).query(run_id=run_id, kind="budget_breach")
    assert any(b.budget and b.budget.startswith("daily") for b in breaches)


def test_audit_levels_filter_what_is_kept(store: Store) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    for level, expected in ((AuditLevel.NONE, 0), (AuditLevel.BASIC, 1), (AuditLevel.FULL, 3)):
        ledger = _ledger(store, level=level)
        run = f"{run_id}-{level.value}"
        reservation = ledger.reserve(run, "wf", "a", "org", 0.5, 0.6)
        with pytest.raises(BudgetExceeded):
            ledger.reserve(run, "wf", "b", "org", 0.5, 0.6)
        ledger.settle(reservation.id, 0.5)
        assert len(AuditLog(store).query(run_id=run)) == expected, level
