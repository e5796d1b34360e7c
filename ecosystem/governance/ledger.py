"""Cost ledger and budgets: reserve before an LLM call, settle (or release) after, never overspend.

Budgets: one per workflow run (``run:<run_id>``, limit from the ``governance.budget-limit-usd``
annotation or ``cost_limits.per_run``) and, per organisation, one per UTC day
(``daily:<org>:<YYYY-MM-DD>``) and month (``monthly:<org>:<YYYY-MM>``) from ``cost_limits``.

The guarantee - concurrent tasks, threads or processes cannot overspend - comes from doing the
check and the write in **one transaction that holds every applicable budget's lock**:

* PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING`` creates missing budget rows, then
  ``SELECT ... FOR UPDATE`` locks them in id order (one global order, so no deadlocks).
  Everything that changes a budget's sums (reserve, settle, release, record_cost) takes the
  same locks, so once we hold them every earlier writer has committed and READ COMMITTED
  sums are exact.
* SQLite: the session opens with ``BEGIN IMMEDIATE`` - one writer at a time, database-wide.

Spend is derived, not counted: ``cost_records`` (settled facts) plus active, unexpired
``budget_reservations``.  A reservation whose process died is ignored once past ``expires_at``
and marked ``expired`` by the next reservation on the same budget.  Settling converts the
reservation into a cost record in the same transaction; settling twice returns the first
record (safe to retry), and a reservation that expired is still settled - the money was spent.
Amounts are exact integer nano-dollars inside (see ``ecosystem.store.models``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.errors import BudgetExceeded, ReservationNotFound
from ecosystem.governance.models import WARNING_UTILIZATION, BudgetStatus, CostLimits, CostRecord, Reservation
from ecosystem.store import Store
from ecosystem.store.models import (
    BudgetReservationRow,
    BudgetRow,
    CostRecordRow,
    nanos_to_usd,
    usd_to_nanos,
    utcnow,
)

UNBUDGETED = "none"


@dataclass(frozen=True)
class BudgetSpec:
    id: str
    name: str
    kind: str
    organization_id: str
    run_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    limit_nanos: int | None  # None: use the stored limit


def _day(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


class Ledger:
    """Reservations, settlements and budget checks on a ``Store`` (sync; see ``Store`` on threads)."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        cost_limits: CostLimits | None = None,
        *,
        organization_id: str = "default",
        reservation_ttl: float = 900.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.audit = audit
        self.cost_limits = cost_limits or CostLimits()
        self.organization_id = organization_id
        self.reservation_ttl = reservation_ttl
        self.clock = clock

    # -- budgets ------------------------------------------------------------------------------

    def _specs(self, organization_id: str, run_id: str | None, run_limit: float | None, when: datetime) -> list[BudgetSpec]:
        specs: list[BudgetSpec] = []
        limit = run_limit if run_limit is not None else self.cost_limits.per_run
        if run_id is not None:
            specs.append(
                BudgetSpec(
                    f"run:{run_id}", f"run {run_id}", "run", organization_id, run_id, None, None,
                    usd_to_nanos(limit) if limit is not None else None,
                )
            )
        if self.cost_limits.daily is not None:
            start, end = _day(when)
            specs.append(
                BudgetSpec(
                    f"daily:{organization_id}:{start:%Y-%m-%d}", f"daily {organization_id} {start:%Y-%m-%d}",
                    "daily", organization_id, None, start, end, usd_to_nanos(self.cost_limits.daily),
                )
            )
        if self.cost_limits.monthly is not None:
            start, end = _month(when)
            specs.append(
                BudgetSpec(
                    f"monthly:{organization_id}:{start:%Y-%m}", f"monthly {organization_id} {start:%Y-%m}",
                    "monthly", organization_id, None, start, end, usd_to_nanos(self.cost_limits.monthly),
                )
            )
        return sorted(specs, key=lambda s: s.id)

    def _ensure_budgets(self, session: Session, specs: Sequence[BudgetSpec], now: datetime) -> None:
        rows = [
            {
                "id": s.id, "name": s.name, "kind": s.kind, "organization_id": s.organization_id,
                "run_id": s.run_id, "period_start": s.period_start, "period_end": s.period_end,
                "limit_nanos": s.limit_nanos, "created_at": now, "updated_at": now,
            }
            for s in specs
            if s.limit_nanos is not None
        ]
        if not rows:
            return
        insert = postgresql.insert if self.store.is_postgres else sqlite.insert
        stmt = insert(BudgetRow).values(rows).on_conflict_do_nothing(index_elements=["id"])
        session.execute(stmt)

    def _lock(self, session: Session, ids: Sequence[str]) -> dict[str, BudgetRow]:
        if not ids:
            return {}
        stmt = select(BudgetRow).where(BudgetRow.id.in_(sorted(ids))).order_by(BudgetRow.id).with_for_update()
        return {row.id: row for row in session.scalars(stmt)}

    def _spent(self, session: Session, budget: BudgetRow) -> int:
        stmt = select(func.coalesce(func.sum(CostRecordRow.cost_nanos), 0))
        if budget.kind == "run":
            stmt = stmt.where(CostRecordRow.run_id == budget.run_id)
        else:
            stmt = stmt.where(
                CostRecordRow.organization_id == budget.organization_id,
                CostRecordRow.timestamp >= budget.period_start,
                CostRecordRow.timestamp < budget.period_end,
            )
        return int(session.execute(stmt).scalar_one())

    def _reserved(self, session: Session, budget_id: str, now: datetime) -> int:
        stmt = select(func.coalesce(func.sum(BudgetReservationRow.amount_nanos), 0)).where(
            BudgetReservationRow.budget_id == budget_id,
            BudgetReservationRow.status == "active",
            BudgetReservationRow.expires_at > now,
        )
        return int(session.execute(stmt).scalar_one())

    def _expire(self, session: Session, budget_ids: Sequence[str], now: datetime) -> list[str]:
        stmt = (
            update(BudgetReservationRow)
            .where(
                BudgetReservationRow.budget_id.in_(budget_ids),
                BudgetReservationRow.status == "active",
                BudgetReservationRow.expires_at <= now,
            )
            .values(status="expired", closed_at=now)
            .returning(BudgetReservationRow.reservation_id)
        )
        return sorted(set(session.scalars(stmt)))

    @staticmethod
    def _status(budget: BudgetRow, spent: int, reserved: int, limit_nanos: int | None = None) -> BudgetStatus:
        limit = budget.limit_nanos if limit_nanos is None else limit_nanos
        used = spent + reserved
        utilization = used / limit if limit > 0 else 1.0
        return BudgetStatus(
            name=budget.name,
            scope=budget.id,
            kind=budget.kind,  # type: ignore[arg-type]
            limit=nanos_to_usd(limit),
            current=nanos_to_usd(spent),
            reserved=nanos_to_usd(reserved),
            remaining=nanos_to_usd(max(0, limit - used)),
            utilization=round(utilization, 6),
            exceeded=spent > limit,
            warning=utilization >= WARNING_UTILIZATION,
        )

    # -- operations ---------------------------------------------------------------------------

    def reserve(
        self,
        run_id: str,
        workflow: str,
        task_id: str,
        organization_id: str | None,
        amount: float,
        run_limit: float | None = None,
        *,
        ttl: float | None = None,
    ) -> Reservation:
        """Hold ``amount`` USD against every applicable budget, or raise ``BudgetExceeded``."""
        org = organization_id or self.organization_id
        amount_nanos = usd_to_nanos(amount)
        reservation_id = str(uuid.uuid4())
        now = self.clock()
        expires = now + timedelta(seconds=self.reservation_ttl if ttl is None else ttl)
        specs = self._specs(org, run_id, run_limit, now)
        breach: BudgetExceeded | None = None
        expired: list[str] = []
        budget_ids: list[str] = []
        try:
            with self.store.session() as session:
                self._ensure_budgets(session, specs, now)
                budgets = self._lock(session, [s.id for s in specs])
                for spec in specs:
                    row = budgets.get(spec.id)
                    if row is not None and spec.limit_nanos is not None and row.limit_nanos != spec.limit_nanos:
                        row.limit_nanos = spec.limit_nanos
                        row.updated_at = now
                budget_ids = sorted(budgets)
                expired = self._expire(session, budget_ids, now)
                for budget_id in budget_ids:
                    budget = budgets[budget_id]
                    spent, reserved = self._spent(session, budget), self._reserved(session, budget_id, now)
                    if spent + reserved + amount_nanos > budget.limit_nanos:
                        raise BudgetExceeded(
                            budget=budget.name,
                            limit=nanos_to_usd(budget.limit_nanos),
                            spent=nanos_to_usd(spent),
                            reserved=nanos_to_usd(reserved),
                            requested=nanos_to_usd(amount_nanos),
                        )
                # A reservation with no applicable budget still gets a row so it can be settled.
                holders = budget_ids or [UNBUDGETED]
                session.add_all(
                    BudgetReservationRow(
                        reservation_id=reservation_id, budget_id=budget_id, organization_id=org,
                        workflow_id=workflow, run_id=run_id, task_id=task_id, amount_nanos=amount_nanos,
                        status="active", created_at=now, expires_at=expires,
                    )
                    for budget_id in holders
                )
        except BudgetExceeded as exc:
            breach = exc
        ctx: dict[str, Any] = {"organization_id": org, "workflow": workflow, "run_id": run_id, "task_id": task_id}
        if breach is not None:
            self.audit.write(
                "budget_breach", **ctx, decision="deny", reason=breach.message, budget=breach.budget,
                amount_usd=amount, details=breach.details(),
            )
            raise breach
        for expired_id in expired:
            self.audit.write("reservation_expired", **ctx, details={"reservation_id": expired_id})
        self.audit.write(
            "reservation", **ctx, amount_usd=amount,
            details={"reservation_id": reservation_id, "budgets": budget_ids, "expires_at": expires.isoformat()},
        )
        return Reservation(
            id=reservation_id, run_id=run_id, workflow=workflow, task_id=task_id, organization_id=org,
            amount=nanos_to_usd(amount_nanos), budgets=budget_ids, created_at=now, expires_at=expires,
        )

    def _reservation_rows(self, session: Session, reservation_id: str) -> list[BudgetReservationRow]:
        stmt = select(BudgetReservationRow).where(BudgetReservationRow.reservation_id == reservation_id)
        return list(session.scalars(stmt))

    def settle(self, reservation_id: str, actual_cost: float, cost_record: CostRecord | None = None) -> CostRecord:
        """Turn a reservation into a cost record of ``actual_cost`` USD, in one transaction."""
        now = self.clock()
        actual = usd_to_nanos(actual_cost)
        with self.store.session() as session:
            rows = self._reservation_rows(session, reservation_id)
            if not rows:
                raise ReservationNotFound(f"no reservation {reservation_id}")
            budgets = self._lock(session, [r.budget_id for r in rows])
            session.expire_all()
            rows = self._reservation_rows(session, reservation_id)
            first = rows[0]
            if first.status == "settled":
                existing = session.scalars(
                    select(CostRecordRow).where(CostRecordRow.reservation_id == reservation_id)
                ).one()
                return _record_from_row(existing)
            if first.status == "released":
                raise ReservationNotFound(f"reservation {reservation_id} was released; it cannot be settled")
            session.execute(
                update(BudgetReservationRow)
                .where(BudgetReservationRow.reservation_id == reservation_id)
                .values(status="settled", actual_nanos=actual, closed_at=now)
            )
            base = cost_record or CostRecord(task_id=first.task_id, workflow_id=first.workflow_id, cost_usd=0.0)
            row = CostRecordRow(
                id=str(uuid.uuid4()), organization_id=first.organization_id, workflow_id=base.workflow_id,
                run_id=first.run_id, task_id=base.task_id, executor=base.executor, model=base.model,
                prompt_tokens=base.prompt_tokens, completion_tokens=base.completion_tokens,
                total_tokens=base.total_tokens, cost_nanos=actual, cached=base.cached,
                reservation_id=reservation_id, timestamp=base.timestamp if cost_record else now, created_at=now,
            )
            session.add(row)
            session.flush()
            breaches = [
                self._status(b, self._spent(session, b), self._reserved(session, b.id, now)) for b in budgets.values()
            ]
            record = _record_from_row(row)
        ctx = {"organization_id": first.organization_id, "workflow": first.workflow_id, "run_id": first.run_id,
               "task_id": first.task_id}
        self.audit.write(
            "settlement", **ctx, amount_usd=record.cost_usd,
            details={"reservation_id": reservation_id, "reserved_usd": nanos_to_usd(first.amount_nanos),
                     "was_expired": first.status == "expired"},
        )
        self._audit_breaches(breaches, ctx)
        return record

    def release(self, reservation_id: str) -> Reservation:
        """Give a reservation's money back (the call failed or was skipped)."""
        now = self.clock()
        with self.store.session() as session:
            rows = self._reservation_rows(session, reservation_id)
            if not rows:
                raise ReservationNotFound(f"no reservation {reservation_id}")
            self._lock(session, [r.budget_id for r in rows])
            session.expire_all()
            rows = self._reservation_rows(session, reservation_id)
            first = rows[0]
            if first.status == "settled":
                raise ReservationNotFound(f"reservation {reservation_id} was already settled; it cannot be released")
            was = first.status
            if was != "released":
                session.execute(
                    update(BudgetReservationRow)
                    .where(BudgetReservationRow.reservation_id == reservation_id)
                    .values(status="released", closed_at=now)
                )
            reservation = Reservation(
                id=reservation_id, run_id=first.run_id, workflow=first.workflow_id, task_id=first.task_id,
                organization_id=first.organization_id, amount=nanos_to_usd(first.amount_nanos),
                budgets=sorted(r.budget_id for r in rows if r.budget_id != UNBUDGETED), created_at=first.created_at,
                expires_at=first.expires_at, status="released",
            )
        if was != "released":
            self.audit.write(
                "release", organization_id=first.organization_id, workflow=first.workflow_id,
                run_id=first.run_id, task_id=first.task_id, amount_usd=reservation.amount,
                details={"reservation_id": reservation_id, "was": was},
            )
        return reservation

    def record_cost(self, record: CostRecord) -> CostRecord:
        """Record a cost incurred without a reservation (it counts against every applicable budget)."""
        now = self.clock()
        org = record.organization_id or self.organization_id
        specs = self._specs(org, record.run_id, None, record.timestamp)
        with self.store.session() as session:
            budgets = self._lock(session, [s.id for s in specs])
            row = CostRecordRow(
                id=str(uuid.uuid4()), organization_id=org, workflow_id=record.workflow_id, run_id=record.run_id,
                task_id=record.task_id, executor=record.executor, model=record.model,
                prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
                total_tokens=record.total_tokens, cost_nanos=usd_to_nanos(record.cost_usd), cached=record.cached,
                reservation_id=None, timestamp=record.timestamp, created_at=now,
            )
            session.add(row)
            session.flush()
            statuses = [
                self._status(b, self._spent(session, b), self._reserved(session, b.id, now)) for b in budgets.values()
            ]
            stored = _record_from_row(row)
        ctx = {"organization_id": org, "workflow": record.workflow_id, "run_id": record.run_id,
               "task_id": record.task_id}
        self.audit.write(
            "cost_recorded", **ctx, amount_usd=stored.cost_usd,
            details={"model": record.model, "executor": record.executor, "total_tokens": record.total_tokens},
        )
        self._audit_breaches(statuses, ctx)
        return stored

    def _audit_breaches(self, statuses: list[BudgetStatus], ctx: dict[str, Any]) -> None:
        for status in statuses:
            if status.exceeded:
                self.audit.write(
                    "budget_breach", **ctx, decision="exceeded", budget=status.name,
                    reason=f"budget '{status.name}' spent ${status.current:.6f} of ${status.limit:.6f}",
                    amount_usd=status.current, details=status.model_dump(mode="json"),
                )

    def check_budget(
        self, organization_id: str | None = None, run_id: str | None = None, run_limit: float | None = None
    ) -> list[BudgetStatus]:
        """Where every applicable budget stands now (run budget first, then daily, monthly)."""
        org = organization_id or self.organization_id
        now = self.clock()
        specs = self._specs(org, run_id, run_limit, now)
        statuses: list[BudgetStatus] = []
        with self.store.session(readonly=True) as session:
            stored = {
                row.id: row for row in session.scalars(select(BudgetRow).where(BudgetRow.id.in_([s.id for s in specs])))
            }
            for spec in specs:
                row = stored.get(spec.id)
                if row is None:
                    if spec.limit_nanos is None:
                        continue
                    row = BudgetRow(
                        id=spec.id, name=spec.name, kind=spec.kind, organization_id=spec.organization_id,
                        run_id=spec.run_id, period_start=spec.period_start, period_end=spec.period_end,
                        limit_nanos=spec.limit_nanos,
                    )
                statuses.append(
                    self._status(row, self._spent(session, row), self._reserved(session, spec.id, now), spec.limit_nanos)
                )
        order = {"run": 0, "daily": 1, "monthly": 2}
        return sorted(statuses, key=lambda s: order[s.kind])


def _record_from_row(row: CostRecordRow) -> CostRecord:
    return CostRecord(
        id=row.id, task_id=row.task_id, workflow_id=row.workflow_id, run_id=row.run_id,
        organization_id=row.organization_id, executor=row.executor, model=row.model,
        prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens, total_tokens=row.total_tokens,
        cost_usd=nanos_to_usd(row.cost_nanos), cached=row.cached, timestamp=row.timestamp,
        reservation_id=row.reservation_id,
    )
