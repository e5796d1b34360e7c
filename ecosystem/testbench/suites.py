"""What a suite run found: every case run's verdict, and the numbers a person compares.

The runner (``flows.evals``) turns each run of (case, variant, repeat) into a ``CaseRun``; a
``SuiteResults`` holds them with the variants and cases they belong to and derives everything
else through ``stats``: per variant the pass rate with its Wilson interval, mean score per
check, cost and latency percentiles, flaky cases; the cost/quality frontier; each variant's
pass-rate difference from the first one (Newcombe); the ``failUnder`` verdict.  Nothing here
does I/O except ``save``/``load`` (the store, ``ecosystem.store.evals``) so the CLI, the Prefect
artifacts, ``report --evals`` and the Auto-Optimizer read the same numbers.

Decisions:

* **Cost is what the calls cost when they were made.**  A call served from the suite's cache costs
  nothing now (``spent_usd``), but comparing variants on what they spent would make a re-run
  rank a cached variant as free; ``cost_usd`` keeps the original call's cost, so a re-run with
  nothing changed reports the same numbers.  Unknown cost (an unpriced model) stays unknown.
* ``latency_ms`` is the run's critical path over the time each task's executor took (for a task
  served from the cache: the time it took when its answer was made), for the same reason.
* The first variant in matrix order is the reference of ``differences``: with the matrix written
  as-written-first (``models: {classify: [current, candidate]}``) it reads as "candidate minus
  current".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from ecosystem.store import Store
from ecosystem.store.evals import (
    CaseRunRecord,
    SuiteRunRecord,
    VariantRecord,
    save_suite_run,
    suite_cases,
    suite_run,
    suite_variants,
)
from ecosystem.testbench.stats import (
    CaseStats,
    Interval,
    RunOutcome,
    VariantStats,
    case_stats,
    compare,
    frontier,
    gate,
    variant_stats,
)

RunState = Literal["completed", "failed", "error"]  # error: the run could not start (compile, inputs)
FAIL_MEASURES = ("pass_rate", "mean_score")


@dataclass(frozen=True)
class CheckResult:
    """One assertion on one run: a metric on an output, or a cost/latency limit."""

    name: str
    kind: Literal["metric", "limit"]
    passed: bool
    errored: bool = False
    score: float | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "passed": self.passed, "errored": self.errored,
                "score": self.score, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(str(data["name"]), "limit" if data.get("kind") == "limit" else "metric", bool(data.get("passed")),
                   bool(data.get("errored")), data.get("score"), data.get("detail"))


@dataclass(frozen=True)
class CaseRun:
    """One run of one case under one variant (one repeat), judged."""

    case_id: str
    variant_id: str
    repeat: int
    run_id: str
    state: RunState
    passed: bool
    errored: bool
    error: str | None = None
    score: float | None = None  # weighted mean of the metric checks' scores
    checks: tuple[CheckResult, ...] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None  # what its calls cost when they were made (see the module docstring)
    spent_usd: float | None = None  # what this run spent (0 for calls served from the cache)
    latency_ms: float | None = None
    cached_tasks: int = 0
    provider_calls: int = 0

    @property
    def scores(self) -> dict[str, float | None]:
        return {c.name: c.score for c in self.checks if c.kind == "metric"}

    def outcome(self) -> RunOutcome:
        return RunOutcome(self.case_id, self.variant_id, self.passed, self.repeat, self.errored, self.score,
                          self.scores, self.cost_usd, self.latency_ms)

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "variant_id": self.variant_id, "repeat": self.repeat, "run_id": self.run_id,
                "state": self.state, "passed": self.passed, "errored": self.errored, "error": self.error,
                "score": self.score, "checks": [c.to_json() for c in self.checks], "outputs": dict(self.outputs),
                "cost_usd": self.cost_usd, "spent_usd": self.spent_usd, "latency_ms": self.latency_ms,
                "cached_tasks": self.cached_tasks, "provider_calls": self.provider_calls}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseRun:
        state = data.get("state")
        return cls(
            case_id=str(data["case_id"]), variant_id=str(data["variant_id"]), repeat=int(data.get("repeat") or 0),
            run_id=str(data.get("run_id") or ""), state=state if state in ("completed", "failed") else "error",
            passed=bool(data.get("passed")), errored=bool(data.get("errored")), error=data.get("error"),
            score=data.get("score"), checks=tuple(CheckResult.from_json(c) for c in data.get("checks") or []),
            outputs=dict(data.get("outputs") or {}), cost_usd=data.get("cost_usd"), spent_usd=data.get("spent_usd"),
            latency_ms=data.get("latency_ms"), cached_tasks=int(data.get("cached_tasks") or 0),
            provider_calls=int(data.get("provider_calls") or 0),
        )


@dataclass(frozen=True)
class VariantInfo:
    id: str
    label: str
    models: Mapping[str, str] = field(default_factory=dict)  # llm task id -> model
    choices: tuple[tuple[str, str], ...] = ()  # (dimension, value label), in matrix order

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "models": dict(self.models), "choices": [list(c) for c in self.choices]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariantInfo:
        return cls(str(data["id"]), str(data.get("label") or data["id"]), dict(data.get("models") or {}),
                   tuple((str(c[0]), str(c[1])) for c in data.get("choices") or []))


@dataclass(frozen=True)
class CaseInfo:
    id: str
    tags: tuple[str, ...] = ()
    source: str = ""
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "tags": list(self.tags), "source": self.source, "description": self.description}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseInfo:
        return cls(str(data["id"]), tuple(str(t) for t in data.get("tags") or []), str(data.get("source") or ""),
                   data.get("description"))


@dataclass(frozen=True)
class Difference:
    """``variant``'s pass rate minus ``reference``'s, with Newcombe's interval."""

    variant_id: str
    reference_id: str
    interval: Interval

    @property
    def significant(self) -> bool:
        return not (self.interval.low <= 0.0 <= self.interval.high)


