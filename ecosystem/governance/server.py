"""The Governance HTTP service: any ``Governance`` (normally embedded) on the ``/v1`` contract.

Routes: ``POST /v1/policies/evaluate``, ``POST /v1/costs``, ``POST /v1/budgets/check``,
``POST /v1/budgets/reserve``, ``POST /v1/budgets/settle``, ``POST /v1/budgets/release``,
``GET /v1/budgets/unsettled``, ``POST /v1/costs/recorded``, ``POST /v1/approvals``, ``GET /v1/audit``.
A reservation that waits for room waits inside its request (bounded by ``reservation_wait``; see
``client``).  Governance errors become the shared error body plus
their ``details``; request validation errors are 400 with plain sentences (``create_app``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query

from ecosystem.governance.models import (
    ApprovalRecord,
    AuditQuery,
    BudgetCheckRequest,
    CostRecord,
    PolicyEvaluationRequest,
    RecordedCostRequest,
    ReleaseRequest,
    ReserveRequest,
    SettleRequest,
    UnsettledQuery,
)
from ecosystem.governance.protocol import Governance
from ecosystem.service import create_app


def create_governance_app(governance: Governance, token: str | None = None) -> FastAPI:
    app = create_app("llm-orchestrator governance", token=token)

    @app.post("/v1/policies/evaluate")
    async def evaluate(request: PolicyEvaluationRequest) -> dict[str, Any]:
        return (await governance.evaluate_policies(request)).model_dump(mode="json")

    @app.post("/v1/costs")
    async def record_cost(record: CostRecord) -> dict[str, Any]:
        return (await governance.record_cost(record)).model_dump(mode="json")

    @app.post("/v1/budgets/check")
    async def check_budget(body: BudgetCheckRequest) -> list[dict[str, Any]]:
        statuses = await governance.check_budget(
            organization_id=body.organization_id, run_id=body.run_id, run_limit=body.run_limit
        )
        return [s.model_dump(mode="json") for s in statuses]

    @app.post("/v1/budgets/reserve")
    async def reserve(body: ReserveRequest) -> dict[str, Any]:
        reservation = await governance.reserve(
            run_id=body.run_id, workflow=body.workflow, task_id=body.task_id, amount=body.amount,
            organization_id=body.organization_id, run_limit=body.run_limit, wait=body.wait, ttl=body.ttl,
        )
        return reservation.model_dump(mode="json")

    @app.post("/v1/budgets/settle")
    async def settle(body: SettleRequest) -> dict[str, Any]:
        return (await governance.settle(body.reservation_id, body.actual_cost, body.cost_record)).model_dump(mode="json")

    @app.post("/v1/budgets/release")
    async def release(body: ReleaseRequest) -> dict[str, Any]:
        return (await governance.release(body.reservation_id)).model_dump(mode="json")

    @app.post("/v1/approvals")
    async def approvals(body: ApprovalRecord) -> dict[str, Any]:
        await governance.record_approval(body)
        return {"recorded": True}

    @app.get("/v1/audit")
    async def audit(
        workflow: str | None = None,
        run_id: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> list[dict[str, Any]]:
        query = AuditQuery(workflow=workflow, run_id=run_id, kind=kind, since=since, limit=limit)
        return [e.model_dump(mode="json") for e in await governance.audit(query)]

    @app.get("/v1/budgets/unsettled")
    async def unsettled(
        workflow: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> list[dict[str, Any]]:
        query = UnsettledQuery(workflow=workflow, run_id=run_id, since=since, limit=limit)
        return [u.model_dump(mode="json") for u in await governance.unsettled(query)]

    @app.post("/v1/costs/recorded")
    async def recorded_cost(body: RecordedCostRequest) -> dict[str, Any]:
        return {"cost_usd": await governance.recorded_cost(body.run_id, body.task_ids)}

    return app
