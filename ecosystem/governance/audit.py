"""The audit log: one row per governance event, each written in its own transaction.

Every write commits on its own, after the operation it describes has committed or rolled back,
so a failed reservation still leaves its ``budget_breach`` event and a crash loses nothing that
was already written.  ``audit_level`` filters what is kept: ``none`` nothing; ``basic`` policy
decisions, approvals, budget breaches and reservations counted as spent because they lapsed
unsettled (``reservation_unsettled``); ``full`` also reservations, settlements, releases and
recorded costs.  ``reservation_expired`` events (lapsed reservations released, before crash-safe
spend) may still be read from older logs.  Free text and details pass through the ``pii`` redactor first -
an audit record never holds a prompt's e-mail address or an API key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ecosystem.governance import pii
from ecosystem.governance.models import AuditEvent, AuditLevel, AuditQuery
from ecosystem.store import Store
from ecosystem.store.models import AuditEventRow, nanos_to_usd, usd_to_nanos, utcnow

BASIC_KINDS = frozenset({"policy_decision", "approval", "budget_breach", "reservation_unsettled"})
FULL_KINDS = BASIC_KINDS | {"reservation", "settlement", "release", "cost_recorded"}


def _row_to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.event_id,
        timestamp=row.timestamp,
        kind=row.kind,
        organization_id=row.organization_id,
        workflow=row.workflow_id,
        run_id=row.run_id,
        task_id=row.task_id,
        policy=row.policy,
        decision=row.decision,
        reason=row.reason,
        budget=row.budget,
        amount_usd=nanos_to_usd(row.amount_nanos) if row.amount_nanos is not None else None,
        details=row.details or {},
    )


class AuditLog:
    """Writes and queries audit events in ``store`` at ``level``."""

    def __init__(self, store: Store, level: AuditLevel = AuditLevel.FULL) -> None:
        self.store = store
        self.level = AuditLevel(level)

    def enabled(self, kind: str) -> bool:
        if self.level is AuditLevel.NONE:
            return False
        if self.level is AuditLevel.BASIC:
            return kind in BASIC_KINDS
        return True

    def write(
        self,
        kind: str,
        *,
        organization_id: str | None = None,
        workflow: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
        policy: str | None = None,
        decision: str | None = None,
        reason: str | None = None,
        budget: str | None = None,
        amount_usd: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent | None:
        """Commit one event (``None`` when the level filters it out)."""
        if not self.enabled(kind):
            return None
        clean_details = pii.redact_value(details or {})
        row = AuditEventRow(
            event_id=str(uuid.uuid4()),
            timestamp=utcnow(),
            kind=kind,
            organization_id=organization_id,
            workflow_id=workflow,
            run_id=run_id,
            task_id=task_id,
            policy=policy,
            decision=decision,
            reason=pii.redact(reason) if reason else reason,
            budget=budget,
            amount_nanos=usd_to_nanos(amount_usd) if amount_usd is not None else None,
            details=clean_details if isinstance(clean_details, dict) else {},
        )
        with self.store.session() as session:
            session.add(row)
        return _row_to_event(row)

    def query(
        self,
        workflow: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        *,
        run_id: str | None = None,
        kind: str | None = None,
    ) -> list[AuditEvent]:
        """Events, oldest first, filtered by workflow, run, kind and time."""
        stmt = select(AuditEventRow)
        if workflow is not None:
            stmt = stmt.where(AuditEventRow.workflow_id == workflow)
        if run_id is not None:
            stmt = stmt.where(AuditEventRow.run_id == run_id)
        if kind is not None:
            stmt = stmt.where(AuditEventRow.kind == kind)
        if since is not None:
            stmt = stmt.where(AuditEventRow.timestamp >= since)
        stmt = stmt.order_by(AuditEventRow.id).limit(limit)
        with self.store.session(readonly=True) as session:
            return [_row_to_event(row) for row in session.scalars(stmt)]

    def run_query(self, query: AuditQuery) -> list[AuditEvent]:
        return self.query(query.workflow, query.since, query.limit, run_id=query.run_id, kind=query.kind)
