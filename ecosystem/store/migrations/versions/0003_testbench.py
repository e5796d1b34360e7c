"""Test-Bench tables: test reports and per-metric evaluation scores.

Revision ID: 0003_testbench
Revises: 0002_optimizer
Create Date: 2026-11-25

Mirrors ``ecosystem.store.testbench_models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecosystem.store.models import UTCDateTime

revision = "0003_testbench"
down_revision = "0002_optimizer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_reports",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("mean_overall_score", sa.Float(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_test_reports_workflow", "test_reports", ["workflow"])
    op.create_table(
        "evaluation_scores",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("overall_score", sa.Float(), nullable=False),
        sa.Column("task_passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_evaluation_scores_run_id", "evaluation_scores", ["run_id"])
    op.create_index("ix_evaluation_scores_workflow_created", "evaluation_scores", ["workflow", "created_at"])


def downgrade() -> None:
    op.drop_table("evaluation_scores")
    op.drop_table("test_reports")
