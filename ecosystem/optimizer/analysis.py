"""Recommendations from one workflow's metric history: pure functions, numpy, a seeded RNG.

``analyze(workflow, metrics, config)`` reads the history (oldest first) and returns
``Recommendations`` whose every item carries its evidence and a confidence, plus ``notes`` for
candidates that were looked at and turned down (too few samples, quality worse, saving too
small).  Four analyses:

* **ModelSwitch** - per task, each model observed *on that task* that is cheaper than the
  current (most recent) model.  Needs ``min_samples`` quality scores per model; a one-sided 95%
  bootstrap lower bound on ``quality(cheap) - quality(current)`` must be >= ``-quality_margin``
  and the mean cost must drop by >= ``min_saving_ratio``.  When the same ``input_hash`` was run
  with both models on >= ``min_samples`` inputs the bootstrap is *paired* (resampling per-input
  differences removes the between-input variance that would otherwise swamp the effect).
  When an eval suite over the workflow has been run (``EvalEvidence``, its newest run) and has
  variants that differ only in this task's model, current and candidate, the advice cites the
  suite: the candidate's pass rate minus the current's with Newcombe's interval over the suite's
  cases (the least favourable comparison when other dimensions, e.g. two prompts, make several).
  A suite is a controlled comparison on inputs with known answers, so a candidate that any of
  them shows worse (interval wholly below zero) is turned down (note ``eval_worse``) whatever the
  production quality scores say; otherwise the citation is evidence beside them.
* **ParameterTuning** - ``max_tokens`` when ceil64(p99(completion tokens) x 1.5) is below half the
  configured cap; ``temperature`` when a lower temperature (same model) scores better with a
  95% lower bound above zero.
* **Parallelization** - ``dependsOn`` edges of the latest run that carry no data; the speedup is
  the critical path (mean durations) with the edge divided by the path without it.
* **Caching** - tasks whose call (``input_hash``, model, temperature, max_tokens) repeats in >= ``min_repeat_rate`` of >= ``min_samples``
  executions; the TTL is the median repeat interval (+10% so a repeat exactly at the median
  still hits), clamped to 60 s .. 7 d.

Confidence is always "the share of bootstrap resamples in which the advice still holds", so the
numbers are comparable across kinds.  The generator is seeded from ``config.seed`` and the
question being asked (task, models), so results are deterministic and do not depend on the
order questions are asked in.

Impacts are per run and come from one run model: per-task mean duration and cost, and the latest
run's DAG.  Each recommendation is a change to that model (switch a task's cost and duration,
scale them by the cache miss rate, drop an edge); ``expected_impact`` evaluates one change,
``estimated_improvement`` all of them together, so overlapping advice is not double-counted.
Fan-out tasks count as one execution of their mean duration (an approximation the evidence
states).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ecosystem.optimizer.models import (
    AnalysisNote,
    AutoOptimizerSettings,
    BatchMode,
    Caching,
    ImpactEstimate,
    ImprovementEstimate,
    ModelSwitch,
    Parallelization,
    ParameterTuning,
    PerformanceMetric,
    Recommendation,
    Recommendations,
)
from ecosystem.testbench.stats import newcombe_difference

MAX_TOKENS_SAFETY = 1.5
MAX_TOKENS_STEP = 64
MAX_TOKENS_RATIO = 0.5
TTL_MIN_S = 60
TTL_MAX_S = 7 * 24 * 3600
TTL_HEADROOM = 1.1
SPEEDUP_RESAMPLES = 200
BATCH_WINDOW_S = 24 * 3600  # the providers' batch completion window
MIN_SCHEDULED_RUNS = 3


@dataclass(frozen=True)
class AnalysisConfig:
    min_samples: int = 5
    quality_margin: float = 0.02
    min_saving_ratio: float = 0.2
    min_speedup: float = 1.1
    min_repeat_rate: float = 0.3
    resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: AutoOptimizerSettings) -> AnalysisConfig:
        return cls(
            min_samples=settings.min_samples,
            quality_margin=settings.quality_margin,
            min_saving_ratio=settings.min_saving_ratio,
            min_speedup=settings.min_speedup,
            min_repeat_rate=settings.min_repeat_rate,
            resamples=settings.bootstrap_resamples,
            seed=settings.random_seed,
        )


def _rng(config: AnalysisConfig, *question: str) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(question).encode()).digest()
    return np.random.default_rng([config.seed, int.from_bytes(digest[:8], "big")])


def _r(value: float) -> float:
    return round(float(value), 6)


# --- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Bootstrap of ``mean(candidate) - mean(baseline)`` (paired by input when possible)."""

    method: str
    n_candidate: int
    n_baseline: int
    n_pairs: int
    mean_candidate: float
    mean_baseline: float
    diff: float
    lower: float  # 5th percentile: one-sided 95% lower bound
    upper: float  # 95th percentile
    share_at_least: float  # share of resamples with diff >= threshold
    p_value: float  # share of resamples with diff < threshold (one-sided)
    threshold: float

    def evidence(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_candidate": self.n_candidate,
            "n_baseline": self.n_baseline,
            "n_pairs": self.n_pairs,
            "mean_candidate": _r(self.mean_candidate),
            "mean_baseline": _r(self.mean_baseline),
            "diff": _r(self.diff),
            "ci95_lower": _r(self.lower),
            "ci90": [_r(self.lower), _r(self.upper)],
            "threshold": _r(self.threshold),
            "p_value": _r(self.p_value),
        }


