"""Policies are data: four built-ins configured by ``PolicyOptions`` plus rules from YAML files.

* ``content-safety``: a bundled lexicon (``data/content_safety.yaml``) of phrases per category
  (violence, self-harm, hate, sexual-minors, weapons) matched on word boundaries in the prompt,
  the response and string inputs; categories, extra terms and exemptions are configurable.
* ``data-privacy``: the validated detectors of ``pii``; action ``deny``, ``redact`` (allow, and
  hand back the masked prompt/response) or ``require_approval``.
* ``cost-limit``: the task's estimated cost against the remaining amount of every applicable
  budget (looked up through the ledger).
* ``model-allowlist``: glob patterns over the task's model and executor.

``PolicyEngine.evaluate`` runs the requested policies (all when none are named) and
``aggregate`` folds the results: deny beats require_approval beats allow, so the order of
policies never changes the outcome.  Decisions carry positions of findings, never their text.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

import yaml

from ecosystem.governance import pii
from ecosystem.governance.errors import PolicyNotFound, PolicyViolation
from ecosystem.governance.models import (
    BUDGET_LIMIT_ANNOTATION,
    DECISION_RANK,
    BudgetStatus,
    Finding,
    PolicyDecision,
    PolicyEvaluationRequest,
    PolicyOptions,
)
from ecosystem.governance.rules import RulePolicy, load_rule_file
from ecosystem.models import MAX_LIMIT_USD

BudgetLookup = Callable[[PolicyEvaluationRequest], list[BudgetStatus]]


class Policy(Protocol):
    @property
    def id(self) -> str: ...

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision: ...


def _texts(request: PolicyEvaluationRequest) -> Iterator[tuple[str, str]]:
    """Every piece of text a content policy looks at, with where it came from."""
    if request.context.prompt:
        yield "prompt", request.context.prompt
    if request.context.response:
        yield "response", request.context.response

    def walk(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
        if isinstance(value, str):
            yield prefix, value
        elif isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}.{key}", inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                yield from walk(f"{prefix}[{index}]", inner)

    yield from walk("inputs", request.task.inputs)


@cache
def bundled_lexicon() -> dict[str, tuple[str, ...]]:
    text = resources.files("ecosystem.governance.data").joinpath("content_safety.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {str(cat): tuple(str(term) for term in terms) for cat, terms in data["categories"].items()}


def _phrase_pattern(terms: list[str]) -> re.Pattern[str] | None:
    parts = []
    for term in sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s-]+", term) if w]
        parts.append(r"[\s-]+".join(words))
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


class ContentSafetyPolicy:
    id = "content-safety"

    def __init__(self, options: PolicyOptions) -> None:
        cfg = options.content_safety
        lexicon = {cat: list(terms) for cat, terms in bundled_lexicon().items()}
        for cat, terms in cfg.extra_terms.items():
            lexicon.setdefault(cat, []).extend(terms)
        enabled = set(cfg.categories) if cfg.categories is not None else set(lexicon)
        allowed = {t.lower() for t in cfg.allow_terms}
        self.action = cfg.action
        self.patterns: dict[str, re.Pattern[str]] = {}
        for cat in sorted(enabled & set(lexicon)):
            pattern = _phrase_pattern([t for t in lexicon[cat] if t.lower() not in allowed])
            if pattern is not None:
                self.patterns[cat] = pattern

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision:
        findings = [
            Finding(policy=self.id, kind=cat, field=where, start=m.start(), end=m.end())
            for where, text in _texts(request)
            for cat, pattern in self.patterns.items()
            for m in pattern.finditer(text)
        ]
        if not findings:
            return PolicyDecision(decision="allow", reason="no blocked content", policy=self.id)
        cats = sorted({f.kind for f in findings})
        places = sorted({f.field for f in findings})
        reason = f"blocked content ({', '.join(cats)}) in {', '.join(places)}"
        approver = default_approver if self.action == "require_approval" else None
        return PolicyDecision(decision=self.action, reason=reason, policy=self.id, approver=approver, findings=findings)


class DataPrivacyPolicy:
    id = "data-privacy"

    def __init__(self, options: PolicyOptions) -> None:
        self.action = options.data_privacy.action
        self.detectors = options.data_privacy.detectors

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision:
        findings: list[Finding] = []
        redacted: dict[str, str] = {}
        for where, text in _texts(request):
            matches = pii.detect(text, self.detectors)
            findings.extend(Finding(policy=self.id, kind=m.kind, field=where, start=m.start, end=m.end) for m in matches)
            if matches and where in ("prompt", "response"):
                redacted[where] = pii.redact(text, matches)
        if not findings:
            return PolicyDecision(decision="allow", reason="no personal data or secrets found", policy=self.id)
        kinds = ", ".join(sorted({f.kind for f in findings}))
        places = ", ".join(sorted({f.field for f in findings}))
        if self.action == "redact":
            return PolicyDecision(
                decision="allow",
                reason=f"redacted {len(findings)} finding(s) ({kinds}) in {places}",
                policy=self.id,
                redacted_prompt=redacted.get("prompt"),
                redacted_response=redacted.get("response"),
                findings=findings,
            )
        approver = default_approver if self.action == "require_approval" else None
        return PolicyDecision(
            decision=self.action,
            reason=f"personal data or secrets ({kinds}) in {places}",
            policy=self.id,
            approver=approver,
            findings=findings,
        )


class CostLimitPolicy:
    id = "cost-limit"

    def __init__(self, options: PolicyOptions, budgets: BudgetLookup | None) -> None:
        self.budgets = budgets
        self.approval_above = options.cost_limit.approval_above_usd

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision:
        estimate = request.context.estimated_cost
        if estimate is None:
            return PolicyDecision(decision="allow", reason="no cost estimate for this task", policy=self.id)
        statuses = self.budgets(request) if self.budgets is not None else []
        for status in statuses:
            if estimate > status.remaining + 1e-12:
                return PolicyDecision(
                    decision="deny",
                    reason=(
                        f"estimated ${estimate:.6f} exceeds the ${status.remaining:.6f} remaining "
                        f"of budget '{status.name}' (limit ${status.limit:.2f})"
                    ),
                    policy=self.id,
                )
        if self.approval_above is not None and estimate > self.approval_above:
            return PolicyDecision(
                decision="require_approval",
                reason=f"estimated ${estimate:.6f} is above the approval threshold ${self.approval_above:.2f}",
                policy=self.id,
                approver=default_approver,
            )
        names = ", ".join(s.name for s in statuses) or "no budgets configured"
        return PolicyDecision(decision="allow", reason=f"estimated ${estimate:.6f} within budget ({names})", policy=self.id)


class ModelAllowlistPolicy:
    id = "model-allowlist"

    def __init__(self, options: PolicyOptions) -> None:
        self.patterns = list(options.allowed_models)

    def evaluate(self, request: PolicyEvaluationRequest, default_approver: str | None = None) -> PolicyDecision:
        if not self.patterns:
            return PolicyDecision(decision="allow", reason="no model allowlist configured", policy=self.id)
        model = request.task.model
        if model is None:
            return PolicyDecision(decision="allow", reason="task names no model", policy=self.id)
        candidates = [model, request.task.executor, f"{request.task.executor}/{model}"]
        if any(fnmatch.fnmatchcase(c, p) for c in candidates if c for p in self.patterns):
            return PolicyDecision(decision="allow", reason=f"model '{model}' is allowed", policy=self.id)
        return PolicyDecision(
            decision="deny",
            reason=f"model '{model}' (executor '{request.task.executor}') is not in the allowlist",
            policy=self.id,
        )


BUILTIN_POLICY_IDS = ("content-safety", "data-privacy", "cost-limit", "model-allowlist")


def aggregate(decisions: list[PolicyDecision]) -> PolicyDecision:
    """Fold per-policy decisions: deny > require_approval > allow; keep every detail."""
    if not decisions:
        return PolicyDecision(decision="allow", reason="no policies applied")
    worst = max(DECISION_RANK[d.decision] for d in decisions)
    deciding = [d for d in decisions if DECISION_RANK[d.decision] == worst]
    redact_prompt = next((d.redacted_prompt for d in decisions if d.redacted_prompt is not None), None)
    redact_response = next((d.redacted_response for d in decisions if d.redacted_response is not None), None)
    reason = "; ".join(f"{d.policy}: {d.reason}" for d in deciding) if worst else "all policies allow"
    return PolicyDecision(
        decision=deciding[0].decision,
        reason=reason,
        policy=deciding[0].policy if worst else None,
        approver=next((d.approver for d in deciding if d.approver), None),
        redacted_prompt=redact_prompt,
        redacted_response=redact_response,
        findings=[f for d in decisions for f in d.findings],
        details=decisions,
    )


def raise_for_decision(decision: PolicyDecision) -> PolicyDecision:
    """Raise ``PolicyViolation`` for a deny; return the decision otherwise (approval is the caller's)."""
    if decision.decision == "deny":
        raise PolicyViolation(policy=decision.policy or "unknown", reason=decision.reason)
    return decision


@dataclass
class PolicyEngine:
    """The loaded policies by id; evaluates requests against them."""

    policies: dict[str, Policy]
    default_approver: str | None = None

    @classmethod
    def build(
        cls,
        options: PolicyOptions,
        *,
        rule_files: list[str] | None = None,
        rules: list[RulePolicy] | None = None,
        budgets: BudgetLookup | None = None,
        default_approver: str | None = None,
    ) -> PolicyEngine:
        loaded: dict[str, Policy] = {
            "content-safety": ContentSafetyPolicy(options),
            "data-privacy": DataPrivacyPolicy(options),
            "cost-limit": CostLimitPolicy(options, budgets),
            "model-allowlist": ModelAllowlistPolicy(options),
        }
        all_rules = list(rules or [])
        for path in rule_files or []:
            all_rules.extend(load_rule_file(path, reserved_ids=tuple(loaded)))
        for rule in all_rules:
            loaded[rule.id] = rule
        return cls(loaded, default_approver)

    def evaluate_each(self, request: PolicyEvaluationRequest) -> list[PolicyDecision]:
        ids = request.policies or list(self.policies)
        unknown = [pid for pid in ids if pid not in self.policies]
        if unknown:
            known = ", ".join(sorted(self.policies))
            raise PolicyNotFound(f"unknown polic{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; loaded: {known}")
        return [self.policies[pid].evaluate(request, self.default_approver) for pid in dict.fromkeys(ids)]

    def evaluate(self, request: PolicyEvaluationRequest) -> PolicyDecision:
        return aggregate(self.evaluate_each(request))


def run_limit_from(annotations: dict[str, str], default: float | None) -> float | None:
    """The run budget from ``governance.budget-limit-usd`` (else ``default``); bad values are ignored.

    Bad is anything but a number in (0, ``MAX_LIMIT_USD``]: ``inf`` or ``1e30`` cannot be stored.
    """
    raw = annotations.get(BUDGET_LIMIT_ANNOTATION)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if 0 < value <= MAX_LIMIT_USD else default
