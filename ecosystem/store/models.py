"""SQLAlchemy 2.0 declarative models: one ``Base`` for every table the project stores.

Governance owns ``cost_records``, ``budgets``, ``budget_reservations`` and ``audit_events``; later
systems add their tables (``performance_metrics``, ``evaluations``) to the same ``Base`` and a
new revision in ``migrations/versions``, so one Alembic chain describes the whole database.

Decisions:

* Money is an integer number of **nano-dollars** (``BigInteger``), not a float or ``Numeric``:
  sums are exact on every backend (ten settlements of 0.10 are exactly 1.00), SQLite has no
  decimal type, and 2**63 nano-dollars is still nine billion dollars.  ``usd_to_nanos`` and
  ``nanos_to_usd`` convert at the edge; the pydantic contracts speak float USD like the seed.
* Timestamps are stored in UTC.  ``UTCDateTime`` always hands back aware datetimes; on SQLite,
  which keeps datetimes as text, it stores naive UTC so string comparison orders correctly.
* A budget row is the lock: reservations and settlements take ``SELECT ... FOR UPDATE`` on the
  rows of every budget they touch, so spend is derived from facts (``cost_records``) and active
  reservations, never from a counter that could drift.
* A reservation that lapses without being settled (its process died) becomes a cost record
  flagged ``unsettled`` at the reserved amount, and its rows take the status ``unsettled``: the
  provider may well have billed, so the money stays spent (migration 0004).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NANOS_PER_USD = 1_000_000_000


def usd_to_nanos(value: float) -> int:
    """Round a USD amount to whole nano-dollars."""
    return int(round(float(value) * NANOS_PER_USD))


def nanos_to_usd(value: int | None) -> float:
    return (value or 0) / NANOS_PER_USD


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table in the store (``Base.metadata`` is Alembic's target)."""

    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class CostRecordRow(Base):
    """One incurred cost: a settled reservation or a cost recorded without one."""

    __tablename__ = "cost_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(200))
    workflow_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200))
    executor: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_nanos: Mapped[int] = mapped_column(BigInteger)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    unsettled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reservation_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    timestamp: Mapped[datetime]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_cost_records_run", "run_id"),
        Index("ix_cost_records_org_time", "organization_id", "timestamp"),
        Index("ix_cost_records_workflow_time", "workflow_id", "timestamp"),
    )


class BudgetRow(Base):
    """A budget and its lock row; ``id`` is its scope (``run:<id>``, ``daily:<org>:<date>``, ...)."""

    __tablename__ = "budgets"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))  # run | daily | monthly
    organization_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    limit_nanos: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BudgetReservationRow(Base):
    """The share of one reservation held against one budget (a reservation spans 1-3 budgets)."""

    __tablename__ = "budget_reservations"

    reservation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    budget_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(200))
    workflow_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200))
    amount_nanos: Mapped[int] = mapped_column(BigInteger)
    # active | settled | released | unsettled (lapsed unsettled: counted as spent)
    # | expired (lapsed before migration 0004, when lapsed money was released)
    status: Mapped[str] = mapped_column(String(20))
    actual_nanos: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_budget_reservations_active", "budget_id", "status", "expires_at"),
        Index("ix_budget_reservations_expiry", "status", "expires_at"),
        Index("ix_budget_reservations_run", "run_id"),
    )


class AuditEventRow(Base):
    """One audit event; free text is redacted before it gets here."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    timestamp: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(50))
    organization_id: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(200))
    policy: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(Text)
    budget: Mapped[str | None] = mapped_column(String(300))
    amount_nanos: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_events_workflow_time", "workflow_id", "timestamp"),
        Index("ix_audit_events_time", "timestamp"),
    )


GOVERNANCE_TABLES = ("cost_records", "budgets", "budget_reservations", "audit_events")
