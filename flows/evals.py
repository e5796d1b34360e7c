"""``run_eval_suite``: every (case x variant x repeat) of an ``EvalSuite`` as a workflow run, judged.

One parent Prefect flow runs the suite.  Each variant's workflow document is compiled once (per
repeat, see caching); each run of a case goes through ``flows.workflow.execute_plan`` - the
engine behind ``run_workflow``: the same scheduler, Prefect task runs, retries, Governance
(ledger, budgets, policies) and Test-Bench hooks - inside the parent flow run, at most
``concurrency`` at once (that many asyncio workers each take the next run; the suite's
``concurrency``, or ``--concurrency``).
Its task runs therefore go wherever the run's task runner sends them (``--task-runner dask``).
The runs are not subflow runs: a flow run per case would cost the server a flow run's creation,
state changes and artifacts 400 times over for a 200 x 2 suite (``bench/eval.py`` measures the
suite against the same runs started directly).  What the runs share is one set of clients
(``blocks.clients.Clients``: one Forge with its rate limits and connection pools, one store).

Per-run extras are left out: per-run artifacts (the suite publishes one comparison instead), and
the Auto-Optimizer's metric collection and applying of recommendations - a variant's metrics
would read as the workflow's own history, and recommendations would change what is compared.
Eval runs run with the annotation ``auto-optimizer.enabled: "false"``; their evidence reaches
the optimizer as stored suite results (``ecosystem.store.evals``).

**Cached LLM calls.**  Every ``llm-forge`` inference task of an eval run gets a Prefect cache
policy (``tasks.runner.cache_key``): the key is the workflow, task, executor and the task's
rendered inputs - prompt, system, messages, ``config`` with the model and every call parameter,
cache markers: the whole request Forge sends - plus ``call_fingerprint`` of the Forge settings
that change an answer without changing the request (offline or not, canned offline answers and
offline costs, endpoints and base URLs, default models), the repeat number (repeats are independent samples)
and the task's declared outputs.  A re-run with nothing changed is served from the cache and
makes no provider call; changing a prompt, a model or a case re-runs only what it touches.  The
answers are kept in Prefect's result storage (``PREFECT_LOCAL_STORAGE_PATH`` by default, or the
configured default result storage block, which workers on several machines must share) for
``CACHE_TTL``.  A task that says ``cache: false`` is never cached; one with its own ``cache``
keeps its TTL and key, with the fingerprint added.  ``cache=False`` (``--no-cache``) turns it off.

**Judging.**  A run passes when the workflow completed and every check held: ``MetricCheck``s
through ``services.testbench`` (embedded or remote, the configured judge), ``LimitCheck``s on
the run's cost and latency.  A run that cannot be judged (the workflow failed, a metric errored,
a variant that does not compile, inputs a variant rejects, an engine error) is ``errored`` and
does not pass; it never aborts the suite.  See ``ecosystem.testbench.suites`` for how cost and
latency are counted for runs served from the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from blocks.clients import Clients, resolve_systems
from blocks.settings import ConfigError, OrchestratorSettings
from compiler.compile import compile_document
from compiler.diagnostics import Diagnostic
from compiler.document import CachePolicy
from compiler.inputs import InputError, resolve_inputs
from compiler.plan import ExecutionPlan, PlanNode
from compiler.suite import compile_suite
from compiler.suite_plan import Case, LimitCheck, MetricCheck, SuitePlan, SuiteRun, Variant
from ecosystem.forge import ForgeSettings
from ecosystem.testbench import EvaluationRequest
from ecosystem.testbench.suites import (
    CaseInfo,
    CaseRun,
    CheckResult,
    SuiteResults,
    VariantInfo,
    weighted_score,
)
from flows.artifacts import ArtifactHook, artifact_key
from flows.eval_report import cases_display, headline, markdown, records, variants_frame
from flows.integrations.optimizer import ENABLED_ANNOTATION
from flows.workflow import LocalRun, execute_plan, run_settings
from tasks.hooks import Hook
from tasks.state import JSON, RunResult, TaskRecord

logger = logging.getLogger("llm_orchestrator.evals")
EVAL_FLOW_NAME = "llm-eval-suite"
CACHE_TTL = 30 * 24 * 3600.0
OUTPUT_LIMIT = 4000  # characters kept of each string in a run's outputs

Progress = Callable[[CaseRun, int, int], None]  # (the run just judged, runs done, runs in all)


@dataclass(frozen=True)
class LocalEval:
    """What an in-process caller (the CLI) gives a suite run besides its parameters: settings it
    resolved, ``offline``, the plan it already compiled, a progress callback."""

    settings: OrchestratorSettings | None = None
    offline: bool = False
    plan: SuitePlan | None = None
    progress: Progress | None = None


_LOCAL: contextvars.ContextVar[LocalEval | None] = contextvars.ContextVar("llmo_local_eval", default=None)


@contextlib.contextmanager
def local_eval(options: LocalEval) -> Iterator[None]:
    """Runs of ``run_eval_suite`` started inside this block (in this context) use ``options``."""
    token = _LOCAL.set(options)
    try:
        yield
    finally:
        _LOCAL.reset(token)


# -- the call cache ------------------------------------------------------------------------------


def call_fingerprint(forge: ForgeSettings) -> str:
    """What in Forge's settings changes an answer without changing the request (see the docstring)."""
    material = {
        "offline": forge.offline,
        "offline_responses": forge.offline_responses if forge.offline else None,
        # Offline, the reported cost is configuration too: a changed one must not be served stale.
        "offline_models": {m: spec.model_dump() for m, spec in sorted(forge.offline_models.items())} if forge.offline else None,
        "offline_cost": forge.offline_cost if forge.offline else None,
        "endpoint": forge.endpoint,
        "base_urls": forge.base_urls,
        "endpoints": {name: {"base_url": e.base_url, "default_model": e.default_model}
                      for name, e in sorted(forge.endpoints.items())},
        "default_models": forge.default_models,
        "default_provider": forge.default_provider,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:24]


