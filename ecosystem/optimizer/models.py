"""Auto-Optimizer contracts: the seed's Rust structs as strict pydantic models, plus settings.

``PerformanceMetric``, ``SubmitMetricsRequest``, ``Recommendations``, ``Recommendation`` and the
``RecommendationType`` enum follow the seed's "LLM-Auto-Optimizer Integration" section.  What we
add is what the analysis needs to give an answer with evidence instead of a guess: which model
and sampling parameters produced a metric, a hash of the evaluated inputs (to pair samples of two
models on the same input and to see repeats), run and dependency information (to rebuild the DAG
and its critical path), and a stable metric ``id`` so that re-submitting a batch after a timeout
stores it once.

``RecommendationType`` is a discriminated union on ``kind`` (the seed's Rust enum would be
externally tagged; an internal tag is what JSON APIs and pydantic handle best).  ``ModelSwitch``
spells its source model ``from`` on the wire, as the seed does, and ``from_model`` in Python.

Every recommendation is written so that an engine can apply it to a compiled plan mechanically
and refuse it when it has gone stale: each names the task or edge it touches and the value it
expects to find there (``from``, ``old_value``, ``remove_edges``).  Impacts are per run, in USD
and milliseconds; quality is on the scale the metrics use (0..1 for Test-Bench scores).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator

from ecosystem.models import (
    MAX_BATCH,
    MAX_TOKENS,
    NO_NUL,
    Count,
    Identifier,
    JsonObject,
    Names,
    Number,
    StrictModel,
    Timestamp,
    Tokens,
    Usd,
    parse_duration,
)

MetricStatus = Literal["completed", "failed", "skipped", "cached"]
JsonScalar = int | float | str | bool | None
DEFAULT_SOURCE = "llm-orchestrator"


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class PerformanceMetric(StrictModel):
    """One task execution as the optimizer sees it (seed fields first, then ours)."""

    workflow_id: Identifier = Field(
        description="The seed's workflow id (``${{ workflow.id }}``, the run's id in this project)."
    )
    task_id: Identifier
    executor: Identifier
    timestamp: Timestamp = Field(default_factory=_now, description="When the metric was taken (UTC).")
    execution_time_ms: Count
    cpu_usage_percent: Number = Field(default=0.0, ge=0, description="Process CPU over the task (see ``resources``).")
    memory_usage_mb: Count = Field(default=0, description="Peak process RSS during the task, MB.")
    token_count: Tokens | None = Field(default=None, description="Total tokens (prompt + completion).")
    cost_usd: Usd | None = None
    quality_score: Number | None = Field(default=None, description="Evaluation score, 0..1 for Test-Bench metrics.")
    custom: JsonObject = Field(default_factory=dict)

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)] = Field(
        default_factory=_new_id, description="Stable metric id; a re-submitted id is stored once."
    )
    run_id: Identifier | None = None
    workflow: Identifier | None = Field(
        default=None, description="Workflow name: the key history is analysed by (``workflow_id`` when unset)."
    )
    model: Identifier | None = None
    input_hash: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = Field(
        default=None,
        description="sha256 hex of the task's evaluated inputs without the model-call config (model, "
        "temperature, max_tokens have their own fields), so one input run on two models hashes alike.",
    )
    prompt_tokens: Tokens | None = None
    completion_tokens: Tokens | None = None
    max_tokens: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS, description="The max_tokens the call was made with."
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    status: MetricStatus = "completed"
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    depends_on: Names = Field(default_factory=list, description="The task's dependsOn in the plan that ran.")
    data_dependencies: Names = Field(
        default_factory=list,
        description="Tasks whose outputs, metadata or status the task's inputs or `if` reference.",
    )

    @property
    def workflow_key(self) -> str:
        return self.workflow or self.workflow_id


class SubmitMetricsRequest(StrictModel):
    metrics: list[PerformanceMetric] = Field(max_length=MAX_BATCH)
    source: Annotated[str, Field(max_length=100, pattern=NO_NUL)] = DEFAULT_SOURCE


class RecommendationsQuery(StrictModel):
    """What ``GET /v1/recommendations/{workflow}`` asks; the embedded optimizer checks it too."""

    workflow_id: Identifier
    include_task_level: bool = True


class SubmitMetricsResponse(StrictModel):
    accepted: int = Field(description="Metrics newly stored; ids already stored are not counted again.")


class _AliasedModel(StrictModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


class ModelSwitch(_AliasedModel):
    """Use model ``to`` instead of ``from`` for task ``task_id``.

    Apply: in the task's plan node, replace the model of the LLM call (``inputs.config.model`` or
    the executor's model input) with ``to`` - only if it is still ``from``; otherwise the
    recommendation is stale and must be skipped.
    """

    kind: Literal["model_switch"] = "model_switch"
    task_id: str
    from_model: str = Field(alias="from")
    to: str
    reason: str


class ParameterTuning(StrictModel):
    """Set the LLM call parameter ``parameter`` of ``task_id`` from ``old_value`` to ``new_value``.

    Apply: ``parameter`` is a key of the call's config (``max_tokens``, ``temperature``); set it
    to ``new_value`` only if the plan's current value equals ``old_value``.
    """

    kind: Literal["parameter_tuning"] = "parameter_tuning"
    task_id: str
    parameter: str
    old_value: JsonScalar
    new_value: JsonScalar
    reason: str


class Parallelization(StrictModel):
    """Let ``tasks`` run in parallel by removing ordering-only edges.

    Apply: for each ``[from, to]`` in ``remove_edges`` drop ``from`` from task ``to``'s
    ``dependsOn`` in the plan.  The engine must re-check that ``to`` still references nothing
    of ``from`` (the edge carried no data when this was computed) and skip it otherwise.
    ``expected_speedup`` is the critical path with the edges divided by the path without them.
    """

    kind: Literal["parallelization"] = "parallelization"
    tasks: list[str]
    expected_speedup: float = Field(ge=1)
    remove_edges: list[tuple[str, str]]
    reason: str = ""


class Caching(StrictModel):
    """Cache task ``task_id``'s result by its evaluated inputs for ``ttl_seconds``.

    Apply: give the task a cache policy over its evaluated inputs with this expiration, unless
    the workflow already declares ``cache`` for it (the user's setting wins).
    """

    kind: Literal["caching"] = "caching"
    task_id: str
    ttl_seconds: int = Field(ge=1)
    reason: str


class BatchMode(StrictModel):
    """Send the forEach items of llm task ``task_id`` to the provider's batch API (about half the price).

    Apply: set the task's ``inputs.config.mode`` to ``batch``, only if the task still fans out
    (``forEach``) on an llm-forge inference executor and sets no ``mode`` itself (the user's
    setting wins).  Recommended for scheduled runs that nothing waits for within the batch window.
    """

    kind: Literal["batch_mode"] = "batch_mode"
    task_id: str
    reason: str


RecommendationType = Annotated[ModelSwitch | ParameterTuning | Parallelization | Caching | BatchMode,
                               Field(discriminator="kind")]
TASK_LEVEL_KINDS = frozenset({"model_switch", "parameter_tuning", "caching", "batch_mode"})


class ImpactEstimate(StrictModel):
    """Expected change per run if the recommendation is applied (negative deltas are savings)."""

    cost_delta_usd: float = 0.0
    cost_ratio: float = Field(default=1.0, ge=0, description="New cost / current cost.")
    latency_delta_ms: float = 0.0
    latency_ratio: float = Field(default=1.0, ge=0, description="New latency / current latency.")
    quality_delta: float = 0.0


class ImprovementEstimate(ImpactEstimate):
    """All recommendations applied together, per run, against the stated baseline."""

    baseline_cost_usd: float = 0.0
    baseline_latency_ms: float = Field(default=0.0, description="Critical path of the latest run's DAG.")


class Recommendation(StrictModel):
    id: str = Field(description="Stable across recomputations of the same advice (hash of kind and target).")
    recommendation_type: RecommendationType
    confidence: float = Field(ge=0, le=1, description="Bootstrap share of resamples in which the advice holds.")
    expected_impact: ImpactEstimate
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="Sample sizes, means, intervals and p-values behind the advice."
    )

    @property
    def task_level(self) -> bool:
        return self.recommendation_type.kind in TASK_LEVEL_KINDS


class AnalysisNote(StrictModel):
    """Why a candidate was not recommended (``not_enough_data``, ``quality_worse``, ...)."""

    kind: str
    task_id: str | None = None
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class Recommendations(StrictModel):
    workflow_id: str
    generated_at: datetime = Field(default_factory=_now)
    items: list[Recommendation] = Field(default_factory=list)
    estimated_improvement: ImprovementEstimate = Field(default_factory=ImprovementEstimate)
    notes: list[AnalysisNote] = Field(default_factory=list)
    sample_size: int = Field(default=0, ge=0, description="Metrics the analysis read.")




class AutoOptimizerSettings(StrictModel):
    """Configuration of the Auto-Optimizer (seed: ``integrations.llm-auto-optimizer``)."""

    endpoint: str | None = Field(default=None, description="Remote service URL; embedded when unset.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote service.")
    timeout: float = Field(default=30.0, gt=0, description="HTTP timeout for the remote service, seconds.")
    batch_size: int = Field(default=100, ge=1, le=MAX_BATCH, description="Metrics per submission.")
    flush_interval: float = Field(default=30.0, gt=0, description="Seconds between background flushes ('30s' ok).")
    auto_apply_recommendations: bool = False
    recommendation_cache_ttl: float = Field(default=300.0, ge=0, description="Seconds a computed answer is reused.")
    min_samples: int = Field(default=5, ge=2, description="Samples per arm before any statistical advice.")
    quality_margin: float = Field(default=0.02, ge=0, description="Largest quality loss a cheaper model may show.")
    min_saving_ratio: float = Field(default=0.2, gt=0, lt=1, description="Smallest cost saving worth a switch.")
    min_speedup: float = Field(default=1.1, ge=1, description="Smallest critical-path speedup worth a change.")
    min_repeat_rate: float = Field(default=0.3, gt=0, le=1, description="Input repeat rate that makes caching pay.")
    max_failed_flushes: int = Field(default=3, ge=1, description="Failed flushes before metrics go to the spool.")
    spool_dir: str | None = Field(
        default=None, description="Where unsent metrics are kept (JSONL); the data dir when unset."
    )
    storage_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in the data dir when unset.")
    history_limit: int = Field(default=20_000, ge=10, description="Newest metrics read per workflow.")
    bootstrap_resamples: int = Field(default=2000, ge=100)
    random_seed: int = 0

    @field_validator("flush_interval", "timeout", "recommendation_cache_ttl", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return parse_duration(value)
