"""``--task-runner dask``: a run's task runs on a Dask cluster through ``prefect-dask``.

Choosing the runner: ``orchestrator.task_runner`` in the config (or ``LLM_ORCHESTRATOR_TASK_RUNNER``,
which ``--task-runner`` sets) is ``default``, ``dask`` (a new ``LocalCluster`` per run; its keyword
arguments as JSON in ``LLM_ORCHESTRATOR_DASK_CLUSTER_KWARGS``) or ``dask:<scheduler address>``
(an existing cluster, e.g. ``dask:tcp://dask-scheduler:8786``; ``LLM_ORCHESTRATOR_DASK_ADDRESS``
gives the address for a plain ``dask``).

What runs where: the flow (scheduler, ``if``/inputs evaluation, ``before_node`` hooks such as
policy checks and approvals, ``task_finished``, artifacts) stays in the flow-run process.  Each
task run is submitted to the cluster with ``DaskTaskRunner.submit``.  A Dask worker, possibly on
another machine, has none of the run's live objects (``tasks.runner`` finds them by run key in
its own process), so the task is ``execute_node_remote``: its first parameter is a ``RemoteRun``,
a small picklable description of the run (the compiled plan, *as the flow holds it* -- with any
applied recommendations -- pickled; the settings; inputs; allowed env; run id).  In the worker it
rebuilds a ``WorkflowRun`` with fresh services and the in-task hooks from ``hooks_for``
(budget reservation, cost ledger, ...), registers it under a worker-local key, runs the ordinary
``execute_node`` body and closes the services.  The same path is taken when the workers are
threads of this process, so what the tests exercise is what a cluster runs.

Consequences (documented in the README): the ledger, budgets and caches must be shared by every
worker machine (PostgreSQL ``storage.url``, shared result storage); auto-evaluation and the
Auto-Optimizer's in-task resource metrics only run for tasks executed in the flow process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
from prefect import task

from blocks.settings import ConfigError, OrchestratorSettings
from compiler.diagnostics import Diagnostic
from tasks.runner import cache_key, cache_key_for, execute_node, options_for, register_run, unregister_run

TASK_RUNNER_ENV = "LLM_ORCHESTRATOR_TASK_RUNNER"
DASK_ADDRESS_ENV = "LLM_ORCHESTRATOR_DASK_ADDRESS"
DASK_CLUSTER_KWARGS_ENV = "LLM_ORCHESTRATOR_DASK_CLUSTER_KWARGS"
CHOICES = ("default", "dask", "dask:<scheduler address>")


def task_runner_choice(settings: OrchestratorSettings) -> str:
    """The effective task runner: the environment (``--task-runner``) over the config."""
    return (os.environ.get(TASK_RUNNER_ENV) or settings.task_runner or "default").strip()


def check_task_runner(settings: OrchestratorSettings) -> str:
    """Validate the choice before any task starts; raises ``ConfigError`` with a clear message."""
    choice = task_runner_choice(settings)
    if choice in ("default", "thread", "threads"):
        return "default"
    if choice != "dask" and not choice.startswith("dask:"):
        raise ConfigError([Diagnostic("C203", f"task_runner: unknown task runner '{choice}' "
                                      f"(use {', '.join(repr(c) for c in CHOICES)})", "<config>")])
    try:
        import prefect_dask  # noqa: F401
    except ImportError:
        raise ConfigError([Diagnostic("C204", "task_runner: 'dask' needs the dask extra: "
                                      "pip install 'llm-orchestrator[dask]'", "<config>")]) from None
    if choice == "dask" and not os.environ.get(DASK_ADDRESS_ENV):
        try:
            kwargs = json.loads(os.environ.get(DASK_CLUSTER_KWARGS_ENV) or "{}")
        except ValueError as exc:
            raise ConfigError([Diagnostic("C205", f"{DASK_CLUSTER_KWARGS_ENV} is not JSON: {exc}", "<env>")]) from None
        if not isinstance(kwargs, Mapping):
            raise ConfigError([Diagnostic("C205", f"{DASK_CLUSTER_KWARGS_ENV} must be a JSON object", "<env>")])
    return choice


def make_dask_runner(choice: str) -> Any:
    from prefect_dask.task_runners import DaskTaskRunner

    address = choice.partition(":")[2] or os.environ.get(DASK_ADDRESS_ENV) or None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs=json.loads(os.environ.get(DASK_CLUSTER_KWARGS_ENV) or "{}"))


# -- the run, as a worker sees it --------------------------------------------------------------


_PLANS: OrderedDict[str, Any] = OrderedDict()


def _loads_cached(blob: bytes) -> Any:
    key = hashlib.sha256(blob).hexdigest()
    if key not in _PLANS:
        _PLANS[key] = cloudpickle.loads(blob)
        while len(_PLANS) > 16:
            _PLANS.popitem(last=False)
    _PLANS.move_to_end(key)
    return _PLANS[key]


@dataclass
class RemoteRun:
    """Everything a worker needs to rebuild a run; plan and settings as pickled bytes (opaque to
    Prefect's parameter traversal, cheap to ship, unpickled once per worker process)."""

    run_id: str
    plan_blob: bytes
    settings_blob: bytes
    inputs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, run: Any) -> RemoteRun:
        return cls(run_id=run.run_id, plan_blob=cloudpickle.dumps(run.plan),
                   settings_blob=cloudpickle.dumps(run.services.settings),
                   inputs=dict(run.inputs or {}), env=dict(run.env or {}))

    def plan(self) -> Any:
        return _loads_cached(self.plan_blob)

    def settings(self) -> OrchestratorSettings:
        settings: OrchestratorSettings = _loads_cached(self.settings_blob)
        return settings

    def __repr__(self) -> str:  # shown in task-run parameters and logs: keep it short
        return f"RemoteRun(run_id={self.run_id!r})"


