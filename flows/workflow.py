"""``run_workflow``: the one generic async Prefect flow behind every run and deployment.

It takes the workflow as a file path or as the document itself, compiles it at run time (a
deployment always runs the file as it is now), checks the inputs, runs the scheduler and
returns the workflow outputs.  The final state is set explicitly from the scheduler's verdict:
``Completed`` with the run result, or ``Failed`` with the error and the same result, so a
failed run still carries every task's record.  Bad workflows, configs and inputs fail the run
with the same messages the CLI prints, before any task starts.

A caller in the same process (the CLI, ``llm_orchestrator.run``) hands the flow what a flow
parameter cannot carry - settings it already resolved, ``offline``, extra hooks such as the CLI's
progress display - through ``local_run`` (a context variable: nothing global changes, and a
deployment's run never sees it).

Async on purpose: in Prefect 3.9 a sync flow pays about a second at exit joining its heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

import flows.integrations  # noqa: F401  (registers the integrations' hooks)
from blocks.clients import Clients, resolve_systems
from blocks.resolve import aload_saved_settings, resolve_settings_with_source
from blocks.settings import ConfigError, OrchestratorSettings
from compiler.compile import CompileOptions, CompileResult, compile_document, compile_file
from compiler.diagnostics import CompilationFailed
from compiler.inputs import InputError, resolve_inputs
from compiler.plan import ExecutionPlan
from flows.artifacts import deferred_publications, finish_publications
from flows.naming import is_generated_name
from flows.redaction import masking
from flows.registry import hooks_for
from flows.scheduler import Scheduler
from flows.tags import tag_flow_run, task_tags_for_run
from tasks.hooks import Hook, HookSet
from tasks.state import JSON, RunResult, WorkflowRun

logger = logging.getLogger("llm_orchestrator")
FLOW_NAME = "llm-workflow"


@dataclass(frozen=True)
class LocalRun:
    """What an in-process caller gives a run besides its parameters (see the module docstring)."""

    settings: OrchestratorSettings | None = None
    offline: bool = False
    hooks: Sequence[Hook] = field(default_factory=tuple)


_LOCAL: contextvars.ContextVar[LocalRun | None] = contextvars.ContextVar("llmo_local_run", default=None)


@contextlib.contextmanager
def local_run(options: LocalRun) -> Iterator[None]:
    """Runs of ``run_workflow`` started inside this block (in this context) use ``options``."""
    token = _LOCAL.set(options)
    try:
        yield
    finally:
        _LOCAL.reset(token)


@functools.lru_cache(maxsize=64)
def _compile_path(path: str, mtime: float, options: CompileOptions) -> CompileResult:
    return compile_file(path, options)


def compile_workflow(workflow: str | Path | Mapping[str, Any], options: CompileOptions | None = None) -> CompileResult:
    """The compile of a workflow given as a path or a document.  A file is compiled once per
    (path, modification time, options): the CLI, the Python API and the flow of one run share it."""
    options = options or CompileOptions()
    if isinstance(workflow, Mapping):
        return compile_document(workflow, f"<{(workflow.get('metadata') or {}).get('name', 'workflow')}>", options)
    path = str(workflow)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = 0.0
    return _compile_path(path, mtime, options)


def load_plan(workflow: str | Path | Mapping[str, Any], options: CompileOptions | None = None) -> ExecutionPlan:
    """The plan of a workflow given as a path or a document; raises CompilationFailed."""
    return compile_workflow(workflow, options).plan


def _fallback_name(workflow: Any) -> str:
    """A name for a run whose workflow did not compile: its metadata.name, or the file's stem."""
    if isinstance(workflow, Mapping):
        return str((workflow.get("metadata") or {}).get("name") or "workflow")
    return Path(str(workflow)).stem if workflow else "workflow"


def _start_naming(naming: list[asyncio.Task[None]], run_id: str, workflow_name: str) -> None:
    if run_id != "local":
        naming.append(asyncio.create_task(_name_flow_run(UUID(run_id), f"{workflow_name}-{run_id[:8]}")))


