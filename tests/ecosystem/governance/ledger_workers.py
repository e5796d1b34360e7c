"""Entry points for ledger tests that run in separate OS processes (multiprocessing spawn)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.errors import BudgetExceeded
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel, CostLimits
from ecosystem.store import Store


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


def reserve_then_hang(url: str, run_id: str, amount: float, run_limit: float, ttl: float, ready: Any) -> None:
    """Reserve, tell the parent, then wait to be killed before settling."""
    store = Store.open(url)
    ledger = Ledger(store, AuditLog(store, AuditLevel.FULL), reservation_ttl=ttl)
    reservation = ledger.reserve(run_id, "wf-crash", "task-crash", "org-crash", amount, run_limit)
    ready.put(reservation.id)
    time.sleep(120)
