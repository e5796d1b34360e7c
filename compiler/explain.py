"""``explain``: which tasks would run, in which order, for given inputs, without running any.

Every decision comes from ``compiler.decisions.decide``, the function the scheduler calls
during a run, with a view of what the inputs alone tell: each task is assumed to succeed, and
an expression that reads task results, the environment or secrets is "decided at run time".
So ``explain`` and a run cannot disagree about a condition that reads only workflow inputs
(a property test runs both and compares them).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from compiler.decisions import UNKNOWN, Decision, decide
from compiler.expressions import ExpressionError, Node, evaluate, references
from compiler.plan import EVENT_KINDS, ExecutionPlan

# explain's marks: what decide() says, with "unknown" shown as decided at run time.
_SHOWN = {"run": "run", "skip": "skip", "fail": "fail", "unknown": "runtime"}
_STATE_AFTER = {"run": "completed", "skip": "skipped", "fail": "failed"}


@dataclass(frozen=True)
class Step:
    task: str
    executor: str
    decision: str  # run | skip | fail | runtime
    reason: str
    level: int
    group: str
    produces: str | None = None  # the structured output (``data: object (schema: ...)``)


@dataclass
class _InputsOnly:
    """``decide``'s view when only the workflow inputs are known (tasks assumed to succeed)."""

    plan: ExecutionPlan
    context: Mapping[str, Any]
    decided: dict[str, Decision] = field(default_factory=dict)
    failed_task: str | None = None
    branches: MutableMapping[str, bool | None] = field(default_factory=dict)

    def state(self, node_id: str) -> str | None:
        decision = self.decided.get(node_id)
        return None if decision is None else _STATE_AFTER.get(decision.action)

    def allowed_failure(self, node_id: str) -> bool:
        return self.plan.nodes[node_id].continue_on_error

    def value(self, tree: Node) -> Any:
        if any(ref.root != "workflow" for ref in references(tree)):
            return UNKNOWN
        return evaluate(tree, self.context, status="failure" if self.failed_task else "success")


def workflow_context(plan: ExecutionPlan, inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"workflow": {"inputs": dict(inputs), "name": plan.name, "version": plan.version,
                         "annotations": dict(plan.annotations), "labels": dict(plan.workflow.metadata.labels),
                         "id": "<run id>", "run_id": "<run id>", "status": "success", "error": None}}


def explain(plan: ExecutionPlan, inputs: dict[str, Any]) -> list[Step]:
    view = _InputsOnly(plan, workflow_context(plan, inputs))
    steps: list[Step] = []
    for depth, level in enumerate(plan.levels):
        for node_id in level:
            node = plan.nodes[node_id]
            decision = decide(node, view)
            view.decided[node_id] = decision
            if decision.action == "fail" and not node.continue_on_error and view.failed_task is None:
                view.failed_task = node_id
            reason = decision.reason or _run_reason(node.depends_on)
            if decision.action == "run" and node.for_each is not None:
                reason = _items(node.for_each_source, view)
            steps.append(Step(node_id, str(node.executor), _SHOWN[decision.action], reason, depth, node.group,
                              node.structured_label))
    for kind in EVENT_KINDS:
        for node_id in plan.events.get(kind, ()):
            node = plan.nodes[node_id]
            when = {"onSuccess": "if the workflow succeeds", "onFailure": "if the workflow fails",
                    "always": "after the workflow, always"}[kind]
            steps.append(Step(node_id, str(node.executor), "runtime", when, len(plan.levels), "event",
                              node.structured_label))
    return steps


def _run_reason(depends_on: frozenset[str]) -> str:
    return "all dependencies run" if depends_on else "no dependencies"


def _items(source: Any, view: _InputsOnly) -> str:
    from compiler.expressions import Template

    value = source
    if isinstance(source, Template):
        try:
            value = view.value(source.trees[0]) if source.whole else UNKNOWN
        except ExpressionError:
            value = UNKNOWN
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list):
        return f"once per item ({len(value)} items)"
    return "once per item (count known at run time)"


def render(plan: ExecutionPlan, steps: list[Step]) -> str:
    marks = {"run": "run ", "skip": "skip", "fail": "fail", "runtime": "?   "}
    lines = [f"{plan.name} v{plan.version}: {sum(s.decision == 'run' for s in steps)} run, "
             f"{sum(s.decision == 'skip' for s in steps)} skipped, {sum(s.decision == 'runtime' for s in steps)} decided at run time"
             + (f", {sum(s.decision == 'fail' for s in steps)} would fail" if any(s.decision == "fail" for s in steps) else "")]
    current = None
    for step in steps:
        header = "events" if step.group == "event" else f"level {step.level}"
        if header != current:
            lines.append(header)
            current = header
        produces = f" -> {step.produces}" if step.produces else ""
        lines.append(f"  [{marks[step.decision]}] {step.task} ({step.executor}){produces}: {step.reason}")
    return "\n".join(lines)
