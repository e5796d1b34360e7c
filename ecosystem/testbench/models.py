"""Test-Bench's wire contract: the seed's ``EvaluationRequest``/``EvaluationResponse`` as pydantic.

The seed's structs are kept field for field and extended where a real evaluator needs more:
``prompt`` (relevance is judged against it), per-metric ``thresholds`` and ``weights``, a
task-level ``threshold`` (promptfoo's rule: when set, the weighted overall score decides
``passed``), per-metric ``options`` and ``custom_evaluators`` -- named instances of built-in
metrics with their own options, never code.  ``MetricResult.method`` is not optional: it says how
a score was computed (``embedding:all-MiniLM-L6-v2`` vs ``lexical:tfidf-cosine``) so a lexical
fallback can never pass for a semantic score.

Settings are plain pydantic (the ``blocks`` package maps its Prefect block onto them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator

from ecosystem.models import (
    MAX_BATCH,
    MAX_ITEMS,
    MAX_KEYS,
    NO_NUL,
    Identifier,
    Json,
    JsonObject,
    Score,
    StrictModel,
    Text,
)

MetricName = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
"""A metric's or custom evaluator's name (the store's ``evaluation_scores.metric`` is 100 chars)."""
Weight = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
"""A metric's weight as given: finite; the engine refuses negative ones with the request's other
problems (every problem of a request is reported at once)."""
Threshold = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
"""A per-metric threshold as given: finite; the engine refuses one outside 0..1 the same way."""
Millis = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]

#: Default pass thresholds on each metric's 0..1 score (higher is always better; toxicity's score
#: is ``1 - toxicity``).  ``TestBenchSettings.thresholds`` and the request override them.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "accuracy": 1.0,
    "exact_match": 1.0,
    "contains": 1.0,
    "regex": 1.0,
    "levenshtein": 0.8,
    "rouge_l": 0.5,
    "json_valid": 1.0,
    "json_schema": 1.0,
    "numeric_tolerance": 1.0,
    "semantic_similarity": 0.7,
    "factual_consistency": 0.8,
    "toxicity": 0.5,
    "coherence": 0.6,
    "relevance": 0.5,
    "llm_rubric": 0.7,
}


class CustomEvaluator(StrictModel):
    """A named instance of a built-in metric with its own options (the seed's ``CustomEvaluator``)."""

    name: MetricName = Field(description="Key of this evaluator's result in `metrics`.")
    metric: Identifier = Field(description="The built-in metric it runs, e.g. `regex` or `llm_rubric`.")
    options: JsonObject = Field(default_factory=dict, description="That metric's options.")
    threshold: Score | None = Field(default=None, description="Pass threshold.")
    weight: Weight | None = Field(default=None, ge=0.0, description="Weight in the overall score.")


class EvaluationRequest(StrictModel):
    """Evaluate one response with a set of metrics."""

    task_id: Identifier = Field(description="The workflow task whose output is evaluated.")
    response: Json = Field(description="The output under test: text, or any JSON value.")
    ground_truth: Json | None = Field(default=None, description="Expected output, when known.")
    prompt: Text | None = Field(default=None, description="The prompt that produced the response.")
    metrics: list[MetricName] = Field(
        default_factory=lambda: ["accuracy"], max_length=MAX_ITEMS, description="Metric names."
    )
    thresholds: dict[MetricName, Threshold] = Field(
        default_factory=dict, max_length=MAX_ITEMS, description="Per-metric pass thresholds."
    )
    weights: dict[MetricName, Weight] = Field(
        default_factory=dict, max_length=MAX_ITEMS, description="Per-metric weights (default 1)."
    )
    threshold: Score | None = Field(
        default=None, description="Task-level threshold on the weighted overall score."
    )
    options: JsonObject = Field(
        default_factory=dict,
        description="Per-metric options keyed by metric name ({'regex': {'pattern': ...}}); "
        "keys that are not metric names are shared by every metric.",
    )
    custom_evaluators: list[CustomEvaluator] = Field(default_factory=list, max_length=MAX_ITEMS)
    execution_id: Identifier | None = Field(
        default=None, description="Workflow run id; evaluations are remembered under it for reports."
    )

    @field_validator("metrics", mode="before")
    @classmethod
    def _one_metric_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MetricResult(StrictModel):
    """One metric's verdict (the seed's ``MetricResult`` plus ``threshold`` and ``method``).

    ``errored`` means no score could be computed (an LLM judge answered twice with something that
    is not a verdict): ``score`` is then 0 and meaningless, ``passed`` is false, ``explanation``
    says why and ``raw_reply`` holds the judge's last reply, truncated.
    """

    name: MetricName
    score: Score
    passed: bool
    threshold: Score | None = None
    weight: Weight = 1.0
    explanation: Text | None = None
    method: Identifier = Field(description="How the score was computed, e.g. `lexical:tfidf-cosine`.")
    errored: bool = Field(default=False, description="No score could be computed; see explanation.")
    raw_reply: Text | None = Field(default=None, description="An errored judge metric's last reply, truncated.")