def is_inference(node: PlanNode) -> bool:
    return node.type == "llm" and node.executor.namespace == "llm-forge" and node.executor.name != "tool"


def cached_calls(plan: ExecutionPlan, fingerprint: str, repeat: int, ttl: float = CACHE_TTL) -> ExecutionPlan:
    """``plan`` with a cache policy on every inference task (a new plan; see the module docstring)."""
    changed: dict[str, PlanNode] = {}
    for node in plan.nodes.values():
        if not is_inference(node) or (node.cache is not None and not node.cache.enabled):
            continue
        outputs = hashlib.sha256(json.dumps(dict(node.declared_outputs), sort_keys=True).encode()).hexdigest()[:12]
        key = f"eval:{fingerprint}:r{repeat}:{outputs}"
        if node.cache is not None and node.cache.key:
            key = f"{key} {node.cache.key}"
        changed[node.id] = replace(node, cache=CachePolicy(ttl=node.cache.ttl if node.cache else ttl, key=key))
    if not changed:
        return plan
    return replace(plan, nodes=MappingProxyType({**plan.nodes, **changed}))


# -- measuring a run -----------------------------------------------------------------------------


def run_cost(result: RunResult) -> float | None:
    """What the run's calls cost when they were made (cached ones included); None if any is unknown
    (an unpriced model, or an inference task that failed: its calls may have been billed)."""
    total = 0.0
    for record in result.tasks.values():
        if record.state == "failed" and record.type == "llm" and record.executor.startswith("llm-forge:") \
                and not record.executor.startswith("llm-forge:tool:"):
            return None
        if record.state not in ("completed", "cached") or "cost" not in record.metadata:
            continue
        value = record.metadata.get("cost")
        if not isinstance(value, int | float):
            return None
        total += float(value)
    return round(total, 10)


def _task_seconds(record: TaskRecord) -> float:
    if record.state in ("pending", "running", "skipped"):
        return 0.0
    measured = record.metadata.get("execution_time")
    if isinstance(measured, int | float):
        return float(measured)
    return float(record.duration or 0.0)


