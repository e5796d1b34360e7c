"""``llm-governance:*`` executors, and the Governance helpers the run hook shares with them.

``enforce_policies`` (``llm-governance:policy-enforcer``) evaluates the named policies (all loaded
ones when none are named) on a context (``prompt``, ``response``, ``model``, ``executor``,
``inputs``, ``estimated_cost``, ``task_type``).  ``deny`` fails the task with ``PolicyViolation``
naming the policy; ``require_approval`` pauses the flow run for a person (see ``request_approval``)
and fails with ``ApprovalDenied`` when refused or timed out; ``allow`` (with redaction when the
data-privacy policy redacts) completes.  Outputs: ``decision``, ``allowed``, ``violations`` (every
non-allow policy decision) and ``redacted`` (the masked prompt, or null).

``track_cost`` (``llm-governance:cost-tracker``) prices ``usage`` on ``model`` with Forge's price
table and reports where the budgets stand.  **No double counting**: the Governance run hook
already settles every llm task's real cost in the ledger, and the seed's example then hands the
same usage to the tracker.  So the tracker records its cost (``record_cost``, under its own task
id) only when the ledger holds no cost for this run under any task the tracker reads from
(its data dependencies, ``forEach`` items included) nor under its own id (a retry).  When a record
exists it records nothing and judges the budgets with its own figure in place of the recorded
one (``max(0, cost - recorded)`` added to the spend), so a workflow that tracks at list price
(offline demo runs report 0 USD) still sees ``within_budget == false`` when that price would pass
the budget.  Outputs: ``cost`` (null for an unknown model, with a warning), ``within_budget``,
``budget_remaining`` and ``budget_utilization`` of the tightest budget (null/0 when none apply).
The tracker never puts ``cost`` in its metadata: the run summary would count the call twice.

Shared helpers: ``run_options`` (the config keys this integration adds to
``integrations.llm-governance-core``: ``approval_timeout`` and ``approval_poll_interval``, taken
out before ``GovernanceSettings`` - a strict model - sees the section), ``estimate_llm_cost`` (the
worst-case cost the run hook reserves) and ``request_approval`` (one pause at a time per run).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blocks.clients import forge_settings, governance_settings
from blocks.settings import OrchestratorSettings
from tasks.base import ExecutorContext, TaskOutput
from tasks.forge import PROVIDER_OF_EXECUTOR

SECTION = "llm-governance-core"
DEFAULT_APPROVAL_TIMEOUT = 3600.0
DEFAULT_APPROVAL_POLL = 5.0
DEFAULT_MAX_TOKENS = 1000  # ForgeInferenceRequest's default: the output bound when none is set
_RUN_KEYS = ("approval_timeout", "approval_poll_interval")


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """What the run side adds to the ``llm-governance-core`` section."""

    approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT
    approval_poll_interval: float = DEFAULT_APPROVAL_POLL
    enforce_explicit: bool | None = None  # the section's enforce_policies when it is set


def _duration(value: Any, default: float) -> float:
    if value is None:
        return default
    from compiler.durations import parse_duration

    return parse_duration(value)


def run_options(settings: OrchestratorSettings) -> RunOptions:
    section = settings.integration(SECTION)
    enforce = section.get("enforce_policies")
    return RunOptions(
        approval_timeout=_duration(section.get("approval_timeout"), DEFAULT_APPROVAL_TIMEOUT),
        approval_poll_interval=max(0.1, _duration(section.get("approval_poll_interval"), DEFAULT_APPROVAL_POLL)),
        enforce_explicit=None if enforce is None else bool(enforce),
    )


def governance_settings_for(settings: OrchestratorSettings) -> Any:
    """``GovernanceSettings`` from the config, without the run-side keys it does not know."""
    section = settings.integration(SECTION)
    if any(key in section for key in _RUN_KEYS):
        cleaned = {k: v for k, v in section.items() if k not in _RUN_KEYS}
        settings = settings.model_copy(update={"integrations": {**settings.integrations, SECTION: cleaned}})
    return governance_settings(settings)


def build_client(settings: OrchestratorSettings) -> Any:
    """The Governance client for a run: remote when an endpoint is set, else embedded on the store
    at ``governance.storage_url`` / ``orchestrator.storage.url`` / SQLite in the data dir."""
    from ecosystem.governance import build_governance

    return build_governance(governance_settings_for(settings))


# -- cost estimates ------------------------------------------------------------------------------


@dataclass
class CostEstimate:
    amount: float
    model: str | None
    exact: bool = False  # offline provider with offline_cost: the cost is known in advance
    priced: bool = True  # False: unknown price, reserving 0
    prompt_tokens: int = 0
    max_tokens: int = 0


def prompt_text(inputs: Mapping[str, Any]) -> str:
    """Everything an llm task sends: system, messages and prompt (for token estimates)."""
    parts: list[str] = []
    if inputs.get("system"):
        parts.append(str(inputs["system"]))
    for message in inputs.get("messages") or []:
        if isinstance(message, Mapping):
            parts.append(str(message.get("content") or ""))
    if inputs.get("prompt") is not None:
        parts.append(str(inputs["prompt"]))
    return "\n".join(parts)


def _model_of(inputs: Mapping[str, Any], provider: str, forge: Any) -> str | None:
    config = inputs.get("config")
    model = config.get("model") if isinstance(config, Mapping) else None
    if isinstance(model, str) and model.strip():
        return model.strip()
    endpoint = (forge.endpoints or {}).get(provider)
    if endpoint is not None and endpoint.default_model:
        return str(endpoint.default_model)
    return forge.default_models.get(provider)


class Estimator:
    """Worst-case cost of an llm task from its rendered inputs and the Forge settings."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        from ecosystem.forge import PriceTable

        self.forge = forge_settings(settings)
        self.prices = PriceTable(self.forge.prices)

    def provider(self, executor_name: str) -> str:
        return PROVIDER_OF_EXECUTOR.get(executor_name, executor_name)

    def model(self, inputs: Mapping[str, Any], executor_name: str) -> str | None:
        return _model_of(inputs, self.provider(executor_name), self.forge)

    def estimate(self, inputs: Mapping[str, Any], executor_name: str) -> CostEstimate:
        provider = self.provider(executor_name)
        model = _model_of(inputs, provider, self.forge)
        text = prompt_text(inputs)
        prompt_tokens = math.ceil(len(text) / 4) if text else 0
        config = inputs.get("config")
        max_tokens = config.get("max_tokens") if isinstance(config, Mapping) else None
        max_tokens = int(max_tokens) if isinstance(max_tokens, int | float) and max_tokens > 0 else DEFAULT_MAX_TOKENS
        if self.forge.offline or provider == "offline":
            per_model = self.forge.offline_models.get(model or "") if model else None
            if per_model is not None and per_model.cost is not None:
                return CostEstimate(float(per_model.cost), model, True, True, prompt_tokens, max_tokens)
            if self.forge.offline_cost is not None:
                return CostEstimate(float(self.forge.offline_cost), model, True, True, prompt_tokens, max_tokens)
            return CostEstimate(0.0, model, True, True, prompt_tokens, max_tokens)  # offline is free
        found = self.prices.resolve(model) if model else None
        if found is None:
            return CostEstimate(0.0, model, False, False, prompt_tokens, max_tokens)
        _, price = found
        amount = round((prompt_tokens * price.input + max_tokens * price.output) / 1_000_000, 12)
        return CostEstimate(amount, model, False, True, prompt_tokens, max_tokens)


