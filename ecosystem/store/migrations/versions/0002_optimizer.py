"""Auto-Optimizer tables: performance metrics and the recommendation log.

Revision ID: 0002_optimizer
Revises: 0001_governance
Create Date: 2026-11-26

Mirrors ``ecosystem.store.optimizer_models``; cost is BIGINT nano-dollars like the ledger.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecosystem.store.models import UTCDateTime

revision = "0002_optimizer"
down_revision = "0001_governance"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "performance_metrics",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("metric_id", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("executor", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("execution_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("cpu_usage_percent", sa.Float(), nullable=False),
        sa.Column("memory_usage_mb", sa.BigInteger(), nullable=False),
        sa.Column("token_count", sa.BigInteger(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=True),
        sa.Column("max_tokens", sa.BigInteger(), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("input_hash", sa.String(64), nullable=True),
        sa.Column("depends_on", sa.JSON(), nullable=False),
        sa.Column("data_dependencies", sa.JSON(), nullable=False),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_performance_metrics_workflow_task_time", "performance_metrics", ["workflow", "task_id", "timestamp"]
    )
    op.create_index("ix_performance_metrics_workflow_time", "performance_metrics", ["workflow", "timestamp"])
    op.create_index("ix_performance_metrics_workflow_id", "performance_metrics", ["workflow_id"])
    op.create_index("ix_performance_metrics_run", "performance_metrics", ["run_id"])

    op.create_table(
        "recommendation_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("recommendation_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("generated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_recommendation_log_workflow_time", "recommendation_log", ["workflow", "generated_at"])


def downgrade() -> None:
    op.drop_index("ix_recommendation_log_workflow_time", table_name="recommendation_log")
    op.drop_table("recommendation_log")
    for name in (
        "ix_performance_metrics_run",
        "ix_performance_metrics_workflow_id",
        "ix_performance_metrics_workflow_time",
        "ix_performance_metrics_workflow_task_time",
    ):
        op.drop_index(name, table_name="performance_metrics")
    op.drop_table("performance_metrics")
