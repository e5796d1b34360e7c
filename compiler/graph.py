"""Drawing a plan: Mermaid (for the Prefect UI's markdown artifacts and docs) and plain text."""

from __future__ import annotations

import re

from compiler.plan import EVENT_KINDS, ExecutionPlan, PlanNode


def _mid(node_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _label(node: PlanNode) -> str:
    text = f"{node.id}<br/><small>{node.executor}</small>"
    return text.replace('"', "'")


def to_mermaid(plan: ExecutionPlan, states: dict[str, str] | None = None) -> str:
    """A Mermaid flowchart; ``states`` (id -> completed/failed/skipped/cached) colours the nodes."""
    lines = ["flowchart TD"]
    for node in plan.main_nodes:
        if node.gate is None:
            lines.append(f'    {_mid(node.id)}["{_label(node)}"]')
    for gate in plan.branches:
        lines.append(f"    subgraph {_mid(gate.branch_id)}[\"branch {gate.branch_id}: {gate.condition.replace(chr(34), chr(39))}\"]")
        for arm in ("then", "else"):
            members = [n for n in plan.main_nodes if n.gate and n.gate.branch_id == gate.branch_id and n.gate.arm == arm]
            for node in members:
                lines.append(f'        {_mid(node.id)}["{arm}: {_label(node)}"]')
        lines.append("    end")
    for node in plan.main_nodes:
        for dep in sorted(node.depends_on):
            arrow = "-->" if dep in node.data_dependencies else "-.->"
            lines.append(f"    {_mid(dep)} {arrow} {_mid(node.id)}")
    for kind in EVENT_KINDS:
        ids = plan.events.get(kind, ())
        if ids:
            lines.append(f'    subgraph ev_{kind}["{kind}"]')
            lines.extend(f'        {_mid(i)}["{_label(plan.nodes[i])}"]' for i in ids)
            lines.append("    end")
    if states:
        colours = {"completed": "#c8f7c5", "cached": "#c5e3f7", "failed": "#f7c5c5", "skipped": "#e0e0e0"}
        for node_id, state in states.items():
            if state in colours and node_id in plan.nodes:
                lines.append(f"    style {_mid(node_id)} fill:{colours[state]}")
    return "\n".join(lines)


def to_text(plan: ExecutionPlan) -> str:
    lines = [f"{plan.name} v{plan.version}"]
    for depth, level in enumerate(plan.levels):
        lines.append(f"level {depth}")
        for node_id in level:
            node = plan.nodes[node_id]
            after = f"  <- {', '.join(sorted(node.depends_on))}" if node.depends_on else ""
            gate = f"  [branch {node.gate.branch_id}: {node.gate.arm}]" if node.gate else ""
            structured = f" -> {node.structured_label}" if node.structured_label else ""
            lines.append(f"  {node.id} ({node.executor}){structured}{after}{gate}")
    for kind in EVENT_KINDS:
        ids = plan.events.get(kind, ())
        if ids:
            lines.append(f"{kind}")
            lines.extend(f"  {i} ({plan.nodes[i].executor})"
                         + (f" -> {plan.nodes[i].structured_label}" if plan.nodes[i].structured_label else "") for i in ids)
    return "\n".join(lines)
