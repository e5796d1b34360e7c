"""The orchestrator's own executors: quality gates, alerts and JSON/text transforms.

``orchestrator:template`` substitutes ``{{ name }}`` placeholders by plain lookup in ``values``:
there is no expression evaluation in a template, so a value that itself contains ``{{ x }}`` or
``${{ x }}`` (an LLM response, say) is inserted as text and never evaluated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from compiler.catalogue import PLACEHOLDER
from compiler.expressions.values import to_string
from compiler.expressions.values import truthy as is_truthy
from tasks.base import ExecutorContext, TaskOutput
from tasks.errors import AssertionFailed, ExecutorError

_LEVELS = {"info": logging.INFO, "low": logging.INFO, "medium": logging.WARNING, "high": logging.ERROR, "critical": logging.CRITICAL}


async def run_assert(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    if not is_truthy(inputs.get("condition")):
        raise AssertionFailed(str(inputs.get("error_message") or "assertion failed"))
    return TaskOutput({"passed": True})


async def run_alert(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    severity = str(inputs.get("severity") or "info")
    message = str(inputs.get("message", ""))
    title = inputs.get("title") or f"{ctx.workflow_name}: {ctx.task_id}"
    ctx.logger.log(_LEVELS.get(severity, logging.INFO), "[%s] %s: %s", severity.upper(), title, message)
    webhook = inputs.get("webhook") or _configured_webhook(ctx)
    delivered = False
    if webhook:
        payload: dict[str, Any] = {
            "text": f"*[{severity.upper()}]* {title}\n{message}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": f"[{severity.upper()}] {title}"[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message[:2900] or "(no message)"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"workflow `{ctx.workflow_name}` · run `{ctx.run_id}` · task `{ctx.task_id}`"}]},
            ],
        }
        if inputs.get("details"):
            payload["blocks"].insert(2, {"type": "section", "text": {"type": "mrkdwn", "text": "```" + json.dumps(inputs["details"], indent=2)[:2800] + "```"}})
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(str(webhook), json=payload)
        except httpx.HTTPError as exc:
            raise ExecutorError(f"alert webhook unreachable: {type(exc).__name__}", retryable=True, kind="service_unavailable") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ExecutorError(f"alert webhook answered HTTP {response.status_code}", retryable=True, kind="service_unavailable")
        if response.status_code >= 400:
            raise ExecutorError(f"alert webhook rejected the message: HTTP {response.status_code}")
        delivered = True
    return TaskOutput({"delivered": delivered, "severity": severity})


def _configured_webhook(ctx: ExecutorContext) -> str | None:
    settings = getattr(ctx.services, "settings", None)
    notifications = getattr(settings, "notifications", None)
    url = getattr(notifications, "webhook_url", None)
    if url is None:
        return None
    secret = getattr(url, "get_secret_value", None)
    return str(secret() if callable(secret) else url)


def _pick(data: Any, path: str, default: Any) -> Any:
    current = data
    for part in path.split(".") if path else []:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


async def run_json(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    data = inputs.get("data")
    if inputs.get("parse") is not None:
        text = str(inputs["parse"]).strip()
        if text.startswith("```"):
            text = text.strip("`")
            text = text[4:] if text.lower().startswith("json") else text
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ExecutorError(f"input 'parse' is not valid JSON: {exc}") from exc
    for extra in inputs.get("merge") or []:
        if not isinstance(extra, Mapping):
            raise ExecutorError("every item of 'merge' must be an object")
        data = {**(data if isinstance(data, Mapping) else {}), **extra}
    pick = inputs.get("pick")
    default = inputs.get("default")
    if isinstance(pick, str):
        data = _pick(data, pick, default)
    elif isinstance(pick, Mapping):
        data = {name: _pick(data, str(path), default) for name, path in pick.items()}
    return TaskOutput({"result": data})


async def run_template(inputs: dict[str, Any], ctx: ExecutorContext) -> TaskOutput:
    template = str(inputs.get("template", ""))
    values = inputs.get("values") or {}
    missing: list[str] = []

    def substitute(match: Any) -> str:
        name = match.group(1)
        value = _pick(values, name, _MISSING)
        if value is _MISSING:
            missing.append(name)
            return ""
        return to_string(value)

    text = PLACEHOLDER.sub(substitute, template)
    if missing:
        raise ExecutorError(f"template placeholders without a value: {', '.join(sorted(set(missing)))}")
    return TaskOutput({"text": text})


_MISSING = object()
