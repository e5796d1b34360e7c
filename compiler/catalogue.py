"""The built-in executor catalogue: every executor the seed uses, with its input/output contract.

Input models are pydantic so that missing and unknown inputs, and literal values of the wrong
type, are compile-time diagnostics, and so that ``llm-orchestrator schema`` can give editors
executor-specific completion.  Names are the seed's (snake_case inputs such as ``ground_truth``
and ``error_message``).  Bodies are in ``tasks/``; this module is the contract only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from compiler.executors import ExecutorRef, ExecutorRegistry, ExecutorSpec, entry_point_specs

# Evaluation metrics known to Test-Bench; tests/compiler keep this in step with ecosystem.testbench.
KNOWN_METRICS = (
    "semantic_similarity",
    "factual_consistency",
    "toxicity",
    "coherence",
    "relevance",
    "accuracy",
    "exact_match",
    "contains",
    "regex",
    "levenshtein",
    "rouge_l",
    "json_valid",
    "json_schema",
    "numeric_tolerance",
    "llm_rubric",
)
BUILTIN_TOOLS = ("response-formatter", "json-extract", "http-request")
BUILTIN_POLICIES = ("content-safety", "data-privacy", "cost-limit", "model-allowlist")
# Provider executors and the model families each serves (for a static "wrong provider" check).
PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "claude-api": ("anthropic", ("claude-",)),
    "openai-api": ("openai", ("gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-", "ft:o")),
    "gemini-api": ("gemini", ("gemini-",)),
    "openai-compatible": ("openai-compatible", ()),
    "offline": ("offline", ()),
}


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OpenInputs(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Inputs):
    role: Literal["system", "user", "assistant"]
    content: str


class InferenceConfig(_Inputs):
    # One model, or an ordered list: the first is asked, the rest are fallbacks (across providers).
    model: str | list[str] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None
    # batch: a forEach's items go to the provider's batch API in one submission (about half the price).
    mode: Literal["online", "batch"] | None = None


INFERENCE_IMPLEMENTATION = "tasks.forge:run_inference"


class InferenceInputs(_Inputs):
    prompt: str | None = None
    config: InferenceConfig | None = None
    system: str | None = None
    messages: list[ChatMessage] | None = None
    # The stable prefix to mark cacheable: Anthropic gets cache_control, OpenAI and Gemini the
    # prefix first (they cache a repeated prefix by themselves).
    cache: list[Literal["system", "messages"]] | None = None


class ResponseFormatterInputs(_Inputs):
    responses: list[dict[str, Any]]
    format: Literal["markdown", "json", "text"] = "markdown"
    title: str | None = None


class JsonExtractInputs(_Inputs):
    text: str
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class HttpRequestInputs(_Inputs):
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] | None = None
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout: float | None = None


class EvaluationInputs(_Inputs):
    response: Any
    ground_truth: Any = None
    prompt: str | None = None
    metrics: list[str] | None = None
    thresholds: dict[str, float] | None = None
    weights: dict[str, float] | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    options: dict[str, Any] | None = None


class SingleMetricInputs(_Inputs):
    response: Any
    ground_truth: Any = None
    prompt: str | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    options: dict[str, Any] | None = None


class MetricCollectorInputs(_Inputs):
    execution_metrics: dict[str, Any]


class RecommendationInputs(_Inputs):
    workflow_id: str
    include_task_level: bool = True


class PolicyEnforcerInputs(_Inputs):
    policies: list[str] | None = None
    context: dict[str, Any] | None = None


class CostTrackerInputs(_Inputs):
    usage: dict[str, Any]
    model: str


class AssertInputs(_Inputs):
    condition: Any
    error_message: str = "assertion failed"


class AlertInputs(_Inputs):
    message: str
    severity: Literal["info", "low", "medium", "high", "critical"] = "info"
    title: str | None = None
    webhook: str | None = None
    details: dict[str, Any] | None = None


class JsonTransformInputs(_Inputs):
    data: Any = None
    parse: str | None = None
    pick: str | dict[str, str] | None = None
    merge: list[dict[str, Any]] | None = None
    default: Any = None


class TemplateInputs(_Inputs):
    template: str
    values: dict[str, Any] | None = None


Problem = tuple[tuple[str | int, ...], str, str, str | None]  # (input path, code, message, hint)


def _check_inference(inputs: Mapping[str, Any], ref: ExecutorRef) -> list[Problem]:
    """A prompt or messages must be given; a literal model of another provider's family is wrong."""
    if inputs.get("prompt") is None and not inputs.get("messages"):
        return [((), "E303", f"executor '{ref}' needs input 'prompt' (or 'messages')", "add `prompt:` to the task's inputs")]
    config = inputs.get("config")
    model = config.get("model") if isinstance(config, Mapping) else None
    if isinstance(model, list):  # fallbacks may be any provider's; the first is the executor's own
        model = model[0] if model else None
    if not isinstance(model, str) or "${{" in model:
        return []
    provider, prefixes = PROVIDERS.get(ref.name, ("", ()))
    if not prefixes or model.startswith(prefixes):
        return []
    owner = next((name for name, (_, pre) in PROVIDERS.items() if pre and model.startswith(pre)), None)
    hint = f"use executor 'llm-forge:{owner}' for this model" if owner else f"{provider} models start with {', '.join(prefixes)}"
    return [(("config", "model"), "E305", f"model '{model}' is not served by {ref} ({provider})", hint)]


