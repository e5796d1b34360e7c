"""One contract, two backends: embedded, and HttpGovernanceClient -> real FastAPI server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ecosystem.errors import InvalidRequest, ServiceUnauthorized
from ecosystem.governance import (
    ApprovalRecord,
    AuditQuery,
    BudgetExceeded,
    CostLimits,
    CostRecord,
    EmbeddedGovernance,
    EvaluationContext,
    Governance,
    GovernanceSettings,
    HttpGovernanceClient,
    PolicyEvaluationRequest,
    PolicyNotFound,
    PolicyOptions,
    ReservationNotFound,
    TaskInfo,
    build_governance,
)
from ecosystem.governance.models import DataPrivacyOptions
from ecosystem.governance.server import create_governance_app
from ecosystem.service import serve_in_thread
from ecosystem.store import Store

TOKEN = "contract-token"


@pytest.fixture(params=["embedded", "http"])
async def governance(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Governance]:
    settings = GovernanceSettings(
        cost_limits=CostLimits(daily=5.0),
        policy_options=PolicyOptions(data_privacy=DataPrivacyOptions(action="redact")),
        approver="lead@corp",
    )
    store = Store.open(f"sqlite:///{tmp_path}/contract.db")
    embedded = EmbeddedGovernance(settings, store)
    if request.param == "embedded":
        yield embedded
    else:
        with serve_in_thread(create_governance_app(embedded, token=TOKEN)) as url:
            client = HttpGovernanceClient(url, token=TOKEN)
            yield client
            await client.aclose()
    await embedded.aclose()
    store.close()


def _request(prompt: str, **context: object) -> PolicyEvaluationRequest:
    return PolicyEvaluationRequest(
        policies=["content-safety", "data-privacy", "cost-limit"],
        task=TaskInfo(id="summarise", executor="llm-forge:claude-api", model="claude-sonnet-4-5",
                      annotations={"governance.budget-limit-usd": "1.00"}),
        context=EvaluationContext(workflow="wf", run_id="run-c", prompt=prompt, **context),  # type: ignore[arg-type]
    )


async def test_policy_evaluation_round_trip(governance: Governance) -> None:
    allowed = await governance.evaluate_policies(_request("Summarise: write to bob@example.com", estimated_cost=0.2))
    assert allowed.decision == "allow"
    assert allowed.redacted_prompt == "Summarise: write to [REDACTED:email]"
    assert [d.policy for d in allowed.details] == ["content-safety", "data-privacy", "cost-limit"]
    denied = await governance.evaluate_policies(_request("how to build a bomb", estimated_cost=2.0))
    assert denied.decision == "deny"
    assert {d.policy for d in denied.details if d.decision == "deny"} == {"content-safety", "cost-limit"}
    with pytest.raises(PolicyNotFound):
        await governance.evaluate_policies(_request("hi").model_copy(update={"policies": ["nope"]}))
    events = await governance.audit(AuditQuery(workflow="wf", kind="policy_decision"))
    assert len(events) == 2
    assert "bob@example.com" not in str([e.model_dump() for e in events])


async def test_reserve_settle_release_and_budget_exceeded_round_trip(governance: Governance) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    first = await governance.reserve(run_id=run_id, workflow="wf", task_id="a", amount=0.6, run_limit=1.0)
    assert first.amount == pytest.approx(0.6) and f"run:{run_id}" in first.budgets
    with pytest.raises(BudgetExceeded) as info:
        await governance.reserve(run_id=run_id, workflow="wf", task_id="b", amount=0.5, run_limit=1.0)
    assert info.value.budget == f"run {run_id}"
    assert (info.value.limit, info.value.spent, info.value.reserved) == pytest.approx((1.0, 0.0, 0.6))
    assert info.value.status == 402
    record = await governance.settle(
        first.id, 0.55,
        CostRecord(task_id="a", workflow_id="wf", model="claude-sonnet-4-5", prompt_tokens=100,
                   completion_tokens=50, total_tokens=150, cost_usd=0.55),
    )
    assert record.cost_usd == pytest.approx(0.55) and record.run_id == run_id and record.id
    second = await governance.reserve(run_id=run_id, workflow="wf", task_id="b", amount=0.4, run_limit=1.0)
    released = await governance.release(second.id)
    assert released.status == "released"
    with pytest.raises(ReservationNotFound):
        await governance.settle(second.id, 0.1)
    statuses = await governance.check_budget(run_id=run_id, run_limit=1.0)
    run_status = statuses[0]
    assert run_status.kind == "run" and run_status.current == pytest.approx(0.55)
    assert run_status.reserved == 0.0 and run_status.remaining == pytest.approx(0.45)
    assert [s.kind for s in statuses] == ["run", "daily"]
    kinds = [e.kind for e in await governance.audit(AuditQuery(run_id=run_id))]
    assert kinds == ["reservation", "budget_breach", "settlement", "reservation", "release"]


async def test_record_cost_and_approval_are_kept(governance: Governance) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    stored = await governance.record_cost(
        CostRecord(task_id="t", workflow_id="wf2", run_id=run_id, cost_usd=0.25, cached=True)
    )
    assert stored.id and stored.cached
    await governance.record_approval(
        ApprovalRecord(workflow="wf2", run_id=run_id, task_id="t", policy="big-spend", approver="lead@corp",
                       approved=True, comment="ok, key sk-abcdefghijklmnopqrstuvwxyz123")
    )
    since = datetime.now(UTC) - timedelta(minutes=5)
    events = await governance.audit(AuditQuery(workflow="wf2", since=since))
    assert [e.kind for e in events] == ["cost_recorded", "approval"]
    assert events[1].reason == "ok, key [REDACTED:openai_key]"
    assert await governance.audit(AuditQuery(workflow="wf2", since=datetime.now(UTC) + timedelta(hours=1))) == []


async def test_http_requires_the_token(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/auth.db") as store:
        embedded = EmbeddedGovernance(GovernanceSettings(), store)
        with serve_in_thread(create_governance_app(embedded, token=TOKEN)) as url:
            client = HttpGovernanceClient(url, token="wrong")
            with pytest.raises(ServiceUnauthorized):
                await client.check_budget(run_id="x")
            await client.aclose()


async def test_build_governance_picks_the_backend(tmp_path: Path) -> None:
    embedded = build_governance(GovernanceSettings(storage_url=f"sqlite:///{tmp_path}/b.db"))
    assert isinstance(embedded, EmbeddedGovernance)
    await embedded.aclose()
    remote = build_governance(GovernanceSettings(endpoint="http://127.0.0.1:9"))
    assert isinstance(remote, HttpGovernanceClient)
    await remote.aclose()


async def test_amounts_and_ids_the_store_cannot_hold_are_refused_before_anything_is_written(
    governance: Governance,
) -> None:
    with pytest.raises(InvalidRequest, match="amount"):
        await governance.reserve(run_id="run-b", workflow="wf", task_id="t", amount=1e20)
    with pytest.raises(InvalidRequest, match="run_limit"):
        await governance.reserve(run_id="run-b", workflow="wf", task_id="t", amount=0.1, run_limit=float("inf"))
    # A model copied with an update skipped validation; both backends still refuse it.
    record = CostRecord(task_id="t", workflow_id="wf", run_id="run-b", cost_usd=0.1)
    with pytest.raises(InvalidRequest, match="cost_usd"):
        await governance.record_cost(record.model_copy(update={"cost_usd": 1e20}))
    with pytest.raises(InvalidRequest, match="prompt_tokens"):
        await governance.record_cost(record.model_copy(update={"prompt_tokens": 2**40}))
    with pytest.raises(InvalidRequest, match="run_id"):
        await governance.check_budget(run_id="r" * 201)
    with pytest.raises(InvalidRequest, match="actual_cost"):
        await governance.settle("no-such-reservation", 1e20)
    assert await governance.audit(AuditQuery(workflow="wf")) == []

