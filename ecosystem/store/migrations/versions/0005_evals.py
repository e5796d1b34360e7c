"""Eval suite results: suite runs, per-variant summaries and per-case results.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Mirrors ``ecosystem.store.eval_models``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecosystem.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)


def _suite_run_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("suite_run_id", sa.String(64),
                     sa.ForeignKey("eval_suite_runs.suite_run_id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "eval_suite_runs",
        sa.Column("suite_run_id", sa.String(64), primary_key=True),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("suite_file", sa.Text(), nullable=False),
        sa.Column("workflow_file", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("variants", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("errored", sa.Integer(), nullable=False),
        sa.Column("provider_calls", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column("fail_under", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_eval_suite_runs_workflow_finished", "eval_suite_runs", ["workflow", "finished_at"])
    op.create_index("ix_eval_suite_runs_suite_finished", "eval_suite_runs", ["suite", "finished_at"])
    op.create_table(
        "eval_variant_results",
        _id(),
        _suite_run_id(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("errored", sa.Integer(), nullable=False),
        sa.Column("pass_rate", sa.Float(), nullable=False),
        sa.Column("pass_rate_low", sa.Float(), nullable=False),
        sa.Column("pass_rate_high", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("mean_score", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("cost_total_nanos", sa.BigInteger(), nullable=True),
        sa.Column("cost_mean_nanos", sa.BigInteger(), nullable=True),
        sa.Column("cost_unknown_runs", sa.Integer(), nullable=False),
        sa.Column("latency_p50_ms", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("on_frontier", sa.Boolean(), nullable=False),
        sa.Column("flaky_cases", sa.JSON(), nullable=False),
    )
    op.create_index("ix_eval_variant_results_suite_run_id", "eval_variant_results", ["suite_run_id"])
    op.create_table(
        "eval_case_results",
        _id(),
        _suite_run_id(),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("variant_id", sa.Text(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("errored", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("cached_tasks", sa.Integer(), nullable=False),
        sa.Column("provider_calls", sa.Integer(), nullable=False),
    )
    op.create_index("ix_eval_case_results_suite_run_id", "eval_case_results", ["suite_run_id"])


def downgrade() -> None:
    op.drop_table("eval_case_results")
    op.drop_table("eval_variant_results")
    op.drop_table("eval_suite_runs")
