"""``explain``: which tasks would run, in which order, for given inputs, without running any.

Conditions that read only ``workflow.*`` are evaluated now; those that read task results, the
environment or secrets are "decided at run time".  Skips propagate as the engine propagates
them: a task after a skipped one is skipped unless its ``if`` uses ``always()``/``failure()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.expressions import ExpressionError, find_spans, parse, references
from compiler.plan import EVENT_KINDS, ExecutionPlan, PlanNode


@dataclass(frozen=True)
class Step:
    task: str
    executor: str
    decision: str  # run | skip | runtime
    reason: str
    level: int
    group: str


def _bare(text: str) -> str:
    spans = find_spans(text) if "${{" in text else []
    return spans[0].source if len(spans) == 1 and text.strip().startswith("${{") and text.strip().endswith("}}") else text


def _static_value(expression: str, context: dict[str, Any]) -> tuple[bool, Any]:
    """(known, value) of a bare expression given only workflow context."""
    from compiler.expressions import evaluate

    node = parse(expression)
    if any(ref.root not in ("workflow",) for ref in references(node)):
        return False, None
    try:
        return True, evaluate(node, context)
    except ExpressionError:
        return False, None


def uses_status_function(expression: str | None) -> bool:
    if not expression:
        return False
    lowered = expression.replace(" ", "").lower()
    return "always()" in lowered or "failure()" in lowered or "cancelled()" in lowered


def explain(plan: ExecutionPlan, inputs: dict[str, Any]) -> list[Step]:
    context = {"workflow": {"inputs": inputs, "name": plan.name, "version": plan.version,
                            "annotations": dict(plan.annotations), "id": "<run id>"}}
    steps: list[Step] = []
    state: dict[str, str] = {}
    branch_taken: dict[str, bool | None] = {}
    for gate in plan.branches:
        known, value = _static_value(_bare(gate.condition), context)
        branch_taken[gate.branch_id] = bool(value) if known else None
    for depth, level in enumerate(plan.levels):
        for node_id in level:
            node = plan.nodes[node_id]
            decision, reason = _decide(node, state, branch_taken, context)
            state[node_id] = decision
            steps.append(Step(node_id, str(node.executor), decision, reason, depth, node.group))
    for kind in EVENT_KINDS:
        for node_id in plan.events.get(kind, ()):
            node = plan.nodes[node_id]
            when = {"onSuccess": "if the workflow succeeds", "onFailure": "if the workflow fails", "always": "after the workflow, always"}[kind]
            steps.append(Step(node_id, str(node.executor), "runtime", when, len(plan.levels), "event"))
    return steps


def _decide(node: PlanNode, state: dict[str, str], branch_taken: dict[str, bool | None], context: dict[str, Any]) -> tuple[str, str]:
    if node.gate is not None:
        taken = branch_taken.get(node.gate.branch_id)
        if taken is not None and taken != (node.gate.arm == "then"):
            return "skip", f"branch '{node.gate.branch_id}' {'not taken' if node.gate.arm == 'then' else 'taken'} ({node.gate.condition})"
    if not uses_status_function(node.condition):
        for dep in sorted(node.depends_on):
            if state.get(dep) == "skip":
                return "skip", f"upstream '{dep}' skipped"
    if node.condition is not None:
        known, value = _static_value(_bare(node.condition), context)
        if known and not value:
            return "skip", f"if is false: {node.condition}"
        if not known and not uses_status_function(node.condition):
            return "runtime", f"if depends on run-time values: {node.condition}"
    if node.gate is not None and branch_taken.get(node.gate.branch_id) is None:
        return "runtime", f"branch '{node.gate.branch_id}' is decided at run time ({node.gate.condition})"
    if node.for_each is not None:
        source = node.for_each if not isinstance(node.for_each, str) else None
        if isinstance(node.for_each, str):
            known, value = _static_value(_bare(node.for_each), context)
            source = value if known else None
        if isinstance(source, list):
            return "run", f"once per item ({len(source)} items)"
        return "run", "once per item (count known at run time)"
    if any(state.get(dep) == "runtime" for dep in node.depends_on):
        return "runtime", "after tasks decided at run time"
    return "run", "all dependencies run" if node.depends_on else "no dependencies"


def render(plan: ExecutionPlan, steps: list[Step]) -> str:
    marks = {"run": "run ", "skip": "skip", "runtime": "?   "}
    lines = [f"{plan.name} v{plan.version}: {sum(s.decision == 'run' for s in steps)} run, "
             f"{sum(s.decision == 'skip' for s in steps)} skipped, {sum(s.decision == 'runtime' for s in steps)} decided at run time"]
    current = None
    for step in steps:
        header = "events" if step.group == "event" else f"level {step.level}"
        if header != current:
            lines.append(header)
            current = header
        lines.append(f"  [{marks[step.decision]}] {step.task} ({step.executor}): {step.reason}")
    return "\n".join(lines)
