"""Phase 4: the frozen ``ExecutionPlan`` the engine schedules.

A plan is everything the engine needs and nothing it must re-derive: nodes with their resolved
executor, effective retry/timeout/cache (task settings over workflow defaults), the expressions
found in their inputs, their dependencies (``dependsOn`` plus every task an expression reads),
topological levels for display, branch gates and event groups.  It is immutable so that one
plan can be shared by concurrent runs, and so that applying optimiser recommendations means
building a new plan (``replace_nodes``), never editing the user's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from compiler.document import CachePolicy, RetryPolicy, Workflow, WorkflowInput
from compiler.durations import format_duration
from compiler.executors import ExecutorRef, ExecutorSpec
from compiler.expressions import Node, Span, Template, called_functions, compile_template, find_spans, parse

STATUS_FUNCTIONS = frozenset({"success", "failure", "always", "cancelled"})


def bare_expression(text: str) -> str:
    """``${{ x }}`` -> ``x``: an ``if``, a branch condition or a ``forEach`` source may be written
    with or without the braces; anything but exactly one span is taken as a bare expression."""
    stripped = text.strip()
    if stripped.startswith("${{") and stripped.endswith("}}"):
        spans = find_spans(stripped)
        if len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(stripped):
            return spans[0].source
    return text

Group = Literal["main", "branch", "event"]
EventKind = Literal["onSuccess", "onFailure", "always"]
EVENT_KINDS: tuple[EventKind, ...] = ("onSuccess", "onFailure", "always")


@dataclass(frozen=True, slots=True)
class BranchGate:
    """A node inside a branch runs only when its arm is taken."""

    branch_id: str
    arm: Literal["then", "else"]
    condition: str

    @property
    def tree(self) -> Node:
        """The parsed condition (``parse`` is memoised: every gate of a branch shares one tree)."""
        return parse(bare_expression(self.condition))


@dataclass(frozen=True)
class PlanNode:
    id: str
    executor: ExecutorRef
    spec: ExecutorSpec
    type: str
    inputs: Any
    depends_on: frozenset[str]
    explicit_depends_on: tuple[str, ...] = ()
    condition: str | None = None
    for_each: Any = None
    retry: RetryPolicy | None = None
    timeout: float | None = None
    cache: CachePolicy | None = None
    continue_on_error: bool = False
    declared_outputs: Mapping[str, str] = field(default_factory=dict)
    group: Group = "main"
    gate: BranchGate | None = None
    event: EventKind | None = None
    level: int = 0
    description: str | None = None
    # Tasks whose outputs the node's expressions read (edges that carry data, vs ordering only).
    data_dependencies: frozenset[str] = frozenset()
    line: int = 0
    # Declared outputs that carry a JSON Schema (``outputs: {data: {type: object, schema: ...}}``).
    output_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def structured_output(self) -> tuple[str, Mapping[str, Any]] | None:
        """(output name, JSON Schema) when an llm task asks for a structured answer: the parsed
        object becomes that output."""
        return next(iter(self.output_schemas.items()), None) if self.type == "llm" else None

    @property
    def structured_label(self) -> str | None:
        """``data: object (schema: urgency, customer)``: the structured output, for plans,
        ``graph`` and ``explain``."""
        structured = self.structured_output
        if structured is None:
            return None
        name, schema = structured
        properties = schema.get("properties")
        names = list(properties) if isinstance(properties, Mapping) else []
        shown = ", ".join(map(str, names[:4])) + (", ..." if len(names) > 4 else "")
        return f"{name}: {self.declared_outputs.get(name, 'any')} (schema{': ' + shown if shown else ''})"

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.executor.namespace, self.type)

    @property
    def mode(self) -> Literal["online", "batch"]:
        """``batch`` when the forEach items go to a provider's batch API (``inputs.config.mode``; the
        compiler folds ``spec.defaults.mode`` in), else ``online``."""
        inputs = self.inputs if isinstance(self.inputs, Mapping) else {}
        config = inputs.get("config")
        mode = config.get("mode") if isinstance(config, Mapping) else None
        return "batch" if mode == "batch" and self.for_each is not None else "online"

    # What the compiler already parsed, kept with the node so that a run evaluates and never
    # re-parses.  Derived (cached per node object), so ``replace(node, inputs=...)`` - the
    # optimiser's way of changing a node - can never leave a stale tree behind.
    @cached_property
    def condition_tree(self) -> Node | None:
        return None if self.condition is None else parse(bare_expression(self.condition))

    @cached_property
    def status_aware(self) -> bool:
        """The ``if`` calls ``success() failure() always() cancelled()``: found in the parsed tree,
        so a string literal that merely contains ``'failure()'`` does not count."""
        tree = self.condition_tree
        return tree is not None and not STATUS_FUNCTIONS.isdisjoint(called_functions(tree))

    @cached_property
    def inputs_template(self) -> Any:
        """``inputs`` with every ``${{ }}`` string split and parsed (``compile_template``)."""
        return compile_template(self.inputs)

    @cached_property
    def for_each_source(self) -> Any:
        """``forEach`` as a template; a plain string is a bare expression (``items`` = ``${{ items }}``)."""
        source = self.for_each
        if isinstance(source, str) and "${{" not in source:
            return Template(source, (Span(0, len(source), source.strip()),), (parse(source.strip()),), True)
        return compile_template(source)

    @cached_property
    def cache_key_template(self) -> Any:
        return compile_template(self.cache.key) if self.cache and self.cache.key else None

    def output_type(self, name: str) -> str | None:
        if name in self.declared_outputs:
            return self.declared_outputs[name]
        return self.spec.outputs.get(name)


@dataclass(frozen=True)
class ExecutionPlan:
    name: str
    version: str
    file: str
    workflow: Workflow
    nodes: Mapping[str, PlanNode]
    levels: tuple[tuple[str, ...], ...]
    events: Mapping[str, tuple[str, ...]]
    inputs: tuple[WorkflowInput, ...]
    outputs: Mapping[str, Any]
    annotations: Mapping[str, str]
    max_parallel_tasks: int | None
    branches: tuple[BranchGate, ...] = ()
    applied: tuple[str, ...] = ()

    @property
    def main_nodes(self) -> list[PlanNode]:
        return [n for n in self.nodes.values() if n.group != "event"]

    def event_nodes(self, kind: str) -> list[PlanNode]:
        return [self.nodes[i] for i in self.events.get(kind, ())]

    def dependents(self, node_id: str) -> list[str]:
        return [n.id for n in self.nodes.values() if node_id in n.depends_on]

    @cached_property
    def output_templates(self) -> Mapping[str, Any]:
        """Each workflow output's ``value`` as a template (split and parsed once per plan)."""
        return MappingProxyType({name: compile_template(value) for name, value in self.outputs.items()})

    def input(self, name: str) -> WorkflowInput | None:
        return next((i for i in self.inputs if i.name == name), None)

    def replace_nodes(self, nodes: Mapping[str, PlanNode], applied: str) -> ExecutionPlan:
        """A new plan with some nodes replaced (recommendations); levels are recomputed."""
        merged = {**self.nodes, **nodes}
        levels = compute_levels(merged)
        level_of = {i: depth for depth, ids in enumerate(levels) for i in ids}
        merged = {i: n if n.level == level_of.get(i, n.level) else replace(n, level=level_of[i]) for i, n in merged.items()}
        return replace(
            self,
            nodes=MappingProxyType(merged),
            levels=levels,
            applied=(*self.applied, applied),
        )

    def __str__(self) -> str:
        lines = [f"ExecutionPlan {self.name} v{self.version} ({len(self.nodes)} tasks, {self.file})"]
        if self.inputs:
            lines.append("  inputs: " + ", ".join(
                f"{i.name}: {i.type}{'' if i.required else '?'}" for i in self.inputs))
        for depth, level in enumerate(self.levels):
            lines.append(f"  level {depth}:")
            for node_id in level:
                lines.append("    " + _describe(self.nodes[node_id]))
        for kind in EVENT_KINDS:
            ids = self.events.get(kind, ())
            if ids:
                lines.append(f"  {kind}:")
                lines.extend("    " + _describe(self.nodes[i]) for i in ids)
        if self.outputs:
            lines.append("  outputs: " + ", ".join(self.outputs))
        if self.applied:
            lines.append("  applied: " + "; ".join(self.applied))
        return "\n".join(lines)