def price_usage(usage: Mapping[str, Any], model: str, settings: OrchestratorSettings) -> float | None:
    """USD for ``usage`` on ``model`` from Forge's price table (None: unknown model)."""
    from ecosystem.forge import PriceTable, TokenUsage

    fields = {k: int(v) for k, v in usage.items() if k in TokenUsage.model_fields and isinstance(v, int | float)}
    fields = {k: max(0, v) for k, v in fields.items()}
    if "total_tokens" not in fields:
        fields["total_tokens"] = fields.get("prompt_tokens", 0) + fields.get("completion_tokens", 0)
    return PriceTable(forge_settings(settings).prices).cost(TokenUsage(**fields), model)


# -- approvals -----------------------------------------------------------------------------------


def approval_input_type() -> Any:
    """The Prefect ``RunInput`` form a person fills in the UI to answer an approval."""
    from prefect.input import RunInput

    global _APPROVAL_INPUT
    if _APPROVAL_INPUT is None:

        class ApprovalInput(RunInput):
            """Approve or reject a governance decision that requires approval."""

            approve: bool = False
            reason: str = ""

        _APPROVAL_INPUT = ApprovalInput
    return _APPROVAL_INPUT


_APPROVAL_INPUT: Any = None


@dataclass
class _ApprovalState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    granted: set[str] = field(default_factory=set)


