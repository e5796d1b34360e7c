"""Ledger throughput: reserve+settle pairs per second vs plain inserts of the same rows.

For SQLite (a temp file) and PostgreSQL (a scratch schema, skipped when unreachable), at
concurrency 1 and 20 threads, it times ``Ledger.reserve`` + ``Ledger.settle`` (budget rows locked,
sums checked, audit off) against the baseline measured in the same run: inserting the same
reservation and cost rows in one plain transaction per operation.  The ratio is the price of the
no-overspend guarantee.  Loop counts are fixed, so it finishes in well under a minute.

    .venv/bin/python bench/ledger.py
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel, CostLimits
from ecosystem.store import Store, upgrade
from ecosystem.store.models import BudgetReservationRow, CostRecordRow, utcnow
from ecosystem.store.testing import postgres_reachable, scratch_schema, test_postgres_url

OPS = {1: 150, 20: 300}


def _timed(ops: int, concurrency: int, op: Callable[[int], object]) -> float:
    start = time.perf_counter()
    if concurrency == 1:
        for i in range(ops):
            op(i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(op, range(ops)))
    return ops / (time.perf_counter() - start)


def _plain_insert(store: Store) -> Callable[[int], object]:
    def op(i: int) -> None:
        now = utcnow()
        rid = str(uuid.uuid4())
        with store.session() as session:
            session.add(BudgetReservationRow(
                reservation_id=rid, budget_id="bench", organization_id="bench", workflow_id="bench",
                run_id="bench-plain", task_id=f"t{i}", amount_nanos=1000, status="settled",
                created_at=now, expires_at=now + timedelta(minutes=15),
            ))
            session.add(CostRecordRow(
                id=str(uuid.uuid4()), organization_id="bench", workflow_id="bench", run_id="bench-plain",
                task_id=f"t{i}", executor=None, model=None, prompt_tokens=0, completion_tokens=0,
                total_tokens=0, cost_nanos=1000, cached=False, reservation_id=rid, timestamp=now, created_at=now,
            ))
    return op


def _ledger_op(ledger: Ledger, run_id: str) -> Callable[[int], object]:
    def op(i: int) -> None:
        reservation = ledger.reserve(run_id, "bench", f"t{i}", "bench", 0.000001, 1000.0)
        ledger.settle(reservation.id, 0.000001)
    return op


def measure(name: str, url: str) -> dict[str, float]:
    results: dict[str, float] = {}
    with Store.open(url) as store:
        ledger = Ledger(store, AuditLog(store, AuditLevel.NONE), CostLimits(daily=1e6, monthly=1e7),
                        organization_id="bench")
        _ledger_op(ledger, "warmup")(0)
        for concurrency, ops in OPS.items():
            base = _timed(ops, concurrency, _plain_insert(store))
            led = _timed(ops, concurrency, _ledger_op(ledger, f"bench-{concurrency}-{uuid.uuid4().hex[:6]}"))
            results[f"{name}_c{concurrency}_insert_ops_per_s"] = round(base, 1)
            results[f"{name}_c{concurrency}_ops_per_s"] = round(led, 1)
            results[f"{name}_c{concurrency}_vs_insert"] = round(led / base, 3)
    return results


def main() -> None:
    results: dict[str, float | None] = {}
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        results.update(measure("sqlite", f"sqlite:///{tmp}/bench.db"))
        pg = test_postgres_url()
        problem = postgres_reachable(pg)
        if problem is None:
            scoped = stack.enter_context(scratch_schema(pg, prefix="llmo_bench"))
            upgrade(scoped)
            results.update(measure("postgres", scoped))
        else:
            print(f"postgres skipped: {problem}")
            for c in OPS:
                for suffix in ("ops_per_s", "insert_ops_per_s", "vs_insert"):
                    results[f"postgres_c{c}_{suffix}"] = None
    print(f"{'backend':<10}{'conc':>6}{'ops':>6}{'insert/s':>12}{'ledger/s':>12}{'ratio':>8}")
    for backend in ("sqlite", "postgres"):
        for c, ops in OPS.items():
            ins, led, ratio = (results.get(f"{backend}_c{c}_{s}") for s in ("insert_ops_per_s", "ops_per_s", "vs_insert"))
            print(f"{backend:<10}{c:>6}{ops:>6}{ins!s:>12}{led!s:>12}{ratio!s:>8}")
    print(json.dumps({"bench": "ledger", **results}))


if __name__ == "__main__":
    main()
