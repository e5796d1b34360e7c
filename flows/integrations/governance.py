"""Governance in a run: the client factory and the ``GovernanceHook``.

The client (``services.get("governance")``) is ``build_governance`` on the run's settings: remote
when ``integrations.llm-governance-core.endpoint`` is set, else embedded on the store at its
``storage_url``, ``orchestrator.storage.url`` or the SQLite file in the user data dir.

The hook joins a run when governance applies to it: the config section sets
``enforce_policies: true`` or ``cost_limits``, or the workflow has the annotation
``governance.enforce-policies: "true"`` or ``governance.budget-limit-usd``.  Policies are enforced
when the config says ``enforce_policies: true`` or the annotation says ``"true"`` (a workflow
cannot opt out of what the operator enforces); budgets always apply once the hook is there.

* ``before_workflow`` (policies enforced): once per run, the model allowlist (and rule files)
  over every llm node's literal model, and content-safety/data-privacy over the workflow inputs.
  A deny fails the run before any task starts.
* ``before_node`` (llm nodes, policies enforced, in the flow): every loaded policy on the
  rendered prompt/system/messages, the task's model and its estimated worst-case cost.  Deny
  raises ``PolicyViolation``; redaction hands back the masked inputs; ``require_approval`` pauses
  the flow run for a person (``tasks.governance.request_approval``).
* ``before_task`` (llm tasks, in the task run): reserves the worst-case cost (prompt tokens at
  ~4 characters each plus ``max_tokens``, at the model's price; exactly ``offline_cost`` offline;
  0 with a warning for an unknown price) against every applicable budget.  ``BudgetExceeded``
  fails the task before the provider is called.
* ``after_task``: settles the reservation to the reported cost with a full ``CostRecord``, adds
  ``metadata["budget"]`` and warns (log and run summary, once per budget) at >= 90%.  Tasks that
  are not llm tasks but report a cost (judges) are recorded with ``record_cost``.
* ``task_failed``: releases the reservation.

Ledger task ids are the task run names: ``task`` or ``task[i]`` for ``forEach`` items.

Config keys the run side adds to ``integrations.llm-governance-core`` (removed before the strict
``GovernanceSettings`` sees the section): ``approval_timeout`` (duration, default 1h; an
unanswered approval fails the task with ``ApprovalDenied``) and ``approval_poll_interval``
(default 5s).  Approvals are asked one at a time per run.
"""

from __future__ import annotations

import logging
from typing import Any

from flows.services import CLIENT_FACTORIES, HOOK_FACTORIES, annotation_flag
from tasks.governance import (
    Estimator,
    build_client,
    governance_settings_for,
    prompt_text,
    redact_texts,
    request_approval,
    run_options,
)
from tasks.hooks import Hook

logger = logging.getLogger("llm_orchestrator.governance")

ENFORCE_ANNOTATION = "governance.enforce-policies"
BUDGET_ANNOTATION = "governance.budget-limit-usd"
WORKFLOW_POLICIES = ("content-safety", "data-privacy")
BUILTINS = ("content-safety", "data-privacy", "cost-limit", "model-allowlist")


def _governance(settings: Any, services: Any) -> Any:
    return build_client(settings)


CLIENT_FACTORIES["governance"] = _governance


def _label(node_id: str, index: int | None) -> str:
    return node_id if index is None else f"{node_id}[{index}]"


def _literal_model(node: Any) -> str | None:
    inputs = node.inputs if isinstance(node.inputs, dict) else {}
    config = inputs.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, str) and model.strip() and "${{" not in model:
        return model.strip()
    return None


