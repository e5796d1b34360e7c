"""Governance contracts: the seed's Rust structs as strict pydantic models, plus settings.

``PolicyDecision``, ``CostRecord``, ``BudgetStatus``, ``CostLimits`` and ``AuditLevel`` follow the
seed's ``GovernanceIntegration`` section; the request models (``ReserveRequest``,
``SettleRequest``, ...) are the bodies of our ``/v1`` HTTP contract.  Money is float USD on the
wire, as in the seed; the ledger stores exact nano-dollars.  Decision models carry findings
(kind and position) but never the matched text: a decision may be logged or audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr

from ecosystem.models import (
    MAX_ITEMS,
    Identifier,
    JsonObject,
    Names,
    Note,
    StrictModel,
    Text,
    Timestamp,
    Tokens,
    Usd,
    UsdLimit,
    parse_duration,
)

Decision = Literal["allow", "deny", "require_approval"]
DECISION_RANK: dict[str, int] = {"allow": 0, "require_approval": 1, "deny": 2}
BUDGET_LIMIT_ANNOTATION = "governance.budget-limit-usd"
WARNING_UTILIZATION = 0.9
DEFAULT_RESERVATION_TTL = 900.0
DEFAULT_RESERVATION_WAIT = 30.0

# Seconds, also written as a duration ("30s", "15m", "250ms").
Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _now() -> datetime:
    return datetime.now(UTC)


class Finding(StrictModel):
    """Something a policy matched, by kind and position only (the matched text is never kept)."""

    policy: str = Field(description="Policy that found it.")
    kind: str = Field(description="Detector or category, e.g. 'email', 'credit_card', 'violence'.")
    field: str = Field(description="Where: 'prompt', 'response' or 'inputs.<name>'.")
    start: int = Field(ge=0, description="Start offset in that text.")
    end: int = Field(ge=0, description="End offset in that text.")


class PolicyDecision(StrictModel):
    """One policy's decision, or the aggregate over several (then ``details`` holds each one)."""

    decision: Decision
    reason: str = ""
    policy: str | None = Field(default=None, description="Deciding policy (the strictest for an aggregate).")
    approver: str | None = Field(default=None, description="Who must approve a require_approval decision.")
    redacted_prompt: str | None = Field(default=None, description="The prompt with findings masked (redact action).")
    redacted_response: str | None = Field(default=None, description="The response with findings masked.")
    findings: list[Finding] = Field(default_factory=list)
    details: list[PolicyDecision] = Field(default_factory=list, description="Per-policy decisions (aggregate only).")

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class TaskInfo(StrictModel):
    """The task a policy is evaluated for."""

    id: Identifier
    type: Identifier = "llm"
    executor: Identifier = ""
    model: Identifier | None = None
    inputs: JsonObject = Field(default_factory=dict)
    annotations: Annotated[dict[Identifier, Note], Field(max_length=MAX_ITEMS)] = Field(default_factory=dict)


class EvaluationContext(StrictModel):
    """Where the task runs and what it says."""

    workflow: Identifier = ""
    run_id: Identifier | None = None
    prompt: Text | None = None
    response: Text | None = None
    estimated_cost: Usd | None = None
    organization_id: Identifier | None = None


class PolicyEvaluationRequest(StrictModel):
    """Evaluate ``policies`` (all loaded policies when empty) for ``task`` in ``context``."""

    policies: Names = Field(default_factory=list)
    task: TaskInfo
    context: EvaluationContext = Field(default_factory=EvaluationContext)


class CostRecord(StrictModel):
    """One incurred cost (the seed's ``CostRecord`` with run, model, token and cache fields)."""

    task_id: Identifier
    workflow_id: Identifier
    run_id: Identifier | None = None
    organization_id: Identifier = "default"
    executor: Identifier | None = None
    model: Identifier | None = None
    prompt_tokens: Tokens = 0
    completion_tokens: Tokens = 0
    total_tokens: Tokens = 0
    cost_usd: Usd
    cached: bool = False
    timestamp: Timestamp = Field(default_factory=_now)
    reservation_id: Identifier | None = None
    id: Identifier | None = Field(default=None, description="Ledger id, set once recorded.")
    unsettled: bool = Field(
        default=False,
        description="Set by the ledger: a reservation that lapsed unsettled, counted at its reserved amount.",
    )


class BudgetStatus(StrictModel):
    """Where one budget stands.  ``utilization`` counts active reservations as spent."""

    name: str
    scope: str
    kind: Literal["run", "daily", "monthly"]
    limit: float
    current: float = Field(description="Committed spend: settled costs plus reservations that lapsed unsettled.")
    reserved: float = Field(description="Reservations in flight (active, unexpired).")
    remaining: float
    utilization: float
    exceeded: bool
    warning: bool = Field(description=f"utilization >= {WARNING_UTILIZATION}")


class CostLimits(StrictModel):
    """Per-organisation limits in USD (seed: ``cost_limits``); ``per_run`` is the default run budget."""

    daily: UsdLimit | None = None
    monthly: UsdLimit | None = None
    per_run: UsdLimit | None = None


class AuditLevel(StrEnum):
    NONE = "none"
    BASIC = "basic"
    FULL = "full"