class EvaluationDetails(StrictModel):
    task_id: Identifier
    execution_id: Identifier | None = None
    duration_ms: Millis
    methods: dict[MetricName, Identifier] = Field(
        default_factory=dict, max_length=MAX_KEYS, description="Metric name -> method."
    )
    pass_rule: Literal["all_metrics", "overall_threshold"] = "all_metrics"
    threshold: Score | None = None
    notes: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)
    errored: list[Identifier] = Field(
        default_factory=list, max_length=MAX_ITEMS,
        description="Metrics that could not be scored (excluded from overall_score).",
    )


class EvaluationResponse(StrictModel):
    """One evaluation's verdict; also the input of ``GenerateReportRequest``, hence its bounds."""

    overall_score: Score
    passed: bool
    metrics: dict[MetricName, MetricResult] = Field(max_length=MAX_KEYS)
    details: EvaluationDetails


class GenerateReportRequest(StrictModel):
    """Summarise a run's evaluations (the seed's ``GenerateReportRequest``)."""

    execution_id: Identifier
    evaluations: list[EvaluationResponse] | None = Field(
        default=None,
        max_length=MAX_BATCH,
        description="Evaluations to report on; default: those remembered for execution_id.",
    )
    include_task_details: bool = True
    format: Literal["json", "markdown"] = "json"


class MetricSummary(StrictModel):
    """Counts over every result; mean/min/max over the scored (not errored) ones, 0 if none."""

    count: int
    passed: int
    failed: int
    mean_score: float
    min_score: float
    max_score: float
    errored: int = 0


class TaskResult(StrictModel):
    task_id: str
    overall_score: float
    passed: bool
    scores: dict[str, float]
    failed_metrics: list[str]


class TestReport(StrictModel):
    __test__ = False  # not a pytest test class despite the name

    execution_id: str
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    total: int
    passed: int
    failed: int
    pass_rate: float | None
    mean_overall_score: float | None
    metrics: dict[str, MetricSummary]
    tasks: list[TaskResult] = Field(default_factory=list)
    markdown: str | None = None


class EmbeddingSettings(StrictModel):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama, LiteLLM proxy...)."""

    base_url: str = Field(description="e.g. `https://api.openai.com/v1` (a missing `/v1` is added).")
    model: str = Field(description="Embedding model name, e.g. `text-embedding-3-small`.")
    api_key: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=128, ge=1, description="Texts per request.")


class JudgeSettings(StrictModel):
    """LLM-judge mode: which model judges and which metrics use it when no option says otherwise."""

    model: str = Field(description="Model name the injected judge callable uses (reported in `method`).")
    use_for: list[str] = Field(
        default_factory=lambda: ["factual_consistency", "coherence", "relevance"],
        description="Metrics that use the judge by default (llm_rubric always does).",
    )


class TestBenchSettings(StrictModel):
    """Configuration of Test-Bench (the seed's ``TestBenchConfig`` plus thresholds and backends)."""

    __test__ = False

    endpoint: str | None = Field(default=None, description="Remote Test-Bench URL; None = embedded.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote service.")
    timeout: float = Field(default=60.0, gt=0)
    auto_evaluate: bool = False
    default_metrics: list[str] = Field(default_factory=lambda: ["semantic_similarity", "factual_consistency"])
    ground_truth_source: str | None = None
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Overrides of DEFAULT_THRESHOLDS, per metric."
    )
    similarity_backend: Literal["auto", "local", "provider", "lexical"] = Field(
        default="auto",
        description="auto: local sentence-transformers if installed, else provider if configured, else lexical.",
    )
    embeddings: EmbeddingSettings | None = None
    judge: JudgeSettings | None = None