@asynccontextmanager
async def attached(remote: RemoteRun) -> AsyncIterator[Any]:
    """A ``WorkflowRun`` rebuilt in this process, registered for ``execute_node``, then closed."""
    import flows.integrations  # noqa: F401  (the integrations' hooks, in a fresh worker process)
    from blocks.clients import Clients
    from flows.registry import hooks_for
    from tasks.hooks import HookSet
    from tasks.state import WorkflowRun

    services = Clients(remote.settings())
    run = WorkflowRun(remote.plan(), dict(remote.inputs), services, remote.run_id, env=remote.env)
    run.run_key = f"{remote.run_id}-worker-{uuid.uuid4().hex[:12]}"
    run.hooks = HookSet(hooks_for(run))
    register_run(run.run_key, run)
    try:
        yield run
    finally:
        unregister_run(run.run_key)
        await services.aclose()


async def run_remote_node(
    remote: RemoteRun,
    run_key: str,
    node_id: str,
    inputs: dict[str, Any],
    item: Any = None,
    index: int | None = None,
    cache_token: Any = None,
) -> dict[str, Any]:
    """``execute_node`` on a Dask worker: the run is rebuilt from ``remote`` (``run_key`` is the
    flow's key, kept for the cache key and for the record)."""
    async with attached(remote) as run:
        return await execute_node.fn(run.run_key, node_id, inputs, item, index, cache_token)


# A module-level function under its own name, so Dask pickles the task's function by reference
# (a worker imports this module) instead of by value with everything it refers to.
execute_node_remote = task(persist_result=False, name="execute_node")(run_remote_node)


def remote_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """The same key ``tasks.runner.cache_key`` gives in the flow process (so runs on either
    runner share cached results)."""
    return cache_key_for(parameters["remote"].plan(), parameters)


def remote_options(node: Any, index: int | None) -> dict[str, Any]:
    options = options_for(node, index=index)
    if options.get("cache_key_fn") is cache_key:
        options["cache_key_fn"] = remote_cache_key
    return options


def _final_state(future: Any) -> Any:
    from prefect.client.schemas.objects import State
    from prefect.states import Completed, Failed

    try:
        result = future.wrapped_future.result()
    except BaseException as exc:  # the worker died or the cluster went away
        return Failed(message=f"task run lost on the Dask cluster: {type(exc).__name__}: {exc}", data=exc)
    if isinstance(result, State):
        return result
    return Completed(data=result)


class DaskExecution:
    """Set as ``run.remote`` by the flow: the scheduler sends each task run through ``call``."""

    def __init__(self, runner: Any, run: Any) -> None:
        self.runner = runner
        self.run = run
        self._remote: RemoteRun | None = None
        self._plan: Any = None

    def remote(self) -> RemoteRun:
        if self._remote is None or self._plan is not self.run.plan:  # before_workflow may swap the plan
            self._plan = self.run.plan
            self._remote = RemoteRun.of(self.run)
        return self._remote

    async def call(self, node: Any, inputs: dict[str, Any], token: Any, item: Any, index: int | None,
                   wait_for: list[Any] | None) -> Any:
        options = remote_options(node, index)
        options["tags"] = list(self.run.task_tags.for_node(node))  # the run's tag decision (flows.tags)
        task_obj = execute_node_remote.with_options(**options)
        parameters = {"remote": self.remote(), "run_key": self.run.run_key, "node_id": node.id, "inputs": inputs,
                      "item": item, "index": index, "cache_token": token}
        future = self.runner.submit(task_obj, parameters=parameters, wait_for=wait_for)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def _wake(_: Any) -> None:
            def _set() -> None:
                if not done.done():
                    done.set_result(None)

            try:
                loop.call_soon_threadsafe(_set)
            except RuntimeError:  # the loop is gone (the flow run was torn down)
                pass

        future.wrapped_future.add_done_callback(_wake)
        await done
        return await asyncio.to_thread(_final_state, future)


@asynccontextmanager
async def task_runner_for(run: Any, choice: str) -> AsyncIterator[None]:
    """Start the run's Dask task runner (``choice`` from ``check_task_runner``) and route the
    scheduler's task runs through it; the cluster (when created here) is closed on exit."""
    if choice == "default":
        yield
        return
    runner = make_dask_runner(choice)
    runner.__enter__()
    try:
        await asyncio.to_thread(lambda: runner.client)  # connect / start the cluster off the event loop
        run.remote = DaskExecution(runner, run)
        yield
    finally:
        run.remote = None
        await asyncio.to_thread(runner.__exit__, None, None, None)