def _approval_state(services: Any) -> _ApprovalState:
    state = getattr(services, "_governance_approvals", None)
    if state is None:
        state = _ApprovalState()
        services._governance_approvals = state
    return state


def approval_key(policy: str | None, subject: str) -> str:
    return f"{policy or 'policy'}:{hashlib.sha256(subject.encode()).hexdigest()[:24]}"


async def request_approval(
    *,
    services: Any,
    governance: Any,
    decision: Any,
    workflow: str,
    run_id: str | None,
    task_label: str,
    subject: str,
    options: RunOptions,
    logger: Any,
    also_grants: list[str] | None = None,
) -> None:
    """Pause the flow run until a person answers; return when approved, else raise ``ApprovalDenied``.

    One pause at a time per run (a second pause while paused is refused by Prefect), and an
    approval already given in this run for the same policy and subject is not asked again (the
    seed's policy-enforcer task and the llm task after it see the same prompt; ``also_grants``
    are further subjects the answer covers, e.g. each workflow input).  Every answer, timeout
    included, is recorded with ``record_approval``.
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import apause_flow_run

    from ecosystem.governance import ApprovalDenied, ApprovalRecord

    policy = decision.policy or "unknown"
    state = _approval_state(services)
    key = approval_key(policy, subject)

    async def record(approved: bool, comment: str) -> None:
        await governance.record_approval(
            ApprovalRecord(
                workflow=workflow, run_id=run_id, task_id=task_label, policy=policy,
                approver=decision.approver, approved=approved, comment=comment,
            )
        )

    async with state.lock:
        if key in state.granted:
            return
        context = FlowRunContext.get()
        if context is None or context.flow_run is None:
            await record(False, "approval required but the run is not a Prefect flow run")
            raise ApprovalDenied(
                f"policy '{policy}' requires approval, but this run cannot pause for it (not a Prefect flow run)",
                policy=policy,
            )
        timeout = options.approval_timeout
        who = f" by {decision.approver}" if decision.approver else ""
        description = (
            f"**Approval required{who}** for task `{task_label}` of workflow `{workflow}`.\n\n"
            f"Policy `{policy}`: {decision.reason}\n\n"
            "Set *approve* and give a reason, then resume the run. "
            f"Without an answer within {timeout:g}s the task fails."
        )
        logger.warning("task %s waits for approval (policy %s): %s", task_label, policy, decision.reason)
        form = approval_input_type().with_initial_data(description=description, approve=False, reason="")
        try:
            answer = await apause_flow_run(
                wait_for_input=form,
                timeout=max(1, math.ceil(timeout)),
                poll_interval=max(1, math.ceil(options.approval_poll_interval)),
                # Prefect keys: lowercase letters, digits and dashes only
                key="approval-" + re.sub(r"[^a-z0-9]+", "-", task_label.lower()).strip("-") + f"-{uuid.uuid4().hex[:8]}",
            )
        except FlowPauseTimeout:
            await _resume_running(context.flow_run.id)
            await record(False, f"no answer within {timeout:g}s")
            raise ApprovalDenied(
                f"approval for policy '{policy}' timed out after {timeout:g}s (task '{task_label}')", policy=policy
            ) from None
        approved = bool(getattr(answer, "approve", False))
        reason = str(getattr(answer, "reason", "") or "")
        await record(approved, reason)
        if not approved:
            raise ApprovalDenied(
                f"approval for policy '{policy}' was rejected (task '{task_label}')" + (f": {reason}" if reason else ""),
                policy=policy,
            )
        state.granted.add(key)
        state.granted.update(approval_key(policy, extra) for extra in also_grants or [])


async def _resume_running(flow_run_id: Any) -> None:
    """After a pause timed out the run is still Paused on the server; put it back to Running so
    the scheduler can finish (events, the failure record) and set the final state itself."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    async with get_client() as client:
        await client.set_flow_run_state(flow_run_id, Running(message="approval timed out"), force=True)