def _describe(node: PlanNode) -> str:
    structured = node.structured_label
    parts = [f"{node.id} [{node.executor}, {node.type}]" + (f" -> {structured}" if structured else "")]
    if node.depends_on:
        parts.append("after " + ", ".join(sorted(node.depends_on)))
    if node.gate:
        parts.append(f"when branch {node.gate.branch_id} is {'taken' if node.gate.arm == 'then' else 'not taken'}")
    if node.condition is not None:
        parts.append(f"if {node.condition}")
    if node.for_each is not None:
        parts.append(f"for each {node.for_each}" + (" in batch mode" if node.mode == "batch" else ""))
    if node.retry:
        parts.append(f"retry x{node.retry.max_attempts} {node.retry.backoff}")
    if node.timeout:
        parts.append(f"timeout {format_duration(node.timeout)}")
    if node.cache and node.cache.enabled:
        parts.append(f"cache {format_duration(node.cache.ttl)}")
    if node.continue_on_error:
        parts.append("continue on error")
    return "; ".join(parts)


def compute_levels(nodes: Mapping[str, PlanNode]) -> tuple[tuple[str, ...], ...]:
    """Topological levels of the non-event nodes (level = longest path from a root)."""
    main = {i: n for i, n in nodes.items() if n.group != "event"}
    level: dict[str, int] = {}
    remaining = {i: {d for d in n.depends_on if d in main} for i, n in main.items()}
    ready = [i for i, deps in remaining.items() if not deps]
    dependents: dict[str, list[str]] = {i: [] for i in main}
    for i, deps in remaining.items():
        for d in deps:
            dependents[d].append(i)
    for i in ready:
        level[i] = 0
    while ready:
        current = ready.pop()
        for child in dependents[current]:
            level[child] = max(level.get(child, 0), level[current] + 1)
            remaining[child].discard(current)
            if not remaining[child]:
                ready.append(child)
    by_level: dict[int, list[str]] = {}
    order = {i: k for k, i in enumerate(main)}
    for i, depth in level.items():
        by_level.setdefault(depth, []).append(i)
    return tuple(tuple(sorted(by_level[d], key=order.__getitem__)) for d in sorted(by_level))