def critical_path_ms(plan: ExecutionPlan, result: RunResult) -> float | None:
    """The run's latency: the longest dependency chain of its tasks' executor times (events after
    the main graph).  None when no task ran."""
    if not any(r.started is not None and r.state != "skipped" for r in result.tasks.values()):
        return None
    finish: dict[str, float] = {}

    def longest(ids: list[str], start: float) -> float:
        # Kahn's order over ``ids`` (iterative: a 10,000-task chain must not exhaust the stack).
        members = set(ids)
        waiting = {i: {d for d in plan.nodes[i].depends_on if d in members} for i in ids}
        dependents: dict[str, list[str]] = {i: [] for i in ids}
        for i, deps in waiting.items():
            for d in deps:
                dependents[d].append(i)
        ready = [i for i, deps in waiting.items() if not deps]
        end = start
        while ready:
            node_id = ready.pop()
            after = max([start, *(finish.get(d, 0.0) for d in plan.nodes[node_id].depends_on if d in plan.nodes)])
            record = result.tasks.get(node_id)
            finish[node_id] = after + (_task_seconds(record) if record is not None else 0.0)
            end = max(end, finish[node_id])
            for child in dependents[node_id]:
                waiting[child].discard(node_id)
                if not waiting[child]:
                    ready.append(child)
        return end

    main_end = longest([i for i, n in plan.nodes.items() if n.event is None], 0.0)
    end = longest([i for i, n in plan.nodes.items() if n.event is not None], main_end)
    return round(1000 * end, 3)


def _bounded(value: JSON, redact: Callable[[str], str], depth: int = 0) -> JSON:
    if isinstance(value, str):
        text = redact(value)
        return text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT] + "…"
    if depth > 20:
        return None
    if isinstance(value, Mapping):
        return {str(k): _bounded(v, redact, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v, redact, depth + 1) for v in value]
    return value


def _per_suite_hooks(hook: Hook) -> bool:
    return not isinstance(hook, ArtifactHook)  # the suite publishes one comparison, not a set per run


# -- the runner ----------------------------------------------------------------------------------


