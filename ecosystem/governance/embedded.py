"""``EmbeddedGovernance``: policies, ledger and audit in-process, on the SQL store.

The store is synchronous (see ``ecosystem.store.engine``); each protocol call runs as one
``asyncio.to_thread`` hop, so the event loop never waits on a lock or the disk.  A reservation
that waits for room in a budget waits on the event loop between its tries (``Ledger.areserve``),
holding no worker thread.  Policy
decisions are audited (redacted) after they are made; the cost-limit policy reads the live
budgets through the ledger, so an estimate is judged against active reservations too.
Every protocol call checks its arguments against the request models' bounds first (``validated``),
so out-of-range input raises ``InvalidRequest`` here exactly where the server answers 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ecosystem.governance.audit import AuditLog
from ecosystem.governance.ledger import Ledger
from ecosystem.governance.models import (
    ApprovalRecord,
    AuditEvent,
    AuditQuery,
    BudgetCheckRequest,
    BudgetStatus,
    CostRecord,
    GovernanceSettings,
    PolicyDecision,
    PolicyEvaluationRequest,
    ReleaseRequest,
    Reservation,
    ReserveRequest,
    SettleRequest,
    UnsettledQuery,
    UnsettledReservation,
)
from ecosystem.governance.policies import PolicyEngine, run_limit_from
from ecosystem.governance.rules import RulePolicy
from ecosystem.models import revalidated, validated
from ecosystem.store import Store


class EmbeddedGovernance:
    """Governance in this process.  ``store`` defaults to ``Store.open(settings.storage_url)``."""

    def __init__(
        self, settings: GovernanceSettings, store: Store | None = None, *, rules: list[RulePolicy] | None = None
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store = store if store is not None else Store.open(settings.storage_url)
        self.audit_log = AuditLog(self.store, settings.audit_level)
        self.ledger = Ledger(
            self.store,
            self.audit_log,
            settings.cost_limits,
            organization_id=settings.organization_id,
            reservation_ttl=settings.reservation_ttl,
            reservation_wait=settings.reservation_wait,
        )
        self.engine = PolicyEngine.build(
            settings.policy_options,
            rule_files=settings.policy_files,
            rules=rules,
            budgets=self._budgets_for,
            default_approver=settings.approver,
        )

    def _budgets_for(self, request: PolicyEvaluationRequest) -> list[BudgetStatus]:
        run_limit = run_limit_from(request.task.annotations, self.settings.cost_limits.per_run)
        return self.ledger.check_budget(request.context.organization_id, request.context.run_id, run_limit)

    def evaluate_sync(self, request: PolicyEvaluationRequest) -> PolicyDecision:
        decision = self.engine.evaluate(request)
        self.audit_log.write(
            "policy_decision",
            organization_id=request.context.organization_id or self.settings.organization_id,
            workflow=request.context.workflow or None,
            run_id=request.context.run_id,
            task_id=request.task.id,
            policy=decision.policy,
            decision=decision.decision,
            reason=decision.reason,
            details={
                "policies": [
                    {"policy": d.policy, "decision": d.decision, "reason": d.reason} for d in decision.details
                ],
                "findings": [f.model_dump() for f in decision.findings],
                "enforced": self.settings.enforce_policies,
            },
        )
        return decision

    async def evaluate_policies(self, request: PolicyEvaluationRequest) -> PolicyDecision:
        return await asyncio.to_thread(self.evaluate_sync, revalidated(request))

    async def record_cost(self, record: CostRecord) -> CostRecord:
        return await asyncio.to_thread(self.ledger.record_cost, revalidated(record))

    async def check_budget(
        self, *, organization_id: str | None = None, run_id: str | None = None, run_limit: float | None = None
    ) -> list[BudgetStatus]:
        body = validated(
            BudgetCheckRequest, {"organization_id": organization_id, "run_id": run_id, "run_limit": run_limit}
        )
        return await asyncio.to_thread(self.ledger.check_budget, body.organization_id, body.run_id, body.run_limit)

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
        body = validated(ReserveRequest, {
            "run_id": run_id, "workflow": workflow, "task_id": task_id, "amount": amount,
            "organization_id": organization_id, "run_limit": run_limit, "wait": wait, "ttl": ttl,
        })
        return await self.ledger.areserve(body.run_id, body.workflow, body.task_id, body.organization_id, body.amount,
                                          body.run_limit, wait=body.wait, ttl=body.ttl)

    async def settle(
        self, reservation_id: str, actual_cost: float, cost_record: CostRecord | None = None
    ) -> CostRecord:
        body = validated(SettleRequest, {
            "reservation_id": reservation_id, "actual_cost": actual_cost,
            "cost_record": cost_record.model_dump() if cost_record is not None else None,
        })
        return await asyncio.to_thread(self.ledger.settle, body.reservation_id, body.actual_cost, body.cost_record)

    async def release(self, reservation_id: str) -> Reservation:
        body = validated(ReleaseRequest, {"reservation_id": reservation_id})
        return await asyncio.to_thread(self.ledger.release, body.reservation_id)

    def record_approval_sync(self, approval: ApprovalRecord) -> None:
        self.audit_log.write(
            "approval",
            organization_id=approval.organization_id or self.settings.organization_id,
            workflow=approval.workflow,
            run_id=approval.run_id,
            task_id=approval.task_id,
            policy=approval.policy,
            decision="approved" if approval.approved else "denied",
            reason=approval.comment,
            details={"approver": approval.approver},
        )

    async def record_approval(self, approval: ApprovalRecord) -> None:
        await asyncio.to_thread(self.record_approval_sync, revalidated(approval))

    async def audit(self, query: AuditQuery) -> list[AuditEvent]:
        return await asyncio.to_thread(self.audit_log.run_query, revalidated(query))

    async def unsettled(self, query: UnsettledQuery) -> list[UnsettledReservation]:
        return await asyncio.to_thread(
            self.ledger.unsettled, workflow=query.workflow, run_id=query.run_id, since=query.since, limit=query.limit
        )

    async def recorded_cost(self, run_id: str, task_ids: Sequence[str]) -> float | None:
        return await asyncio.to_thread(self.ledger.recorded_cost, run_id, list(task_ids))

    async def aclose(self) -> None:
        if self._owns_store:
            await asyncio.to_thread(self.store.close)
