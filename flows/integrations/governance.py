"""Governance in a run: the cost ledger and audit log on every run, policies when turned on.

**Always on.**  Every run records every LLM call in the ledger (embedded store by default, or a
remote Governance service) and every decision as an audit event, whatever the config says: a
reservation before each provider call, at the worst-case cost of the model actually being tried
(``ecosystem.forge.estimates``), settled to the call's real cost after it, or released when the
call failed.  A batch-mode item is reserved at the batch tier (``ctx.call_tier``) for as long as
the batch may take (``ctx.call_ttl``), and settled when the batch's results arrive.  Budgets (config ``cost_limits``, the annotation ``governance.budget-limit-usd``)
apply to those reservations: ``BudgetExceeded`` refuses the call before the provider sees it (a
cheaper fallback model may still fit).  A task that is not an llm task but reports a cost (a
judge) is recorded with ``record_cost``.

**Policies** are enforced when the config section sets ``enforce_policies: true`` or the workflow
has the annotation ``governance.enforce-policies: "true"`` (a workflow cannot opt out of what the
operator enforces):

* ``before_workflow``: the model allowlist (and rule files) over every llm node's literal model,
  and content-safety/data-privacy over the workflow inputs.  A deny fails the run before any task
  starts.
* ``before_node`` (llm nodes, in the flow): every loaded policy on the rendered prompt/system/
  messages, the task's model and its estimated worst-case cost.  Deny raises ``PolicyViolation``;
  redaction hands back the masked inputs; ``require_approval`` pauses the flow run for a person
  (``tasks.governance.request_approval``).

Ledger task ids are the task run names: ``task`` or ``task[i]`` for ``forEach`` items.  Approval
timing (``approval_timeout``, ``approval_poll_interval``) comes from
``blocks.clients.GovernanceRunOptions``.
"""

from __future__ import annotations

import logging
from typing import Any

from compiler.plan import ExecutionPlan, PlanNode
from ecosystem.forge.estimates import CallEstimator
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from flows.registry import HOOK_FACTORIES, annotation_flag
from tasks.base import ExecutorContext, TaskOutput
from tasks.forge import build_request, provider_of
from tasks.governance import prompt_text, request_approval
from tasks.hooks import Hook, Inputs
from tasks.state import WorkflowRun, label

logger = logging.getLogger("llm_orchestrator.governance")

ENFORCE_ANNOTATION = "governance.enforce-policies"
BUDGET_ANNOTATION = "governance.budget-limit-usd"
WORKFLOW_POLICIES = ("content-safety", "data-privacy")
BUILTINS = ("content-safety", "data-privacy", "cost-limit", "model-allowlist")


def _literal_model(node: PlanNode) -> str | None:
    inputs = node.inputs if isinstance(node.inputs, dict) else {}
    config = inputs.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, list):
        model = model[0] if model else None
    if isinstance(model, str) and model.strip() and "${{" not in model:
        return model.strip()
    return None


class _CallLedger:
    """One llm task attempt's provider calls in the ledger: reserve before each call at the
    tried model's worst case, settle to its cost after, release when it failed."""

    def __init__(self, hook: GovernanceHook, ctx: ExecutorContext) -> None:
        self.hook = hook
        self.ctx = ctx
        self.reservation: str | None = None

    async def before_call(self, model: str, request: ForgeInferenceRequest) -> None:
        self.reservation = await self.hook.reserve(self.ctx, request)

    async def after_call(self, model: str, response: ForgeInferenceResponse) -> None:
        reservation, self.reservation = self.reservation, None
        usage = response.usage
        await self.hook.settle(self.ctx, reservation, response.cost, response.model, usage.prompt_tokens,
                               usage.completion_tokens, usage.total_tokens)

    async def call_failed(self, model: str, error: BaseException) -> None:
        reservation, self.reservation = self.reservation, None
        if reservation is not None:
            await self.hook.governance.release(reservation)


