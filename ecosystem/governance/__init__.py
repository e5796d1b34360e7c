"""Governance: policies before tasks, a cost ledger with budgets around them, an audit log.

    from ecosystem.governance import GovernanceSettings, build_governance
    governance = build_governance(GovernanceSettings(cost_limits={"daily": 1000}))
    reservation = await governance.reserve(run_id=..., workflow=..., task_id=..., amount=0.12,
                                           run_limit=10.0)
    ... call the model ...
    await governance.settle(reservation.id, actual_cost)   # or release(reservation.id) on failure

A reservation waits (up to ``reservation_wait``) while other reservations in flight fill a budget;
one never settled is counted as spent when it lapses (``unsettled(...)`` lists them).

``build_governance`` returns the embedded implementation unless ``settings.endpoint`` is set.
The FastAPI app lives in ``ecosystem.governance.server`` (imported on demand: it pulls FastAPI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecosystem._lazy import lazy_exports

if TYPE_CHECKING:
    from ecosystem.governance.client import (
        HttpGovernanceClient,
    )
    from ecosystem.governance.embedded import (
        EmbeddedGovernance,
    )
    from ecosystem.governance.errors import (
        ApprovalDenied,
        BudgetExceeded,
        GovernanceError,
        InvalidPolicy,
        PolicyNotFound,
        PolicyProblem,
        PolicyViolation,
        ReservationNotFound,
    )
    from ecosystem.governance.models import (
        BUDGET_LIMIT_ANNOTATION,
        ApprovalRecord,
        AuditEvent,
        AuditLevel,
        AuditQuery,
        BudgetStatus,
        CostLimits,
        CostRecord,
        EvaluationContext,
        GovernanceSettings,
        PolicyDecision,
        PolicyEvaluationRequest,
        PolicyOptions,
        Reservation,
        TaskInfo,
        UnsettledQuery,
        UnsettledReservation,
    )
    from ecosystem.governance.policies import (
        raise_for_decision,
        run_limit_from,
    )
    from ecosystem.governance.protocol import (
        Governance,
    )
    from ecosystem.store import Store

_EXPORTS: dict[str, tuple[str, ...]] = {
    "client": ("HttpGovernanceClient",),
    "embedded": ("EmbeddedGovernance",),
    "errors": ("ApprovalDenied", "BudgetExceeded", "GovernanceError", "InvalidPolicy", "PolicyNotFound", "PolicyProblem", "PolicyViolation", "ReservationNotFound",),
    "models": ("BUDGET_LIMIT_ANNOTATION", "ApprovalRecord", "AuditEvent", "AuditLevel", "AuditQuery", "BudgetStatus", "CostLimits", "CostRecord", "EvaluationContext", "GovernanceSettings", "PolicyDecision", "PolicyEvaluationRequest", "PolicyOptions", "Reservation", "TaskInfo", "UnsettledQuery", "UnsettledReservation",),
    "policies": ("raise_for_decision", "run_limit_from",),
    "protocol": ("Governance",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def build_governance(settings: GovernanceSettings, store: Store | None = None) -> Governance:
    """The remote client when ``settings.endpoint`` is set, else ``EmbeddedGovernance``."""
    from ecosystem.governance.client import HttpGovernanceClient
    from ecosystem.governance.embedded import EmbeddedGovernance

    if settings.endpoint:
        return HttpGovernanceClient.from_settings(settings)
    return EmbeddedGovernance(settings, store)


__all__ = [
    "BUDGET_LIMIT_ANNOTATION",
    "ApprovalDenied",
    "ApprovalRecord",
    "AuditEvent",
    "AuditLevel",
    "AuditQuery",
    "BudgetExceeded",
    "BudgetStatus",
    "CostLimits",
    "CostRecord",
    "EmbeddedGovernance",
    "EvaluationContext",
    "Governance",
    "GovernanceError",
    "GovernanceSettings",
    "HttpGovernanceClient",
    "InvalidPolicy",
    "PolicyDecision",
    "PolicyEvaluationRequest",
    "PolicyNotFound",
    "PolicyOptions",
    "PolicyProblem",
    "PolicyViolation",
    "Reservation",
    "ReservationNotFound",
    "TaskInfo",
    "UnsettledQuery",
    "UnsettledReservation",
    "build_governance",
    "raise_for_decision",
    "run_limit_from",
]
