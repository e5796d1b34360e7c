"""The shared bounds of ecosystem/models.py: what every request model refuses, and how it says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecosystem.errors import InvalidRequest
from ecosystem.governance.models import AuditQuery, CostRecord, ReserveRequest
from ecosystem.models import MAX_DEPTH, validated
from ecosystem.optimizer.models import PerformanceMetric


def test_timestamps_are_iso_strings_or_datetimes_never_numbers() -> None:
    assert AuditQuery(since="2026-01-02T03:04:05Z").since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # type: ignore[arg-type]
    for number in (0, 1_700_000_000, "1700000000", "-2.5e-13"):
        with pytest.raises(InvalidRequest, match="since: Value error, a timestamp is an ISO 8601 date-time"):
            validated(AuditQuery, {"since": number})


def test_free_form_json_is_finite_and_shallow() -> None:
    base = {"workflow_id": "w", "task_id": "t", "executor": "e", "execution_time_ms": 1}
    for bad in ({"x": float("nan")}, {"x": [1, float("inf")]}):
        with pytest.raises(InvalidRequest, match="custom: Value error, numbers must be finite"):
            validated(PerformanceMetric, {**base, "custom": bad})
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(InvalidRequest, match="nested deeper than"):
        validated(PerformanceMetric, {**base, "custom": {"x": deep}})
    assert validated(PerformanceMetric, {**base, "custom": {"x": [[1.5]]}}).custom == {"x": [[1.5]]}


def test_a_refusal_names_every_field_and_never_echoes_the_value() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validated(ReserveRequest, {"run_id": "sk-secret-" + "x" * 300, "workflow": "w", "task_id": "t", "amount": -1})
    message = caught.value.message
    assert message.startswith("ReserveRequest: run_id: String should have at most 200 characters; amount:")
    assert "sk-secret" not in message
    with pytest.raises(InvalidRequest, match="cost_usd: Input should be less than or equal to 1000000"):
        validated(CostRecord, {"task_id": "t", "workflow_id": "w", "cost_usd": 1e20})
    with pytest.raises(InvalidRequest, match="task_id: String should match pattern"):
        validated(CostRecord, {"task_id": "a\x00b", "workflow_id": "w", "cost_usd": 1})


def test_thresholds_and_weights_are_finite_and_their_ranges_left_to_the_engine() -> None:
    from ecosystem.testbench.models import EvaluationRequest

    base = {"task_id": "t", "response": "x", "metrics": ["exact_match"]}
    # Out of 0..1 or negative is reported by the engine with the request's other problems.
    assert validated(EvaluationRequest, {**base, "thresholds": {"exact_match": 1.5}, "weights": {"exact_match": -1}})
    for field in ("thresholds", "weights"):
        with pytest.raises(InvalidRequest, match=f"{field}.exact_match: Input should be a finite number"):
            validated(EvaluationRequest, {**base, field: {"exact_match": float("inf")}})
