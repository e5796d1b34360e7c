"""Budgets that wait: calls completed concurrently vs one at a time, and how waiters are woken.

1. **Completion.**  The issue's case - 30 calls of 0.0000135 USD, each reserved at 2.3x, against a
   0.0001 USD run budget, each call taking ``HOLD`` seconds - run one at a time (the baseline),
   then 30 at once in one process, then 3 processes x 10 at once, with and without waiting
   (``reservation_wait`` 0 is the old behaviour).  Prints calls completed, spend and the ratio
   to the baseline, on SQLite and PostgreSQL.
2. **Waking a waiter in another process** (PostgreSQL).  Process B waits for room that process A
   frees by settling; the latency is from A's commit to B holding its reservation.  Polling (what
   the ledger does: a read-only check every 20 ms doubling to 500 ms) against LISTEN/NOTIFY (B
   parks a connection in LISTEN; A sends NOTIFY after its commit).
3. **What NOTIFY costs.**  PostgreSQL serialises the commits of transactions that sent NOTIFY.
   8 threads commit small updates to rows of their own, with and without a NOTIFY in each.

    .venv/bin/python bench/ledger_wait.py
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from sqlalchemy import text

from ecosystem.governance import BudgetExceeded, EmbeddedGovernance, GovernanceSettings
from ecosystem.governance.audit import AuditLog
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import AuditLevel
from ecosystem.store import Store, upgrade
from ecosystem.store.testing import postgres_reachable, scratch_schema, test_postgres_url

COST, BUDGET, CALLS, HOLD = 0.0000135, 0.0001, 30, 0.2
ESTIMATE = round(COST * 2.3, 9)
WAKE_ROUNDS, WAKE_HOLD = 8, 0.6
NOTIFY_OPS, NOTIFY_THREADS = 400, 8


# -- 1. completion ------------------------------------------------------------------------------


async def _call(governance: EmbeddedGovernance, run_id: str, index: int) -> bool:
    try:
        reservation = await governance.reserve(run_id=run_id, workflow="bench", task_id=f"c[{index}]",
                                               amount=ESTIMATE, run_limit=BUDGET)
    except BudgetExceeded:
        return False
    await asyncio.sleep(HOLD)
    await governance.settle(reservation.id, COST)
    return True


def _governance(url: str, wait: float) -> EmbeddedGovernance:
    return EmbeddedGovernance(GovernanceSettings(storage_url=url, reservation_wait=wait, audit_level=AuditLevel.NONE))


async def _calls(url: str, run_id: str, count: int, wait: float, concurrent: bool) -> int:
    governance = _governance(url, wait)
    try:
        if concurrent:
            return sum(await asyncio.gather(*(_call(governance, run_id, i) for i in range(count))))
        return sum([await _call(governance, run_id, i) for i in range(count)])
    finally:
        await governance.aclose()


def _process_calls(url: str, run_id: str, count: int, wait: float, go: Any, results: Any) -> None:
    go.wait(120)
    results.put(asyncio.run(_calls(url, run_id, count, wait, True)))


def _spent(url: str, run_id: str) -> float:
    async def read() -> float:
        governance = _governance(url, 0)
        try:
            [status] = await governance.check_budget(run_id=run_id, run_limit=BUDGET)
            return status.current
        finally:
            await governance.aclose()

    return asyncio.run(read())


def completion(name: str, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    run = f"seq-{uuid.uuid4().hex[:8]}"
    baseline = asyncio.run(_calls(url, run, CALLS, 60, False))
    out[f"{name}_sequential_calls"], out[f"{name}_sequential_spend"] = baseline, _spent(url, run)
    for wait in (0.0, 60.0):
        label = "wait" if wait else "nowait"
        run = f"con-{uuid.uuid4().hex[:8]}"
        done = asyncio.run(_calls(url, run, CALLS, wait, True))
        out[f"{name}_{label}_30tasks_calls"], out[f"{name}_{label}_30tasks_spend"] = done, _spent(url, run)
        out[f"{name}_{label}_30tasks_vs_sequential"] = round(done / baseline, 3)
        run = f"proc-{uuid.uuid4().hex[:8]}"
        ctx = multiprocessing.get_context("spawn")
        go, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_process_calls, args=(url, run, CALLS // 3, wait, go, results)) for _ in range(3)]
        for proc in procs:
            proc.start()
        time.sleep(3.0)  # let the interpreters import before the start line
        go.set()
        done = sum(results.get(timeout=300) for _ in procs)
        for proc in procs:
            proc.join(30)
        out[f"{name}_{label}_3procs_calls"], out[f"{name}_{label}_3procs_spend"] = done, _spent(url, run)
        out[f"{name}_{label}_3procs_vs_sequential"] = round(done / baseline, 3)
    return out


# -- 2. waking a waiter in another process ------------------------------------------------------


class _ListenSignal:
    """The ledger's wake-up source replaced by a connection parked in LISTEN (the alternative)."""

    def __init__(self, url: str) -> None:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("LISTEN llmo_budget")
        self.generation = 0

    def notify(self) -> None:  # settlements in this process: not used by the waiter
        pass

    def wait(self, generation: int, timeout: float) -> None:
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            self.generation += 1


