"""Running workflows from Python: the same path the CLI takes, without the CLI.

``run_sync`` compiles (raising ``CompilationFailed`` with diagnostics), checks the inputs
(``InputError``), runs the ``run_workflow`` flow in this process and returns the run result as a
dict (``run_id, state, outputs, tasks, total_cost, ...``).  Prefect is imported here, not at
package import, so ``import llm_orchestrator`` stays light.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from blocks.settings import resolve_settings
from compiler.compile import compile_document, compile_file
from compiler.inputs import resolve_inputs

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def run_sync(
    workflow: str | Path | dict[str, Any],
    inputs: dict[str, Any] | None = None,
    *,
    config: str | Path | None = None,
    offline: bool = False,
    hooks: list[Any] | None = None,
) -> dict[str, Any]:
    if offline:
        os.environ["LLM_ORCHESTRATOR_OFFLINE"] = "1"
    settings = resolve_settings(config)  # raises ConfigError with diagnostics
    from flows.workflow import compile_options

    options = compile_options(settings)
    result = compile_document(workflow, options=options) if isinstance(workflow, dict) else compile_file(workflow, options)
    plan = result.plan  # raises CompilationFailed
    values = resolve_inputs(plan, inputs)  # raises InputError
    return run_flow(workflow if isinstance(workflow, dict) else str(workflow), values, str(config) if config else None, hooks or [])


def run_flow(workflow: str | dict[str, Any], values: dict[str, Any], config: str | None, hooks: list[Any]) -> dict[str, Any]:
    """Run the flow in-process with extra hooks (progress display) and return its result dict."""
    from flows import workflow as workflow_module

    workflow_module._EXTRA_HOOKS.extend(hooks)
    try:
        state: Any = asyncio.run(workflow_module.run_workflow(workflow, values, config, return_state=True))  # type: ignore[arg-type]
        data = state.result(raise_on_failure=False) if state.data is not None else None
        if asyncio.iscoroutine(data):
            data = asyncio.run(data)
    finally:
        for hook in hooks:
            workflow_module._EXTRA_HOOKS.remove(hook)
    if not isinstance(data, dict):
        return {"state": "failed", "error": state.message or "the flow run failed", "outputs": {}, "tasks": {}}
    return data
