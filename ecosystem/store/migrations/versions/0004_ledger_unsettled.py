"""Crash-safe spend: cost records flagged ``unsettled``; indexes for the expiry sweep.

Revision ID: 0004
Revises: 0003_testbench
Create Date: 2026-11-26

A reservation that lapses unsettled (its process was killed, its machine lost) is now counted as
spent at its reserved amount: a cost record with ``unsettled = true`` and reservation rows with
the status ``unsettled``.  Rows that lapsed before this revision keep the status ``expired``
they had; their money was released under the old rule and is not charged retroactively.

``ix_budget_reservations_expiry`` serves the sweep over every budget (``status, expires_at``);
``ix_budget_reservations_run`` serves ``unsettled`` listings by run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_testbench"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cost_records") as batch:
        batch.add_column(sa.Column("unsettled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_budget_reservations_expiry", "budget_reservations", ["status", "expires_at"])
    op.create_index("ix_budget_reservations_run", "budget_reservations", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_budget_reservations_run", table_name="budget_reservations")
    op.drop_index("ix_budget_reservations_expiry", table_name="budget_reservations")
    with op.batch_alter_table("cost_records") as batch:
        batch.drop_column("unsettled")
