"""Prefect artifacts for every run: a markdown summary, tables and live progress.

Keys are stable per workflow (``<workflow>-summary``, ``-cost``, ``-cost-by-model``,
``-quality``, ``-performance``, ``-progress``) so the Prefect UI shows each one's history across
runs.  The progress artifact exists for runs that last longer than ``PROGRESS_AFTER``.  Each
keyed artifact costs the server a write of tens of milliseconds at the end of the run, so tables
with nothing in them (cost for a run that called no model, quality for a run that evaluated
nothing) are not sent.  Tables are plain lists of records, built here without pandas (DESIGN.md
section 8 says pandas): they hold a few rows per run, Prefect takes records, and importing pandas
cost every run about 0.3 CPU-s, a tenth of a 1-task run.  Every text that leaves here goes
through ``redact`` first: a secret held by the run's clients never reaches an artifact.
Artifact failures are logged by the hook machinery and never change a run's result.

What a person reads in the UI's pane decides the shapes: the summary draws the DAG as a table
in graph order (step, task, what it runs after, its state) rather than Mermaid source, which
only the ``/v2`` UI renders; its columns fit a pane (tokens and the rest are in the cost and
performance tables).  Numbers are formatted by meaning (``display``): USD with 6 decimals,
seconds with 3, shares as percentages, counts as integers, scores with 3 decimals.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from compiler.plan import EVENT_KINDS
from flows.registry import HOOK_FACTORIES
from tasks.hooks import Hook
from tasks.state import WorkflowRun

PROGRESS_AFTER = 1.0  # seconds a run goes on before its progress artifact is created
logger = logging.getLogger("llm_orchestrator.artifacts")


def artifact_key(workflow: str, kind: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", workflow.lower()).strip("-") or "workflow"
    return f"{base}-{kind}"


TASK_COLUMNS = ("task", "executor", "state", "duration_s", "attempts", "model", "prompt_tokens", "completion_tokens",
                "total_tokens", "cost_usd", "reason")
TOKENS = ("prompt_tokens", "completion_tokens", "total_tokens")
Rows = list[dict[str, Any]]
USD_DECIMALS, SECONDS_DECIMALS, SCORE_DECIMALS = 6, 3, 3
_INTEGERS = ("attempts", "prompt_tokens", "completion_tokens", "total_tokens", "items")


def _fixed(value: Any, decimals: int) -> str | None:
    if value is None or isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return f"{float(value):.{decimals}f}"
    except (TypeError, ValueError):
        return str(value)


def _integer(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _percent(value: Any) -> str | None:
    fixed = _fixed(None if value is None else 100 * float(value), 1)
    return None if fixed is None else f"{fixed}%"


def display(rows: Rows) -> Rows:
    """The same rows with each column formatted by its meaning (see the module docstring)."""
    formats: dict[str, Any] = {"cost_usd": lambda v: _fixed(v, USD_DECIMALS), "share": _percent,
                               "duration_s": lambda v: _fixed(v, SECONDS_DECIMALS),
                               "score": lambda v: _fixed(v, SCORE_DECIMALS), "threshold": lambda v: _fixed(v, SCORE_DECIMALS),
                               **dict.fromkeys(_INTEGERS, _integer)}
    return [{k: formats[k](v) if k in formats else v for k, v in row.items()} for row in rows]


def _usage(record: Any) -> dict[str, int]:
    usage = record.metadata.get("usage") or {}
    return {k: int(usage.get(k) or 0) for k in TOKENS}


def task_rows(result: Any) -> Rows:
    """One row per task (``TASK_COLUMNS``); a value that does not exist is None."""
    rows = []
    for task_id, record in result.tasks.items():
        rows.append({
            "task": task_id,
            "executor": record.executor,
            "state": record.state,
            "duration_s": round(record.duration, 3) if record.duration is not None else None,
            "attempts": record.attempts or None,
            "model": record.metadata.get("model"),
            **_usage(record),
            "cost_usd": record.cost,
            "reason": record.reason,
        })
    return rows


def _share(cost: float | None, total: float) -> float:
    return (cost or 0.0) / total if total else 0.0


def cost_tables(result: Any) -> tuple[Rows, Rows]:
    """Cost by task, and by model (most expensive first), for the tasks that cost or used tokens."""
    costed = [row for row in task_rows(result) if row["cost_usd"] is not None or row["total_tokens"] > 0]
    total = float(sum(row["cost_usd"] or 0.0 for row in costed))
    by_task = [{**{k: row[k] for k in ("task", "model", *TOKENS, "cost_usd")}, "share": _share(row["cost_usd"], total)}
               for row in costed]
    models: dict[str, dict[str, Any]] = {}
    for row in costed:
        model = "(none)" if row["model"] is None else row["model"]
        group = models.setdefault(str(model), {"model": model, **dict.fromkeys(TOKENS, 0), "cost_usd": None})
        for key in TOKENS:
            group[key] += row[key]
        if row["cost_usd"] is not None:  # a model whose tasks reported no cost has none (not 0)
            group["cost_usd"] = (group["cost_usd"] or 0.0) + row["cost_usd"]
    by_model = [{**group, "share": _share(group["cost_usd"], total)} for _, group in sorted(models.items())]
    by_model.sort(key=lambda g: (g["cost_usd"] is None, -(g["cost_usd"] or 0.0)))  # stable: ties stay by name
    return by_task, by_model


def quality_table(result: Any) -> Rows:
    rows = []
    for task_id, record in result.tasks.items():
        evaluations = []
        if isinstance(record.metadata.get("evaluation"), dict):
            evaluations.append(record.metadata["evaluation"])
        if record.executor.startswith("llm-test-bench:") and isinstance(record.outputs.get("metrics"), dict):
            evaluations.append({"metrics": record.outputs["metrics"]})
        for evaluation in evaluations:
            for name, metric in (evaluation.get("metrics") or {}).items():
                if isinstance(metric, dict):
                    rows.append({"task": task_id, "metric": name, "score": metric.get("score"), "passed": metric.get("passed"),
                                 "threshold": metric.get("threshold"), "method": metric.get("method")})
    return rows


QUALITY_COLUMNS = ("task", "metric", "score", "passed", "threshold", "method")
PERFORMANCE_COLUMNS = ("task", "state", "duration_s", "attempts", "model", "total_tokens", "cost_usd")


def performance_rows(result: Any) -> Rows:
    return [{k: row[k] for k in PERFORMANCE_COLUMNS} for row in task_rows(result)]


GRAPH_COLUMNS = ("step", "task", "after", "state", "duration_s", "cost_usd")


def graph_rows(plan: Any, result: Any) -> Rows:
    """The DAG as rows in graph order: step (level, or the event kind), task, what it runs
    after (and the branch arm it belongs to), its state, time and cost."""
    rows: Rows = []

    def add(step: str, node_id: str) -> None:
        node = plan.nodes[node_id]
        record = result.tasks.get(node_id)
        after = ", ".join(sorted(node.depends_on))
        if node.gate is not None:
            arm = "" if node.gate.arm == "then" else ", else"
            after = f"{after} (branch {node.gate.branch_id}{arm})".strip()
        state = record.state if record is not None else "not run"
        if record is not None and record.items:
            state += f" ({record.items} items)"
        ran = record is not None and record.state not in ("skipped", "pending")
        rows.append({"step": step, "task": node_id, "after": after, "state": state,
                     "duration_s": record.duration if ran and record is not None else None,
                     "cost_usd": record.cost if record is not None else None})

    for depth, level in enumerate(plan.levels):
        for node_id in level:
            add(str(depth + 1), node_id)
    for kind in EVENT_KINDS:
        for node_id in plan.events.get(kind, ()):
            add(kind, node_id)
    return rows


def summary_markdown(run: Any, result: Any) -> str:
    lines = [
        f"# {result.workflow}: {result.state}",
        "",
        f"Run `{result.run_id}` finished in {result.duration or 0:.2f} s; total cost "
        f"{result.total_cost:.{USD_DECIMALS}f} USD.",
    ]
    if result.error:
        lines += ["", f"**Error:** {result.error}"]
    graph = [{("time (s)" if k == "duration_s" else "cost (USD)" if k == "cost_usd" else k): v for k, v in row.items()}
             for row in display(graph_rows(run.plan, result))]
    lines += ["", "## Tasks", "", "In graph order; a step runs after the tasks in *after*.", ""]
    lines.append(_markdown_table(graph, ["step", "task", "after", "state", "time (s)", "cost (USD)"]))
    reasons = [(t, r.reason) for t, r in result.tasks.items() if r.reason]
    if reasons:
        lines += ["", "## Why", ""] + [f"- `{task}`: {reason}" for task, reason in reasons]
    quality = quality_table(result)
    if quality:
        lines += ["", "## Evaluation", "", _markdown_table(display(quality), QUALITY_COLUMNS)]
    decisions = [(t, r.metadata.get("policy")) for t, r in result.tasks.items() if r.metadata.get("policy")]
    decisions += [(t, f"{r.outputs.get('decision')} ({', '.join(map(str, r.outputs.get('violations') or [])) or 'no violations'})")
                  for t, r in result.tasks.items() if r.executor == "llm-governance:policy-enforcer" and r.outputs.get("decision")]
    if decisions:
        lines += ["", "## Policy decisions", ""]
        lines += [f"- `{task}`: {decision}" for task, decision in decisions]
    budgets = [(t, r.metadata.get("budget")) for t, r in result.tasks.items() if r.metadata.get("budget")]
    if budgets:
        task, statuses = budgets[-1]
        lines += ["", "## Budgets", ""]
        for status in statuses if isinstance(statuses, list) else [statuses]:
            if isinstance(status, dict):
                lines.append(f"- {status.get('budget') or status.get('scope')}: {status.get('current')} of {status.get('limit')} USD "
                             f"({100 * float(status.get('utilization') or 0):.0f}%)")
    if result.applied:
        lines += ["", "## Applied recommendations", ""] + [f"- {item}" for item in result.applied]
    if result.warnings:
        lines += ["", "## Warnings", ""] + [f"- {item}" for item in result.warnings]
    return "\n".join(lines) + "\n"


def _markdown_table(rows: Rows, columns: Iterable[str]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    columns = list(columns)
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


class ArtifactHook(Hook):
    """Creates the run's artifacts; only inside a Prefect flow run."""

    def __init__(self, run: WorkflowRun) -> None:
        self.run = run
        self.progress: asyncio.Task[Any] | None = None  # resolves to the progress artifact's id
        self.progress_sent = False  # the progress artifact's creation has been sent
        self.client: Any = None  # one API client for the run's artifacts (each new one costs an SSL context)
        self.updates: list[asyncio.Task[Any]] = []
        self.done = 0
        self.percent = 0.0
        self.last_update = 0.0
        self.last_percent = -1.0


    # Artifact API calls never hold up tasks: the progress artifact is created and updated in the
    # background, and the final artifacts are sent concurrently.  The progress artifact is only
    # created once a run has gone on for PROGRESS_AFTER seconds: a run that is over sooner has
    # nothing to watch (its summary holds every task's state), and would only pay the server a
    # create and updates while its tasks start and end.

    async def before_workflow(self, run: Any) -> None:
        from prefect.client.orchestration import get_client

        self.client = get_client()
        await self.client.__aenter__()

        async def create_later() -> Any:
            await asyncio.sleep(PROGRESS_AFTER)
            self.progress_sent = True
            self.last_update, self.last_percent = time.monotonic(), self.percent
            return await self._create_progress(self.percent)

        self.progress = asyncio.create_task(create_later())

    async def _create_progress(self, percent: float) -> Any:
        from prefect.artifacts import ProgressArtifact

        name = self.run.plan.name
        artifact = ProgressArtifact(progress=percent, key=artifact_key(name, "progress"), description=f"{name}: tasks finished")
        return (await artifact.acreate(client=self.client)).id

    async def _update(self, percent: float) -> None:
        from prefect.artifacts import aupdate_progress_artifact

        if self.progress is not None:
            await aupdate_progress_artifact(await self.progress, percent, client=self.client)

    async def task_finished(self, run: Any, record: Any) -> None:
        if self.progress is None:
            return
        self.done += 1
        total = max(1, len(run.plan.nodes))
        self.percent = percent = round(100.0 * self.done / total, 1)
        if not self.progress_sent:
            return
        now = time.monotonic()
        # Throttled: a 10,000-task run must not send 10,000 updates.
        if percent >= 100 or (percent - self.last_percent >= 1.0 and now - self.last_update >= 0.5):
            self.updates.append(asyncio.create_task(self._update(percent)))
            self.last_update, self.last_percent = now, percent

    async def after_workflow(self, run: Any, result: Any) -> None:
        publication = self._publish_and_close(run, result)
        flow_run_id = _deferring_flow_run()
        if flow_run_id is None:
            await publication
        else:  # sent while Prefect records the final state; the flow's state hooks wait for it
            _PENDING.setdefault(flow_run_id, []).append(asyncio.create_task(publication))

    async def _publish_and_close(self, run: Any, result: Any) -> None:
        try:
            await self._publish(run, result)
        finally:
            if self.client is not None:
                await self.client.__aexit__(None, None, None)
                self.client = None

    async def _publish(self, run: Any, result: Any) -> None:
        from prefect.artifacts import MarkdownArtifact, TableArtifact

        client = self.client

        redact = run.services.redactor.redact

        def markdown(text: str, key: str, description: str) -> Any:
            return MarkdownArtifact(markdown=text, key=key, description=description).acreate(client=client)

        def table(rows: list[dict[str, Any]], key: str, description: str) -> Any:
            masked = [{k: redact(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
            return TableArtifact(table=masked, key=key, description=description).acreate(client=client)

        name = run.plan.name
        sends: list[Any] = list(self.updates)
        if self.progress is not None and not self.progress_sent:
            self.progress.cancel()  # the run ended before there was progress worth showing
            self.progress = None
        elif self.progress is not None and self.last_percent < 100:
            sends.append(self._update(100.0))
        sends.append(markdown(redact(summary_markdown(run, result)), key=artifact_key(name, "summary"),
                                               description=f"{name} run summary"))
        by_task, by_model = cost_tables(result)
        if by_task:  # a run that called no model has no costs to tabulate (the summary says 0 USD)
            sends.append(table(display(by_task), key=artifact_key(name, "cost"),
                               description="Cost by task (USD, tokens, share)"))
            sends.append(table(display(by_model), key=artifact_key(name, "cost-by-model"), description="Cost by model"))
        report = getattr(result, "test_report", None)
        if isinstance(report, dict) and report.get("markdown"):
            sends.append(markdown(redact(str(report["markdown"])), key=artifact_key(name, "test-report"),
                                                   description=f"{name} Test-Bench report"))
        quality = quality_table(result)
        if quality:
            sends.append(table(display(quality), key=artifact_key(name, "quality"), description="Evaluation metrics"))
        sends.append(table(display(performance_rows(result)), key=artifact_key(name, "performance"),
                           description="Task performance"))
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]


# The final artifacts need the run's result, so they are the last thing a run does.  In the
# `run_workflow` flow they are not awaited by the flow function: they are sent while Prefect
# proposes the run's final state (one more API round trip), and `finish_publications`, called
# from that flow's final-state hooks (completion, failure, crash, cancellation), waits for them
# before the flow run returns.  Elsewhere (a flow of the caller's own) they are awaited in place.
_DEFER: contextvars.ContextVar[bool] = contextvars.ContextVar("llmo_defer_artifacts", default=False)
_PENDING: dict[str, list[asyncio.Task[None]]] = {}


@contextlib.contextmanager
def deferred_publications() -> Iterator[None]:
    """Around the body of a flow whose state hooks include ``finish_publications``."""
    token = _DEFER.set(True)
    try:
        yield
    finally:
        _DEFER.reset(token)


def _deferring_flow_run() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if not _DEFER.get() or context is None or context.flow_run is None:
        return None
    return str(context.flow_run.id)


async def finish_publications(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect flow state hook: wait for this flow run's artifacts; log what failed."""
    pending = _PENDING.pop(str(flow_run.id), [])
    for outcome in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(outcome, BaseException):
            logger.error("publishing the run's artifacts failed: %s: %s", type(outcome).__name__, outcome)


def _artifact_hook(run: Any) -> ArtifactHook | None:
    from prefect.context import FlowRunContext

    return ArtifactHook(run) if FlowRunContext.get() is not None else None


_artifact_hook.runs_last = True  # type: ignore[attr-defined]
HOOK_FACTORIES.append(_artifact_hook)
