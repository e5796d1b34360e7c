"""``llm-forge:*`` executors: inference through Forge, and Forge tools.

The executor name picks the provider (``claude-api`` -> anthropic, ``openai-api`` -> openai,
``gemini-api`` -> gemini, a configured endpoint name -> that endpoint); ``config.model`` picks
the model (else the provider's default), or lists models in order: the first is asked, the rest
are fallbacks, each routed by its own family.  Outputs are the seed's ``response``, ``usage`` and
``model``; metadata carries ``cost``, ``model``, ``provider``, ``usage``, ``latency``, ``attempts``
and, when more than one call was made, ``calls`` (each with its model, outcome and cost).

**One retry budget.**  Inference runs the task's ``retry`` policy itself, through
``ecosystem.forge.attempts.call_models``: each provider call is one Forge call without Forge's
own retries, so ``retry.maxAttempts`` is the number of calls a model gets and the engine does not
retry the task again (``ExecutorSpec.retries_inside``).  A task without ``retry`` gets Forge's
``retry_policy`` (3 calls, exponential backoff).  Hooks see each call through ``ctx.observers``
(Governance reserves the budget for the model being tried).
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.document import RetryPolicy
from ecosystem.forge.attempts import AttemptPolicy, CallObserver, CallRecord, CallResult, Target, call_models
from ecosystem.forge.config import RetryPolicy as ForgeRetryPolicy
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse
from ecosystem.forge.protocol import Forge
from tasks.base import ExecutorContext, TaskOutput
from tasks.state import JSON, TaskMetadata

PROVIDER_OF_EXECUTOR = {
    "claude-api": "anthropic",
    "openai-api": "openai",
    "gemini-api": "gemini",
    "openai-compatible": "openai-compatible",
    "offline": "offline",
}
_CONFIG_FIELDS = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop_sequences", "metadata",
                  "reasoning_effort", "thinking_budget")


def provider_of(executor_name: str) -> str:
    return PROVIDER_OF_EXECUTOR.get(executor_name, executor_name)


def models_of(inputs: dict[str, JSON]) -> list[str]:
    """The task's models in order (``config.model`` as a string or a list); [] for the default."""
    config = inputs.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, str):
        return [model.strip()] if model.strip() else []
    if isinstance(model, list):
        return [str(m).strip() for m in model if str(m).strip()]
    return []


def build_request(inputs: dict[str, JSON], ctx: ExecutorContext) -> ForgeInferenceRequest:
    config = dict(inputs.get("config") or {})
    fields = {k: config[k] for k in _CONFIG_FIELDS if config.get(k) is not None}
    metadata = dict(fields.pop("metadata", {}) or {})
    metadata.update({"workflow": ctx.workflow_name, "run_id": ctx.run_id, "task_id": ctx.task_id})
    prompt = inputs.get("prompt")
    models = models_of(inputs)
    structured = ctx.node.structured_output
    return ForgeInferenceRequest(
        prompt="" if prompt is None else str(prompt),
        system=inputs.get("system"),
        messages=inputs.get("messages"),
        model=models[0] if models else "",
        provider=provider_of(ctx.node.executor.name),
        metadata=metadata,
        cache=list(inputs.get("cache") or []),
        response_schema=dict(structured[1]) if structured else None,
        **fields,
    )


def attempt_policy(task_retry: RetryPolicy | None, forge_policy: ForgeRetryPolicy | None = None) -> AttemptPolicy:
    """The task's ``retry`` as the call loop's policy (the one rule for every task, Prefect's
    retries included); without one, Forge's ``retry_policy``."""
    forge_policy = forge_policy or ForgeRetryPolicy()
    if task_retry is not None:
        return AttemptPolicy(
            max_attempts=task_retry.max_attempts, backoff=task_retry.backoff, initial_delay=task_retry.initial_delay,
            max_delay=task_retry.max_delay, jitter=task_retry.jitter, retry_on=tuple(task_retry.retry_on or ()),
            max_retry_after=forge_policy.max_retry_after,
        )
    return AttemptPolicy(
        max_attempts=forge_policy.max_attempts, backoff="exponential", multiplier=forge_policy.backoff_multiplier,
        initial_delay=forge_policy.initial_delay, max_delay=forge_policy.max_delay,
        max_retry_after=forge_policy.max_retry_after,
    )


class CallObservers:
    """Every hook's observer as one ``CallObserver``, called in order."""

    def __init__(self, observers: Sequence[CallObserver]) -> None:
        self.observers = list(observers)

    async def before_call(self, model: str, request: ForgeInferenceRequest) -> None:
        for observer in self.observers:
            await observer.before_call(model, request)

    async def after_call(self, model: str, response: ForgeInferenceResponse) -> None:
        for observer in self.observers:
            await observer.after_call(model, response)

    async def call_failed(self, model: str, error: BaseException) -> None:
        for observer in self.observers:
            await observer.call_failed(model, error)


