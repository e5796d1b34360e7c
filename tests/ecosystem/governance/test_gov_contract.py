"""One contract, two backends: embedded, and HttpGovernanceClient -> real FastAPI server on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
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
    UnsettledQuery,
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


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Backend:
    governance: Governance
    clock: MovableClock  # the ledger's clock, behind either backend


@pytest.fixture(params=["embedded", "http"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Like ``governance``, with the ledger's clock in the test's hand (reservations lapse on demand)."""
    store = Store.open(f"sqlite:///{tmp_path}/ledger-contract.db")
    embedded = EmbeddedGovernance(GovernanceSettings(reservation_ttl=60, reservation_wait=60), store)
    clock = MovableClock()
    embedded.ledger.clock = clock
    if request.param == "embedded":
        yield Backend(embedded, clock)
    else:
        with serve_in_thread(create_governance_app(embedded)) as url:
            client = HttpGovernanceClient(url, reservation_wait=60)
            yield Backend(client, clock)
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
        await governance.reserve(run_id=run_id, workflow="wf", task_id="b", amount=0.5, run_limit=1.0, wait=0)
    assert info.value.budget == f"run {run_id}" and info.value.cause == "in_flight"
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


async def test_a_reservation_waits_for_the_one_in_flight_then_is_refused_only_by_spend(backend: Backend) -> None:
    governance, run_id = backend.governance, f"run-{uuid.uuid4().hex}"
    first = await governance.reserve(run_id=run_id, workflow="wf", task_id="a", amount=0.6, run_limit=1.0)
    waiting = asyncio.create_task(
        governance.reserve(run_id=run_id, workflow="wf", task_id="b", amount=0.6, run_limit=1.0)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()  # not refused: waiting for the reservation in flight
    await governance.settle(first.id, 0.3)
    second = await asyncio.wait_for(waiting, 60)
    assert second.amount == 0.6 and second.task_id == "b"
    with pytest.raises(BudgetExceeded) as info:  # 0.3 spent + 0.8 cannot fit, whatever settles
        await governance.reserve(run_id=run_id, workflow="wf", task_id="c", amount=0.8, run_limit=1.0, wait=30)
    assert (info.value.cause, info.value.waited, info.value.spent, info.value.reserved) == ("spent", 0.0, 0.3, 0.6)
    with pytest.raises(BudgetExceeded) as timed_out:
        await governance.reserve(run_id=run_id, workflow="wf", task_id="d", amount=0.5, run_limit=1.0, wait=0.2)
    assert timed_out.value.cause == "wait_timeout" and timed_out.value.budget == f"run {run_id}"


async def test_lapsed_reservations_are_listed_as_unsettled_and_recorded_as_cost(backend: Backend) -> None:
    governance, run_id = backend.governance, f"run-{uuid.uuid4().hex}"
    assert isinstance(governance, Governance)  # both backends implement unsettled and recorded_cost
    lost = await governance.reserve(run_id=run_id, workflow="wf-u", task_id="fan[0]", amount=0.7, run_limit=1.0)
    done = await governance.reserve(run_id=run_id, workflow="wf-u", task_id="fan[1]", amount=0.2, run_limit=1.0)
    await governance.settle(done.id, 0.1)
    assert await governance.unsettled(UnsettledQuery(run_id=run_id)) == []
    assert await governance.recorded_cost(run_id, ["fan"]) == pytest.approx(0.1)
    backend.clock.now += timedelta(seconds=61)

    [item] = await governance.unsettled(UnsettledQuery(run_id=run_id))
    assert (item.reservation_id, item.run_id, item.workflow, item.task_id, item.amount) == (
        lost.id, run_id, "wf-u", "fan[0]", 0.7)
    assert item.budgets == [f"run:{run_id}"] and item.reserved_at == lost.created_at
    assert item.expired_at == lost.expires_at
    assert [u.reservation_id for u in await governance.unsettled(UnsettledQuery(workflow="wf-u"))] == [lost.id]
    assert await governance.unsettled(UnsettledQuery(workflow="wf-u", since=item.expired_at + timedelta(seconds=1))) == []
    assert await governance.recorded_cost(run_id, ["fan"]) == pytest.approx(0.8)
    assert await governance.recorded_cost(run_id, ["fan[0]"]) == pytest.approx(0.7)
    assert await governance.recorded_cost(run_id, ["fa", "other"]) is None
    assert (await governance.release(lost.id)).status == "unsettled"
    [status] = await governance.check_budget(run_id=run_id, run_limit=1.0)
    assert (status.current, status.reserved) == (pytest.approx(0.8), 0.0)
    [event] = await governance.audit(AuditQuery(run_id=run_id, kind="reservation_unsettled"))
    assert (event.task_id, event.workflow, event.amount_usd) == ("fan[0]", "wf-u", 0.7)


async def test_http_rejects_bad_ledger_input_with_plain_errors(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/bad.db") as store:
        embedded = EmbeddedGovernance(GovernanceSettings(), store)
        with serve_in_thread(create_governance_app(embedded)) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                answers = [
                    await http.post("/v1/budgets/reserve", json={"run_id": "r", "workflow": "w", "task_id": "t",
                                                                 "amount": 0.1, "wait": -1}),
                    await http.post("/v1/costs/recorded", json={"run_id": "r", "task_ids": "fan"}),
                    await http.get("/v1/budgets/unsettled", params={"limit": 0}),
                    await http.get("/v1/budgets/unsettled", params={"since": "yesterday"}),
                ]
        await embedded.aclose()
    for answer in answers:
        assert answer.status_code == 422, answer.text  # outside the contract's bounds (issue 18)
        error = answer.json()["error"]
        assert error["type"] == "invalid_request" and "Traceback" not in error["message"]
    assert "wait" in answers[0].json()["error"]["message"] and "task_ids" in answers[1].json()["error"]["message"]


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


async def test_a_reservation_may_ask_for_a_longer_life_than_the_default(backend: Backend) -> None:
    """A batch's reservation outlives the default TTL (60 s here) and does not lapse meanwhile."""
    governance, run_id = backend.governance, f"run-{uuid.uuid4().hex}"
    long = await governance.reserve(run_id=run_id, workflow="wf-b", task_id="fan[0]", amount=0.4, run_limit=1.0,
                                    ttl=25 * 3600)
    short = await governance.reserve(run_id=run_id, workflow="wf-b", task_id="fan[1]", amount=0.1, run_limit=1.0)
    assert long.expires_at - long.created_at == timedelta(hours=25)
    backend.clock.now += timedelta(seconds=61)
    assert [u.reservation_id for u in await governance.unsettled(UnsettledQuery(run_id=run_id))] == [short.id]
    await governance.settle(long.id, 0.2)
    assert await governance.recorded_cost(run_id, ["fan"]) == pytest.approx(0.3)
