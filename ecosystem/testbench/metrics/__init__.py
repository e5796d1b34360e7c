"""The metric registry: ``METRICS`` maps each name to its ``MetricSpec``.

Static facts live here (needs a ground truth? a prompt? a judge? default threshold, option
checks) so the compiler can validate a workflow's metric names and inputs without running
anything, and the engine can report every problem of a request at once before computing.
One module per family: ``accuracy`` (deterministic reference checks), ``quality`` (similarity,
coherence, relevance), ``factual``, ``toxicity``, ``rubric``.
"""

from __future__ import annotations

from ecosystem.testbench.metrics import accuracy, factual, quality, rubric, toxicity
from ecosystem.testbench.metrics.base import MetricContext, MetricOutcome, MetricSpec, Resources
from ecosystem.testbench.models import DEFAULT_THRESHOLDS


def _spec(name: str, family: str, description: str, compute: object, **kw: object) -> MetricSpec:
    return MetricSpec(name, family, description, DEFAULT_THRESHOLDS[name], compute, **kw)  # type: ignore[arg-type]


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        _spec("accuracy", "accuracy", "exact match after normalising case, punctuation, articles and spaces",
              accuracy.exact_match, needs_ground_truth=True),
        _spec("exact_match", "accuracy", "exact match (options.normalize, default true); JSON values compared as data",
              accuracy.exact_match, needs_ground_truth=True),
        _spec("contains", "accuracy", "response contains the ground truth, options.value or every options.values",
              accuracy.contains),
        _spec("regex", "accuracy", "response matches options.pattern (options.flags: i, m, s; options.full)",
              accuracy.regex, check_options=accuracy.check_regex),
        _spec("levenshtein", "accuracy", "1 - edit distance / length, on normalised text",
              accuracy.levenshtein, needs_ground_truth=True),
        _spec("rouge_l", "accuracy", "ROUGE-L F1: longest common word subsequence",
              accuracy.rouge_l, needs_ground_truth=True),
        _spec("json_valid", "accuracy", "response is RFC 8259 JSON: no NaN/Infinity (one Markdown code fence allowed)", accuracy.json_valid),
        _spec("json_schema", "accuracy", "response is strict JSON valid against options.schema (stdlib-checkable formats enforced)",
              accuracy.json_schema, check_options=accuracy.check_schema),
        _spec("numeric_tolerance", "accuracy",
              "first number in the response within options.tolerance / relative_tolerance of the ground truth",
              accuracy.numeric_tolerance, needs_ground_truth=True),
        _spec("semantic_similarity", "similarity",
              "cosine similarity of response and ground truth (MiniLM, provider embeddings, or TF-IDF)",
              quality.semantic_similarity, needs_ground_truth=True),
        _spec("factual_consistency", "factual",
              "numbers, dates and names in the response agree with the ground truth (or an LLM judge)",
              factual.factual_consistency, needs_ground_truth=True, judge="optional"),
        _spec("toxicity", "safety", "1 - toxicity, from a profanity/insult lexicon (or an LLM judge)",
              toxicity.toxicity, judge="optional"),
        _spec("coherence", "quality", "surface proxy: repetition, word salad, truncation, continuity (or a judge)",
              quality.coherence, judge="optional"),
        _spec("relevance", "quality", "response addresses the prompt: embeddings or prompt-term coverage (or a judge)",
              quality.relevance, needs_prompt=True, judge="optional"),
        _spec("llm_rubric", "judge", "an LLM judge grades the response against options.rubric",
              rubric.llm_rubric, judge="required", check_options=rubric.check_rubric),
    )
}


def known_metrics() -> tuple[str, ...]:
    """Every registered metric name, sorted (what the compiler validates ``metrics:`` against)."""
    return tuple(sorted(METRICS))


__all__ = ["METRICS", "MetricContext", "MetricOutcome", "MetricSpec", "Resources", "known_metrics"]