async def _name_flow_run(flow_run_id: UUID, name: str) -> None:
    """Rename the flow run ``<workflow>-<short id>`` with the run's own API client, unless a
    person named it (``flows.naming``).  Done here rather than with ``@flow(flow_run_name=...)``,
    which renames every run, and costs it a synchronous API client and a blocking lookup of the
    result storage before the flow starts."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    current = FlowRunContext.get()
    if current is not None and current.flow_run is not None and not is_generated_name(current.flow_run.name):
        return  # a name someone gave this run
    try:
        client: Any = get_client()  # inside a flow run: the run's async client
        await client.set_flow_run_name(flow_run_id, name)
    except Exception as exc:  # a name is not worth failing a run for
        logger.warning("could not rename flow run %s to %s: %s", flow_run_id, name, exc)
        return
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        context.flow_run.name = name  # run loggers made from now on use it


async def _saved_settings_or_error(config: Any) -> OrchestratorSettings | ConfigError | None:
    """The saved config block's settings (None: none, or not needed), or the ConfigError."""
    local = _LOCAL.get()
    if config or isinstance(config, Mapping) or (local is not None and local.settings is not None):
        return None
    try:
        return await aload_saved_settings(in_flow_run=True)
    except ConfigError as exc:
        return exc


# The saved config block is read from the flow's on_running hook, the moment Prefect marks the
# run Running, so the request overlaps Prefect's own set-up of the run context (a flow-run read
# and a blocking result-storage lookup) instead of following it.  The run is renamed later, in
# the background while its first tasks start: nothing waits on the name, and the server is busy
# enough at a run's start.
_SAVED: dict[str, asyncio.Task[Any]] = {}