@dataclass
class SuiteResults:
    suite: str
    workflow: str
    suite_file: str
    workflow_file: str
    suite_run_id: str
    repeat: int
    variants: list[VariantInfo]
    cases: list[CaseInfo]
    runs: list[CaseRun]
    fail_under: dict[str, float] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    warnings: list[str] = field(default_factory=list)
    confidence: float = 0.95

    # -- derived -----------------------------------------------------------------------------
    @cached_property
    def variant_stats(self) -> list[VariantStats]:
        """One per variant that has runs, in matrix order."""
        found = {v.variant_id: v for v in variant_stats([r.outcome() for r in self.runs], self.confidence)}
        return [found[v.id] for v in self.variants if v.id in found]

    @cached_property
    def case_stats(self) -> list[CaseStats]:
        return case_stats([r.outcome() for r in self.runs], self.confidence)

    @cached_property
    def frontier_ids(self) -> list[str]:
        """Variants on the cost/quality frontier, cheapest first."""
        return [v.variant_id for v in frontier(self.variant_stats)]

    @cached_property
    def differences(self) -> list[Difference]:
        """Each variant after the first against the first (see the module docstring)."""
        stats = self.variant_stats
        if len(stats) < 2:
            return []
        reference = stats[0]
        return [Difference(v.variant_id, reference.variant_id, compare(v, reference, self.confidence)) for v in stats[1:]]

    @property
    def flaky(self) -> list[CaseStats]:
        return [c for c in self.case_stats if c.flaky]

    @property
    def errored_runs(self) -> int:
        return sum(r.errored for r in self.runs)

    @property
    def provider_calls(self) -> int:
        return sum(r.provider_calls for r in self.runs)

    @property
    def cached_tasks(self) -> int:
        return sum(r.cached_tasks for r in self.runs)

    @property
    def spent_usd(self) -> float:
        return math.fsum(r.spent_usd for r in self.runs if r.spent_usd is not None)

    def variant(self, variant_id: str) -> VariantInfo:
        return next(v for v in self.variants if v.id == variant_id)

    def gate_failures(self, rules: Mapping[str, float] | None = None) -> list[str]:
        """A sentence per variant under a ``failUnder`` rule (``rules`` replaces the suite's)."""
        rules = self.fail_under if rules is None else rules
        if not rules:
            return []
        return gate(self.variant_stats, pass_rate=rules.get("pass_rate"), mean_score=rules.get("mean_score"))

    def passed(self, rules: Mapping[str, float] | None = None) -> bool:
        return not self.gate_failures(rules)

    def with_rules(self, rules: Mapping[str, float]) -> SuiteResults:
        """The same results judged by other ``failUnder`` rules (``--fail-under`` on the command line)."""
        return replace(self, fail_under=dict(rules))

    # -- JSON ---------------------------------------------------------------------------------
    def summary_json(self) -> list[dict[str, Any]]:
        """Per variant, the numbers a person compares (plain values; rates as fractions)."""
        on_front = set(self.frontier_ids)
        differences = {d.variant_id: d for d in self.differences}
        rows = []
        for stats in self.variant_stats:
            info = self.variant(stats.variant_id)
            difference = differences.get(stats.variant_id)
            rows.append({
                "variant": stats.variant_id, "label": info.label, "models": dict(info.models),
                "cases": stats.cases, "runs": stats.runs, "passes": stats.passes, "errored": stats.errored,
                "pass_rate": stats.pass_rate.estimate, "pass_rate_low": stats.pass_rate.low,
                "pass_rate_high": stats.pass_rate.high, "mean_score": stats.mean_score,
                "metrics": {name: m.mean for name, m in stats.metrics.items()},
                "cost_total_usd": stats.cost_total_usd, "cost_mean_usd": stats.cost_mean_usd,
                "cost_unknown_runs": stats.cost_unknown_runs,
                "latency_p50_ms": stats.latency_p50_ms, "latency_p95_ms": stats.latency_p95_ms,
                "on_frontier": stats.variant_id in on_front, "flaky_cases": list(stats.flaky_cases),
                "difference": None if difference is None else {
                    "reference": difference.reference_id, "estimate": difference.interval.estimate,
                    "low": difference.interval.low, "high": difference.interval.high},
            })
        return rows

    def to_json(self) -> dict[str, Any]:
        failures = self.gate_failures()
        return {
            "suite": self.suite, "workflow": self.workflow, "suite_file": self.suite_file,
            "workflow_file": self.workflow_file, "suite_run_id": self.suite_run_id, "repeat": self.repeat,
            "started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
            "confidence": self.confidence, "fail_under": dict(self.fail_under), "passed": not failures,
            "gate": failures, "runs_total": len(self.runs), "errored": self.errored_runs,
            "provider_calls": self.provider_calls, "cached_tasks": self.cached_tasks, "spent_usd": self.spent_usd,
            "warnings": list(self.warnings), "variants": [v.to_json() for v in self.variants],
            "cases": [c.to_json() for c in self.cases], "summary": self.summary_json(),
            "frontier": self.frontier_ids,
            "flaky": [{"variant": c.variant_id, "case": c.case_id, "passes": c.passes, "runs": c.runs} for c in self.flaky],
            "runs": [r.to_json() for r in self.runs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteResults:
        return cls(
            suite=str(data.get("suite") or ""), workflow=str(data.get("workflow") or ""),
            suite_file=str(data.get("suite_file") or ""), workflow_file=str(data.get("workflow_file") or ""),
            suite_run_id=str(data.get("suite_run_id") or ""), repeat=int(data.get("repeat") or 1),
            variants=[VariantInfo.from_json(v) for v in data.get("variants") or []],
            cases=[CaseInfo.from_json(c) for c in data.get("cases") or []],
            runs=[CaseRun.from_json(r) for r in data.get("runs") or []],
            fail_under={k: float(v) for k, v in dict(data.get("fail_under") or {}).items()},
            started_at=_when(data.get("started_at")), finished_at=_when(data.get("finished_at")),
            warnings=list(data.get("warnings") or []), confidence=float(data.get("confidence") or 0.95),
        )

    # -- the store ----------------------------------------------------------------------------
    def records(self) -> tuple[SuiteRunRecord, list[VariantRecord], list[CaseRunRecord]]:
        failures = self.gate_failures()
        run = SuiteRunRecord(
            suite_run_id=self.suite_run_id, suite=self.suite, workflow=self.workflow, suite_file=self.suite_file,
            workflow_file=self.workflow_file, started_at=self.started_at, finished_at=self.finished_at,
            cases=len(self.cases), variants=len(self.variants), repeat=self.repeat, runs=len(self.runs),
            errored=self.errored_runs, provider_calls=self.provider_calls, passed=not failures, gate=failures,
            fail_under=dict(self.fail_under),
            details={"cases": [c.to_json() for c in self.cases], "variants": [v.to_json() for v in self.variants],
                     "warnings": list(self.warnings), "confidence": self.confidence},
        )
        on_front = set(self.frontier_ids)
        variants = []
        for position, stats in enumerate(self.variant_stats):
            info = self.variant(stats.variant_id)
            variants.append(VariantRecord(
                position=position, variant_id=stats.variant_id, label=info.label, models=dict(info.models),
                choices=[list(c) for c in info.choices], cases=stats.cases, runs=stats.runs, passes=stats.passes,
                errored=stats.errored, pass_rate=stats.pass_rate.estimate, pass_rate_low=stats.pass_rate.low,
                pass_rate_high=stats.pass_rate.high, confidence=stats.pass_rate.confidence,
                mean_score=stats.mean_score, metrics={name: m.mean for name, m in stats.metrics.items()},
                cost_total_usd=stats.cost_total_usd, cost_mean_usd=stats.cost_mean_usd,
                cost_unknown_runs=stats.cost_unknown_runs, latency_p50_ms=stats.latency_p50_ms,
                latency_p95_ms=stats.latency_p95_ms, on_frontier=stats.variant_id in on_front,
                flaky_cases=list(stats.flaky_cases),
            ))
        cases = [CaseRunRecord(
            case_id=r.case_id, variant_id=r.variant_id, repeat=r.repeat, run_id=r.run_id, state=r.state,
            passed=r.passed, errored=r.errored, error=r.error, score=r.score, scores=r.scores,
            checks=[c.to_json() for c in r.checks], outputs=dict(r.outputs), cost_usd=r.cost_usd,
            spent_usd=r.spent_usd, latency_ms=r.latency_ms, cached_tasks=r.cached_tasks,
            provider_calls=r.provider_calls,
        ) for r in self.runs]
        return run, variants, cases

    def save(self, store: Store) -> None:
        save_suite_run(store, *self.records())

    @classmethod
    def load(cls, store: Store, suite_run_id: str) -> SuiteResults | None:
        """A stored suite run rebuilt from its case runs (its numbers recomputed from them)."""
        run = suite_run(store, suite_run_id)
        if run is None:
            return None
        details = run.details
        variants = [VariantInfo.from_json(v) for v in details.get("variants") or []]
        if not variants:  # variants that ran are always stored; their metadata may be all we have
            variants = [VariantInfo(v.variant_id, v.label, v.models, tuple((c[0], c[1]) for c in v.choices))
                        for v in suite_variants(store, suite_run_id)]
        runs = [CaseRun(
            case_id=c.case_id, variant_id=c.variant_id, repeat=c.repeat, run_id=c.run_id,
            state=c.state if c.state in ("completed", "failed") else "error",  # type: ignore[arg-type]
            passed=c.passed, errored=c.errored, error=c.error, score=c.score,
            checks=tuple(CheckResult.from_json(x) for x in c.checks), outputs=c.outputs, cost_usd=c.cost_usd,
            spent_usd=c.spent_usd, latency_ms=c.latency_ms, cached_tasks=c.cached_tasks,
            provider_calls=c.provider_calls,
        ) for c in suite_cases(store, suite_run_id)]
        return cls(
            suite=run.suite, workflow=run.workflow, suite_file=run.suite_file, workflow_file=run.workflow_file,
            suite_run_id=run.suite_run_id, repeat=run.repeat, variants=variants,
            cases=[CaseInfo.from_json(c) for c in details.get("cases") or []], runs=runs,
            fail_under=dict(run.fail_under), started_at=run.started_at, finished_at=run.finished_at,
            warnings=list(details.get("warnings") or []), confidence=float(details.get("confidence") or 0.95),
        )


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def weighted_score(checks: Iterable[tuple[CheckResult, float]]) -> float | None:
    """The weighted mean score of the scored metric checks (weight 0 counts for nothing)."""
    pairs = [(c.score, w) for c, w in checks if c.kind == "metric" and c.score is not None and w > 0]
    total = math.fsum(w for _, w in pairs)
    return math.fsum(s * w for s, w in pairs) / total if total > 0 else None


def parse_fail_under(items: Sequence[str]) -> dict[str, float]:
    """``["pass_rate=0.9", "mean_score=0.8"]`` (or comma-separated) -> rules; ValueError says what is wrong."""
    rules: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            name, equals, value = part.partition("=")
            name = name.strip()
            if not equals or name not in FAIL_MEASURES:
                raise ValueError(f"'{part}': use {' or '.join(m + '=<0..1>' for m in FAIL_MEASURES)}")
            try:
                number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
            except ValueError:
                raise ValueError(f"'{part}': '{value.strip()}' is not a number") from None
            if not 0.0 <= number <= 1.0:
                raise ValueError(f"'{part}': {name} must be between 0 and 1 (or 0% and 100%)")
            rules[name] = number
    return rules


__all__ = [
    "CaseInfo",
    "CaseRun",
    "CheckResult",
    "Difference",
    "SuiteResults",
    "VariantInfo",
    "parse_fail_under",
    "weighted_score",
]
