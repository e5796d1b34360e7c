"""Statistics for evaluation suites: pure functions from run outcomes to comparable numbers.

A suite runs every case under every variant (a model, prompt or input choice), ``repeat`` times.
The runner turns each run into a ``RunOutcome``; everything here is arithmetic over those, with
no I/O, so the CLI, reports and the Auto-Optimizer cite the same numbers.

Decisions:

* **Wilson score intervals** (95% by default) for every pass rate, not the textbook
  ``p +- z*sqrt(p(1-p)/n)``: with the small n of eval sets and rates near 0 or 1 the Wald interval
  collapses to zero width (10/10 gives [1, 1]); Wilson's stays inside [0, 1] and has close to its
  nominal coverage (Newcombe 1998; Brown, Cai & DasGupta 2001).
* **The case is the unit of a variant's pass rate.**  Repeats of one case are not independent
  evidence about how a variant does on *other* inputs, so a variant's rate is the mean over cases
  of each case's pass rate over its repeats, and its interval uses n = number of cases (Wilson
  with a fractional success count).  With ``repeat: 1`` this is the plain run count.  Counting
  runs instead would shrink the interval by sqrt(repeat) for no new information.  A case's own
  rate over its repeats gets a Wilson interval over those repeats; a case is **flaky** when some
  repeats pass and some fail.
* **Differences of pass rates** use Newcombe's hybrid score interval (his method 10) built from
  the two Wilson intervals.  It treats the variants as independent samples; the variants of a
  suite run the *same* cases (a paired design), for which this is conservative (wider), so an
  interval that excludes 0 is trustworthy.
* **Percentiles** interpolate linearly between closest ranks (numpy's default, Hyndman-Fan 7).
* **Unknown cost is never zero**: a run whose cost is unknown (a model missing from the price
  table) is counted in ``cost_unknown_runs`` and left out of totals and means.
* **The cost/quality frontier** is the set of variants no other variant beats on both mean cost per
  run (lower is better) and pass rate (higher is better) while being at least as good on the other.
  It compares point estimates; use ``compare`` to ask whether a gap is more than noise.  Variants
  with unknown cost are not placed on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist, fmean

from ecosystem.testbench.errors import StatisticsInputError

__all__ = [
    "CaseStats",
    "Interval",
    "MetricStats",
    "RunOutcome",
    "VariantStats",
    "case_stats",
    "compare",
    "frontier",
    "gate",
    "newcombe_difference",
    "pareto_front",
    "percentile",
    "variant_stats",
    "wilson_interval",
]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class RunOutcome:
    """One run of one case under one variant (one repeat), as the runner scored it.

    ``passed``: every assertion held and the workflow completed.  ``errored``: the run could not be
    judged (the workflow failed, or an assertion's metric errored); an errored run does not pass.
    ``scores``: per assertion or metric name, the score, or None when that one errored.  ``score``:
    the run's overall (weighted) score, if the runner computed one.
    """

    case_id: str
    variant_id: str
    passed: bool
    repeat: int = 0
    errored: bool = False
    score: float | None = None
    scores: Mapping[str, float | None] = field(default_factory=dict)
    cost_usd: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class CaseStats:
    variant_id: str
    case_id: str
    runs: int
    passes: int
    errored: int
    pass_rate: Interval

    @property
    def flaky(self) -> bool:
        return 0 < self.passes < self.runs


@dataclass(frozen=True)
class MetricStats:
    name: str
    mean: float | None  # over the runs that scored it; None when none did
    scored: int
    errored: int


@dataclass(frozen=True)
class VariantStats:
    variant_id: str
    cases: int
    runs: int
    passes: int
    errored: int
    pass_rate: Interval  # the case is the unit (see the module docstring)
    flaky_cases: tuple[str, ...]
    mean_score: float | None
    metrics: Mapping[str, MetricStats]
    cost_total_usd: float | None
    cost_mean_usd: float | None  # per run, over the runs whose cost is known
    cost_unknown_runs: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    @property
    def case_successes(self) -> float:
        """The fractional number of cases passed (sum of per-case pass rates)."""
        return self.pass_rate.estimate * self.cases


# -- intervals -------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise StatisticsInputError(f"confidence must be between 0 and 1 (exclusive), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion ``successes / n`` (``successes`` may be fractional)."""
    if n <= 0:
        raise StatisticsInputError(f"a pass rate needs at least one trial, got n = {n}")
    if not 0 <= successes <= n:
        raise StatisticsInputError(f"successes must be between 0 and n = {n}, got {successes}")
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = (z / denominator) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high, confidence)


