"""Governance tables: cost ledger, budgets, budget reservations, audit events.

Revision ID: 0001_governance
Revises:
Create Date: 2026-11-25

Money columns are BIGINT nano-dollars (see ``ecosystem.store.models``).  Later systems append
revisions (``0002_performance_metrics``, ``0003_evaluations``) with ``down_revision`` pointing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecosystem.store.models import UTCDateTime

revision = "0001_governance"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cost_records",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organization_id", sa.String(200), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("executor", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("reservation_id", sa.String(36), nullable=True, unique=True),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cost_records_run", "cost_records", ["run_id"])
    op.create_index("ix_cost_records_org_time", "cost_records", ["organization_id", "timestamp"])
    op.create_index("ix_cost_records_workflow_time", "cost_records", ["workflow_id", "timestamp"])

    op.create_table(
        "budgets",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("organization_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("period_start", UTCDateTime(), nullable=True),
        sa.Column("period_end", UTCDateTime(), nullable=True),
        sa.Column("limit_nanos", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "budget_reservations",
        sa.Column("reservation_id", sa.String(36), primary_key=True),
        sa.Column("budget_id", sa.String(300), primary_key=True),
        sa.Column("organization_id", sa.String(200), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actual_nanos", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_budget_reservations_active", "budget_reservations", ["budget_id", "status", "expires_at"])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("organization_id", sa.String(200), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=True),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("task_id", sa.String(200), nullable=True),
        sa.Column("policy", sa.String(200), nullable=True),
        sa.Column("decision", sa.String(50), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("budget", sa.String(300), nullable=True),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_workflow_time", "audit_events", ["workflow_id", "timestamp"])
    op.create_index("ix_audit_events_time", "audit_events", ["timestamp"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_index("ix_budget_reservations_active", table_name="budget_reservations")
    op.drop_table("budget_reservations")
    op.drop_table("budgets")
    op.drop_table("cost_records")
