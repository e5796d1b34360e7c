"""The Governance HTTP service: any ``Governance`` (normally embedded) on the ``/v1`` contract.

Routes: ``POST /v1/policies/evaluate``, ``POST /v1/costs``, ``POST /v1/budgets/check``,
``POST /v1/budgets/reserve``, ``POST /v1/budgets/settle``, ``POST /v1/budgets/release``,
``GET /v1/budgets/unsettled``, ``POST /v1/costs/recorded``, ``POST /v1/approvals``, ``GET /v1/audit``,
plus the probes ``GET /healthz`` and ``GET /readyz`` (the ledger's store answers).  A reservation
that waits for room waits inside its request (bounded by ``reservation_wait``; see ``client``).
Governance errors become the shared error body plus their ``details``; a request outside the
models' bounds is a 422 (``create_app``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query

from ecosystem.governance.models import (
    ApprovalRecord,
    AuditEvent,
    AuditQuery,
    BudgetCheckRequest,
    BudgetStatus,
    CostRecord,
    PolicyDecision,
    PolicyEvaluationRequest,
    RecordedCost,
    RecordedCostRequest,
    ReleaseRequest,
    Reservation,
    ReserveRequest,
    SettleRequest,
    UnsettledQuery,
    UnsettledReservation,
)
from ecosystem.governance.protocol import Governance
from ecosystem.service import create_app, readiness_of

ERRORS = {
    400: "A policy rule file is invalid.",
    402: "The spend would pass a budget (`budget_exceeded`, with the budget in `details`).",
    403: "A policy denied the task, or a person refused the approval.",
    404: "Unknown reservation or policy.",
}


def create_governance_app(governance: Governance, token: str | None = None) -> FastAPI:
    app = create_app(
        "llm-orchestrator governance", token=token, ready=readiness_of(governance), errors=ERRORS
    )

    @app.post("/v1/policies/evaluate")
    async def evaluate(request: PolicyEvaluationRequest) -> PolicyDecision:
        return await governance.evaluate_policies(request)

    @app.post("/v1/costs")
    async def record_cost(record: CostRecord) -> CostRecord:
        return await governance.record_cost(record)

    @app.post("/v1/budgets/check")
    async def check_budget(body: BudgetCheckRequest) -> list[BudgetStatus]:
        return await governance.check_budget(
            organization_id=body.organization_id, run_id=body.run_id, run_limit=body.run_limit
        )

    @app.post("/v1/budgets/reserve")
    async def reserve(body: ReserveRequest) -> Reservation:
        return await governance.reserve(
            run_id=body.run_id, workflow=body.workflow, task_id=body.task_id, amount=body.amount,
            organization_id=body.organization_id, run_limit=body.run_limit, wait=body.wait, ttl=body.ttl,
        )

    @app.post("/v1/budgets/settle")
    async def settle(body: SettleRequest) -> CostRecord:
        return await governance.settle(body.reservation_id, body.actual_cost, body.cost_record)

    @app.post("/v1/budgets/release")
    async def release(body: ReleaseRequest) -> Reservation:
        return await governance.release(body.reservation_id)

    @app.post("/v1/approvals")
    async def approvals(body: ApprovalRecord) -> dict[str, bool]:
        await governance.record_approval(body)
        return {"recorded": True}

    @app.get("/v1/audit")
    async def audit(query: Annotated[AuditQuery, Query()]) -> list[AuditEvent]:
        return await governance.audit(query)

    @app.get("/v1/budgets/unsettled")
    async def unsettled(query: Annotated[UnsettledQuery, Query()]) -> list[UnsettledReservation]:
        return list(await governance.unsettled(query))

    @app.post("/v1/costs/recorded")
    async def recorded_cost(body: RecordedCostRequest) -> RecordedCost:
        return RecordedCost(cost_usd=await governance.recorded_cost(body.run_id, body.task_ids))

    return app