def targets_of(request: ForgeInferenceRequest, models: list[str]) -> list[Target]:
    """Where each model goes: the first (or only) one through this executor's provider; a fallback
    by its own family (``gpt-*`` to OpenAI...) or ``<provider>/<model>`` prefix, else through this
    executor's provider too (a model of a configured endpoint)."""
    from ecosystem.forge.embedded import provider_for_model

    if not models:
        return [Target(request.model, request.provider)]
    found = [Target(models[0], request.provider)]
    for model in models[1:]:
        own = provider_for_model(model) is not None or "/" in model
        found.append(Target(model, None if own else request.provider))
    return found


async def run_inference(inputs: dict[str, JSON], ctx: ExecutorContext) -> TaskOutput:
    from ecosystem.governance import BudgetExceeded

    forge = ctx.services.forge
    request = build_request(inputs, ctx)
    targets = targets_of(request, models_of(inputs))
    policy = attempt_policy(ctx.node.retry, ctx.services.systems.forge.retry_policy)
    observer = CallObservers(ctx.observers)
    calls: list[CallRecord] = []
    try:
        result = await call_models(forge, request, targets, policy, observer=observer,
                                   budget_errors=(BudgetExceeded,), log=ctx.logger)
        calls = list(result.calls)
        parsed: JSON = None
        if request.response_schema is not None:
            result, parsed = await _structured(forge, request, result, targets, observer, ctx, calls)
    except BaseException as error:
        ctx.calls = len(calls) + int(getattr(error, "attempts", 1) or 1)
        raise
    ctx.calls = len(calls)
    costs = [c.cost for c in calls if c.cost is not None]
    output = inference_output(result.response, request, ctx, cost=round(sum(costs), 12) if costs else None,
                              parsed=parsed)
    if len(calls) > 1:
        output.metadata["calls"] = [call.to_json() for call in calls]
    return output


def inference_output(response: ForgeInferenceResponse, request: ForgeInferenceRequest, ctx: ExecutorContext,
                     *, cost: float | None = None, parsed: JSON = None) -> TaskOutput:
    """An inference task's outputs (the seed's ``response, usage, model``, and the structured
    answer under its declared output) and metadata; ``cost`` is every call's cost when several
    were made; ``parsed`` the validated structured answer (default: the response's own)."""
    usage = response.usage.model_dump()
    metadata = TaskMetadata(
        cost=cost if cost is not None else response.cost,
        model=response.model, provider=response.provider, usage=usage,  # type: ignore[typeddict-item]
        latency=response.latency, finish_reason=response.finish_reason, max_tokens=request.max_tokens,
        temperature=request.temperature,
    )
    if response.provider == "offline":
        metadata["offline"] = True
    if response.cost is None:
        ctx.services.warn_once(
            f"unpriced:{response.model}",
            f"no price known for model '{response.model}': its cost is reported as null (add it to llm-forge prices)",
            ctx.logger,
        )
    values: dict[str, JSON] = {"response": response.text, "usage": usage, "model": response.model}
    structured = ctx.node.structured_output
    if structured is not None:
        values[structured[0]] = parsed if parsed is not None else response.parsed
    return TaskOutput(values, metadata)


async def _structured(forge: Forge, request: ForgeInferenceRequest, result: CallResult, targets: list[Target],
                      observer: CallObservers, ctx: ExecutorContext, calls: list[CallRecord]) -> tuple[CallResult, JSON]:
    """Validate a structured answer; on a violation make ONE repair call (on the model that
    answered, counted in attempts and cost) that shows the model its answer and what was wrong,
    then fail with the path that still does not fit (``ForgeSchemaViolation``)."""
    from ecosystem.forge.structured import check_response, describe, repair_request, violation

    schema = request.response_schema or {}
    problems = check_response(result.response, schema)
    if not problems:
        return result, result.response.parsed
    ctx.logger.warning("the answer of %s does not fit the response schema (%s); asking once more",
                       result.model, describe(problems))
    repair = repair_request(request, result.response.text, problems)
    answered = next((t for t in targets if t.model == result.model), Target(result.model))
    repaired = await call_models(forge, repair, [answered], AttemptPolicy(max_attempts=1), observer=observer,
                                 log=ctx.logger)
    calls.extend(repaired.calls)
    problems = check_response(repaired.response, schema)
    if problems:
        raise violation(problems, model=repaired.model)
    return repaired, repaired.response.parsed


async def run_tool(inputs: dict[str, JSON], ctx: ExecutorContext) -> TaskOutput:
    name = ctx.node.executor.sub or ""
    result = await ctx.services.forge.run_tool(name, dict(inputs))
    outputs = result.get("outputs", result) if isinstance(result, dict) else {"result": result}
    return TaskOutput(dict(outputs), TaskMetadata(tool=name))