def compare_means(
    candidate: Sequence[tuple[str | None, float]],
    baseline: Sequence[tuple[str | None, float]],
    *,
    threshold: float,
    rng: np.random.Generator,
    resamples: int,
    min_pairs: int,
) -> Comparison:
    """Bootstrap the difference of means; paired over shared input hashes when there are enough."""
    by_hash_c: dict[str, list[float]] = defaultdict(list)
    by_hash_b: dict[str, list[float]] = defaultdict(list)
    for key, score in candidate:
        if key is not None:
            by_hash_c[key].append(score)
    for key, score in baseline:
        if key is not None:
            by_hash_b[key].append(score)
    shared = sorted(set(by_hash_c) & set(by_hash_b))
    c = np.array([s for _, s in candidate], dtype=float)
    b = np.array([s for _, s in baseline], dtype=float)
    if len(shared) >= min_pairs:
        diffs = np.array([np.mean(by_hash_c[h]) - np.mean(by_hash_b[h]) for h in shared])
        boot = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
        method, diff = "paired_bootstrap", float(diffs.mean())
    else:
        boot_c = c[rng.integers(0, len(c), size=(resamples, len(c)))].mean(axis=1)
        boot_b = b[rng.integers(0, len(b), size=(resamples, len(b)))].mean(axis=1)
        boot = boot_c - boot_b
        method, diff = "bootstrap", float(c.mean() - b.mean())
    # Tolerance keeps an exactly-equal resample from failing a >= test on float noise.
    at_least = boot >= threshold - 1e-12
    return Comparison(
        method=method,
        n_candidate=len(c),
        n_baseline=len(b),
        n_pairs=len(shared),
        mean_candidate=float(c.mean()),
        mean_baseline=float(b.mean()),
        diff=diff,
        lower=float(np.percentile(boot, 5)),
        upper=float(np.percentile(boot, 95)),
        share_at_least=float(at_least.mean()),
        p_value=float((~at_least).mean()),
        threshold=threshold,
    )


class CycleError(Exception):
    """The dependency edges of a run form a cycle (the DAG analyses are skipped)."""


@dataclass(frozen=True)
class EvalVariant:
    """A variant of a stored suite run, as the model-switch analysis reads it."""

    variant_id: str
    label: str
    models: dict[str, str]  # llm task id -> model
    others: tuple[tuple[str, str], ...]  # the variant's non-model choices, (dimension, value)
    cases: int
    pass_rate: float  # the case is the unit (ecosystem.testbench.stats)


@dataclass(frozen=True)
class EvalEvidence:
    """The newest suite run over a workflow: what ``model_switches`` cites."""

    suite: str
    suite_run_id: str
    finished_at: datetime
    variants: tuple[EvalVariant, ...]
    confidence: float = 0.95

    def pairs(self, task: str, current: str, candidate: str) -> list[tuple[EvalVariant, EvalVariant]]:
        """(current's variant, candidate's variant) for every setting of the other matrix dimensions
        under which the suite ran both models on ``task``, in matrix order."""
        on = [v for v in self.variants if task in v.models]
        found = []
        for a in on:
            if _bare_model(a.models[task]) != _bare_model(current):
                continue
            rest = {t: m for t, m in a.models.items() if t != task}
            for b in on:
                if (_bare_model(b.models[task]) == _bare_model(candidate) and b.others == a.others
                        and {t: m for t, m in b.models.items() if t != task} == rest):
                    found.append((a, b))
        return found


def _bare_model(name: str) -> str:
    return name[len("offline:"):] if name.startswith("offline:") else name


@dataclass(frozen=True)
class EvalCitation:
    evidence: dict[str, Any]
    sentence: str
    worse: bool  # the interval lies wholly below zero