def _check_metrics(inputs: Mapping[str, Any], ref: ExecutorRef) -> list[Problem]:
    problems: list[Problem] = []
    metrics = inputs.get("metrics")
    if isinstance(metrics, list):
        for i, metric in enumerate(metrics):
            if isinstance(metric, str) and "${{" not in metric and metric not in KNOWN_METRICS:
                close = difflib.get_close_matches(metric, KNOWN_METRICS, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                problems.append((("metrics", i), "E305", f"unknown metric '{metric}'", hint + "known: " + ", ".join(KNOWN_METRICS)))
    return problems


_INFERENCE_OUTPUTS = {"response": "string", "usage": "object", "model": "string"}
_EVALUATION_OUTPUTS = {"score": "float", "passed": "boolean", "metrics": "object", "details": "object"}


def _inference(name: str, description: str) -> ExecutorSpec:
    return ExecutorSpec(
        reference=f"llm-forge:{name}",
        task_types=frozenset({"llm"}),
        inputs=InferenceInputs,
        outputs=_INFERENCE_OUTPUTS,
        description=description,
        implementation=INFERENCE_IMPLEMENTATION,
        check=_check_inference,
        retries_inside=True,
    )


def _metric_executor(metric: str) -> ExecutorSpec:
    return ExecutorSpec(
        reference=f"llm-test-bench:{metric.replace('_', '-')}",
        task_types=frozenset({"evaluation"}),
        inputs=SingleMetricInputs,
        outputs=_EVALUATION_OUTPUTS,
        description=f"Evaluate one metric: {metric}.",
        implementation="tasks.testbench:run_single_metric",
    )


BUILTIN_EXECUTORS: tuple[ExecutorSpec, ...] = (
    _inference("claude-api", "Inference on Anthropic's Messages API (Claude)."),
    _inference("openai-api", "Inference on OpenAI's Chat Completions API."),
    _inference("gemini-api", "Inference on Google's Gemini generateContent API."),
    _inference("openai-compatible", "Inference on any OpenAI-compatible endpoint (vLLM, Ollama, LiteLLM proxy)."),
    _inference("offline", "Offline inference for demos and tests: echo or canned responses, always labelled offline."),
    ExecutorSpec(
        reference="llm-forge:tool:response-formatter",
        task_types=frozenset({"custom", "transform"}),
        default_type="custom",
        inputs=ResponseFormatterInputs,
        outputs={"formatted_output": "string"},
        description="Format several model responses side by side (markdown, JSON or text).",
        implementation="tasks.forge:run_tool",
    ),
    ExecutorSpec(
        reference="llm-forge:tool:json-extract",
        task_types=frozenset({"custom", "transform"}),
        default_type="transform",
        inputs=JsonExtractInputs,
        outputs={"data": "any", "valid": "boolean", "errors": "array"},
        description="Extract JSON from an LLM response and optionally validate it against a JSON Schema.",
        implementation="tasks.forge:run_tool",
    ),
    ExecutorSpec(
        reference="llm-forge:tool:http-request",
        task_types=frozenset({"custom", "transform"}),
        default_type="custom",
        inputs=HttpRequestInputs,
        outputs={"status": "integer", "body": "string", "json": "any"},
        description="A configured HTTP call to an allowed host.",
        implementation="tasks.forge:run_tool",
    ),
    ExecutorSpec(
        reference="llm-forge:tool:*",
        task_types=frozenset({"custom", "transform"}),
        default_type="custom",
        inputs=None,
        outputs={},
        open_outputs=True,
        description="A user tool registered through the entry-point group llm_orchestrator.tools.",
        implementation="tasks.forge:run_tool",
    ),
    ExecutorSpec(
        reference="llm-test-bench:multi-metric",
        task_types=frozenset({"evaluation"}),
        inputs=EvaluationInputs,
        outputs=_EVALUATION_OUTPUTS,
        description="Evaluate a response on several metrics; overall score and pass/fail.",
        implementation="tasks.testbench:run_multi_metric",
        check=_check_metrics,
    ),
    *(_metric_executor(metric) for metric in KNOWN_METRICS),
    ExecutorSpec(
        reference="llm-auto-optimizer:metric-collector",
        task_types=frozenset({"analytics", "custom"}),
        default_type="analytics",
        inputs=MetricCollectorInputs,
        outputs={"recorded": "integer", "metric": "object"},
        description="Record a performance metric for the Auto-Optimizer.",
        implementation="tasks.optimizer:collect_metric",
    ),
    ExecutorSpec(
        reference="llm-auto-optimizer:request-recommendations",
        task_types=frozenset({"analytics", "custom"}),
        default_type="analytics",
        inputs=RecommendationInputs,
        outputs={"recommendations": "array", "count": "integer", "estimated_improvement": "object"},
        description="Fetch optimisation recommendations for a workflow.",
        implementation="tasks.optimizer:request_recommendations",
    ),
    ExecutorSpec(
        reference="llm-governance:policy-enforcer",
        task_types=frozenset({"policy"}),
        inputs=PolicyEnforcerInputs,
        outputs={"decision": "string", "allowed": "boolean", "violations": "array", "redacted": "any"},
        description="Evaluate governance policies; deny fails the task, require_approval pauses the run.",
        implementation="tasks.governance:enforce_policies",
    ),
    ExecutorSpec(
        reference="llm-governance:cost-tracker",
        task_types=frozenset({"policy"}),
        inputs=CostTrackerInputs,
        outputs={
            "cost": "float",
            "within_budget": "boolean",
            "budget_remaining": "float",
            "budget_utilization": "float",
        },
        description="Record a cost and report the budget status.",
        implementation="tasks.governance:track_cost",
    ),
    ExecutorSpec(
        reference="orchestrator:assert",
        task_types=frozenset({"custom", "transform", "evaluation", "policy"}),
        default_type="custom",
        inputs=AssertInputs,
        outputs={"passed": "boolean"},
        description="Fail with error_message when condition is false (a quality gate).",
        implementation="tasks.builtin:run_assert",
    ),
    ExecutorSpec(
        reference="notification:alert",
        task_types=frozenset({"custom"}),
        inputs=AlertInputs,
        outputs={"delivered": "boolean", "severity": "string"},
        description="Log an alert and, with a webhook configured, POST a Slack-compatible message.",
        implementation="tasks.builtin:run_alert",
    ),
    ExecutorSpec(
        reference="orchestrator:json",
        task_types=frozenset({"transform", "custom"}),
        default_type="transform",
        inputs=JsonTransformInputs,
        outputs={"result": "any"},
        description="Parse, pick from and merge JSON values.",
        implementation="tasks.builtin:run_json",
    ),
    ExecutorSpec(
        reference="orchestrator:template",
        task_types=frozenset({"transform", "custom"}),
        default_type="transform",
        inputs=TemplateInputs,
        outputs={"text": "string"},
        description="Render text from a template with {{ name }} placeholders (values are never re-evaluated).",
        implementation="tasks.builtin:run_template",
    ),
)

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


_default: ExecutorRegistry | None = None


def default_registry() -> ExecutorRegistry:
    """Built-in catalogue plus entry-point executors, loaded once per process."""
    global _default
    if _default is None:
        registry = ExecutorRegistry(BUILTIN_EXECUTORS)
        for spec in entry_point_specs():
            registry.register(spec)
        _default = registry
    return _default
