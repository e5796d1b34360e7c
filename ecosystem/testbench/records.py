"""Keeping a run's test report in the store (tables ``test_reports`` and ``evaluation_scores``).

Written once per run, in one transaction, after the report is generated; re-saving a run's
report (a retried flow run) replaces it rather than duplicating its scores.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete

from ecosystem.store import Store
from ecosystem.store.testbench_models import EvaluationScoreRow, TestReportRow
from ecosystem.testbench.models import TestReport


def save_report(store: Store, workflow: str, report: TestReport, *, thresholds_passed: dict[str, dict[str, bool]] | None = None) -> int:
    """Store ``report`` for its run; returns the number of score rows written."""
    now = datetime.now(UTC)
    rows = []
    for task in report.tasks:
        failed = set(task.failed_metrics)
        for metric, score in task.scores.items():
            rows.append(EvaluationScoreRow(
                run_id=report.execution_id, workflow=workflow, task_id=task.task_id, metric=metric, score=float(score),
                passed=metric not in failed, overall_score=float(task.overall_score), task_passed=task.passed, created_at=now,
            ))
    with store.session() as session:
        session.execute(delete(EvaluationScoreRow).where(EvaluationScoreRow.run_id == report.execution_id))
        session.execute(delete(TestReportRow).where(TestReportRow.run_id == report.execution_id))
        session.add(TestReportRow(
            run_id=report.execution_id, workflow=workflow, total=report.total, passed=report.passed, failed=report.failed,
            mean_overall_score=report.mean_overall_score, report=report.model_dump(mode="json"), created_at=now,
        ))
        session.add_all(rows)
    return len(rows)
