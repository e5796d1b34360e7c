"""Suite statistics: Wilson and Newcombe intervals against published values, aggregation, frontier."""

from __future__ import annotations

import math

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecosystem.testbench.errors import StatisticsInputError
from ecosystem.testbench.stats import (
    RunOutcome,
    case_stats,
    compare,
    frontier,
    gate,
    newcombe_difference,
    pareto_front,
    percentile,
    variant_stats,
    wilson_interval,
)


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.estimate == successes / n


# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Table II, method 10 (hybrid score).
@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
        ((0, 10), (0, 20), -0.1611, 0.2775),
        ((10, 10), (0, 20), 0.6791, 1.0),
    ],
)
def test_newcombe_matches_published_values(a: tuple[int, int], b: tuple[int, int], low: float, high: float) -> None:
    interval = newcombe_difference(a[0], a[1], b[0], b[1])
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_wider_confidence_gives_a_wider_interval() -> None:
    narrow, wide = wilson_interval(7, 10, 0.8), wilson_interval(7, 10, 0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


@pytest.mark.parametrize(("args", "message"), [((0, 0), "at least one trial"), ((5, 4), "between 0 and n"),
                                               ((1, 4, 1.0), "confidence")])
def test_nonsense_counts_are_refused(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(StatisticsInputError, match=message):
        wilson_interval(*args)  # type: ignore[arg-type]


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_and_mirrors(counts: tuple[int, int]) -> None:
    successes, n = counts
    interval = wilson_interval(successes, n)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0
    mirror = wilson_interval(n - successes, n)
    assert math.isclose(interval.low, 1 - mirror.high, abs_tol=1e-12)
    assert math.isclose(interval.high, 1 - mirror.low, abs_tol=1e-12)


@given(st.integers(1, 200), st.integers(1, 200), st.data())
def test_newcombe_contains_the_difference_and_is_antisymmetric(n_a: int, n_b: int, data: st.DataObject) -> None:
    s_a, s_b = data.draw(st.integers(0, n_a)), data.draw(st.integers(0, n_b))
    forward, backward = newcombe_difference(s_a, n_a, s_b, n_b), newcombe_difference(s_b, n_b, s_a, n_a)
    assert -1.0 <= forward.low <= forward.estimate <= forward.high <= 1.0
    assert math.isclose(forward.low, -backward.high, abs_tol=1e-12)


def test_percentile_interpolates_between_ranks() -> None:
    values = [120.0, 80.0, 100.0, 300.0]
    assert percentile(values, 50) == 110.0
    assert percentile(values, 95) == pytest.approx(273.0)  # rank 2.85: 120 + 0.85 * (300 - 120)
    assert percentile([5.0], 95) == 5.0


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_agrees_with_numpy_and_is_monotone(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    assert percentile(values, low) == pytest.approx(float(numpy.percentile(values, low)), rel=1e-9, abs=1e-9)
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


def run(case: str, variant: str, passed: bool, repeat: int = 0, **kw: object) -> RunOutcome:
    return RunOutcome(case_id=case, variant_id=variant, passed=passed, repeat=repeat, **kw)  # type: ignore[arg-type]


def test_case_pass_rates_over_repeats_and_flakiness() -> None:
    outcomes = [run("a", "v", True, 0), run("a", "v", False, 1), run("a", "v", True, 2),
                run("b", "v", True, 0), run("b", "v", True, 1), run("b", "v", True, 2),
                run("c", "v", True, 0, errored=True)]
    stats = {c.case_id: c for c in case_stats(outcomes)}
    assert stats["a"].flaky and not stats["b"].flaky
    assert (stats["a"].passes, stats["a"].runs) == (2, 3)
    assert stats["a"].pass_rate == wilson_interval(2, 3)
    assert stats["c"].passes == 0 and stats["c"].errored == 1, "an errored run never passes"


def test_variant_summary() -> None:
    outcomes = [
        run("a", "cheap", True, 0, cost_usd=0.001, latency_ms=100.0, score=1.0, scores={"exact": 1.0, "judge": None}),
        run("a", "cheap", False, 1, cost_usd=0.003, latency_ms=300.0, score=0.0, scores={"exact": 0.0, "judge": 0.5}),
        run("b", "cheap", True, 0, cost_usd=None, latency_ms=200.0, score=1.0, scores={"exact": 1.0}),
        run("b", "cheap", True, 1, cost_usd=0.002, latency_ms=None, score=None, scores={"exact": 1.0}),
    ]
    [v] = variant_stats(outcomes)
    assert (v.cases, v.runs, v.passes) == (2, 4, 3)
    assert v.pass_rate.estimate == 0.75  # mean of case rates 0.5 and 1.0
    assert v.pass_rate == wilson_interval(1.5, 2), "the case is the unit: n = 2 cases, not 4 runs"
    assert v.flaky_cases == ("a",)
    assert v.metrics["exact"].mean == 0.75 and v.metrics["exact"].scored == 4
    assert v.metrics["judge"].mean == 0.5 and v.metrics["judge"].errored == 1
    assert v.mean_score == pytest.approx(2 / 3)
    assert v.cost_total_usd == pytest.approx(0.006) and v.cost_mean_usd == pytest.approx(0.002)
    assert v.cost_unknown_runs == 1, "unknown cost is counted apart, never as zero"
    assert v.latency_p50_ms == 200.0 and v.latency_p95_ms == pytest.approx(290.0)


def test_non_finite_measurements_are_refused() -> None:
    with pytest.raises(StatisticsInputError, match="cost_usd"):
        variant_stats([run("a", "v", True, cost_usd=float("nan"))])


def _variant(name: str, passes: list[bool], cost: float | None) -> list[RunOutcome]:
    return [run(f"c{i}", name, p, cost_usd=cost) for i, p in enumerate(passes)]


def test_frontier_keeps_only_undominated_variants() -> None:
    outcomes = (
        _variant("mini", [True] * 7 + [False] * 3, 0.001)     # cheap, 70%
        + _variant("big", [True] * 9 + [False], 0.010)        # expensive, 90%
        + _variant("worse", [True] * 6 + [False] * 4, 0.005)  # dearer than mini and worse: dominated
        + _variant("same", [True] * 9 + [False], 0.010)       # ties with big: both stay
        + _variant("unpriced", [True] * 10, None)             # unknown cost: not placed
    )
    stats = variant_stats(outcomes)
    assert [v.variant_id for v in frontier(stats)] == ["mini", "big", "same"]


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=20))
def test_pareto_front_properties(points: list[tuple[float, float]]) -> None:
    front = set(pareto_front(points))
    assert front, "a non-empty set always has an undominated point"

    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return p[0] <= q[0] and p[1] >= q[1] and p != q

    for i in front:
        assert not any(dominates(points[j], points[i]) for j in range(len(points)))
    for i in set(range(len(points))) - front:
        assert any(dominates(points[j], points[i]) for j in front)


def test_compare_and_gate() -> None:
    stats = {v.variant_id: v for v in variant_stats(
        _variant("good", [True] * 19 + [False], 0.002) + _variant("bad", [True] * 8 + [False] * 12, 0.001))}
    difference = compare(stats["good"], stats["bad"])
    assert difference.estimate == pytest.approx(0.55)
    assert difference.low > 0, "a 95% vs 40% gap over 20 cases is more than noise"
    assert difference == newcombe_difference(19, 20, 8, 20)
    failures = gate(stats.values(), pass_rate=0.9)
    assert len(failures) == 1 and failures[0].startswith("bad: pass rate 40.0% is under 90.0%")
    assert gate(stats.values(), mean_score=0.5) == ["good: mean score unknown is under 0.500",
                                                    "bad: mean score unknown is under 0.500"]