class SuiteRunner:
    """Runs one suite plan with one set of clients (see the module docstring)."""

    def __init__(self, plan: SuitePlan, settings: OrchestratorSettings, services: Clients, *, suite_run_id: str,
                 concurrency: int | None = None, cache: bool = True, progress: Progress | None = None,
                 task_runner: str = "default") -> None:
        self.plan = plan
        self.settings = settings
        self.services = services
        self.suite_run_id = suite_run_id
        self.concurrency = max(1, concurrency or plan.concurrency)
        self.cache = cache
        self.progress = progress
        self.task_runner = task_runner
        self.redact = services.redactor.redact
        self.plans: dict[tuple[str, int], ExecutionPlan | str] = {}

    def compile_variants(self) -> list[str]:
        """One compile per variant (a plan per repeat when caching); a sentence per variant that fails."""
        problems = []
        options = self.settings.compile_options()
        fingerprint = call_fingerprint(self.services.systems.forge)
        for variant in self.plan.variants:
            document = self.plan.document_for(variant)
            metadata = document.setdefault("metadata", {})
            if isinstance(metadata, dict):
                metadata["annotations"] = {**dict(metadata.get("annotations") or {}), ENABLED_ANNOTATION: "false"}
            compiled = compile_document(document, self.plan.workflow_file, options)
            if not compiled.ok:
                rendered = "; ".join(d.render().replace("\n", " ") for d in compiled.errors)
                problem = f"variant {variant.label} does not compile: {rendered}"
                problems.append(problem)
                for repeat in range(self.plan.repeat):
                    self.plans[(variant.id, repeat)] = problem
                continue
            for repeat in range(self.plan.repeat):
                plan = compiled.plans[0]
                self.plans[(variant.id, repeat)] = cached_calls(plan, fingerprint, repeat) if self.cache else plan
        return problems

    async def run(self) -> SuiteResults:
        started = datetime.now(UTC)
        warnings = self.compile_variants()
        planned = list(self.plan.runs())
        # Interleaved (repeat, case, variant) so that partial results compare variants on the same cases.
        position = {v.id: i for i, v in enumerate(self.plan.variants)}
        case_index = {c.id: i for i, c in enumerate(self.plan.cases)}
        order = sorted(range(len(planned)), key=lambda i: (planned[i].repeat, case_index[planned[i].case.id],
                                                            position[planned[i].variant.id]))
        judged: dict[int, CaseRun] = {}
        pending = iter(order)

        async def worker() -> None:
            # ``concurrency`` workers pull the next run: at most that many in flight, and no
            # coroutine per run waiting its turn (a suite may hold millions of runs).
            for index in pending:
                outcome = judged[index] = await self.one(planned[index])
                if self.progress is not None:
                    try:
                        self.progress(outcome, len(judged), len(planned))
                    except Exception:  # a display must never stop the suite
                        logger.exception("the progress callback failed")

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(planned)) or 1)))
        return SuiteResults(
            suite=self.plan.name, workflow=self.plan.workflow.name, suite_file=self.plan.file,
            workflow_file=self.plan.workflow_file, suite_run_id=self.suite_run_id, repeat=self.plan.repeat,
            variants=[VariantInfo(v.id, v.label, {t: m.model for t, m in v.models.items()}, tuple(v.choices))
                      for v in self.plan.variants],
            cases=[CaseInfo(c.id, tuple(c.tags), c.source, c.description) for c in self.plan.cases],
            runs=[judged[i] for i in range(len(planned))],
            fail_under={r.measure: r.minimum for r in self.plan.fail_under},
            started_at=started, finished_at=datetime.now(UTC), warnings=warnings,
        )

    async def one(self, item: SuiteRun) -> CaseRun:
        case, variant, repeat = item.case, item.variant, item.repeat
        run_id = str(uuid.uuid4())

        def error(message: str) -> CaseRun:
            return CaseRun(case.id, variant.id, repeat, run_id, "error", passed=False, errored=True,
                           error=self.redact(message))

        compiled = self.plans.get((variant.id, repeat))
        if compiled is None or isinstance(compiled, str):
            return error(compiled or f"variant {variant.label} was not compiled")
        try:
            inputs = resolve_inputs(compiled, self.plan.inputs_for(case, variant))
        except InputError as exc:
            return error(str(exc))
        try:
            result = await execute_plan(compiled, inputs, self.settings, run_id, services=self.services,
                                        hook_filter=_per_suite_hooks, task_runner=self.task_runner)
            return await self.judge(case, variant, repeat, compiled, result)
        except Exception as exc:  # one run's engine error is that run's, never the suite's
            logger.warning("eval run of case '%s' under %s failed to run: %s", case.id, variant.label, exc)
            return error(f"{type(exc).__name__}: {exc}")

    async def judge(self, case: Case, variant: Variant, repeat: int, plan: ExecutionPlan, result: RunResult) -> CaseRun:
        cost = run_cost(result)
        latency = critical_path_ms(plan, result)
        outputs = _bounded(dict(result.outputs), self.redact)
        measured = dict(
            outputs=outputs, cost_usd=cost, spent_usd=result.total_cost, latency_ms=latency,
            cached_tasks=sum(r.state == "cached" for r in result.tasks.values()),
            provider_calls=sum(r.attempts for r in result.tasks.values()
                               if r.state in ("completed", "failed") and r.id in plan.nodes
                               and is_inference(plan.nodes[r.id])),
        )
        if not result.ok:
            return CaseRun(case.id, variant.id, repeat, result.run_id, "failed", passed=False, errored=True,
                           error=self.redact(result.error or "the workflow failed"), **measured)
        checks: list[tuple[CheckResult, float]] = []
        metric_checks = [c for c in case.checks if isinstance(c, MetricCheck)]
        scored = await asyncio.gather(*(self.metric(c, result.outputs) for c in metric_checks))
        for check, found in zip(metric_checks, scored, strict=True):
            checks.append((found, check.weight))
        for limit in case.checks:
            if isinstance(limit, LimitCheck):
                checks.append((_limit(limit, cost, latency), 0.0))
        order = {c.name: i for i, c in enumerate(case.checks)}
        checks.sort(key=lambda pair: order.get(pair[0].name, 0))
        errored = any(c.errored for c, _ in checks)
        return CaseRun(
            case.id, variant.id, repeat, result.run_id, "completed",
            passed=not errored and all(c.passed for c, _ in checks), errored=errored,
            error="; ".join(f"{c.name}: {c.detail}" for c, _ in checks if c.errored) or None,
            score=weighted_score(checks), checks=tuple(c for c, _ in checks), **measured,
        )

    async def metric(self, check: MetricCheck, outputs: Mapping[str, JSON]) -> CheckResult:
        value = outputs.get(check.output)
        if value is None:
            return CheckResult(check.name, "metric", passed=False, score=0.0,
                               detail=f"the workflow gave no output '{check.output}'")
        prompt = check.prompt if check.prompt is None or isinstance(check.prompt, str) else json.dumps(check.prompt)
        try:
            request = EvaluationRequest(
                task_id=check.name, response=value, ground_truth=check.ground_truth, prompt=prompt,
                metrics=[check.metric],
                thresholds={check.metric: check.threshold} if check.threshold is not None else {},
                options={check.metric: dict(check.options)} if check.options else {},
            )
            response = await self.services.testbench.evaluate(request)
        except Exception as exc:  # an unreachable Test-Bench or judge: this check errored, the run goes on
            return CheckResult(check.name, "metric", passed=False, errored=True,
                               detail=self.redact(f"{type(exc).__name__}: {exc}"))
        found = response.metrics.get(check.metric) or next(iter(response.metrics.values()), None)
        if found is None:
            return CheckResult(check.name, "metric", passed=False, errored=True, detail="Test-Bench returned no score")
        if found.errored:
            return CheckResult(check.name, "metric", passed=False, errored=True,
                               detail=self.redact(found.explanation or "the metric could not be computed"))
        return CheckResult(check.name, "metric", passed=bool(found.passed), score=float(found.score),
                           detail=self.redact(found.explanation) if found.explanation else None)


