"""What a metric is: a ``MetricSpec`` (static facts the compiler can read) and an async function.

A metric function takes a ``MetricContext`` (the response, ground truth, prompt, its merged
options and the shared resources: similarity engine and judge) and returns a ``MetricOutcome``
(score in 0..1, honest ``method``, explanation).  Thresholds, weights and ``passed`` are applied
by the engine, not the metric, so every metric is judged by the same rules.  The one exception
is a judge's verdict: ``judged`` (shared by every metric with a judge mode) needs the threshold to
apply the contradiction rule of ``judge``, so the context carries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ecosystem.testbench.errors import JudgeUnavailable, MetricInputError
from ecosystem.testbench.judge import Judge, ask_judge, judge_prompt, reconcile
from ecosystem.testbench.models import TestBenchSettings
from ecosystem.testbench.text import as_text

if TYPE_CHECKING:
    from ecosystem.testbench.embeddings import SimilarityEngine


@dataclass(frozen=True)
class MetricOutcome:
    score: float
    method: str
    explanation: str | None = None

    def clipped(self) -> MetricOutcome:
        score = 0.0 if self.score != self.score else min(1.0, max(0.0, float(self.score)))  # NaN -> 0
        return MetricOutcome(score, self.method, self.explanation)


@dataclass
class Resources:
    """What metrics share within one Test-Bench: settings, the similarity engine and the judge."""

    settings: TestBenchSettings
    similarity: SimilarityEngine
    judge: Judge | None = None

    @property
    def judge_model(self) -> str:
        if self.settings.judge is not None:
            return self.settings.judge.model
        return str(getattr(self.judge, "model", "unknown"))


@dataclass
class MetricContext:
    name: str  # key of the result (a custom evaluator's name, or the metric's)
    metric: str  # the built-in metric that runs
    response: Any
    ground_truth: Any
    prompt: str | None
    options: dict[str, Any]
    resources: Resources
    threshold: float | None = None  # the pass threshold the engine will apply (judge verdicts need it)
    _texts: dict[str, str] = field(default_factory=dict)

    @property
    def response_text(self) -> str:
        if "r" not in self._texts:
            self._texts["r"] = as_text(self.response)
        return self._texts["r"]

    @property
    def ground_truth_text(self) -> str:
        if "g" not in self._texts:
            self._texts["g"] = as_text(self.ground_truth)
        return self._texts["g"]

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def use_judge(self) -> bool:
        """Judge mode? ``options.mode``: ``judge`` (required), ``local``, or ``auto`` (settings decide)."""
        mode = self.option("mode", "auto")
        if mode not in ("auto", "local", "judge"):
            raise MetricInputError(f"{self.name}: option mode must be auto, local or judge, not {mode!r}")
        if mode == "local":
            return False
        if mode == "judge":
            if self.resources.judge is None:
                raise JudgeUnavailable(f"{self.name}: mode 'judge' requested but no LLM judge is configured")
            return True
        judge_settings = self.resources.settings.judge
        return (
            self.resources.judge is not None
            and judge_settings is not None
            and self.metric in judge_settings.use_for
        )


async def judged(ctx: MetricContext, task: str, criteria: str, *, prompt: str | None, reference: str | None) -> MetricOutcome:
    """Ask the judge (one format retry) and apply the contradiction rule: one place for every metric."""
    judge = ctx.resources.judge
    if judge is None:
        raise JudgeUnavailable(f"{ctx.name}: no LLM judge is configured")
    verdict = await ask_judge(
        judge,
        judge_prompt(task, criteria, prompt=prompt, response=ctx.response_text, reference=reference,
                     threshold=ctx.threshold),
        threshold=ctx.threshold,
    )
    final = reconcile(verdict, ctx.threshold)
    return MetricOutcome(final.score, f"llm-judge:{ctx.resources.judge_model}", final.explanation)


MetricFn = Callable[[MetricContext], Awaitable[MetricOutcome]]
OptionCheck = Callable[[str, dict[str, Any]], list[str]]


@dataclass(frozen=True)
class MetricSpec:
    """Static facts about a metric; ``known_metrics()`` and the compiler read these."""

    name: str
    family: str
    description: str
    default_threshold: float
    compute: MetricFn = field(repr=False)
    needs_ground_truth: bool = False
    needs_prompt: bool = False
    judge: Literal["never", "optional", "required"] = "never"
    check_options: OptionCheck | None = field(default=None, repr=False)
