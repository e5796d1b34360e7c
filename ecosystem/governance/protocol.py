"""``Governance``: what the flow sees - one async Protocol, served embedded or over HTTP.

Both ``EmbeddedGovernance`` and ``HttpGovernanceClient`` implement it and pass the same contract
suite, so the engine never knows which one it holds.  Errors are the ``GovernanceError`` tree in
either case (``BudgetExceeded`` keeps its budget, limit and spend over HTTP too).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ecosystem.governance.models import (
    ApprovalRecord,
    AuditEvent,
    AuditQuery,
    BudgetStatus,
    CostRecord,
    PolicyDecision,
    PolicyEvaluationRequest,
    Reservation,
)


@runtime_checkable
class Governance(Protocol):
    async def evaluate_policies(self, request: PolicyEvaluationRequest) -> PolicyDecision:
        """The aggregated decision (deny > require_approval > allow); ``details`` has each policy's."""
        ...

    async def record_cost(self, record: CostRecord) -> CostRecord:
        """Record a cost incurred without a reservation; returns it with its ledger id."""
        ...

    async def check_budget(
        self, *, organization_id: str | None = None, run_id: str | None = None, run_limit: float | None = None
    ) -> list[BudgetStatus]: ...

    async def reserve(
        self,
        *,
        run_id: str,
        workflow: str,
        task_id: str,
        amount: float,
        organization_id: str | None = None,
        run_limit: float | None = None,
    ) -> Reservation:
        """Hold ``amount`` USD against every applicable budget or raise ``BudgetExceeded``."""
        ...

    async def settle(
        self, reservation_id: str, actual_cost: float, cost_record: CostRecord | None = None
    ) -> CostRecord: ...

    async def release(self, reservation_id: str) -> Reservation: ...

    async def record_approval(self, approval: ApprovalRecord) -> None:
        """Audit a person's answer to a require_approval decision."""
        ...

    async def audit(self, query: AuditQuery) -> list[AuditEvent]: ...

    async def aclose(self) -> None: ...