def _waiter(url: str, mode: str, jobs: Any, answers: Any) -> None:
    store = Store.open(url)
    ledger = Ledger(store, AuditLog(store, AuditLevel.NONE), reservation_wait=60)
    if mode == "notify":
        ledger.signal = _ListenSignal(url)  # type: ignore[assignment]
    answers.put("ready")
    while (run_id := jobs.get()) is not None:
        reservation = ledger.reserve(run_id, "bench", "waiter", None, 0.6, 1.0)
        answers.put(time.time())
        ledger.release(reservation.id)
    store.close()


def wake_latency(url: str, mode: str) -> list[float]:
    ctx = multiprocessing.get_context("spawn")
    jobs, answers = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_waiter, args=(url, mode, jobs, answers))
    proc.start()
    answers.get(timeout=120)
    latencies = []
    with Store.open(url) as store:
        ledger = Ledger(store, AuditLog(store, AuditLevel.NONE))
        for _ in range(WAKE_ROUNDS):
            run_id = f"wake-{uuid.uuid4().hex[:8]}"
            holder = ledger.reserve(run_id, "bench", "holder", None, 0.6, 1.0)
            jobs.put(run_id)
            time.sleep(WAKE_HOLD)  # the waiter is waiting by now
            ledger.settle(holder.id, 0.3)
            committed = time.time()
            if mode == "notify":
                with store.engine.connect() as conn:
                    conn.execute(text("NOTIFY llmo_budget"))
                    conn.commit()
            latencies.append(answers.get(timeout=60) - committed)
    jobs.put(None)
    proc.join(30)
    return latencies


# -- 3. what NOTIFY costs -------------------------------------------------------------------------


def notify_cost(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with Store.open(url) as store:
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_notify (id int primary key, n bigint)"))
            conn.execute(text("DELETE FROM bench_notify"))
            conn.execute(text("INSERT INTO bench_notify SELECT g, 0 FROM generate_series(0, :k) g"), {"k": NOTIFY_THREADS})
        for notify in (False, True):
            local = threading.local()

            def op(i: int, notify: bool = notify, local: threading.local = local) -> None:
                if not hasattr(local, "slot"):
                    local.slot = i % NOTIFY_THREADS
                with store.engine.begin() as conn:
                    conn.execute(text("UPDATE bench_notify SET n = n + 1 WHERE id = :id"), {"id": local.slot})
                    if notify:
                        conn.execute(text("NOTIFY llmo_budget"))

            start = time.perf_counter()
            with ThreadPoolExecutor(NOTIFY_THREADS) as pool:
                list(pool.map(op, range(NOTIFY_OPS)))
            out["notify_commits_per_s" if notify else "plain_commits_per_s"] = round(NOTIFY_OPS / (time.perf_counter() - start), 1)
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE bench_notify"))
    out["notify_vs_plain"] = round(out["notify_commits_per_s"] / out["plain_commits_per_s"], 3)
    return out


def main() -> None:
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        results.update(completion("sqlite", f"sqlite:///{tmp}/bench.db"))
        pg = test_postgres_url()
        problem = postgres_reachable(pg)
        if problem is not None:
            print(f"postgres skipped: {problem}")
        else:
            scoped = stack.enter_context(scratch_schema(pg, prefix="llmo_bench"))
            upgrade(scoped)
            results.update(completion("postgres", scoped))
            for mode in ("poll", "notify"):
                latencies = wake_latency(scoped, mode)
                results[f"wake_{mode}_median_s"] = round(statistics.median(latencies), 3)
                results[f"wake_{mode}_max_s"] = round(max(latencies), 3)
            results.update(notify_cost(scoped))
    for key, value in results.items():
        print(f"{key:<40}{value}")
    print(json.dumps({"bench": "ledger_wait", **results}))


if __name__ == "__main__":
    main()
