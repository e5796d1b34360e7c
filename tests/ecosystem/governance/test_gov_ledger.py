from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ledger_workers import reserve_and_settle_many, reserve_then_hang  # type: ignore[import-not-found]
from sqlalchemy import func, select

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.errors import BudgetExceeded, ReservationNotFound
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel, CostLimits, CostRecord, Reservation
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


def test_killed_process_reservation_is_spent_by_its_run_and_its_money_never_comes_back(
    store_url: str, store: Store
) -> None:
    """SIGKILL between reserve and settle: after the TTL the reservation is unsettled spend of the
    killed run, and another run's reservation cannot use that money (here: a shared daily budget)."""
    org = f"org-{uuid.uuid4().hex}"
    killed_run, next_run = f"run-{uuid.uuid4().hex}", f"run-{uuid.uuid4().hex}"
    ttl = 1.0
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=reserve_then_hang, args=(store_url, killed_run, 0.8, 1.0, ttl, ready, 1.0, org))
    proc.start()
    reservation_id = ready.get(timeout=60)
    os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
    proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL

    ledger = _ledger(store, cost_limits=CostLimits(daily=1.0), organization_id=org, reservation_ttl=ttl)
    # Waits while the killed call's reservation is in flight; once it lapses that money is spent.
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(next_run, "wf-next", "next", org, 0.5, 10.0, wait=30)
    assert refused.value.cause == "spent" and refused.value.budget.startswith(f"daily {org}")
    assert refused.value.spent == pytest.approx(0.8)

    with store.session(readonly=True) as session:
        [record] = session.scalars(select(CostRecordRow).where(CostRecordRow.reservation_id == reservation_id)).all()
        statuses = set(session.scalars(
            select(BudgetReservationRow.status).where(BudgetReservationRow.reservation_id == reservation_id)))
    assert record.unsettled and record.cost_nanos == 800_000_000
    assert (record.run_id, record.workflow_id, record.task_id) == (killed_run, "wf-crash", "task-crash")
    assert statuses == {"unsettled"}
    [event] = AuditLog(store).query(kind="reservation_unsettled", run_id=killed_run)
    assert (event.workflow, event.task_id, event.amount_usd) == ("wf-crash", "task-crash", 0.8)
    assert event.details["reservation_id"] == reservation_id
    assert [e.kind for e in AuditLog(store).query(run_id=next_run)] == ["budget_breach"]

    [listed] = ledger.unsettled(run_id=killed_run)
    assert (listed.reservation_id, listed.amount, listed.task_id) == (reservation_id, 0.8, "task-crash")
    assert listed.reserved_at < listed.expired_at and listed.budgets == [f"daily:{org}:" + listed.reserved_at.strftime("%Y-%m-%d"), f"run:{killed_run}"]
    run_status, daily = ledger.check_budget(org, killed_run, 1.0)
    assert (run_status.current, run_status.reserved, daily.current) == (0.8, 0.0, 0.8)
    assert ledger.release(reservation_id).status == "unsettled"  # a late release gives nothing back
    assert ledger.check_budget(org)[0].current == pytest.approx(0.8)
    fits = ledger.reserve(next_run, "wf-next", "next", org, 0.2, 10.0, wait=0)
    ledger.settle(fits.id, 0.2)
    assert ledger.check_budget(org)[0].current == pytest.approx(1.0)


class _Clock:
    """A clock the test moves: lapses reservations without sleeping through a TTL."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_lapsed_reservation_is_committed_spend_attributed_to_its_own_run(store: Store) -> None:
    org, clock = f"org-{uuid.uuid4().hex}", _Clock()
    ledger = _ledger(store, cost_limits=CostLimits(daily=1.0), organization_id=org, reservation_ttl=60, clock=clock)
    lost = ledger.reserve("run-lost", "wf-lost", "summarise[2]", org, 0.7, 5.0)
    clock.advance(61)
    daily = ledger.check_budget(org)[0]
    assert (daily.current, daily.reserved) == (0.7, 0.0)  # counted before any sweep
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve("run-other", "wf-other", "t", org, 0.4, 5.0, wait=0)
    assert info.value.cause == "spent" and info.value.waited == 0.0
    [event] = AuditLog(store).query(kind="reservation_unsettled", run_id="run-lost")
    assert (event.workflow, event.task_id, event.amount_usd, event.organization_id) == ("wf-lost", "summarise[2]", 0.7, org)
    assert AuditLog(store).query(kind="reservation_unsettled", run_id="run-other") == []
    assert ledger.recorded_cost("run-lost", ["summarise"]) == 0.7
    assert ledger.sweep() == 0  # already converted, once
    assert [u.reservation_id for u in ledger.unsettled(workflow="wf-lost")] == [lost.id]


def test_sweep_converts_lapsed_reservations_of_every_budget(store: Store) -> None:
    clock = _Clock()
    ledger = _ledger(store, reservation_ttl=5, clock=clock)
    held = [ledger.reserve(f"run-s{i}", "wf-sweep", "t", f"org-s{i}", 0.1 * (i + 1), 1.0) for i in range(3)]
    unbudgeted = ledger.reserve("run-free", "wf-sweep", "t", "org-free", 0.05, None)
    ledger.settle(held[0].id, 0.01)
    clock.advance(6)
    assert ledger.sweep() == 3
    listed = ledger.unsettled(workflow="wf-sweep")
    assert sorted((u.run_id, u.amount) for u in listed) == [("run-free", 0.05), ("run-s1", 0.2), ("run-s2", 0.3)]
    assert next(u for u in listed if u.run_id == "run-free").budgets == []
    assert ledger.unsettled(run_id="run-s0") == []  # settled in time
    assert ledger.unsettled(workflow="wf-sweep", since=clock.now + timedelta(seconds=1)) == []
    assert unbudgeted.id in {u.reservation_id for u in listed}


def test_late_settlement_replaces_the_unsettled_record_with_the_real_cost(store: Store) -> None:
    clock = _Clock()
    ledger = _ledger(store, reservation_ttl=30, clock=clock)
    run_id = f"run-{uuid.uuid4().hex}"
    slow = ledger.reserve(run_id, "wf", "slow", "org", 0.8, 1.0)
    clock.advance(31)
    [unsettled] = ledger.unsettled(run_id=run_id)
    assert unsettled.amount == 0.8
    record = ledger.settle(slow.id, 0.3, CostRecord(task_id="slow", workflow_id="wf", model="m", total_tokens=9,
                                                    cost_usd=0.3))
    assert (record.cost_usd, record.unsettled, record.model, record.total_tokens) == (0.3, False, "m", 9)
    assert ledger.settle(slow.id, 0.3).id == record.id  # still idempotent
    assert ledger.unsettled(run_id=run_id) == []
    assert ledger.check_budget("org", run_id, 1.0)[0].current == pytest.approx(0.3)
    assert _settled_nanos(store, run_id) == 300_000_000
    settlement = AuditLog(store).query(run_id=run_id, kind="settlement")[0]
    assert settlement.details["was_unsettled"] is True


class _WatchedLedger(Ledger):
    """A ledger that says when a reservation starts waiting (a test seam, not a fake store)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = threading.Event()

    def _attempt(self, ask: Any, waited: float = 0.0) -> Any:
        outcome = super()._attempt(ask, waited)
        if not isinstance(outcome, Reservation):
            self.waiting.set()
        return outcome


