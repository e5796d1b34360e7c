"""``llm-forge:*`` executors: inference through Forge, and Forge tools.

The executor name picks the provider (``claude-api`` -> anthropic, ``openai-api`` -> openai,
``gemini-api`` -> gemini, a configured endpoint name -> that endpoint); ``config.model`` picks
the model, else the provider's default.  Outputs are the seed's ``response``, ``usage`` and
``model``; metadata carries ``cost``, ``model``, ``provider``, ``usage`` and ``latency`` so budgets,
reports and the optimiser see them.  Offline responses say so in ``model`` and metadata.
"""

from __future__ import annotations

from typing import Any

from tasks.base import ExecutorContext, TaskOutput

PROVIDER_OF_EXECUTOR = {
    "claude-api": "anthropic",
    "openai-api": "openai",
    "gemini-api": "gemini",
    "openai-compatible": "openai-compatible",
    "offline": "offline",
}
_CONFIG_FIELDS = ("model", "temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop_sequences", "metadata")


def build_request(inputs: dict[str, Any], ctx: ExecutorContext) -> Any:
    from ecosystem.forge import ForgeInferenceRequest

    config = dict(inputs.get("config") or {})
    fields = {k: config[k] for k in _CONFIG_FIELDS if config.get(k) is not None}
    metadata = dict(fields.pop("metadata", {}) or {})
    metadata.update({"workflow": ctx.workflow_name, "run_id": ctx.run_id, "task_id": ctx.task_id})
    prompt = inputs.get("prompt")
    return ForgeInferenceRequest(
        prompt="" if prompt is None else str(prompt),
        system=inputs.get("system"),
        messages=inputs.get("messages"),
        provider=PROVIDER_OF_EXECUTOR.get(ctx.node.executor.name, ctx.node.executor.name),
        metadata=metadata,
        **fields,
    )


async def run_inference(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    forge = ctx.services.get("forge")
    request = build_request(inputs, ctx)
    response = await forge.infer(request)
    usage = response.usage.model_dump()
    metadata: dict[str, Any] = {
        "cost": response.cost,
        "model": response.model,
        "provider": response.provider,
        "usage": usage,
        "latency": response.latency,
        "finish_reason": response.finish_reason,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if response.provider == "offline":
        metadata["offline"] = True
    if response.cost is None:
        ctx.services.warn_once(
            f"unpriced:{response.model}",
            f"no price known for model '{response.model}': its cost is reported as null (add it to llm-forge prices)",
            ctx.logger,
        )
    return TaskOutput({"response": response.text, "usage": usage, "model": response.model}, metadata)


async def run_tool(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    forge = ctx.services.get("forge")
    name = ctx.node.executor.sub or ""
    result = await forge.run_tool(name, dict(inputs))
    outputs = result.get("outputs", result) if isinstance(result, dict) else {"result": result}
    return TaskOutput(dict(outputs), {"tool": name})