def eval_citation(evals: EvalEvidence | None, task: str, current: str, candidate: str) -> EvalCitation | None:
    """The suite's pass-rate difference candidate - current on ``task``, with its interval.

    With other matrix dimensions (two prompts) the suite compared the models once per setting;
    the citation is the least favourable of those comparisons (every one is in ``pairs``), and the
    candidate counts as worse when any of them shows it worse."""
    if evals is None:
        return None
    compared = []
    for base, cand in evals.pairs(task, current, candidate):
        if base.cases > 0 and cand.cases > 0:
            diff = newcombe_difference(min(cand.cases, cand.pass_rate * cand.cases), cand.cases,
                                       min(base.cases, base.pass_rate * base.cases), base.cases, evals.confidence)
            compared.append((diff, base, cand))
    if not compared:
        return None
    diff, base, cand = min(compared, key=lambda item: (item[0].estimate, item[0].high))
    evidence = {
        "suite": evals.suite, "suite_run_id": evals.suite_run_id, "finished_at": evals.finished_at.isoformat(),
        "variant_current": base.label, "variant_candidate": cand.label,
        "pass_rate_current": _r(base.pass_rate), "pass_rate_candidate": _r(cand.pass_rate),
        "cases_current": base.cases, "cases_candidate": cand.cases,
        "pass_rate_diff": _r(diff.estimate), "pass_rate_diff_interval": [_r(diff.low), _r(diff.high)],
        "confidence": evals.confidence, "method": "newcombe-hybrid-score",
        "pairs": [{"variant_current": b.label, "variant_candidate": c.label, "pass_rate_diff": _r(d.estimate),
                   "pass_rate_diff_interval": [_r(d.low), _r(d.high)]} for d, b, c in compared],
    }
    sentence = (f"eval suite {evals.suite}: pass rate {100 * cand.pass_rate:.1f}% vs {100 * base.pass_rate:.1f}% "
                f"({100 * diff.estimate:+.1f} points, {evals.confidence:.0%} interval {100 * diff.low:+.1f} to "
                f"{100 * diff.high:+.1f}, {cand.cases} cases)")
    if len(compared) > 1:
        sentence += f", the least favourable of {len(compared)} settings compared"
    return EvalCitation(evidence, sentence, any(d.high < 0 for d, _, _ in compared))


def critical_path(durations: dict[str, np.ndarray], edges: Iterable[tuple[str, str]]) -> np.ndarray:
    """Longest path through the DAG with node weights, vectorised over resamples."""
    preds: dict[str, list[str]] = {t: [] for t in durations}
    succs: dict[str, list[str]] = {t: [] for t in durations}
    for u, v in edges:
        if u in durations and v in durations:
            preds[v].append(u)
            succs[u].append(v)
    indegree = {t: len(p) for t, p in preds.items()}
    ready = sorted(t for t, d in indegree.items() if d == 0)
    finish: dict[str, np.ndarray] = {}
    while ready:
        node = ready.pop()
        start = np.zeros_like(durations[node])
        for p in preds[node]:
            start = np.maximum(start, finish[p])
        finish[node] = start + durations[node]
        for s in succs[node]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    if len(finish) != len(durations):
        raise CycleError("dependency cycle among " + ", ".join(sorted(set(durations) - set(finish))))
    if not finish:
        return np.zeros(1)
    return np.maximum.reduce(list(finish.values()))


# --- the run model --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunModel:
    """What one run costs and how long it takes, per task, with the latest run's DAG."""

    duration_ms: dict[str, float]
    cost_usd: dict[str, float]
    edges: frozenset[tuple[str, str]]

    def cost(self) -> float:
        return sum(self.cost_usd.values())

    def latency(self, edges: Iterable[tuple[str, str]] | None = None) -> float:
        """Critical path in ms; raises ``CycleError`` on a cyclic graph."""
        durations = {t: np.array([d]) for t, d in self.duration_ms.items()}
        return float(critical_path(durations, self.edges if edges is None else edges)[0])

    def safe_latency(self) -> float:
        try:
            return self.latency()
        except CycleError:
            return 0.0


Change = Callable[[RunModel], RunModel]


def _impact(base: RunModel, changes: Sequence[Change], quality_delta: float) -> dict[str, float]:
    new = base
    for change in changes:
        new = change(new)
    cost0, cost1 = base.cost(), new.cost()
    lat0, lat1 = base.safe_latency(), new.safe_latency()
    return {
        "cost_delta_usd": _r(cost1 - cost0),
        "cost_ratio": _r(cost1 / cost0) if cost0 > 0 else 1.0,
        "latency_delta_ms": _r(lat1 - lat0),
        "latency_ratio": _r(lat1 / lat0) if lat0 > 0 else 1.0,
        "quality_delta": _r(quality_delta),
    }


def _set_task(task: str, *, cost: float | None = None, duration: float | None = None) -> Change:
    def change(model: RunModel) -> RunModel:
        costs, durations = dict(model.cost_usd), dict(model.duration_ms)
        if cost is not None and task in costs:
            costs[task] = cost
        if duration is not None and task in durations:
            durations[task] = duration
        return replace(model, cost_usd=costs, duration_ms=durations)

    return change


