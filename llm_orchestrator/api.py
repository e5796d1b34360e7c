"""Running workflows from Python: the path the CLI takes, without the CLI.

``run`` resolves the settings (raising ``ConfigError`` with diagnostics), compiles with them
(``CompilationFailed``), checks the inputs (``InputError``), runs the ``run_workflow`` flow in
this process and returns its ``RunResult``.  ``offline`` and ``hooks`` reach the run through
``flows.workflow.local_run``: no environment variable and no module global changes, so two
calls with different options do not leak into each other.  Prefect is imported here, not at
package import, so ``import llm_orchestrator`` stays light.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from blocks.resolve import resolve_settings
from blocks.settings import OrchestratorSettings
from compiler.compile import CompileResult
from compiler.inputs import resolve_inputs
from tasks.hooks import Hook
from tasks.state import RunResult


def run_settings(config: str | Path | None, *, offline: bool = False) -> OrchestratorSettings:
    """The settings of a run started here (``ConfigError`` with diagnostics when they are bad)."""
    settings = resolve_settings(config)
    if offline and not settings.offline:
        settings = settings.model_copy(update={"offline": True})
    return settings


def compile_for(workflow: str | Path | Mapping[str, Any], settings: OrchestratorSettings) -> CompileResult:
    """The workflow compiled with the run's settings (once: the flow re-uses this compile)."""
    from flows.workflow import compile_workflow

    return compile_workflow(workflow if isinstance(workflow, Mapping) else str(workflow), settings.compile_options())


def prepare(workflow: str | Path | Mapping[str, Any], inputs: Mapping[str, Any] | None, config: str | Path | None,
            *, offline: bool = False) -> tuple[OrchestratorSettings, Any, dict[str, Any]]:
    """(settings, plan, checked inputs) for a run: the config resolved and the workflow compiled
    with it, as the CLI does (``ConfigError``, ``CompilationFailed``, ``InputError``)."""
    settings = run_settings(config, offline=offline)
    plan = compile_for(workflow, settings).plan
    return settings, plan, resolve_inputs(plan, dict(inputs or {}))


def run(
    workflow: str | Path | Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
    *,
    config: str | Path | None = None,
    offline: bool = False,
    hooks: Sequence[Hook] = (),
) -> RunResult:
    """Run a workflow (a file or a document) as a Prefect flow in this process; its ``RunResult``.

    ``offline`` serves every LLM call from the offline provider (no network); ``hooks`` join the
    run beside the integrations' (``tasks.hooks.Hook`` subclasses, e.g. a progress display)."""
    settings, _, values = prepare(workflow, inputs, config, offline=offline)
    return run_prepared(workflow, values, config, settings, hooks)


def run_prepared(workflow: str | Path | Mapping[str, Any], values: dict[str, Any], config: str | Path | None,
                 settings: OrchestratorSettings, hooks: Sequence[Hook] = ()) -> RunResult:
    """Run what ``prepare`` returned; the flow gets the settings object itself (never re-read)."""
    from flows.workflow import LocalRun, local_run, run_workflow

    document: str | dict[str, Any] = dict(workflow) if isinstance(workflow, Mapping) else str(workflow)
    with local_run(LocalRun(settings=settings, offline=settings.offline, hooks=tuple(hooks))):
        state: Any = asyncio.run(run_workflow(document, values, str(config) if config else None,  # type: ignore[arg-type]
                                              return_state=True))
    data = state.result(raise_on_failure=False) if state.data is not None else None
    if asyncio.iscoroutine(data):
        data = asyncio.run(data)
    if not isinstance(data, Mapping):
        return RunResult(run_id="", workflow="", state="failed", outputs={}, tasks={},
                         error=state.message or "the flow run failed")
    return RunResult.from_json(data)
