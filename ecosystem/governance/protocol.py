"""``Governance``: what the flow sees - one async Protocol, served embedded or over HTTP.

Both ``EmbeddedGovernance`` and ``HttpGovernanceClient`` implement it and pass the same contract
suite, so the engine never knows which one it holds.  Errors are the ``GovernanceError`` tree in
either case (``BudgetExceeded`` keeps its budget, limit and spend over HTTP too).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    UnsettledQuery,
    UnsettledReservation,
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
        wait: float | None = None,
        ttl: float | None = None,
    ) -> Reservation:
        """Hold ``amount`` USD against every applicable budget or raise ``BudgetExceeded``.

        The reservation lapses into unsettled spend after ``ttl`` seconds (the configured
        ``reservation_ttl`` when ``None``): a batch, answered within hours, asks for longer.

        While reservations in flight fill a budget it waits for them to settle, at most ``wait``
        seconds (the configured ``reservation_wait`` when ``None``, and never more; 0 refuses at
        once).  Refused at once when committed spend plus ``amount`` passes a limit.
        """
        ...

    async def settle(
        self, reservation_id: str, actual_cost: float, cost_record: CostRecord | None = None
    ) -> CostRecord: ...

    async def release(self, reservation_id: str) -> Reservation: ...

    async def record_approval(self, approval: ApprovalRecord) -> None:
        """Audit a person's answer to a require_approval decision."""
        ...

    async def audit(self, query: AuditQuery) -> list[AuditEvent]: ...

    async def unsettled(self, query: UnsettledQuery) -> list[UnsettledReservation]:
        """Reservations that lapsed without a settlement and are counted as spent, oldest first."""
        ...

    async def recorded_cost(self, run_id: str, task_ids: Sequence[str]) -> float | None:
        """USD the ledger holds for ``run_id`` under ``task_ids`` - each id exactly or as a forEach
        item ``id[i]`` - settled and unsettled; ``None`` when it holds no record for them."""
        ...

    async def aclose(self) -> None: ...