def _scale_task(task: str, factor: float) -> Change:
    def change(model: RunModel) -> RunModel:
        costs, durations = dict(model.cost_usd), dict(model.duration_ms)
        if task in costs:
            costs[task] *= factor
        if task in durations:
            durations[task] *= factor
        return replace(model, cost_usd=costs, duration_ms=durations)

    return change


def _drop_edge(edge: tuple[str, str]) -> Change:
    def change(model: RunModel) -> RunModel:
        return replace(model, edges=model.edges - {edge})

    return change


# --- the analysis ---------------------------------------------------------------------------


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return float(np.mean(items)) if items else None


def _rec_id(workflow: str, kind: str, *target: str) -> str:
    return hashlib.sha256("\x1f".join((workflow, kind, *target)).encode()).hexdigest()[:16]


@dataclass
class _Found:
    rec: Recommendation
    changes: list[Change]
    quality_delta: float
    order: int


@dataclass
class _Analysis:
    workflow: str
    metrics: list[PerformanceMetric]
    config: AnalysisConfig
    evals: EvalEvidence | None = None
    by_task: dict[str, list[PerformanceMetric]] = field(default_factory=dict)
    latest_run: list[PerformanceMetric] = field(default_factory=list)
    base: RunModel = field(default_factory=lambda: RunModel({}, {}, frozenset()))
    runs_per_task: dict[str, float] = field(default_factory=dict)
    found: list[_Found] = field(default_factory=list)
    notes: list[AnalysisNote] = field(default_factory=list)

    def note(self, kind: str, task_id: str | None, message: str, **evidence: Any) -> None:
        self.notes.append(AnalysisNote(kind=kind, task_id=task_id, message=message, evidence=evidence))

    def prepare(self) -> None:
        completed = [m for m in self.metrics if m.status == "completed"]
        by_task: dict[str, list[PerformanceMetric]] = defaultdict(list)
        for m in sorted(completed, key=lambda m: m.timestamp):
            by_task[m.task_id].append(m)
        self.by_task = dict(by_task)
        with_run = [m for m in self.metrics if m.run_id]
        if with_run:
            latest_run_id = max(with_run, key=lambda m: m.timestamp).run_id
            self.latest_run = [m for m in with_run if m.run_id == latest_run_id]
        tasks = {m.task_id for m in self.latest_run} or set(self.by_task)
        executions: dict[str, dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
        for m in completed:
            executions[m.task_id][m.run_id] += 1
        durations: dict[str, float] = {}
        costs: dict[str, float] = {}
        for task in sorted(tasks):
            history = self.by_task.get(task, [])
            # The baseline is the task as written: its (most recent) as-written model's numbers.
            current_model = next((_written(m, "model", m.model) for m in reversed(history) if m.model), None)
            if current_model is not None:
                history = [m for m in history if m.model == current_model]
            per_run = executions[task]
            runs = [n for run, n in per_run.items() if run is not None]
            self.runs_per_task[task] = float(np.mean(runs)) if runs else 1.0
            durations[task] = _mean(m.execution_time_ms for m in history) or 0.0
            mean_cost = _mean(m.cost_usd for m in history if m.cost_usd is not None) or 0.0
            costs[task] = mean_cost * self.runs_per_task[task]
        edges = frozenset((dep, m.task_id) for m in self.latest_run for dep in m.depends_on if dep in tasks)
        self.base = RunModel(durations, costs, edges)

    def add(self, kind: str, target: tuple[str, ...], rtype: Any, confidence: float, changes: list[Change],
            quality_delta: float, evidence: dict[str, Any], order: int) -> None:
        impact = _impact(self.base, changes, quality_delta)
        rec = Recommendation(
            id=_rec_id(self.workflow, kind, *target),
            recommendation_type=rtype,
            confidence=min(1.0, max(0.0, _r(confidence))),
            expected_impact=ImpactEstimate(**impact),
            evidence=evidence,
        )
        self.found.append(_Found(rec, changes, quality_delta, order))

    # -- model switch --

    def model_switches(self) -> None:
        cfg = self.config
        for task, history in sorted(self.by_task.items()):
            with_model = [m for m in history if m.model]
            if not with_model:
                continue
            # The workflow as written, not as last optimised: else applied advice would flip-flop
            # (a switched run finds nothing cheaper, the next run reverts, the advice returns).
            current = _written(with_model[-1], "model", with_model[-1].model)
            assert current is not None
            by_model: dict[str, list[PerformanceMetric]] = defaultdict(list)
            for m in with_model:
                by_model[m.model].append(m)  # type: ignore[index]
            cost = {name: _mean(m.cost_usd for m in ms if m.cost_usd is not None) for name, ms in by_model.items()}
            current_cost = cost[current]
            if not current_cost:
                continue
            accepted: list[tuple[float, str, Comparison, EvalCitation | None]] = []
            for candidate in sorted(by_model):
                cand_cost = cost[candidate]
                if candidate == current or cand_cost is None or cand_cost >= current_cost:
                    continue
                saving = 1 - cand_cost / current_cost
                quality_c = [(m.input_hash, m.quality_score) for m in by_model[candidate] if m.quality_score is not None]
                quality_b = [(m.input_hash, m.quality_score) for m in by_model[current] if m.quality_score is not None]
                counts = {"model": candidate, "current": current, "n_candidate": len(quality_c),
                          "n_current": len(quality_b), "min_samples": cfg.min_samples, "saving_ratio": _r(saving)}
                if saving < cfg.min_saving_ratio:
                    self.note("saving_too_small", task, f"{candidate} saves {saving:.0%} against {current}, "
                              f"below {cfg.min_saving_ratio:.0%}", **counts)
                    continue
                if len(quality_c) < cfg.min_samples or len(quality_b) < cfg.min_samples:
                    self.note("not_enough_data", task, f"{candidate} vs {current}: need {cfg.min_samples} quality "
                              f"scores per model, have {len(quality_c)} and {len(quality_b)}", **counts)
                    continue
                comparison = compare_means(
                    quality_c, quality_b,  # type: ignore[arg-type]
                    threshold=-cfg.quality_margin, rng=_rng(cfg, "model_switch", task, candidate, current),
                    resamples=cfg.resamples, min_pairs=cfg.min_samples,
                )
                if comparison.lower < -cfg.quality_margin:
                    self.note("quality_worse", task, f"{candidate} may lose more than {cfg.quality_margin} quality "
                              f"against {current} (95% lower bound {comparison.lower:+.3f})",
                              **{**counts, **comparison.evidence()})
                    continue
                citation = eval_citation(self.evals, task, current, candidate)
                if citation is not None and citation.worse:
                    self.note("eval_worse", task, f"{candidate} vs {current}: {citation.sentence}",
                              **{**counts, "eval": citation.evidence})
                    continue
                accepted.append((saving, candidate, comparison, citation))
            if not accepted:
                continue
            saving, candidate, comparison, citation = max(accepted, key=lambda item: (item[0], item[1]))
            cand_cost = cost[candidate] or 0.0
            cand_duration = _mean(m.execution_time_ms for m in by_model[candidate]) or 0.0
            evidence = {
                **comparison.evidence(),
                "quality_margin": cfg.quality_margin,
                "mean_cost_current_usd": _r(current_cost),
                "mean_cost_candidate_usd": _r(cand_cost),
                "saving_ratio": _r(saving),
                "mean_duration_current_ms": _r(_mean(m.execution_time_ms for m in by_model[current]) or 0.0),
                "mean_duration_candidate_ms": _r(cand_duration),
                "executions_per_run": _r(self.runs_per_task.get(task, 1.0)),
            }
            reason = (f"{candidate} costs {saving:.0%} less than {current} on this task with quality "
                      f"{comparison.diff:+.3f} ({comparison.method}, 95% lower bound {comparison.lower:+.3f}, "
                      f"margin -{cfg.quality_margin})")
            if citation is not None:
                evidence["eval"] = citation.evidence
                reason += "; " + citation.sentence
            self.add(
                "model_switch", (task,),
                ModelSwitch.model_validate({"task_id": task, "from": current, "to": candidate, "reason": reason}),
                comparison.share_at_least,
                [_set_task(task, cost=cand_cost * self.runs_per_task.get(task, 1.0), duration=cand_duration)],
                comparison.diff, evidence, order=0,
            )

    # -- parameter tuning --

    def max_tokens(self) -> None:
        cfg = self.config
        for task, history in sorted(self.by_task.items()):
            capped = [m for m in history if m.max_tokens is not None and m.completion_tokens is not None]
            if not capped:
                continue
            latest = capped[-1]
            current_cap = _written(latest, "max_tokens", latest.max_tokens)
            assert current_cap is not None
            if latest.model:
                capped = [m for m in capped if m.model == latest.model]
            completions = np.array([m.completion_tokens for m in capped], dtype=float)
            if len(completions) < cfg.min_samples:
                self.note("not_enough_data", task, f"max_tokens: need {cfg.min_samples} completions, "
                          f"have {len(completions)}", n=len(completions), min_samples=cfg.min_samples)
                continue
            p99 = float(np.percentile(completions, 99))
            proposed = max(MAX_TOKENS_STEP, math.ceil(p99 * MAX_TOKENS_SAFETY / MAX_TOKENS_STEP) * MAX_TOKENS_STEP)
            if proposed >= MAX_TOKENS_RATIO * current_cap:
                continue
            n = len(completions)
            evidence = {
                "n": n,
                "model": latest.model,
                "completion_tokens_p50": _r(np.percentile(completions, 50)),
                "completion_tokens_p99": _r(p99),
                "completion_tokens_max": int(completions.max()),
                "truncated": int((completions >= current_cap).sum()),
                "safety_margin": MAX_TOKENS_SAFETY,
                "rounded_to": MAX_TOKENS_STEP,
                "current_max_tokens": current_cap,
            }
            reason = (f"p99 of {n} completions is {p99:.0f} tokens; {proposed} (p99 x {MAX_TOKENS_SAFETY}, "
                      f"rounded up to {MAX_TOKENS_STEP}) bounds cost and budget reservations far tighter "
                      f"than {current_cap}")
            # Order statistics: a new completion exceeds the largest of n observed ones with prob. 1/(n+1).
            self.add(
                "parameter_tuning", (task, "max_tokens"),
                ParameterTuning(task_id=task, parameter="max_tokens", old_value=current_cap, new_value=proposed,
                                reason=reason),
                1 - 1 / (n + 1), [], 0.0, evidence, order=1,
            )

    def temperatures(self) -> None:
        cfg = self.config
        for task, history in sorted(self.by_task.items()):
            scored = [m for m in history if m.temperature is not None and m.quality_score is not None]
            if not scored:
                continue
            latest = scored[-1]
            if latest.model:
                scored = [m for m in scored if m.model == latest.model]
            current = round(float(latest.temperature), 3)  # type: ignore[arg-type]
            groups: dict[float, list[tuple[str | None, float]]] = defaultdict(list)
            for m in scored:
                groups[round(float(m.temperature), 3)].append((m.input_hash, float(m.quality_score)))  # type: ignore[arg-type]
            best: tuple[float, float, Comparison] | None = None
            for temp in sorted(t for t in groups if t < current):
                low, cur = groups[temp], groups[current]
                if len(low) < cfg.min_samples or len(cur) < cfg.min_samples:
                    self.note("not_enough_data", task, f"temperature {temp} vs {current}: need {cfg.min_samples} "
                              f"scores each, have {len(low)} and {len(cur)}", n_candidate=len(low), n_current=len(cur))
                    continue
                comparison = compare_means(
                    low, cur, threshold=0.0, rng=_rng(cfg, "temperature", task, str(temp), str(current)),
                    resamples=cfg.resamples, min_pairs=cfg.min_samples,
                )
                if comparison.lower > 0 and (best is None or comparison.diff > best[1]):
                    best = (temp, comparison.diff, comparison)
            if best is None:
                continue
            temp, diff, comparison = best
            evidence = {**comparison.evidence(), "model": latest.model, "current_temperature": current,
                        "candidate_temperature": temp}
            reason = (f"runs at temperature {temp} score {diff:+.3f} against {current} "
                      f"(95% lower bound {comparison.lower:+.3f})")
            self.add(
                "parameter_tuning", (task, "temperature"),
                ParameterTuning(task_id=task, parameter="temperature", old_value=latest.temperature,
                                new_value=temp, reason=reason),
                float(1 - comparison.p_value), [], diff, evidence, order=1,
            )

    # -- caching --

    def caching(self) -> None:
        cfg = self.config
        # Tasks the user caches themselves; a cache the optimiser applied (as_written has "cache") still counts as advice.
        already_cached = {m.task_id for m in self.metrics if m.status == "cached" and "cache" not in _as_written(m)}
        for task, history in sorted(self.by_task.items()):
            if task in already_cached:
                continue
            executions = sorted((m for m in history if m.input_hash),
                                key=lambda m: m.started_at or m.timestamp)
            if not executions:
                continue
            seen: dict[tuple[Any, ...], datetime] = {}
            intervals: list[float] = []
            repeats = np.zeros(len(executions))
            for i, m in enumerate(executions):
                when = m.started_at or m.timestamp
                # A cached result is only reusable for the same call: same inputs, model and sampling.
                key = (m.input_hash, m.model, m.temperature, m.max_tokens)
                if key in seen:
                    repeats[i] = 1
                    intervals.append((when - seen[key]).total_seconds())
                seen[key] = when
            n = len(executions)
            rate = float(repeats.mean())
            if rate < cfg.min_repeat_rate:
                continue
            if n < cfg.min_samples:
                self.note("not_enough_data", task, f"caching: inputs repeat but only {n} executions "
                          f"(need {cfg.min_samples})", n=n, repeat_rate=_r(rate))
                continue
            median = float(np.median(intervals))
            ttl = int(min(TTL_MAX_S, max(TTL_MIN_S, math.ceil(round(median * TTL_HEADROOM, 6)))))
            rng = _rng(cfg, "caching", task)
            boot = repeats[rng.integers(0, n, size=(cfg.resamples, n))].mean(axis=1)
            evidence = {
                "n": n,
                "repeats": int(repeats.sum()),
                "distinct_inputs": len(seen),
                "repeat_rate": _r(rate),
                "repeat_rate_ci90": [_r(np.percentile(boot, 5)), _r(np.percentile(boot, 95))],
                "median_repeat_interval_s": _r(median),
                "repeat_interval_p90_s": _r(np.percentile(intervals, 90)),
                "ttl_bounds_s": [TTL_MIN_S, TTL_MAX_S],
            }
            reason = (f"{rate:.0%} of {n} executions repeated an earlier input; median gap {median:.0f} s. "
                      "Outputs of sampled LLM calls will repeat too while cached")
            self.add(
                "caching", (task,), Caching(task_id=task, ttl_seconds=ttl, reason=reason),
                float((boot >= cfg.min_repeat_rate).mean()), [_scale_task(task, 1 - rate)], 0.0, evidence, order=2,
            )

    # -- batch mode --

    def batch_mode(self) -> None:
        """Scheduled fan-outs nothing waits for: the provider's batch tier for about half the price.

        Evidence: the task's last runs (>= MIN_SCHEDULED_RUNS) were all started by a schedule (no
        caller waits on a scheduled run), consecutive runs start at least the batch window apart
        (a batch answered at the window's end is still in before the next run needs its slot), and
        the per-run cost at the batch tier is at least ``min_saving_ratio`` lower.
        """
        cfg = self.config
        for task, history in sorted(self.by_task.items()):
            fan = [m for m in history if m.custom.get("fan_out") and m.executor.startswith("llm-forge:")]
            if not fan or fan[-1].custom.get("mode") == "batch" or "mode" in _as_written(fan[-1]):
                continue
            runs: dict[str, list[PerformanceMetric]] = defaultdict(list)
            for m in fan:
                if m.run_id:
                    runs[m.run_id].append(m)
            ordered = sorted(runs.values(), key=lambda ms: min(m.started_at or m.timestamp for m in ms))
            recent = ordered[-10:]
            if len(recent) < MIN_SCHEDULED_RUNS:
                continue
            scheduled = [all(m.custom.get("trigger") == "schedule" for m in ms) for ms in recent]
            if not all(scheduled):
                self.note("not_scheduled", task, f"batch mode: {scheduled.count(False)} of the last {len(recent)} "
                          "runs were not started by a schedule (someone may be waiting for them)")
                continue
            starts = [min(m.started_at or m.timestamp for m in ms) for ms in recent]
            gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
            if min(gaps) < BATCH_WINDOW_S:
                self.note("latency_bound", task, f"batch mode: runs start {min(gaps):.0f} s apart, less than the "
                          f"{BATCH_WINDOW_S} s batch window", min_gap_s=_r(min(gaps)))
                continue
            online = np.array([sum(m.cost_usd or 0.0 for m in ms) for ms in recent])
            batched = np.array([sum(float(m.custom.get("batch_cost_usd") or 0.0) for m in ms) for ms in recent])
            if online.sum() <= 0 or not all(m.custom.get("batch_cost_usd") is not None for ms in recent for m in ms):
                continue
            saving = 1 - float(batched.sum() / online.sum())
            if saving < cfg.min_saving_ratio:
                continue
            rng = _rng(cfg, "batch_mode", task)
            picks = rng.integers(0, len(recent), size=(cfg.resamples, len(recent)))
            boot = 1 - batched[picks].sum(axis=1) / np.maximum(online[picks].sum(axis=1), 1e-12)
            evidence = {
                "runs": len(recent),
                "scheduled_runs": sum(scheduled),
                "min_gap_between_runs_s": _r(min(gaps)),
                "batch_window_s": BATCH_WINDOW_S,
                "items_per_run": _r(float(np.mean([len(ms) for ms in recent]))),
                "cost_per_run_usd": _r(float(np.mean(online))),
                "batch_cost_per_run_usd": _r(float(np.mean(batched))),
                "saving_ratio": _r(saving),
                "saving_ratio_ci90": [_r(np.percentile(boot, 5)), _r(np.percentile(boot, 95))],
                "latency": "up to the batch window per run; nothing waits for a scheduled run",
            }
            reason = (f"the last {len(recent)} runs were scheduled, {min(gaps) / 3600:.0f} h or more apart, and "
                      f"nothing waits for them: the batch tier saves {saving:.0%} of this task's cost")
            self.add("batch_mode", (task,), BatchMode(task_id=task, reason=reason),
                     float((boot >= cfg.min_saving_ratio).mean()),
                     [_set_task(task, cost=self.base.cost_usd.get(task, 0.0) * (1 - saving))], 0.0, evidence, order=4)

    # -- parallelization --

    def parallelization(self) -> None:
        cfg = self.config
        base = self.base
        if not base.edges:
            return
        samples = {t: np.array([m.execution_time_ms for m in self.by_task.get(t, [])], dtype=float)
                   for t in base.duration_ms}
        data_deps = {m.task_id: set(m.data_dependencies) for m in self.latest_run}
        try:
            with_edges = base.latency()
        except CycleError as exc:
            self.note("dependency_cycle", None, str(exc))
            return
        rng = _rng(cfg, "parallelization", self.workflow)
        boot = {t: (s[rng.integers(0, len(s), size=SPEEDUP_RESAMPLES)] if len(s) else np.zeros(SPEEDUP_RESAMPLES))
                for t, s in samples.items()}
        boot_with = critical_path(boot, base.edges)
        for edge in sorted(base.edges):
            upstream, downstream = edge
            if upstream in data_deps.get(downstream, set()):
                continue
            n_up, n_down = len(samples[upstream]), len(samples[downstream])
            if min(n_up, n_down) < cfg.min_samples:
                self.note("not_enough_data", downstream, f"edge {upstream} -> {downstream} carries no data but "
                          f"durations have {n_up} and {n_down} samples (need {cfg.min_samples})",
                          edge=[upstream, downstream])
                continue
            without = base.edges - {edge}
            latency_without = base.latency(without)
            if latency_without <= 0:
                continue
            speedup = with_edges / latency_without
            if speedup < cfg.min_speedup:
                continue
            ratios = boot_with / np.maximum(critical_path(boot, without), 1e-9)
            evidence = {
                "critical_path_ms": _r(with_edges),
                "critical_path_without_edge_ms": _r(latency_without),
                "mean_duration_ms": {upstream: _r(base.duration_ms[upstream]),
                                     downstream: _r(base.duration_ms[downstream])},
                "n": {upstream: n_up, downstream: n_down},
                "speedup_ci90": [_r(np.percentile(ratios, 5)), _r(np.percentile(ratios, 95))],
                "data_dependencies": sorted(data_deps.get(downstream, set())),
                "run_id": self.latest_run[0].run_id if self.latest_run else None,
            }
            reason = (f"{downstream} lists {upstream} in dependsOn but reads none of its outputs; "
                      f"critical path {with_edges:.0f} ms -> {latency_without:.0f} ms")
            self.add(
                "parallelization", (upstream, downstream),
                Parallelization(tasks=[upstream, downstream], expected_speedup=_r(speedup),
                                remove_edges=[edge], reason=reason),
                float((ratios >= cfg.min_speedup).mean()), [_drop_edge(edge)], 0.0, evidence, order=3,
            )

    def result(self, now: datetime) -> Recommendations:
        found = sorted(self.found, key=lambda f: f.order)
        total = _impact(self.base, [c for f in found for c in f.changes], sum(f.quality_delta for f in found))
        improvement = ImprovementEstimate(
            **total, baseline_cost_usd=_r(self.base.cost()), baseline_latency_ms=_r(self.base.safe_latency())
        )
        return Recommendations(
            workflow_id=self.workflow, generated_at=now, items=[f.rec for f in found],
            estimated_improvement=improvement, notes=self.notes, sample_size=len(self.metrics),
        )


def analyze(
    workflow: str,
    metrics: Sequence[PerformanceMetric],
    config: AnalysisConfig | None = None,
    *,
    include_task_level: bool = True,
    now: datetime | None = None,
    evals: EvalEvidence | None = None,
) -> Recommendations:
    """Recommendations for ``workflow`` from its metric history (any order) and, when given, the
    newest eval suite run over it."""
    analysis = _Analysis(workflow, list(metrics), config or AnalysisConfig(), evals)
    analysis.prepare()
    if include_task_level:
        analysis.model_switches()
        analysis.max_tokens()
        analysis.temperatures()
        analysis.caching()
        analysis.batch_mode()
    analysis.parallelization()
    return analysis.result(now or datetime.now(UTC))


def _as_written(metric: PerformanceMetric) -> dict[str, Any]:
    """What the workflow as written had for a task the optimiser changed (recorded by the run)."""
    written = (metric.custom or {}).get("as_written")
    return written if isinstance(written, dict) else {}


# What a provider call uses when the workflow leaves max_tokens unset (Forge's default, as the seed's).
DEFAULT_MAX_TOKENS = 1000


def _written(metric: PerformanceMetric, key: str, actual: Any) -> Any:
    written = _as_written(metric)
    if key not in written:
        return actual
    if written[key] is None:
        return DEFAULT_MAX_TOKENS if key == "max_tokens" else actual
    if key == "model" and isinstance(actual, str) and actual.startswith("offline:") and not str(written[key]).startswith("offline:"):
        return f"offline:{written[key]}"  # metrics name offline models as the provider reports them
    return written[key]