def _limit(check: LimitCheck, cost: float | None, latency_ms: float | None) -> CheckResult:
    value = cost if check.measure == "cost_usd" else latency_ms
    if value is None:
        why = "the cost is unknown (a model without a price)" if check.measure == "cost_usd" else "no task ran"
        return CheckResult(check.name, "limit", passed=False, errored=True, detail=why)
    ok = value <= check.max + 1e-12
    return CheckResult(check.name, "limit", passed=ok,
                       detail=f"{_measure(check, value)} {'<=' if ok else '>'} {_measure(check, check.max)}")


def _measure(check: LimitCheck, value: float) -> str:
    return f"${value:.6f}" if check.measure == "cost_usd" else f"{value:.0f} ms"


async def execute_suite(plan: SuitePlan, settings: OrchestratorSettings, *, suite_run_id: str | None = None,
                        concurrency: int | None = None, cache: bool = True, fail_under: Mapping[str, float] | None = None,
                        progress: Progress | None = None, task_runner: str = "default", store: bool = True) -> SuiteResults:
    """Run every case of ``plan`` under every variant; judged, summarised and (``store``) kept in the store.
    Raises ``ConfigError`` only for settings the clients cannot be built from."""
    services = Clients(resolve_systems(settings))
    try:
        runner = SuiteRunner(plan, settings, services, suite_run_id=suite_run_id or str(uuid.uuid4()),
                             concurrency=concurrency, cache=cache, progress=progress, task_runner=task_runner)
        results = await runner.run()
        if fail_under is not None:
            results = results.with_rules(fail_under)
        if store:
            try:
                await services.run_blocking(results.save, services.store())
            except Exception as exc:  # the results are still returned and published
                message = f"the results could not be kept in the store: {services.redactor.redact(str(exc))}"
                logger.warning(message)
                results.warnings.append(message)
        return results
    finally:
        await services.aclose()


# -- the flow ------------------------------------------------------------------------------------