def newcombe_difference(
    successes_a: float, n_a: int, successes_b: float, n_b: int, confidence: float = 0.95
) -> Interval:
    """Interval for ``p_a - p_b`` by Newcombe's hybrid score method (method 10, 1998)."""
    a = wilson_interval(successes_a, n_a, confidence)
    b = wilson_interval(successes_b, n_b, confidence)
    d = a.estimate - b.estimate
    below = math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    above = math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, d - below), min(1.0, d + above), confidence)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise StatisticsInputError("a percentile of no values is undefined")
    if not 0 <= q <= 100:
        raise StatisticsInputError(f"percentile must be between 0 and 100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    value = ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
    return min(max(value, ordered[lower]), ordered[upper])  # rounding must not leave the bracket


# -- aggregation -----------------------------------------------------------------------------


def _check(outcome: RunOutcome) -> None:
    for name, value in (("cost_usd", outcome.cost_usd), ("latency_ms", outcome.latency_ms), ("score", outcome.score)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise StatisticsInputError(
                f"run of case '{outcome.case_id}' under '{outcome.variant_id}': {name} must be a finite "
                f"non-negative number or None, not {value}"
            )


def _grouped(outcomes: Iterable[RunOutcome]) -> dict[str, dict[str, list[RunOutcome]]]:
    groups: dict[str, dict[str, list[RunOutcome]]] = {}
    for outcome in outcomes:
        _check(outcome)
        groups.setdefault(outcome.variant_id, {}).setdefault(outcome.case_id, []).append(outcome)
    return groups


def _case(variant_id: str, case_id: str, runs: list[RunOutcome], confidence: float) -> CaseStats:
    passes = sum(1 for r in runs if r.passed and not r.errored)
    return CaseStats(variant_id, case_id, len(runs), passes, sum(r.errored for r in runs),
                     wilson_interval(passes, len(runs), confidence))


def case_stats(outcomes: Iterable[RunOutcome], confidence: float = 0.95) -> list[CaseStats]:
    """Per (variant, case): pass rate over its repeats with a Wilson interval; ``flaky``."""
    return [
        _case(variant_id, case_id, runs, confidence)
        for variant_id, cases in _grouped(outcomes).items()
        for case_id, runs in cases.items()
    ]


def _metrics(runs: list[RunOutcome]) -> dict[str, MetricStats]:
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.scores))
    result = {}
    for name in names:
        values = [run.scores[name] for run in runs if name in run.scores]
        scored = [v for v in values if v is not None]
        result[name] = MetricStats(name, fmean(scored) if scored else None, len(scored), len(values) - len(scored))
    return result


def variant_stats(outcomes: Iterable[RunOutcome], confidence: float = 0.95) -> list[VariantStats]:
    """Per variant, in order of first appearance: pass rate, scores, cost and latency."""
    found = []
    for variant_id, cases in _grouped(outcomes).items():
        per_case = [_case(variant_id, case_id, runs, confidence) for case_id, runs in cases.items()]
        runs = [run for case_runs in cases.values() for run in case_runs]
        rate = fmean(c.passes / c.runs for c in per_case)
        costs = [r.cost_usd for r in runs if r.cost_usd is not None]
        latencies = [r.latency_ms for r in runs if r.latency_ms is not None]
        scores = [r.score for r in runs if r.score is not None]
        found.append(VariantStats(
            variant_id=variant_id,
            cases=len(per_case),
            runs=len(runs),
            passes=sum(c.passes for c in per_case),
            errored=sum(c.errored for c in per_case),
            pass_rate=wilson_interval(min(len(per_case), rate * len(per_case)), len(per_case), confidence),
            flaky_cases=tuple(c.case_id for c in per_case if c.flaky),
            mean_score=fmean(scores) if scores else None,
            metrics=_metrics(runs),
            cost_total_usd=math.fsum(costs) if costs else None,
            cost_mean_usd=math.fsum(costs) / len(costs) if costs else None,
            cost_unknown_runs=len(runs) - len(costs),
            latency_p50_ms=percentile(latencies, 50) if latencies else None,
            latency_p95_ms=percentile(latencies, 95) if latencies else None,
        ))
    return found


# -- comparison ------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, quality) points no other point dominates (lower cost, higher quality)."""
    front = []
    for i, (cost, quality) in enumerate(points):
        dominated = any(
            other_cost <= cost and other_quality >= quality and (other_cost < cost or other_quality > quality)
            for j, (other_cost, other_quality) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return front


def frontier(variants: Sequence[VariantStats]) -> list[VariantStats]:
    """Variants on the cost/quality frontier, cheapest first (unknown-cost variants left out)."""
    known = [v for v in variants if v.cost_mean_usd is not None]
    points = [(float(v.cost_mean_usd or 0.0), v.pass_rate.estimate) for v in known]
    chosen = [known[i] for i in pareto_front(points)]
    return sorted(chosen, key=lambda v: (v.cost_mean_usd, -v.pass_rate.estimate))


def compare(a: VariantStats, b: VariantStats, confidence: float = 0.95) -> Interval:
    """``a``'s pass rate minus ``b``'s, with Newcombe's interval (the case is the unit)."""
    return newcombe_difference(min(a.cases, a.case_successes), a.cases,
                               min(b.cases, b.case_successes), b.cases, confidence)


def gate(variants: Iterable[VariantStats], *, pass_rate: float | None = None, mean_score: float | None = None) -> list[str]:
    """A sentence for every variant under a ``failUnder`` minimum; empty when the suite passes."""
    failures = []
    for v in variants:
        if pass_rate is not None and v.pass_rate.estimate < pass_rate - 1e-9:
            failures.append(f"{v.variant_id}: pass rate {v.pass_rate.estimate:.1%} is under {pass_rate:.1%} "
                            f"({v.pass_rate.confidence:.0%} interval {v.pass_rate.low:.1%}-{v.pass_rate.high:.1%}, {v.cases} cases)")
        if mean_score is not None and (v.mean_score is None or v.mean_score < mean_score - 1e-9):
            shown = "unknown" if v.mean_score is None else f"{v.mean_score:.3f}"
            failures.append(f"{v.variant_id}: mean score {shown} is under {mean_score:.3f}")
    return failures
