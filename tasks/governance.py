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

Shared with the run hook (``flows.integrations.governance``): ``request_approval`` (one pause at
a time per run) and ``prompt_text``.  Approval timing comes from
``blocks.clients.GovernanceRunOptions``; cost estimates from ``ecosystem.forge.estimates``; PII
redaction of inputs from ``ecosystem.governance.pii``.
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

from blocks.clients import GovernanceRunOptions
from tasks.base import ExecutorContext, TaskOutput
from tasks.state import JSON, TaskMetadata, WorkflowRun


def prompt_text(inputs: Mapping[str, JSON]) -> str:
    """Everything an llm task sends: system, messages and prompt (the subject of a policy check)."""
    parts: list[str] = []
    if inputs.get("system"):
        parts.append(str(inputs["system"]))
    for message in inputs.get("messages") or []:
        if isinstance(message, Mapping):
            parts.append(str(message.get("content") or ""))
    if inputs.get("prompt") is not None:
        parts.append(str(inputs["prompt"]))
    return "\n".join(parts)


def price_usage(usage: Mapping[str, JSON], model: str, ctx: ExecutorContext) -> float | None:
    """USD for ``usage`` on ``model`` from Forge's price table (None: unknown model)."""
    from ecosystem.forge import PriceTable, TokenUsage

    fields = {k: max(0, int(v)) for k, v in usage.items() if k in TokenUsage.model_fields and isinstance(v, int | float)}
    if "total_tokens" not in fields:
        fields["total_tokens"] = fields.get("prompt_tokens", 0) + fields.get("completion_tokens", 0)
    return PriceTable(ctx.services.systems.forge.prices).cost(TokenUsage(**fields), model)


# -- approvals -----------------------------------------------------------------------------------


APPROVE, REJECT = "approve", "reject"


def approval_input_type() -> Any:
    """The Prefect ``RunInput`` form a person fills in the UI to answer an approval.

    ``decision`` is an explicit choice with no default: a person picks approve or reject, and
    the server refuses a Resume without one (the run stays paused).  A pre-set answer would
    decide for whoever clicks Resume -> Submit without reading: "reject" failed the run they
    meant to continue, and "approve" would let a governance check pass unread."""
    from typing import Literal

    from prefect.input import RunInput
    from pydantic import Field

    global _APPROVAL_INPUT
    if _APPROVAL_INPUT is None:

        class ApprovalInput(RunInput):
            """Approve or reject a governance decision that requires approval."""

            decision: Literal["approve", "reject"] = Field(
                description="approve: the task runs; reject: it fails with ApprovalDenied.")
            reason: str = Field(default="", description="Recorded in the audit log with the decision.")

        _APPROVAL_INPUT = ApprovalInput
    return _APPROVAL_INPUT


_APPROVAL_INPUT: Any = None


@dataclass
class _ApprovalState:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    granted: set[str] = field(default_factory=set)


def _approval_state(run: WorkflowRun) -> _ApprovalState:
    state = run.extensions.get("governance.approvals")
    if not isinstance(state, _ApprovalState):
        state = run.extensions["governance.approvals"] = _ApprovalState()
    return state


def approval_key(policy: str | None, subject: str) -> str:
    return f"{policy or 'policy'}:{hashlib.sha256(subject.encode()).hexdigest()[:24]}"


async def request_approval(
    *,
    run: WorkflowRun,
    decision: Any,
    task_label: str,
    subject: str,
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
    governance = run.services.governance
    workflow, run_id = run.plan.name, run.run_id
    options: GovernanceRunOptions = run.services.systems.governance_run
    state = _approval_state(run)
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
            "Choose a *decision* (approve or reject) and give a reason, then submit. "
            f"Without an answer within {timeout:g}s the task fails."
        )
        logger.warning("task %s waits for approval (policy %s): %s", task_label, policy, decision.reason)
        form = approval_input_type().with_initial_data(description=description, reason="")
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
        approved = getattr(answer, "decision", None) == APPROVE
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

    governance = ctx.services.governance
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
            run=ctx.run, decision=decision, task_label=ctx.label,
            subject=request.context.prompt or request.task.model or "", logger=ctx.logger,
        )
    redacted = decision.redacted_prompt
    return TaskOutput(
        {
            "decision": decision.decision,
            "allowed": True,  # deny and a refused approval raised above
            "violations": violations_of(decision),
            "redacted": redacted,
        },
        TaskMetadata(policy=decision.policy or "", approved=decision.decision == "require_approval"),
    )


# -- costs ---------------------------------------------------------------------------------------


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

    governance = ctx.services.governance
    usage = dict(inputs.get("usage") or {})
    model = str(inputs.get("model") or "")
    cost = price_usage(usage, model, ctx) if model else None
    if cost is None:
        ctx.services.warn_once(
            f"unpriced:{model}",
            f"cost-tracker: no price known for model '{model}': cost reported as null (add it to llm-forge prices)",
            ctx.logger,
        )
    sources = sorted({*ctx.node.data_dependencies, ctx.task_id})
    already = await governance.recorded_cost(ctx.run_id, sources)
    recorded_now = False
    if already is None and cost is not None:
        await governance.record_cost(
            CostRecord(
                task_id=ctx.label, workflow_id=ctx.workflow_name, run_id=ctx.run_id,
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
        TaskMetadata(budget=budgets, tracked_cost=cost, recorded=recorded_now, already_recorded=already),
    )