# -- policy evaluation ---------------------------------------------------------------------------


def redact_texts(inputs: dict[str, Any], redacted_prompt: str | None, detectors: list[str] | None) -> dict[str, Any]:
    """Inputs with the prompt replaced by its redacted form and PII in system/messages masked."""
    from ecosystem.governance import pii

    out = dict(inputs)
    if redacted_prompt is not None and out.get("prompt") is not None:
        out["prompt"] = redacted_prompt
    if isinstance(out.get("system"), str):
        out["system"] = pii.redact(out["system"], pii.detect(out["system"], detectors))
    if isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "content": pii.redact(str(m.get("content") or ""), pii.detect(str(m.get("content") or ""), detectors))}
            if isinstance(m, Mapping) else m
            for m in out["messages"]
        ]
    return out


def violations_of(decision: Any) -> list[dict[str, Any]]:
    details = decision.details or [decision]
    return [
        {"policy": d.policy, "decision": d.decision, "reason": d.reason,
         "findings": sorted({f.kind for f in d.findings})}
        for d in details
        if d.decision != "allow"
    ]


async def enforce_policies(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    """``llm-governance:policy-enforcer``: see the module docstring."""
    from ecosystem.governance import EvaluationContext, PolicyEvaluationRequest, TaskInfo, raise_for_decision

    governance = ctx.services.get("governance")
    context = dict(inputs.get("context") or {})
    estimated = context.get("estimated_cost")
    task_inputs = context.get("inputs")
    request = PolicyEvaluationRequest(
        policies=[str(p) for p in inputs.get("policies") or []],
        task=TaskInfo(
            id=str(context.get("task_id") or ctx.task_id),
            type=str(context.get("task_type") or "llm"),
            executor=str(context.get("executor") or ""),
            model=str(context["model"]) if context.get("model") else None,
            inputs=dict(task_inputs) if isinstance(task_inputs, Mapping) else {},
            annotations={str(k): str(v) for k, v in dict(ctx.annotations).items()},
        ),
        context=EvaluationContext(
            workflow=ctx.workflow_name,
            run_id=ctx.run_id,
            prompt=str(context["prompt"]) if context.get("prompt") is not None else None,
            response=str(context["response"]) if context.get("response") is not None else None,
            estimated_cost=float(estimated) if isinstance(estimated, int | float) and estimated >= 0 else None,
        ),
    )
    decision = await governance.evaluate_policies(request)
    raise_for_decision(decision)
    if decision.decision == "require_approval":
        await request_approval(
            services=ctx.services, governance=governance, decision=decision, workflow=ctx.workflow_name,
            run_id=ctx.run_id, task_label=_label(ctx), subject=request.context.prompt or request.task.model or "",
            options=run_options(ctx.services.settings), logger=ctx.logger,
        )
    redacted = decision.redacted_prompt
    return TaskOutput(
        {
            "decision": decision.decision,
            "allowed": True,  # deny and a refused approval raised above
            "violations": violations_of(decision),
            "redacted": redacted,
        },
        {"policy": decision.policy, "approved": decision.decision == "require_approval"},
    )


# -- costs ---------------------------------------------------------------------------------------


def _label(ctx: ExecutorContext) -> str:
    return ctx.task_id if ctx.index is None else f"{ctx.task_id}[{ctx.index}]"


async def recorded_cost(governance: Any, run_id: str, task_ids: list[str]) -> float | None:
    """Total cost the ledger holds for ``run_id`` under these tasks (``id`` or ``id[i]``), or
    None when it holds none.  Embedded: read from the store; remote: from the audit log."""
    store = getattr(governance, "store", None)
    if store is not None and hasattr(store, "session"):
        return await asyncio.to_thread(_recorded_in_store, store, run_id, task_ids)
    from ecosystem.governance import AuditQuery

    events = await governance.audit(AuditQuery(run_id=run_id, limit=10_000))
    amounts = [
        e.amount_usd or 0.0
        for e in events
        if e.kind in ("settlement", "cost_recorded") and e.task_id is not None and _matches(e.task_id, task_ids)
    ]
    return round(sum(amounts), 9) if amounts else None


def _matches(task_id: str, task_ids: list[str]) -> bool:
    return any(task_id == t or (task_id.startswith(t + "[") and task_id.endswith("]")) for t in task_ids)


def _recorded_in_store(store: Any, run_id: str, task_ids: list[str]) -> float | None:
    from sqlalchemy import or_, select

    from ecosystem.store.models import CostRecordRow, nanos_to_usd

    conditions = [CostRecordRow.task_id.in_(task_ids)]
    conditions.extend(CostRecordRow.task_id.like(f"{t}[%]") for t in task_ids)
    stmt = select(CostRecordRow.task_id, CostRecordRow.cost_nanos).where(
        CostRecordRow.run_id == run_id, or_(*conditions)
    )
    with store.session(readonly=True) as session:
        rows = [(task, nanos) for task, nanos in session.execute(stmt) if _matches(task, task_ids)]
    return nanos_to_usd(sum(n for _, n in rows)) if rows else None


def adjusted_statuses(statuses: list[Any], extra: float) -> list[dict[str, Any]]:
    """Budget statuses as dicts with ``extra`` USD more spend (the tracker's view)."""
    out = []
    for status in statuses:
        data = status.model_dump(mode="json")
        if extra > 0:
            used = status.current + status.reserved + extra
            data["current"] = round(status.current + extra, 9)
            data["remaining"] = round(max(0.0, status.limit - used), 9)
            data["utilization"] = round(used / status.limit, 6) if status.limit > 0 else 1.0
            data["exceeded"] = status.current + extra > status.limit + 1e-12
            data["warning"] = data["utilization"] >= 0.9
        out.append(data)
    return out


async def track_cost(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    """``llm-governance:cost-tracker``: see the module docstring."""
    from ecosystem.governance import CostRecord, run_limit_from

    governance = ctx.services.get("governance")
    settings = ctx.services.settings
    usage = dict(inputs.get("usage") or {})
    model = str(inputs.get("model") or "")
    cost = price_usage(usage, model, settings) if model else None
    if cost is None:
        ctx.services.warn_once(
            f"unpriced:{model}",
            f"cost-tracker: no price known for model '{model}': cost reported as null (add it to llm-forge prices)",
            ctx.logger,
        )
    sources = sorted({*ctx.node.data_dependencies, ctx.task_id})
    already = await recorded_cost(governance, ctx.run_id, sources)
    recorded_now = False
    if already is None and cost is not None:
        await governance.record_cost(
            CostRecord(
                task_id=_label(ctx), workflow_id=ctx.workflow_name, run_id=ctx.run_id,
                executor=str(ctx.node.executor), model=model,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                total_tokens=int(usage.get("total_tokens") or 0),
                cost_usd=cost,
            )
        )
        recorded_now = True
    run_limit = run_limit_from({str(k): str(v) for k, v in dict(ctx.annotations).items()}, None)
    statuses = await governance.check_budget(run_id=ctx.run_id, run_limit=run_limit)
    extra = max(0.0, (cost or 0.0) - (already or 0.0)) if not recorded_now and already is not None else 0.0
    budgets = adjusted_statuses(statuses, extra)
    within = not any(b["exceeded"] for b in budgets)
    remaining = min((b["remaining"] for b in budgets), default=None)
    utilization = max((b["utilization"] for b in budgets), default=0.0)
    if not within:
        names = ", ".join(b["name"] for b in budgets if b["exceeded"])
        ctx.logger.warning("cost-tracker: budget exceeded (%s)", names)
    return TaskOutput(
        {
            "cost": cost,
            "within_budget": within,
            "budget_remaining": remaining,
            "budget_utilization": utilization,
        },
        {"budget": budgets, "tracked_cost": cost, "recorded": recorded_now, "already_recorded": already},
    )
