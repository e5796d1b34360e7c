"""Budgets that wait before they refuse: 30 concurrent calls get as far as 30 sequential ones.

The issue's numbers: calls costing 0.0000135 USD, each reserved at 2.3x its cost, against a
0.0001 USD run budget.  One at a time, 6 calls fit (each settles at its real cost before the
next reserves).  Before reservations waited, 30 concurrent calls got 3: the reservations in
flight filled the budget and every other call was refused at once.  Asserted on counts and
amounts, never on durations.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from ledger_workers import (  # type: ignore[import-not-found]
    CALL_COST,
    CALL_ESTIMATE,
    RUN_BUDGET,
    governed_call,
    governed_calls_in_process,
)

from ecosystem.governance import (
    BudgetExceeded,
    EmbeddedGovernance,
    Governance,
    GovernanceSettings,
    HttpGovernanceClient,
)
from ecosystem.governance.models import AuditLevel
from ecosystem.governance.server import create_governance_app
from ecosystem.service import serve_in_thread
from ecosystem.store import Store
from ecosystem.store.reports import cost_records

CALLS = 30
HOLD = 0.05  # seconds a simulated LLM call takes
SEQUENTIAL_FIT = 6  # 5 settled calls (0.0000675) + one estimate (0.00003105) fit; 6 settled + one do not


@pytest.fixture(params=["embedded", "http"])
async def governance(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[Governance]:
    embedded = EmbeddedGovernance(
        GovernanceSettings(reservation_wait=120, audit_level=AuditLevel.BASIC), store
    )
    if request.param == "embedded":
        yield embedded
    else:
        with serve_in_thread(create_governance_app(embedded)) as url:
            client = HttpGovernanceClient(url, reservation_wait=120)
            yield client
            await client.aclose()
    await embedded.aclose()


async def _spent(governance: Governance, run_id: str) -> float:
    [status] = await governance.check_budget(run_id=run_id, run_limit=RUN_BUDGET)
    assert status.reserved == 0.0
    return status.current


async def test_thirty_concurrent_calls_complete_as_many_as_thirty_sequential_ones(governance: Governance) -> None:
    sequential_run, concurrent_run = f"seq-{uuid.uuid4().hex}", f"con-{uuid.uuid4().hex}"
    sequential = sum([await governed_call(governance, sequential_run, i, HOLD) for i in range(CALLS)])
    concurrent = sum(await asyncio.gather(*(governed_call(governance, concurrent_run, i, HOLD) for i in range(CALLS))))

    assert sequential == SEQUENTIAL_FIT
    assert concurrent >= 0.9 * sequential
    for run_id, completed in ((sequential_run, sequential), (concurrent_run, concurrent)):
        spent = await _spent(governance, run_id)
        assert spent <= RUN_BUDGET
        assert spent == pytest.approx(completed * CALL_COST, abs=1e-12)
    assert await governance.recorded_cost(concurrent_run, ["call"]) == pytest.approx(concurrent * CALL_COST, abs=1e-12)


async def test_without_waiting_the_reservations_in_flight_refuse_the_rest(store: Store) -> None:
    """The issue's measurement, kept as the baseline: no wait, and no call settles before every
    call has been answered, so exactly the 3 reservations that fit side by side run."""
    governance = EmbeddedGovernance(GovernanceSettings(reservation_wait=0, audit_level=AuditLevel.BASIC), store)
    run_id = f"nowait-{uuid.uuid4().hex}"
    answered, everyone_answered = 0, asyncio.Event()

    def answer() -> None:
        nonlocal answered
        answered += 1
        if answered == CALLS:
            everyone_answered.set()

    async def call(index: int) -> bool:
        try:
            reservation = await governance.reserve(
                run_id=run_id, workflow="wf-wait", task_id=f"call[{index}]", amount=CALL_ESTIMATE, run_limit=RUN_BUDGET
            )
        except BudgetExceeded as exc:
            assert exc.cause == "in_flight" and exc.waited == 0.0
            answer()
            return False
        answer()
        await everyone_answered.wait()
        await governance.settle(reservation.id, CALL_COST)
        return True

    completed = sum(await asyncio.gather(*(call(i) for i in range(CALLS))))
    assert completed == int(RUN_BUDGET // CALL_ESTIMATE) == 3
    assert await _spent(governance, run_id) == pytest.approx(3 * CALL_COST, abs=1e-12)
    await governance.aclose()


def test_three_processes_sharing_one_budget_complete_as_many_as_sequential_calls(store_url: str, store: Store) -> None:
    """A settle in one process must let a reservation waiting in another through."""
    sequential_run, concurrent_run = f"seq-{uuid.uuid4().hex}", f"proc-{uuid.uuid4().hex}"

    async def sequential_calls() -> int:
        governance = EmbeddedGovernance(GovernanceSettings(audit_level=AuditLevel.BASIC), store)
        return sum([await governed_call(governance, sequential_run, i, HOLD) for i in range(CALLS)])

    sequential = asyncio.run(sequential_calls())
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=governed_calls_in_process, args=(store_url, concurrent_run, CALLS // 3, HOLD, ready, go, results))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        outcomes = [results.get(timeout=300) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    concurrent = sum(done for done, _ in outcomes)
    assert sum(refused for _, refused in outcomes) == CALLS - concurrent

    assert sequential == SEQUENTIAL_FIT
    assert concurrent >= 0.9 * sequential
    for run_id, completed in ((sequential_run, sequential), (concurrent_run, concurrent)):
        rows = cost_records(store, since=datetime(2000, 1, 1, tzinfo=UTC), run_id=run_id)
        assert len(rows) == completed and not any(r.unsettled for r in rows)
        assert sum(r.cost_nanos for r in rows) <= round(RUN_BUDGET * 1e9)
