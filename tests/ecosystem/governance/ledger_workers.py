"""Entry points for ledger tests that run in separate OS processes (multiprocessing spawn),
and the simulated LLM call the concurrency tests share with them."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ecosystem.governance import EmbeddedGovernance, Governance, GovernanceSettings
from ecosystem.governance.audit import AuditLog
from ecosystem.governance.errors import BudgetExceeded
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel, CostLimits
from ecosystem.store import Store

# The measurement: calls of 0.0000135 USD, reserved at 2.3x, against a 0.0001 USD run budget.
CALL_COST = 0.0000135
CALL_ESTIMATE = round(CALL_COST * 2.3, 9)
RUN_BUDGET = 0.0001


async def governed_call(governance: Governance, run_id: str, index: int, hold: float | asyncio.Event) -> bool:
    """Reserve the estimate, "call the model" (sleep, or wait for ``hold``), settle the real cost.

    True when the call ran; False when its budget refused it.
    """
    try:
        reservation = await governance.reserve(
            run_id=run_id, workflow="wf-wait", task_id=f"call[{index}]", amount=CALL_ESTIMATE, run_limit=RUN_BUDGET
        )
    except BudgetExceeded as exc:
        assert exc.budget == f"run {run_id}", exc
        return False
    if isinstance(hold, asyncio.Event):
        await hold.wait()
    else:
        await asyncio.sleep(hold)
    await governance.settle(reservation.id, CALL_COST)
    return True


def governed_calls_in_process(url: str, run_id: str, count: int, hold: float, ready: Any, go: Any, results: Any) -> None:
    """``count`` concurrent governed calls on an embedded Governance of its own, started on ``go``."""

    async def main() -> list[bool]:
        governance = EmbeddedGovernance(
            GovernanceSettings(storage_url=url, reservation_wait=120, audit_level=AuditLevel.BASIC)
        )
        try:
            await governance.check_budget(run_id=run_id)  # connect before the start line
            ready.put(os.getpid())
            await asyncio.to_thread(go.wait, 60)
            return list(await asyncio.gather(*(governed_call(governance, run_id, i, hold) for i in range(count))))
        finally:
            await governance.aclose()

    outcomes = asyncio.run(main())
    results.put((sum(outcomes), outcomes.count(False)))


def reserve_and_settle_many(
    url: str, run_id: str, count: int, amount: float, run_limit: float | None, daily: float | None,
    org: str, results: Any,
) -> None:
    """Reserve and settle ``count`` times from 10 threads; report (successes, budget refusals)."""
    store = Store.open(url)
    ledger = Ledger(store, AuditLog(store, AuditLevel.BASIC), CostLimits(daily=daily), organization_id=org)

    def one(index: int) -> bool:
        try:
            reservation = ledger.reserve(run_id, "wf-proc", f"task-{os.getpid()}-{index}", org, amount, run_limit)
        except BudgetExceeded:
            return False
        ledger.settle(reservation.id, amount)
        return True

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(one, range(count)))
    store.close()
    results.put((sum(outcomes), outcomes.count(False)))


def reserve_then_hang(
    url: str, run_id: str, amount: float, run_limit: float, ttl: float, ready: Any, daily: float | None = None,
    org: str = "org-crash",
) -> None:
    """Reserve, tell the parent, then wait to be killed before settling."""
    store = Store.open(url)
    ledger = Ledger(store, AuditLog(store, AuditLevel.FULL), CostLimits(daily=daily), organization_id=org,
                    reservation_ttl=ttl)
    reservation = ledger.reserve(run_id, "wf-crash", "task-crash", org, amount, run_limit)
    ready.put(reservation.id)
    time.sleep(120)