async def _read_config_early(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on_running hook: start reading the saved config block (see ``_SAVED``)."""
    key = str(flow_run.id)
    if key not in _SAVED:
        _SAVED[key] = asyncio.create_task(_saved_settings_or_error((flow_run.parameters or {}).get("config")))


async def _run_ended(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect final-state hook: wait for the run's artifacts; drop a config read never used."""
    leftover = _SAVED.pop(str(flow_run.id), None)
    if leftover is not None:
        leftover.cancel()
    await finish_publications(flow, flow_run, state)


def env_context(settings: OrchestratorSettings) -> dict[str, str]:
    """Only environment variables the config allows are visible to expressions as env.*."""
    return {name: os.environ[name] for name in settings.env_allowlist if name in os.environ}


async def execute_plan(plan: ExecutionPlan, inputs: dict[str, JSON], settings: OrchestratorSettings, run_id: str,
                       *, extra_hooks: Sequence[Hook] = (), task_runner: str = "default", services: Clients | None = None,
                       hook_filter: Callable[[Hook], bool] | None = None) -> RunResult:
    """Run a compiled plan in the current flow run.  ``services``: clients shared with other runs
    (an eval suite's), left open; by default the run builds its own and closes them.
    ``hook_filter``: which of the integrations' hooks join (an eval suite leaves out per-run artifacts)."""
    owned = services is None
    services = services if services is not None else Clients(resolve_systems(settings))
    max_parallel = plan.max_parallel_tasks or settings.concurrency.max_parallel_tasks
    run = WorkflowRun(plan, inputs, services, run_id, env=env_context(settings), max_parallel=max_parallel)
    run.task_tags = await task_tags_for_run(settings.concurrency.task_tags)  # flows.tags: one API read in auto
    try:
        integrations = [hook for hook in hooks_for(run) if hook_filter is None or hook_filter(hook)]
        run.hooks = HookSet([*integrations, *extra_hooks])
    except Exception as exc:  # e.g. an integration's config section that does not validate
        run.error = f"cannot set up the run's integrations: {exc}"
        run.hooks = HookSet(list(extra_hooks))
    try:
        with masking(services.secrets):
            if task_runner == "default":
                return await Scheduler(run).execute()
            from flows.taskrunner import task_runner_for  # --task-runner dask (the [dask] extra)

            async with task_runner_for(run, task_runner):
                return await Scheduler(run).execute()
    finally:
        if owned:
            await services.aclose()


@flow(name=FLOW_NAME, log_prints=False, validate_parameters=True, on_running=[_read_config_early],
      on_completion=[_run_ended], on_failure=[_run_ended], on_crashed=[_run_ended], on_cancellation=[_run_ended])
async def run_workflow(
    workflow: str | dict[str, Any],
    inputs: dict[str, Any] | None = None,
    config: str | dict[str, Any] | None = None,
) -> Any:
    """Run an orchestrator.llm/v1 workflow (a file path or the document) with these inputs."""
    from prefect.runtime import flow_run

    run_id = str(flow_run.id or "local")
    saved = _SAVED.pop(run_id, None) or asyncio.create_task(_saved_settings_or_error(config))
    naming: list[asyncio.Task[None]] = []
    try:
        with deferred_publications():  # the run's artifacts are awaited by the state hooks above
            return await _run(workflow, inputs, config, run_id, saved, naming)
    finally:
        saved.cancel()
        await asyncio.gather(*naming)


def run_settings(config: str | Mapping[str, Any] | None, saved: OrchestratorSettings | None,
                 local: LocalRun | None) -> OrchestratorSettings:
    """The settings of a run: the caller's own (in-process), else the usual resolution order;
    ``offline`` from the caller forces offline whatever the config says."""
    if local is not None and local.settings is not None:
        settings = local.settings
    else:
        settings = resolve_settings_with_source(config, saved=saved)[0]  # `saved` only counts without a config
    if local is not None and local.offline and not settings.offline:
        settings = settings.model_copy(update={"offline": True})
    return settings


async def _run(workflow: str | dict[str, Any], inputs: dict[str, Any] | None, config: str | dict[str, Any] | None,
               run_id: str, saved: asyncio.Task[Any], naming: list[asyncio.Task[None]]) -> State:
    local = _LOCAL.get()
    try:
        block = await saved
        if isinstance(block, ConfigError):
            raise block
        settings = run_settings(config, block, local)
        plan = load_plan(workflow, settings.compile_options())
        values = resolve_inputs(plan, inputs)
        from flows.taskrunner import check_task_runner

        task_runner = check_task_runner(settings)
    except (ConfigError, CompilationFailed, InputError) as exc:
        _start_naming(naming, run_id, _fallback_name(workflow))
        message = one_line(exc)  # a state message is one line in the UI and in Prefect's log
        return Failed(message=message, data={"run_id": run_id, "state": "failed", "error": str(exc), "outputs": {}, "tasks": {}})
    _start_naming(naming, run_id, plan.name)  # in the background while the first tasks start
    naming.append(asyncio.create_task(tag_flow_run(run_id, plan)))  # flows.tags: workflow:<name>, labels
    extra = list(local.hooks) if local is not None else []
    result = await execute_plan(plan, values, settings, run_id, extra_hooks=extra, task_runner=task_runner)
    return run_state(result)


def one_line(error: BaseException) -> str:
    """A multi-line error (one problem or diagnostic per line) as one line: ``a: b; c; hint: d``.
    Prefect logs a final state with ``repr``, which would show each line break as a literal ``\\n``."""
    lines = [line.strip().lstrip("- ").strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(error).__name__
    head, rest = lines[0], lines[1:]
    if head.endswith(":") and rest:
        return f"{head} {'; '.join(rest)}"
    return "; ".join(lines)


def run_state(result: RunResult) -> State:
    data = result.to_json()
    if result.ok:
        return Completed(message=f"{len(result.tasks)} task(s) finished", data=data)
    return Failed(message=result.error or "workflow failed", data=data)