def test_a_reservation_waits_for_one_in_flight_and_takes_the_room_its_settlement_leaves(store: Store) -> None:
    ledger = _WatchedLedger(store, AuditLog(store), reservation_wait=60)
    run_id = f"run-{uuid.uuid4().hex}"
    first = ledger.reserve(run_id, "wf", "a", "org", 0.6, 1.0)
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve(run_id, "wf", "b", "org", 0.6, 1.0, wait=0)
    assert (info.value.cause, info.value.reserved, info.value.spent) == ("in_flight", 0.6, 0.0)
    ledger.waiting.clear()
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(ledger.reserve, run_id, "wf", "b", "org", 0.6, 1.0)
        assert ledger.waiting.wait(30)
        assert not second.done()
        ledger.settle(first.id, 0.3)  # 0.3 spent + 0.6 fits
        reservation = second.result(timeout=60)
    assert reservation.amount == 0.6
    waited = AuditLog(store).query(run_id=run_id, kind="reservation")[-1]
    assert waited.details["reservation_id"] == reservation.id and waited.details["waited_s"] > 0
    # Now 0.3 spent + 0.6 in flight: a third 0.6 would pass the limit even after the settlement.
    with pytest.raises(BudgetExceeded) as definitive:
        ledger.reserve(run_id, "wf", "c", "org", 0.8, 1.0, wait=60)
    assert (definitive.value.cause, definitive.value.waited) == ("spent", 0.0)


def test_a_waiting_reservation_is_refused_when_nothing_settles_in_time(store: Store) -> None:
    ledger = _ledger(store, reservation_wait=60)
    run_id = f"run-{uuid.uuid4().hex}"
    ledger.reserve(run_id, "wf", "a", "org", 0.6, 1.0)
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve(run_id, "wf", "b", "org", 0.6, 1.0, wait=0.3)
    assert info.value.cause == "wait_timeout" and info.value.budget == f"run {run_id}"
    assert "did not settle within" in info.value.message
    [breach] = AuditLog(store).query(run_id=run_id, kind="budget_breach")
    assert breach.details["cause"] == "wait_timeout"
    capped = _ledger(store, reservation_wait=0)  # the setting bounds every call's wait
    with pytest.raises(BudgetExceeded) as at_once:
        capped.reserve(run_id, "wf", "b", "org", 0.6, 1.0, wait=600)
    assert at_once.value.cause == "in_flight"


def test_a_release_in_another_ledger_on_the_same_database_wakes_the_waiter(store_url: str, store: Store) -> None:
    ledger = _WatchedLedger(store, AuditLog(store), reservation_wait=60)
    run_id = f"run-{uuid.uuid4().hex}"
    with Store.open(store_url) as other_store:
        other = _ledger(other_store)
        first = other.reserve(run_id, "wf", "a", "org", 0.9, 1.0)
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(ledger.reserve, run_id, "wf", "b", "org", 0.9, 1.0)
            assert ledger.waiting.wait(30)
            other.release(first.id)
            assert second.result(timeout=60).amount == 0.9


def test_settle_is_idempotent_and_release_frees_money(store: Store) -> None:
    ledger = _ledger(store)
    run_id = f"run-{uuid.uuid4().hex}"
    first = ledger.reserve(run_id, "wf", "a", "org", 0.6, 1.0)
    with pytest.raises(BudgetExceeded) as info:
        ledger.reserve(run_id, "wf", "b", "org", 0.6, 1.0, wait=0)
    assert info.value.reserved == pytest.approx(0.6) and info.value.requested == pytest.approx(0.6)
    assert info.value.cause == "in_flight"
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
            ledger.reserve(run, "wf", "b", "org", 0.5, 0.6, wait=0)
        ledger.settle(reservation.id, 0.5)
        assert len(AuditLog(store).query(run_id=run)) == expected, level