class GovernanceHook(Hook):
    def __init__(self, run: WorkflowRun, *, enforce: bool, budgets: bool) -> None:
        from ecosystem.governance import run_limit_from

        self.run = run
        self.enforce = enforce
        self.budgets = budgets
        self.systems = run.services.systems
        self.annotations = {str(k): str(v) for k, v in dict(run.plan.annotations).items()}
        self.run_limit = run_limit_from(self.annotations, None)
        self.estimator = CallEstimator(self.systems.forge)
        # A reservation per task attempt, for llm tasks whose executor does not report its calls.
        self._reservations: dict[tuple[str, int], str] = {}
        # Policy decisions per task label, shown in the run summary (metadata["policy"]).
        self._decisions: dict[str, str] = {}
        self._warned: set[str] = set()

    @property
    def governance(self) -> Any:
        return self.run.services.governance

    # -- the ledger ------------------------------------------------------------------------------
    async def reserve(self, ctx: ExecutorContext, request: ForgeInferenceRequest) -> str:
        estimate = self.estimator.estimate(request, ctx.call_tier)
        if not estimate.priced:
            ctx.services.warn_once(
                f"governance-unpriced:{estimate.model}",
                f"governance: no price known for model '{estimate.model}': its reservation is $0 and only the "
                "reported cost is settled (add the model to llm-forge prices)",
                ctx.logger,
            )
        reservation = await self.governance.reserve(
            run_id=ctx.run_id, workflow=ctx.workflow_name, task_id=ctx.label,
            amount=estimate.amount, run_limit=self.run_limit, ttl=ctx.call_ttl,
        )
        return str(reservation.id)

    async def settle(self, ctx: ExecutorContext, reservation: str | None, cost: float | None, model: str | None,
                     prompt_tokens: int, completion_tokens: int, total_tokens: int) -> None:
        from ecosystem.governance import CostRecord

        record = CostRecord(
            task_id=ctx.label, workflow_id=ctx.workflow_name, run_id=ctx.run_id,
            organization_id=self.systems.governance.organization_id, executor=str(ctx.node.executor),
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=total_tokens,
            cost_usd=max(0.0, cost or 0.0),
        )
        if reservation is not None:
            await self.governance.settle(reservation, record.cost_usd, record)
        else:
            await self.governance.record_cost(record)

    async def before_task(self, ctx: ExecutorContext, inputs: Inputs) -> Inputs | None:
        if ctx.node.type != "llm":
            return None
        if ctx.node.spec.retries_inside:  # llm-forge inference: each provider call is seen
            ctx.observers.append(_CallLedger(self, ctx))
            return None
        request = build_request(inputs, ctx)  # any other llm executor: one reservation per attempt
        self._reservations[(ctx.label, ctx.attempt)] = await self.reserve(ctx, request)
        return None

    async def after_task(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        metadata = output.metadata
        decided = self._decisions.pop(ctx.label, None)
        if decided is not None:
            metadata["policy"] = decided
        reservation = self._reservations.pop((ctx.label, ctx.attempt), None)
        if not ctx.node.spec.retries_inside:
            raw = metadata.get("cost")
            cost = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
            if reservation is not None or (cost is not None and cost > 0):
                usage = metadata.get("usage") or {}
                model = metadata.get("model")
                await self.settle(ctx, reservation, cost, str(model) if model else None,
                                  int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                                  int(usage.get("total_tokens") or 0))
        if ctx.node.type == "llm" and self.budgets:
            await self._budget_status(ctx, output)

    async def _budget_status(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        statuses = await self.governance.check_budget(run_id=ctx.run_id, run_limit=self.run_limit)
        output.metadata["budget"] = [s.model_dump(mode="json") for s in statuses]
        for status in statuses:
            if status.warning and status.name not in self._warned:
                self._warned.add(status.name)
                message = (
                    f"budget '{status.name}' is at {status.utilization:.0%} "
                    f"(${status.current + status.reserved:.6f} of ${status.limit:.6f}, task {ctx.label})"
                )
                ctx.logger.warning("governance: %s", message)
                self.run.warnings.append(message)

    async def task_failed(self, ctx: ExecutorContext, error: BaseException) -> None:
        reservation = self._reservations.pop((ctx.label, ctx.attempt), None)
        if reservation is not None:
            await self.governance.release(reservation)

    # -- policies --------------------------------------------------------------------------------
    def _request(self, *, task_id: str, task_type: str, executor: str, model: str | None,
                 inputs: dict[str, Any], prompt: str | None, estimated: float | None,
                 policies: list[str] | None = None) -> Any:
        from ecosystem.governance import EvaluationContext, PolicyEvaluationRequest, TaskInfo

        return PolicyEvaluationRequest(
            policies=list(policies or []),
            task=TaskInfo(id=task_id, type=task_type, executor=executor, model=model, inputs=inputs,
                          annotations=self.annotations),
            context=EvaluationContext(workflow=self.run.plan.name, run_id=self.run.run_id, prompt=prompt,
                                      estimated_cost=estimated),
        )

    async def _decide(self, request: Any, *, task_label: str, subject: str, also_grants: list[str] | None = None) -> Any:
        from ecosystem.governance import raise_for_decision

        decision = await self.governance.evaluate_policies(request)
        raise_for_decision(decision)
        if decision.decision == "require_approval":
            await request_approval(run=self.run, decision=decision, task_label=task_label, subject=subject,
                                   logger=self.run.logger_for(task_label), also_grants=also_grants)
        return decision

    def _rule_ids(self) -> list[str]:
        engine = getattr(self.governance, "engine", None)
        policies = getattr(engine, "policies", None)
        return [p for p in policies if p not in BUILTINS] if isinstance(policies, dict) else []

    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        if not self.enforce:
            return None
        model_policies = ["model-allowlist", *self._rule_ids()]
        for node in run.plan.nodes.values():
            if node.type != "llm":
                continue
            model = _literal_model(node)
            if model is None:
                continue
            request = self._request(task_id=node.id, task_type="llm", executor=str(node.executor), model=model,
                                    inputs={}, prompt=None, estimated=None, policies=model_policies)
            await self._decide(request, task_label=node.id, subject=f"model:{model}")
        if run.inputs:
            request = self._request(task_id="<workflow inputs>", task_type="workflow", executor="", model=None,
                                    inputs=dict(run.inputs), prompt=None, estimated=None,
                                    policies=list(WORKFLOW_POLICIES))
            texts = [v for v in run.inputs.values() if isinstance(v, str)]
            await self._decide(request, task_label="<workflow inputs>", subject=repr(sorted(run.inputs.items())),
                               also_grants=texts)
        return None

    async def before_node(self, run: WorkflowRun, node: PlanNode, inputs: Inputs, index: int | None) -> Inputs | None:
        from ecosystem.governance import pii

        if not self.enforce or node.type != "llm":
            return None
        task_label = label(node.id, index)
        request = ForgeInferenceRequest.model_validate({
            "prompt": str(inputs.get("prompt") or ""), "system": inputs.get("system"),
            "messages": inputs.get("messages"), "provider": provider_of(node.executor.name),
            "model": _literal_model(node) or "",
            **{k: v for k, v in dict(inputs.get("config") or {}).items() if k == "max_tokens" and v},
        })
        estimate = self.estimator.estimate(request)
        prompt = inputs.get("prompt")
        extra = {k: inputs[k] for k in ("system", "messages") if inputs.get(k)}
        policy_request = self._request(task_id=task_label, task_type="llm", executor=str(node.executor),
                                       model=estimate.model, inputs=extra, prompt=None if prompt is None else str(prompt),
                                       estimated=estimate.amount if estimate.priced else None)
        decision = await self._decide(policy_request, task_label=task_label, subject=prompt_text(inputs))
        self._decisions[task_label] = describe_decision(decision)
        privacy = next((d for d in decision.details if d.policy == "data-privacy"), None)
        # data-privacy allows with findings only when its action is "redact"
        if decision.redacted_prompt is not None or (privacy is not None and privacy.allowed and privacy.findings):
            detectors = self.systems.governance.policy_options.data_privacy.detectors
            run.logger_for(task_label).info("governance: redacted personal data in the inputs of %s", task_label)
            return pii.redact_inputs(dict(inputs), decision.redacted_prompt, detectors)
        return None


def _hook_for(run: WorkflowRun) -> GovernanceHook:
    options = run.services.systems.governance_run
    annotations = run.plan.annotations
    enforce = options.enforce_policies or bool(annotation_flag(annotations, ENFORCE_ANNOTATION))
    budgets = BUDGET_ANNOTATION in (annotations or {}) or options.budgets_configured
    return GovernanceHook(run, enforce=enforce, budgets=budgets)


HOOK_FACTORIES.append(_hook_for)


def describe_decision(decision: Any) -> str:
    """``allow (content-safety: allow, data-privacy: allow)`` for the run summary."""
    parts = [f"{d.policy}: {d.decision}" + (f" ({d.reason})" if d.decision != "allow" and d.reason else "")
             for d in getattr(decision, "details", []) or [] if d.policy]
    return str(decision.decision) + (f" ({', '.join(parts)})" if parts else "")
