"""Test-Bench in a run: the client, auto-evaluation of ``llm`` tasks, and the run's test report.

The client is ``run.services.testbench`` (``blocks.clients``: embedded or remote, a configured
judge model asked through the run's Forge, no network offline).

Hook (one per run):

* Auto-evaluation is on when the annotation ``test-bench.auto-evaluate`` is ``"true"``, or when it
  is absent and config ``auto_evaluate`` is true; ``"false"`` turns it off whatever the config.
  After each ``llm`` task (each ``forEach`` item) the response is evaluated with the config's
  ``default_metrics``: the ground truth is the workflow input named by ``ground_truth_source``,
  else the input ``ground_truth`` or ``expected_response``; the prompt is the task's ``prompt``
  input (or its last user message).  Metrics that need a ground truth (or a prompt, or a judge)
  that is not there are skipped, and ``metadata.evaluation.skipped`` says why.  The result goes
  to ``output.metadata["evaluation"]`` (``overall_score, passed, metrics, details``) and
  ``output.metadata["quality_score"]`` (what the Auto-Optimizer learns from).  An evaluation
  error never fails the llm task: it is logged as a warning and kept as
  ``metadata.evaluation.error``.
* An evaluation task (``llm-test-bench:*``) without a ``prompt`` input gets the prompt of the
  ``llm`` task whose output its ``response`` reads, so ``relevance`` works as the seed writes it.
* After the workflow, when anything was evaluated (evaluation tasks and auto-evaluations,
  cached ones included), Test-Bench's ``generate_report`` summarises the run.  The report is a
  ``TestReport`` as a JSON dict (``total, passed, failed, pass_rate, mean_overall_score,
  metrics`` per metric, ``tasks`` per evaluated task with ``scores`` and ``failed_metrics``, and
  ``markdown``), plus ``errors`` (task -> evaluation error) and ``skipped_metrics`` (task ->
  metric -> reason) when there are any.  It is stored as ``run.test_report`` on the
  ``WorkflowRun`` and as ``result.test_report`` on the ``RunResult`` (``None`` when nothing was
  evaluated); each evaluation that did not pass or could not run adds a line to
  ``result.warnings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from blocks.settings import ConfigError
from compiler.diagnostics import Diagnostic
from compiler.plan import ExecutionPlan, PlanNode
from flows.registry import HOOK_FACTORIES, annotation_flag
from tasks.base import ExecutorContext, TaskOutput
from tasks.hooks import Hook, Inputs
from tasks.state import RunResult, WorkflowRun

logger = logging.getLogger("llm_orchestrator.testbench")

ANNOTATION = "test-bench.auto-evaluate"
NAMESPACE = "llm-test-bench"
GROUND_TRUTH_INPUTS = ("ground_truth", "expected_response")


# -- helpers ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def prompt_of(inputs: Mapping[str, Any]) -> str | None:
    """An llm task's prompt: ``prompt``, else the content of its last user message."""
    prompt = _text(inputs.get("prompt"))
    if prompt is not None:
        return prompt
    for message in reversed(list(inputs.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _text(message.get("content"))
    return None


def _referenced_tasks(value: Any) -> list[str]:
    """Task ids whose outputs the expressions in ``value`` read, in order."""
    from compiler.expressions import find_spans, parse, references

    found: list[str] = []
    if isinstance(value, str):
        try:
            for span in find_spans(value):
                for ref in references(parse(span.source)):
                    if ref.root == "tasks" and len(ref.path) >= 2 and ref.path[1] == "outputs" and isinstance(ref.path[0], str):
                        found.append(ref.path[0])
        except Exception:  # noqa: BLE001 - the compiler already reported bad expressions
            return []
    elif isinstance(value, Mapping):
        for item in value.values():
            found += _referenced_tasks(item)
    elif isinstance(value, list):
        for item in value:
            found += _referenced_tasks(item)
    return list(dict.fromkeys(found))


def _evaluations_of(record: Any) -> list[dict[str, Any]]:
    """An evaluation task's outputs as EvaluationResponse dicts (one per forEach item)."""
    outputs = record.outputs or {}
    keys = ("score", "passed", "metrics", "details")
    rows: list[tuple[Any, ...]]
    if record.items is not None:  # forEach: every output is a list, one entry per item
        rows = list(zip(*[outputs.get(k) or [] for k in keys], strict=False))
    else:
        rows = [tuple(outputs.get(k) for k in keys)]
    found = []
    for score, passed, metrics, details in rows:
        if score is None or details is None:
            continue
        found.append({"overall_score": score, "passed": passed, "metrics": metrics or {}, "details": details})
    return found


# -- the hook --------------------------------------------------------------------------------


class TestBenchHook(Hook):
    """Auto-evaluation, prompts for evaluation tasks and the run's test report (one per run)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, run: WorkflowRun) -> None:
        self.run = run
        self.auto = False
        self.auto_source: str | None = None
        self.settings: Any = None
        self.ground_truth: Any = None
        self.ground_truth_input: str | None = None
        self._prompts: dict[str, str | None] = {}
        self._results: dict[str, dict[str, Any]] = {}  # auto-evaluations: task key -> response dict
        self._errors: dict[str, str] = {}
        self._skipped: dict[str, dict[str, str]] = {}

    # -- setup -----------------------------------------------------------------------------------

    def _uses_bench(self) -> bool:
        return any(n.executor.namespace == NAMESPACE for n in self.run.plan.nodes.values())

    async def before_workflow(self, run: WorkflowRun) -> ExecutionPlan | None:
        flag = annotation_flag(run.plan.annotations, ANNOTATION)
        if flag is False and not self._uses_bench():
            return None
        if flag is None and NAMESPACE not in run.services.settings.integrations and not self._uses_bench():
            return None  # nothing asks for it and auto_evaluate is off by default
        self.settings = run.services.systems.testbench
        self.auto, self.auto_source = (flag, "annotation") if flag is not None else (self.settings.auto_evaluate, "config")
        if not self.auto:
            return None
        self._check_metrics()
        self.ground_truth_input, self.ground_truth = self._find_ground_truth()
        logger.info(
            "auto-evaluation on (%s): metrics %s; ground truth %s", self.auto_source,
            ", ".join(self.settings.default_metrics),
            f"from input '{self.ground_truth_input}'" if self.ground_truth_input else "none",
        )
        return None

    def _check_metrics(self) -> None:
        from ecosystem.testbench import METRICS, UnknownMetric

        unknown = [m for m in self.settings.default_metrics if m not in METRICS]
        if unknown:
            message = str(UnknownMetric.for_names(unknown, METRICS))
            raise ConfigError([Diagnostic("C202", f"integrations.{NAMESPACE}.default_metrics: {message}", "<config>")])

    def _find_ground_truth(self) -> tuple[str | None, Any]:
        inputs = self.run.inputs or {}
        source = self.settings.ground_truth_source
        if source:
            name = source.removeprefix("${{").removesuffix("}}").strip()
            name = name.removeprefix("workflow.").removeprefix("inputs.")
            candidates: tuple[str, ...] = (name,)
        else:
            candidates = GROUND_TRUTH_INPUTS
        for name in candidates:
            if inputs.get(name) is not None:
                return name, inputs[name]
        return None, None

    def _ground_truth_missing(self) -> str:
        source = self.settings.ground_truth_source
        if source:
            return f"needs a ground truth: workflow input '{source}' (ground_truth_source) has no value"
        return "needs a ground truth: the workflow has no input 'ground_truth' or 'expected_response'"

    # -- evaluation tasks: the prompt of the evaluated llm task ---------------------------------

    async def before_node(self, run: WorkflowRun, node: PlanNode, inputs: Inputs, index: int | None) -> Inputs | None:
        if not str(node.spec.implementation or "").startswith("tasks.testbench:"):
            return None  # only the built-in evaluation executors (a third-party one may not take a prompt)
        if not isinstance(inputs, Mapping) or _text(inputs.get("prompt")):
            return None
        prompt = self._upstream_prompt(node)
        return {**inputs, "prompt": prompt} if prompt is not None else None

    def _upstream_prompt(self, node: PlanNode) -> str | None:
        """The prompt the evaluated llm task ran with (its record keeps its inputs, redacted)."""
        run = self.run
        raw = node.inputs.get("response") if isinstance(node.inputs, Mapping) else None
        llm = [t for t in _referenced_tasks(raw) if t in run.plan.nodes and run.plan.nodes[t].type == "llm"]
        if len(llm) != 1:
            return None
        upstream = run.plan.nodes[llm[0]]
        record = run.records.get(upstream.id)
        if upstream.for_each is not None or record is None or not record.succeeded:
            return None
        return prompt_of(record.inputs) if isinstance(record.inputs, Mapping) else None

    # -- auto-evaluation -------------------------------------------------------------------------

    async def before_task(self, ctx: ExecutorContext, inputs: Inputs) -> Inputs | None:
        if self.auto and ctx.node.type == "llm" and isinstance(inputs, Mapping):
            self._prompts[ctx.label] = prompt_of(inputs)
        return None

    async def after_task(self, ctx: ExecutorContext, output: TaskOutput) -> None:
        if not self.auto or ctx.node.type != "llm":
            return
        key = ctx.label
        try:
            await self._auto_evaluate(ctx, key, output)
        except Exception as exc:  # noqa: BLE001 - an evaluation never fails the llm task
            message = f"{type(exc).__name__}: {exc}"
            self._errors[key] = message
            output.metadata["evaluation"] = {"error": message}
            ctx.logger.warning("auto-evaluation of task '%s' failed (the task itself succeeded): %s", key, message)

    async def _auto_evaluate(self, ctx: ExecutorContext, key: str, output: TaskOutput) -> None:
        from ecosystem.testbench import METRICS, EvaluationRequest

        settings = self.settings
        prompt = self._prompts.pop(key, None)
        response = output.values.get("response")
        skipped: dict[str, str] = {}
        metrics: list[str] = []
        for name in settings.default_metrics:
            spec = METRICS[name]
            if spec.needs_ground_truth and self.ground_truth is None:
                skipped[name] = self._ground_truth_missing()
            elif spec.needs_prompt and prompt is None:
                skipped[name] = "needs the prompt: the task has no prompt input"
            elif spec.judge == "required" and settings.judge is None and not settings.endpoint:
                skipped[name] = "needs an LLM judge: configure integrations.llm-test-bench.judge.model"
            else:
                metrics.append(name)
        if skipped:
            self._skipped[key] = skipped
        if response is None:
            output.metadata["evaluation"] = {"overall_score": None, "passed": None, "metrics": {},
                                             "skipped": {m: "the task has no response output" for m in settings.default_metrics}}
            return
        if not metrics:
            output.metadata["evaluation"] = {"overall_score": None, "passed": None, "metrics": {}, "skipped": skipped}
            ctx.logger.info("auto-evaluation of task '%s' skipped: %s", key, "; ".join(f"{m} {r}" for m, r in skipped.items()))
            return
        bench = ctx.services.testbench
        result = await bench.evaluate(EvaluationRequest(
            task_id=key, execution_id=ctx.run_id, response=response, ground_truth=self.ground_truth, prompt=prompt,
            metrics=metrics, thresholds={m: float(t) for m, t in settings.thresholds.items() if m in metrics},
        ))
        evaluation = result.model_dump(mode="json")
        self._results[key] = dict(evaluation)
        if skipped:
            evaluation["skipped"] = skipped
        output.metadata["evaluation"] = evaluation
        output.metadata["quality_score"] = result.overall_score
        ctx.logger.info("auto-evaluation of task '%s': score %.3f, %s", key, result.overall_score,
                        "passed" if result.passed else "not passed")

    # -- the run's report ------------------------------------------------------------------------

    def _collect(self) -> list[dict[str, Any]]:
        run = self.run
        collected: list[dict[str, Any]] = []
        for node_id, record in run.records.items():
            node = run.plan.nodes.get(node_id)
            if node is None or not record.succeeded:
                continue
            if node.executor.namespace == NAMESPACE:
                collected += _evaluations_of(record)
            elif node.type == "llm":
                mine = [v for k, v in self._results.items() if k == node_id or k.startswith(f"{node_id}[")]
                if mine:
                    collected += mine
                else:  # a cached llm task keeps the evaluation of the run that computed it
                    evaluation = record.metadata.get("evaluation")
                    if isinstance(evaluation, Mapping) and evaluation.get("overall_score") is not None:
                        collected.append({k: evaluation.get(k) for k in ("overall_score", "passed", "metrics", "details")})
        return collected

    async def after_workflow(self, run: WorkflowRun, result: RunResult) -> None:
        run.test_report = result.test_report = None
        if self.settings is None and not self._uses_bench():
            return
        from pydantic import ValidationError

        from ecosystem.testbench import EvaluationResponse, GenerateReportRequest

        evaluations = []
        for data in self._collect():
            try:
                evaluations.append(EvaluationResponse.model_validate(data))
            except ValidationError:
                continue  # a third-party llm-test-bench executor with other outputs
        if not evaluations and not self._errors:
            return
        try:
            bench = run.services.testbench
            report = await bench.generate_report(GenerateReportRequest(
                execution_id=run.run_id, evaluations=evaluations, include_task_details=True, format="markdown",
            ))
        except Exception as exc:  # noqa: BLE001 - a report never changes a finished run
            result.warnings.append(f"test report could not be generated: {type(exc).__name__}: {exc}")
            return
        data = report.model_dump(mode="json")
        if self._errors:
            data["errors"] = dict(self._errors)
        if self._skipped:
            data["skipped_metrics"] = {k: dict(v) for k, v in self._skipped.items()}
        run.test_report = result.test_report = data
        try:
            from ecosystem.testbench.records import save_report

            await run.services.run_blocking(save_report, run.services.store(), run.plan.name, report)
        except Exception as exc:  # noqa: BLE001 - the report is on the result even if the store is down
            result.warnings.append(f"test report could not be stored: {type(exc).__name__}: {exc}")
        for task in report.tasks:
            if not task.passed:
                result.warnings.append(
                    f"evaluation of '{task.task_id}' did not pass: score {task.overall_score:.3f}"
                    + (f", failed metrics: {', '.join(task.failed_metrics)}" if task.failed_metrics else "")
                )
        for key, message in self._errors.items():
            result.warnings.append(f"auto-evaluation of '{key}' could not run: {message}")


def _hook(run: WorkflowRun) -> TestBenchHook:
    return TestBenchHook(run)


HOOK_FACTORIES.append(_hook)
