"""User rule policies in YAML, validated with positions before anything runs.

    policies:
      - id: no-gpt4-in-prod
        description: Production runs use the cheaper models
        when: {executor: "llm-forge:openai-*", model: "gpt-4*", annotations: {env: prod}}
        decision: deny
        reason: GPT-4 is not approved for production

The file is read with ``yaml.compose`` (safe: no Python tags are constructed) so every node keeps
its line and column; the walk collects **every** problem - unknown keys with a did-you-mean,
missing keys, wrong types, bad decisions, duplicate ids - and raises ``InvalidPolicy`` once.
A rule applies when all of its ``when`` conditions hold (``inputs_contain`` holds when any term
occurs); a rule that does not apply allows.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ecosystem.governance.errors import InvalidPolicy, PolicyProblem
from ecosystem.governance.models import PolicyDecision, PolicyEvaluationRequest

RULE_KEYS = ("id", "description", "when", "decision", "reason", "approver")
WHEN_KEYS = ("task_type", "executor", "model", "annotations", "inputs_contain", "estimated_cost_gt")
DECISIONS = ("allow", "deny", "require_approval")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class RuleCondition:
    task_type: tuple[str, ...] = ()
    executor: str | None = None
    model: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    inputs_contain: tuple[str, ...] = ()
    estimated_cost_gt: float | None = None

    def matches(self, request: PolicyEvaluationRequest) -> bool:
        task, context = request.task, request.context
        if self.task_type and task.type not in self.task_type:
            return False
        if self.executor is not None and not fnmatch.fnmatchcase(task.executor, self.executor):
            return False
        if self.model is not None and (task.model is None or not fnmatch.fnmatchcase(task.model, self.model)):
            return False
        for key, pattern in self.annotations:
            value = task.annotations.get(key)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        if self.inputs_contain:
            haystack = (json.dumps(task.inputs, default=str) + "\n" + (context.prompt or "")).lower()
            if not any(term.lower() in haystack for term in self.inputs_contain):
                return False
        if self.estimated_cost_gt is not None:
            if context.estimated_cost is None or context.estimated_cost <= self.estimated_cost_gt:
                return False
        return True


@dataclass(frozen=True)
class RulePolicy:
    """A policy from a rule file: when ``condition`` holds, ``decision``."""

    id: str
    decision: str
    reason: str = ""
    description: str = ""
    approver: str | None = None
    condition: RuleCondition = field(default_factory=RuleCondition)
    source: str | None = None

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision:
        if not self.condition.matches(request):
            return PolicyDecision(decision="allow", reason="rule does not apply", policy=self.id)
        approver = (self.approver or default_approver) if self.decision == "require_approval" else None
        reason = self.reason or self.description or f"rule '{self.id}' matched"
        return PolicyDecision(decision=self.decision, reason=reason, policy=self.id, approver=approver)  # type: ignore[arg-type]


class _Walker:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.problems: list[PolicyProblem] = []
        self._constructor = SafeConstructor()

    def problem(self, code: str, message: str, node: Node | None, hint: str | None = None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        column = node.start_mark.column + 1 if node is not None else None
        self.problems.append(PolicyProblem(code, message, line, column, hint, self.file))

    def scalar(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, allowed: tuple[str, ...], where: str) -> dict[str, tuple[Node, Node]]:
        entries: dict[str, tuple[Node, Node]] = {}
        assert isinstance(node, MappingNode)
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem("G105", f"{where}: keys must be plain strings", key_node)
                continue
            key = str(key_node.value)
            if key in entries:
                self.problem("G108", f"{where}: duplicate key '{key}'", key_node)
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
                self.problem("G103", f"{where}: unknown key '{key}'", key_node, hint)
                continue
            entries[key] = (key_node, value_node)
        return entries

    def string(self, node: Node, where: str) -> str | None:
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if isinstance(value, str) and value:
                return value
        self.problem("G105", f"{where} must be a non-empty string", node)
        return None

    def strings(self, node: Node, where: str) -> tuple[str, ...]:
        if isinstance(node, ScalarNode):
            single = self.string(node, where)
            return (single,) if single else ()
        if isinstance(node, SequenceNode):
            out = [self.string(item, f"{where} item") for item in node.value]
            return tuple(item for item in out if item)
        self.problem("G105", f"{where} must be a string or a list of strings", node)
        return ()

    def condition(self, node: Node, where: str) -> RuleCondition:
        if not isinstance(node, MappingNode):
            self.problem("G105", f"{where}.when must be a mapping of conditions", node)
            return RuleCondition()
        entries = self.mapping(node, WHEN_KEYS, f"{where}.when")
        values: dict[str, Any] = {}
        if "task_type" in entries:
            values["task_type"] = self.strings(entries["task_type"][1], f"{where}.when.task_type")
        for key in ("executor", "model"):
            if key in entries:
                values[key] = self.string(entries[key][1], f"{where}.when.{key}")
        if "annotations" in entries:
            ann_node = entries["annotations"][1]
            pairs: list[tuple[str, str]] = []
            if isinstance(ann_node, MappingNode):
                for key_node, value_node in ann_node.value:
                    value = self.scalar(value_node) if isinstance(value_node, ScalarNode) else None
                    if value is None or isinstance(value, list | dict):
                        self.problem("G105", f"{where}.when.annotations.{key_node.value} must be a scalar", value_node)
                        continue
                    text = str(value).lower() if isinstance(value, bool) else str(value)
                    pairs.append((str(key_node.value), text))
            else:
                self.problem("G105", f"{where}.when.annotations must be a mapping", ann_node)
            values["annotations"] = tuple(pairs)
        if "inputs_contain" in entries:
            values["inputs_contain"] = self.strings(entries["inputs_contain"][1], f"{where}.when.inputs_contain")
        if "estimated_cost_gt" in entries:
            cost_node = entries["estimated_cost_gt"][1]
            cost = self.scalar(cost_node) if isinstance(cost_node, ScalarNode) else None
            if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
                self.problem("G105", f"{where}.when.estimated_cost_gt must be a non-negative number", cost_node)
            else:
                values["estimated_cost_gt"] = float(cost)
        return RuleCondition(**{k: v for k, v in values.items() if v is not None})

    def rule(self, node: Node, index: int, seen: dict[str, Node]) -> RulePolicy | None:
        where = f"policies[{index}]"
        if not isinstance(node, MappingNode):
            self.problem("G105", f"{where} must be a mapping with id, when, decision", node)
            return None
        entries = self.mapping(node, RULE_KEYS, where)
        ok = True
        for required in ("id", "decision"):
            if required not in entries:
                self.problem("G104", f"{where}: missing required key '{required}'", node)
                ok = False
        rule_id = self.string(entries["id"][1], f"{where}.id") if "id" in entries else None
        if rule_id is not None:
            where = f"policy '{rule_id}'"
            id_node = entries["id"][1]
            if not _ID.match(rule_id):
                self.problem("G106", f"{where}: id must be lowercase letters, digits, '.', '_' or '-'", id_node)
            if rule_id in seen:
                first = seen[rule_id].start_mark.line + 1
                self.problem("G107", f"duplicate policy id '{rule_id}' (first defined on line {first})", id_node)
            seen.setdefault(rule_id, id_node)
        decision = None
        if "decision" in entries:
            decision_node = entries["decision"][1]
            decision = self.scalar(decision_node) if isinstance(decision_node, ScalarNode) else None
            if decision not in DECISIONS:
                close = difflib.get_close_matches(str(decision), DECISIONS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(DECISIONS)}"
                self.problem("G106", f"{where}: decision must be allow, deny or require_approval", decision_node, hint)
                ok = False
        texts = {k: self.string(entries[k][1], f"{where}.{k}") for k in ("description", "reason", "approver") if k in entries}
        condition = self.condition(entries["when"][1], where) if "when" in entries else RuleCondition()
        if not ok or rule_id is None or decision is None:
            return None
        return RulePolicy(
            id=rule_id,
            decision=str(decision),
            reason=texts.get("reason") or "",
            description=texts.get("description") or "",
            approver=texts.get("approver"),
            condition=condition,
            source=self.file,
        )


def load_rules(text: str, *, file: str | None = None, reserved_ids: tuple[str, ...] = ()) -> list[RulePolicy]:
    """Parse and validate a rule document; raise ``InvalidPolicy`` listing every problem."""
    walker = _Walker(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise InvalidPolicy(
            problems=[PolicyProblem("G100", f"YAML syntax error: {exc.problem or exc}", line, column, None, file)]
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidPolicy(problems=[PolicyProblem("G100", f"YAML error: {exc}", None, None, None, file)]) from exc
    if root is None:
        return []
    rules: list[RulePolicy] = []
    if not isinstance(root, MappingNode):
        walker.problem("G101", "a policy file is a mapping with a 'policies' list", root)
        raise InvalidPolicy(problems=walker.problems)
    entries = walker.mapping(root, ("policies",), "top level")
    if "policies" not in entries:
        if not walker.problems:
            walker.problem("G102", "missing 'policies' list", root)
    else:
        seq = entries["policies"][1]
        if not isinstance(seq, SequenceNode):
            walker.problem("G105", "'policies' must be a list of rules", seq)
        else:
            seen: dict[str, Node] = {}
            for index, item in enumerate(seq.value):
                rule = walker.rule(item, index, seen)
                if rule is not None and rule.id in reserved_ids:
                    walker.problem("G107", f"policy id '{rule.id}' is a built-in policy", item)
                elif rule is not None:
                    rules.append(rule)
    if walker.problems:
        raise InvalidPolicy(problems=walker.problems)
    return rules


def load_rule_file(path: str | Path, *, reserved_ids: tuple[str, ...] = ()) -> list[RulePolicy]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidPolicy(problems=[PolicyProblem("G109", f"cannot read policy file: {exc.strerror}", file=str(path))]) from exc
    return load_rules(text, file=str(path), reserved_ids=reserved_ids)
