"""Everything Test-Bench raises, one tree under ``EcosystemError`` so it crosses HTTP intact.

    TestBenchError                    400  root of the Test-Bench tree
    ├── UnknownMetric                 400  a metric name nobody registered (lists the known ones)
    ├── MetricInputError              400  inputs a metric cannot work with (no ground truth, no schema...)
    ├── JudgeUnavailable              503  LLM-judge mode asked for, but no judge configured or it failed
    ├── JudgeOutputInvalid            502  the judge answered something that is not a JSON verdict
    │                                      (twice: the engine then records that metric as errored)
    ├── EmbeddingUnavailable          503  the configured ``/v1/embeddings`` endpoint failed
    └── StatisticsInputError          400  ``stats`` was given counts or outcomes that make no sense

Bad input is the caller's to fix, so it is a 400 and never retried; a judge or an embedding
service that is down is retryable (a Forge-backed judge's own rate-limit errors pass through
unchanged, keeping their ``retry_after``).  Each error is raised once with every problem found.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ecosystem.errors import EcosystemError


class TestBenchError(EcosystemError):
    """Root of every Test-Bench error."""

    __test__ = False  # not a pytest test class despite the name
    type = "testbench_error"
    status = 400


class UnknownMetric(TestBenchError):
    """One or more metric names are not registered."""

    type = "unknown_metric"

    @classmethod
    def for_names(cls, unknown: Iterable[str], known: Iterable[str]) -> UnknownMetric:
        known_sorted = sorted(known)
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, known_sorted, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(f"'{name}'{hint}")
        return cls(f"unknown metric {', '.join(parts)}; known metrics: {', '.join(known_sorted)}")


class MetricInputError(TestBenchError):
    """A metric cannot be computed from what the request supplied."""

    type = "metric_input_error"


class JudgeUnavailable(TestBenchError):
    """LLM-judge mode was requested but there is no judge, or the judge call failed."""

    type = "judge_unavailable"
    status = 503
    retryable = True


class JudgeOutputInvalid(TestBenchError):
    """The judge's answer is not the JSON verdict ``{score, verdict, reasoning}`` it was asked for.

    ``raw`` is the reply (for the errored ``MetricResult``), ``problem`` what was wrong with it
    (for the retry's format reminder), ``attempts`` how many replies were tried.
    """

    type = "judge_output_invalid"
    status = 502

    def __init__(self, message: str, *, raw: str | None = None, problem: str | None = None, attempts: int = 1,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.raw = raw
        self.problem = problem
        self.attempts = attempts


class EmbeddingUnavailable(TestBenchError):
    """The OpenAI-compatible embeddings endpoint failed or answered outside its contract."""

    type = "embedding_unavailable"
    status = 503
    retryable = True


class StatisticsInputError(TestBenchError):
    """Counts or outcomes ``ecosystem.testbench.stats`` cannot summarise (n = 0, successes > n...)."""

    type = "statistics_input_error"