class _LiveProgress:
    """A Prefect progress artifact for the suite, updated at most every half second."""

    def __init__(self, suite: str) -> None:
        self.key = artifact_key(suite, "eval-progress")
        self.suite = suite
        self.created: asyncio.Task[Any] | None = None
        self.updates: list[asyncio.Task[Any]] = []
        self.last = 0.0

    def start(self) -> None:
        from prefect.artifacts import ProgressArtifact

        artifact = ProgressArtifact(progress=0.0, key=self.key, description=f"{self.suite}: eval runs finished")
        self.created = asyncio.create_task(artifact.acreate())

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.created is None or (done < total and now - self.last < 0.5):
            return
        self.last = now
        self.updates.append(asyncio.create_task(self._send(round(100.0 * done / max(1, total), 1))))

    async def _send(self, percent: float) -> None:
        from prefect.artifacts import aupdate_progress_artifact

        assert self.created is not None
        created = await self.created
        await aupdate_progress_artifact(created.id, percent)

    async def finish(self) -> None:
        pending = [*( [self.created] if self.created else []), *self.updates]
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                logger.warning("updating the suite's progress artifact failed: %s", outcome)


async def publish(results: SuiteResults) -> None:
    """The suite's artifacts: the markdown comparison and tables of variants and cases."""
    from prefect.artifacts import MarkdownArtifact, TableArtifact

    name = results.suite
    sends = [
        MarkdownArtifact(markdown=markdown(results), key=artifact_key(name, "eval"),
                         description=f"{name}: {headline(results)}").acreate(),
        TableArtifact(table=records(variants_frame(results)), key=artifact_key(name, "eval-variants"),
                      description="Per variant: pass rate (Wilson interval), scores, cost (USD), latency (s)").acreate(),
        TableArtifact(table=records(cases_display(results)), key=artifact_key(name, "eval-cases"),
                      description="Per case: each variant's verdict and outputs, side by side").acreate(),
    ]
    for outcome in await asyncio.gather(*sends, return_exceptions=True):
        if isinstance(outcome, BaseException):
            logger.error("publishing the suite's artifacts failed: %s: %s", type(outcome).__name__, outcome)


def _failed(message: str, diagnostics: list[Diagnostic] | None = None) -> State:
    data = {"state": "error", "error": message, "diagnostics": [d.to_json() for d in diagnostics or []]}
    return Failed(message=message, data=data)


@flow(name=EVAL_FLOW_NAME, log_prints=False, validate_parameters=True)
async def run_eval_suite(
    suite: str,
    config: str | dict[str, Any] | None = None,
    concurrency: int | None = None,
    fail_under: dict[str, float] | None = None,
    cache: bool = True,
) -> Any:
    """Run an orchestrator.llm/v1 EvalSuite file: every case under every variant, judged and compared."""
    from prefect.runtime import flow_run

    from blocks.resolve import aload_saved_settings
    from flows.taskrunner import check_task_runner

    local = _LOCAL.get()
    suite_run_id = str(flow_run.id or uuid.uuid4())
    try:
        saved = None
        if not config and (local is None or local.settings is None):
            saved = await aload_saved_settings(in_flow_run=True)
        settings = run_settings(config, saved, LocalRun(settings=local.settings, offline=local.offline) if local else None)
        plan = local.plan if local is not None and local.plan is not None else None
        warnings: list[str] = []
        if plan is None:
            compiled = compile_suite(suite, settings.compile_options())
            if not compiled.ok or compiled.plan is None:
                rendered = "\n".join(d.render() for d in compiled.errors) or f"{suite}: not a suite"
                return _failed(rendered, compiled.diagnostics)
            plan = compiled.plan
            warnings = [d.render() for d in compiled.warnings]
        task_runner = check_task_runner(settings)
    except ConfigError as exc:
        return _failed(str(exc), list(exc.diagnostics))
    live = _LiveProgress(plan.name)
    live.start()
    callback = local.progress if local is not None else None

    def progress(run: CaseRun, done: int, total: int) -> None:
        live.update(done, total)
        if callback is not None:
            callback(run, done, total)

    try:
        results = await execute_suite(plan, settings, suite_run_id=suite_run_id, concurrency=concurrency, cache=cache,
                                      fail_under=fail_under, progress=progress, task_runner=task_runner)
    except ConfigError as exc:
        await live.finish()
        return _failed(str(exc), list(exc.diagnostics))
    results.warnings[:0] = warnings
    await asyncio.gather(live.finish(), publish(results))
    data = results.to_json()
    failures = results.gate_failures()
    if failures:
        return Failed(message="; ".join(failures), data=data)
    return Completed(message=headline(results), data=data)