class AuditEvent(StrictModel):
    """One audit record.  Text fields are redacted before they are stored."""

    id: str
    timestamp: datetime
    kind: str = Field(description="policy_decision, approval, reservation, settlement, release, "
                      "reservation_unsettled, cost_recorded or budget_breach")
    organization_id: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    policy: str | None = None
    decision: str | None = None
    reason: str | None = None
    budget: str | None = None
    amount_usd: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditQuery(StrictModel):
    workflow: Identifier | None = None
    run_id: Identifier | None = None
    kind: Identifier | None = None
    since: Timestamp | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class Reservation(StrictModel):
    """Money held against every applicable budget until settled, released or expired."""

    id: str
    run_id: str
    workflow: str
    task_id: str
    organization_id: str
    amount: float
    budgets: list[str]
    created_at: datetime
    expires_at: datetime
    status: Literal["active", "settled", "released", "unsettled", "expired"] = Field(
        default="active",
        description="unsettled: lapsed without a settlement and counted as spent; "
        "expired: lapsed before crash-safe spend existed (released then).",
    )


class UnsettledReservation(StrictModel):
    """A reservation that lapsed without being settled: its amount is counted as spent."""

    reservation_id: str
    run_id: str
    workflow: str
    task_id: str
    organization_id: str
    amount: float = Field(description="USD counted as spent (the reserved amount).")
    budgets: list[str] = Field(description="Budgets it was held against.")
    reserved_at: datetime
    expired_at: datetime


class UnsettledQuery(StrictModel):
    workflow: Identifier | None = None
    run_id: Identifier | None = None
    since: Timestamp | None = Field(default=None, description="Only reservations that expired at or after this.")
    limit: int = Field(default=100, ge=1, le=10_000)


class RecordedCostRequest(StrictModel):
    """What the ledger holds for ``run_id`` under ``task_ids`` (each ``id`` or a forEach item ``id[i]``)."""

    run_id: Identifier
    task_ids: list[Identifier] = Field(max_length=MAX_ITEMS)


class RecordedCost(StrictModel):
    cost_usd: float | None = Field(description="Total USD recorded, or null when nothing was.")


class ReserveRequest(StrictModel):
    run_id: Identifier
    workflow: Identifier
    task_id: Identifier
    organization_id: Identifier | None = None
    amount: Usd
    run_limit: UsdLimit | None = None
    wait: float | None = Field(
        default=None, ge=0, le=3600,
        description="Seconds to wait for reservations in flight to settle (capped by the service's "
        "reservation_wait; its value when unset; 0 refuses at once).",
    )
    ttl: float | None = Field(
        default=None, gt=0, le=30 * 86400,
        description="Seconds before the reservation lapses into unsettled spend (the service's "
        "reservation_ttl when unset; a batch, answered within hours, asks for longer).",
    )


class SettleRequest(StrictModel):
    reservation_id: Identifier
    actual_cost: Usd
    cost_record: CostRecord | None = None


class ReleaseRequest(StrictModel):
    reservation_id: Identifier


class BudgetCheckRequest(StrictModel):
    organization_id: Identifier | None = None
    run_id: Identifier | None = None
    run_limit: UsdLimit | None = None


class ApprovalRecord(StrictModel):
    """A person's answer to a require_approval decision (audited)."""

    workflow: Identifier
    run_id: Identifier | None = None
    task_id: Identifier
    policy: Identifier
    approver: Identifier | None = None
    approved: bool
    comment: Note | None = None
    organization_id: Identifier | None = None


class ContentSafetyOptions(StrictModel):
    categories: list[str] | None = Field(default=None, description="Enabled categories (all when unset).")
    extra_terms: dict[str, list[str]] = Field(default_factory=dict, description="More terms per category.")
    allow_terms: list[str] = Field(default_factory=list, description="Terms never flagged.")
    action: Literal["deny", "require_approval"] = "deny"


class DataPrivacyOptions(StrictModel):
    action: Literal["deny", "redact", "require_approval"] = "deny"
    detectors: list[str] | None = Field(default=None, description="Enabled detectors (all when unset).")


class CostLimitOptions(StrictModel):
    approval_above_usd: float | None = Field(
        default=None, gt=0, description="Estimated costs above this need approval even within budget."
    )


class PolicyOptions(StrictModel):
    content_safety: ContentSafetyOptions = Field(default_factory=ContentSafetyOptions)
    data_privacy: DataPrivacyOptions = Field(default_factory=DataPrivacyOptions)
    cost_limit: CostLimitOptions = Field(default_factory=CostLimitOptions)
    allowed_models: list[str] = Field(
        default_factory=list, description="Glob patterns over model and executor names; empty allows all."
    )


class GovernanceSettings(StrictModel):
    """Configuration of Governance (seed: ``integrations.llm-governance-core``)."""

    endpoint: str | None = Field(default=None, description="Remote service URL; embedded when unset.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote service.")
    enforce_policies: bool = True
    cost_limits: CostLimits = Field(default_factory=CostLimits)
    audit_level: AuditLevel = AuditLevel.FULL
    storage_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in the data dir when unset.")
    organization_id: str = "default"
    policy_files: list[str] = Field(default_factory=list, description="YAML rule files to load.")
    policy_options: PolicyOptions = Field(default_factory=PolicyOptions)
    reservation_ttl: Seconds = Field(
        default=DEFAULT_RESERVATION_TTL, gt=0,
        description="Seconds before an unsettled reservation lapses and is counted as spent ('15m' ok).",
    )
    reservation_wait: Seconds = Field(
        default=DEFAULT_RESERVATION_WAIT, ge=0,
        description="Longest a reservation waits for reservations in flight to settle before it is refused "
        "('30s' ok); 0 refuses at once.",
    )
    approver: str | None = Field(default=None, description="Default approver for require_approval decisions.")
    timeout: float = Field(default=30.0, gt=0, description="HTTP timeout for the remote service.")
