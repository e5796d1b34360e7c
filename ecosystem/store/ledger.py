"""Read-side queries of the Governance ledger, so no caller outside the store writes SQL.

``recorded_cost`` answers "what has this run already recorded for these tasks" (the cost
tracker's question; a forEach task's items are recorded as ``id[0]``, ``id[1]``, ...);
``unsettled_reservations`` lists reservations that lapsed unsettled and were counted as spent.
The write side - reserve, settle, the expiry sweep, all under budget locks - stays in
``ecosystem.governance.ledger``: it is Governance's rule, not a query.

Task ids are matched in two steps: SQL narrows with ``=`` and an escaped ``LIKE 'id[%'`` (task
ids are snake_case, and ``_`` is a LIKE wildcard), then ``matches_task`` keeps exactly ``id`` and
``id[<digits>]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from ecosystem.store.engine import Store
from ecosystem.store.models import BudgetReservationRow, CostRecordRow

UNSETTLED = "unsettled"
_ITEM = re.compile(r"\[\d+\]")


def matches_task(task_id: str, task_ids: Sequence[str]) -> bool:
    """``task_id`` is one of ``task_ids`` or a forEach item of one (``id[3]``)."""
    for wanted in task_ids:
        if task_id == wanted:
            return True
        if task_id.startswith(wanted + "[") and _ITEM.fullmatch(task_id, len(wanted)):
            return True
    return False


def recorded_cost_nanos(store: Store, run_id: str, task_ids: Sequence[str]) -> int | None:
    """Nano-dollars the ledger holds for ``run_id`` under ``task_ids`` (settled and unsettled
    cost records), or ``None`` when it holds no record for them."""
    wanted = [t for t in dict.fromkeys(task_ids) if t]
    if not wanted:
        return None
    conditions: list[ColumnElement[bool]] = [CostRecordRow.task_id.in_(wanted)]
    conditions.extend(CostRecordRow.task_id.startswith(t + "[", autoescape=True) for t in wanted)
    stmt = select(CostRecordRow.task_id, CostRecordRow.cost_nanos).where(
        CostRecordRow.run_id == run_id, or_(*conditions)
    )
    with store.session(readonly=True) as session:
        amounts = [nanos for task, nanos in session.execute(stmt) if matches_task(task, wanted)]
    return sum(amounts) if amounts else None


@dataclass(frozen=True)
class UnsettledRow:
    """One reservation that lapsed unsettled (one row per reservation, whatever its budgets)."""

    reservation_id: str
    run_id: str
    workflow_id: str
    task_id: str
    organization_id: str
    amount_nanos: int
    budgets: tuple[str, ...]
    reserved_at: datetime
    expired_at: datetime


def unsettled_reservations(
    store: Store,
    *,
    workflow: str | None = None,
    run_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[UnsettledRow]:
    """Reservations with the status ``unsettled``, oldest expiry first, filtered by workflow,
    run and expiry time (``since``)."""
    r = BudgetReservationRow
    ids = select(r.reservation_id, func.min(r.expires_at).label("expired_at")).where(r.status == UNSETTLED)
    if workflow is not None:
        ids = ids.where(r.workflow_id == workflow)
    if run_id is not None:
        ids = ids.where(r.run_id == run_id)
    if since is not None:
        ids = ids.where(r.expires_at >= since)
    ids = ids.group_by(r.reservation_id).order_by("expired_at", r.reservation_id).limit(limit)
    with store.session(readonly=True) as session:
        order = [reservation_id for reservation_id, _ in session.execute(ids)]
        if not order:
            return []
        rows = session.scalars(select(r).where(r.reservation_id.in_(order), r.status == UNSETTLED)).all()
    by_id: dict[str, list[BudgetReservationRow]] = {}
    for row in rows:
        by_id.setdefault(row.reservation_id, []).append(row)
    out = []
    for reservation_id in order:
        group = by_id[reservation_id]
        first = group[0]
        out.append(
            UnsettledRow(
                reservation_id=reservation_id, run_id=first.run_id, workflow_id=first.workflow_id,
                task_id=first.task_id, organization_id=first.organization_id, amount_nanos=first.amount_nanos,
                budgets=tuple(sorted(g.budget_id for g in group)), reserved_at=first.created_at,
                expired_at=first.expires_at,
            )
        )
    return out


__all__ = ["UNSETTLED", "UnsettledRow", "matches_task", "recorded_cost_nanos", "unsettled_reservations"]
