"""``llm_rubric``: an LLM judge grades the response against a rubric written by the user.

There is no local fallback on purpose: a rubric ("cites at least two sources, stays polite") has
no honest lexical proxy, so without a judge this metric raises ``JudgeUnavailable`` rather than
inventing a score.  The judge's verdict and reasoning become the explanation.
"""

from __future__ import annotations

from typing import Any

from ecosystem.testbench.errors import JudgeUnavailable, MetricInputError
from ecosystem.testbench.metrics.base import MetricContext, MetricOutcome, judged


def check_rubric(name: str, options: dict[str, Any]) -> list[str]:
    rubric = options.get("rubric")
    if not isinstance(rubric, str) or not rubric.strip():
        return [f"{name}: options.rubric (the criteria the judge grades against) is required"]
    return []


async def llm_rubric(ctx: MetricContext) -> MetricOutcome:
    problems = check_rubric(ctx.name, ctx.options)
    if problems:
        raise MetricInputError("; ".join(problems))
    if ctx.resources.judge is None:
        raise JudgeUnavailable(f"{ctx.name}: llm_rubric needs an LLM judge and none is configured")
    reference = ctx.ground_truth_text if ctx.ground_truth is not None else None
    return await judged(
        ctx,
        "Grade the response against the rubric.",
        str(ctx.option("rubric")),
        prompt=ctx.prompt, reference=reference,
    )