class GovernanceHook(Hook):
    def __init__(self, run: Any, *, enforce: bool) -> None:
        self.run = run
        self.enforce = enforce
        settings = run.services.settings
        self.options = run_options(settings)
        self.gov_settings = governance_settings_for(settings)
        annotations = {str(k): str(v) for k, v in dict(run.plan.annotations).items()}
        self.annotations = annotations
        from ecosystem.governance import run_limit_from

        self.run_limit = run_limit_from(annotations, None)
        self._estimator: Estimator | None = None
        self._reservations: dict[tuple[str, str, int | None, int], str] = {}
        # Policy decisions per task label, shown in the run summary (metadata["policy"]).
        self._decisions: dict[str, str] = {}
        self._warned: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def governance(self) -> Any:
        return self.run.services.get("governance")

    @property
    def estimator(self) -> Estimator:
        if self._estimator is None:
            self._estimator = Estimator(self.run.services.settings)
        return self._estimator

    def _key(self, ctx: Any) -> tuple[str, str, int | None, int]:
        return (ctx.run_id, ctx.task_id, ctx.index, int(ctx.attempt))

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
            await request_approval(
                services=self.run.services, governance=self.governance, decision=decision,
                workflow=self.run.plan.name, run_id=self.run.run_id, task_label=task_label, subject=subject,
                options=self.options, logger=self.run.logger_for(task_label), also_grants=also_grants,
            )
        return decision

    def _rule_ids(self) -> list[str]:
        engine = getattr(self.governance, "engine", None)
        policies = getattr(engine, "policies", None)
        return [p for p in policies if p not in BUILTINS] if isinstance(policies, dict) else []

    # -- hook points -----------------------------------------------------------------------------
    async def before_workflow(self, run: Any) -> Any:
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

    async def before_node(self, run: Any, node: Any, inputs: dict[str, Any], index: int | None) -> dict[str, Any] | None:
        if not self.enforce or node.type != "llm":
            return None
        label = _label(node.id, index)
        estimate = self.estimator.estimate(inputs, node.executor.name)
        prompt = inputs.get("prompt")
        extra = {k: inputs[k] for k in ("system", "messages") if inputs.get(k)}
        request = self._request(task_id=label, task_type="llm", executor=str(node.executor), model=estimate.model,
                                inputs=extra, prompt=None if prompt is None else str(prompt),
                                estimated=estimate.amount if estimate.priced else None)
        decision = await self._decide(request, task_label=label, subject=prompt_text(inputs))
        self._decisions[label] = describe_decision(decision)
        privacy = next((d for d in decision.details if d.policy == "data-privacy"), None)
        # data-privacy allows with findings only when its action is "redact"
        if decision.redacted_prompt is not None or (privacy is not None and privacy.allowed and privacy.findings):
            detectors = self.gov_settings.policy_options.data_privacy.detectors
            run.logger_for(label).info("governance: redacted personal data in the inputs of %s", label)
            return redact_texts(dict(inputs), decision.redacted_prompt, detectors)
        return None

    async def before_task(self, ctx: Any, inputs: dict[str, Any]) -> dict[str, Any] | None:
        if ctx.node.type != "llm":
            return None
        estimate = self.estimator.estimate(inputs, ctx.node.executor.name)
        if not estimate.priced:
            ctx.services.warn_once(
                f"governance-unpriced:{estimate.model}",
                f"governance: no price known for model '{estimate.model}': its reservation is $0 and only the "
                "reported cost is settled (add the model to llm-forge prices)",
                ctx.logger,
            )
        reservation = await self.governance.reserve(
            run_id=ctx.run_id, workflow=ctx.workflow_name, task_id=_label(ctx.task_id, ctx.index),
            amount=estimate.amount, run_limit=self.run_limit,
        )
        self._reservations[self._key(ctx)] = reservation.id
        return None

    async def after_task(self, ctx: Any, output: Any) -> None:
        from ecosystem.governance import CostRecord

        metadata = output.metadata
        decided = self._decisions.pop(_label(ctx.task_id, ctx.index), None)
        if decided is not None:
            metadata["policy"] = decided
        raw_cost = metadata.get("cost")
        cost = float(raw_cost) if isinstance(raw_cost, int | float) and not isinstance(raw_cost, bool) else None
        reservation_id = self._reservations.pop(self._key(ctx), None)
        if reservation_id is None and (cost is None or cost <= 0):
            return
        usage = metadata.get("usage") if isinstance(metadata.get("usage"), dict) else {}
        record = CostRecord(
            task_id=_label(ctx.task_id, ctx.index), workflow_id=ctx.workflow_name, run_id=ctx.run_id,
            organization_id=self.gov_settings.organization_id, executor=str(ctx.node.executor),
            model=str(metadata["model"]) if metadata.get("model") else None,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            cost_usd=max(0.0, cost or 0.0),
        )
        if reservation_id is not None:
            await self.governance.settle(reservation_id, record.cost_usd, record)
        else:
            await self.governance.record_cost(record)
        statuses = await self.governance.check_budget(run_id=ctx.run_id, run_limit=self.run_limit)
        metadata["budget"] = [s.model_dump(mode="json") for s in statuses]
        for status in statuses:
            if status.warning and status.name not in self._warned:
                self._warned.add(status.name)
                message = (
                    f"budget '{status.name}' is at {status.utilization:.0%} "
                    f"(${status.current + status.reserved:.6f} of ${status.limit:.2f}, task {record.task_id})"
                )
                ctx.logger.warning("governance: %s", message)
                self.run.warnings.append(message)

    async def task_failed(self, ctx: Any, error: BaseException) -> None:
        reservation_id = self._reservations.pop(self._key(ctx), None)
        if reservation_id is not None:
            await self.governance.release(reservation_id)


def _hook_for(run: Any) -> GovernanceHook | None:
    settings = run.services.settings
    section = settings.integration("llm-governance-core")
    annotations = run.plan.annotations
    enforce_annotation = annotation_flag(annotations, ENFORCE_ANNOTATION)
    enforce = bool(section.get("enforce_policies")) or bool(enforce_annotation)
    budgets = BUDGET_ANNOTATION in (annotations or {}) or bool(section.get("cost_limits"))
    if not (enforce or budgets):
        return None
    return GovernanceHook(run, enforce=enforce)


HOOK_FACTORIES.append(_hook_for)


def describe_decision(decision: Any) -> str:
    """``allow (content-safety: allow, data-privacy: allow)`` for the run summary."""
    parts = [f"{d.policy}: {d.decision}" + (f" ({d.reason})" if d.decision != "allow" and d.reason else "")
             for d in getattr(decision, "details", []) or [] if d.policy]
    return decision.decision + (f" ({', '.join(parts)})" if parts else "")
