"""``llm-orchestrator eval SUITE``: run an evaluation suite and compare its variants; ``report --evals``.

The suite is compiled here first (``compiler.suite``), so a bad suite is a list of positioned
diagnostics and exit code 2 before Prefect starts; then the ``run_eval_suite`` flow runs it in this
process (``flows.evals``) with the settings, plan and a progress display handed over through
``local_eval``.  Exit codes, for CI:

* 0 - every variant meets the ``failUnder`` rules (``--fail-under`` replaces the suite's), or
  there are none;
* 1 - some variant is under a rule (each one is named on stderr);
* 2 - the suite could not be run or judged: usage errors, an unreadable or invalid suite or
  config (diagnostics at file:line:col).

Results go to stdout in the ``--format`` asked for (``table`` for people, ``json`` with every run,
``csv`` with the variants table, ``markdown`` with the comparison); progress and diagnostics go
to stderr, so ``--format json > results.json`` stays clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import err, fail, print_diagnostics

FORMATS = ("table", "json", "csv", "markdown")
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=200)


class EvalProgress:
    """A status line on a terminal; otherwise a line at every tenth of the runs."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.passed = 0
        self.errored = 0
        self.done = 0
        self.started = time.monotonic()
        self.next_line = max(1, total // 10)
        self._status: Any = None

    def __enter__(self) -> EvalProgress:
        if self.console.is_terminal:
            self._status = self.console.status(self.line())
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def line(self) -> str:
        failed = self.done - self.passed - self.errored
        return (f"eval: {self.done}/{self.total} runs, {self.passed} passed, {failed} failed, {self.errored} errored "
                f"({time.monotonic() - self.started:.1f}s)")

    def __call__(self, run: Any, done: int, total: int) -> None:
        self.done = done
        self.passed += bool(run.passed)
        self.errored += bool(run.errored)
        if self._status is not None:
            self._status.update(self.line())
        elif done >= self.next_line or done == total:
            self.next_line = done + max(1, total // 10)
            self.console.print(self.line(), markup=False)


def eval_suite(
    suite: Annotated[Path, typer.Argument(help="An EvalSuite file (kind: EvalSuite).", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help="table, json, csv or markdown")] = "table",
    fail_under: Annotated[list[str] | None, typer.Option(
        "--fail-under", help="Exit 1 if a variant is under this, e.g. pass_rate=0.9 or mean_score=0.8 (repeatable; "
        "replaces the suite's failUnder).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml to use.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Serve every LLM call from the offline provider.")] = False,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, max=1024,
                                                    help="Runs at once (default: the suite's concurrency).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the models again instead of reusing the answers "
                                                              "of earlier runs of the suite.")] = False,
) -> None:
    """Run every case of an eval suite under every variant; compare pass rates, scores, cost and latency."""
    from blocks.settings import ConfigError
    from compiler.suite import compile_suite
    from ecosystem.testbench.suites import parse_fail_under
    from llm_orchestrator.api import run_settings

    if format not in FORMATS:
        raise fail(f"unknown --format '{format}' (use {', '.join(FORMATS)})", 2)
    try:
        rules = parse_fail_under(fail_under or []) if fail_under else None
    except ValueError as exc:
        raise fail(f"--fail-under {exc}", 2) from None
    try:
        settings = run_settings(config, offline=offline)
    except ConfigError as exc:
        print_diagnostics(exc.diagnostics)
        raise typer.Exit(2) from None
    compiled = compile_suite(suite, settings.compile_options())
    print_diagnostics(compiled.diagnostics)
    if not compiled.ok or compiled.plan is None:
        errors = len(compiled.errors)
        err.print(f"[red]{suite}: {errors} error(s); the suite was not run[/red]")
        raise typer.Exit(2)
    plan = compiled.plan
    if not os.environ.get("PREFECT_API_URL"):
        err.print("note: PREFECT_API_URL is not set, so this suite runs on Prefect's temporary local server; "
                  "set it to keep the runs and the comparison artifact in the Prefect UI.", markup=False, style="dim")
    results = _run(suite, plan, settings, config, offline, concurrency, rules, not no_cache)
    if format == "table":
        print_results(results)
    else:
        from flows.eval_report import render

        text = render(results, format)
        if format == "markdown":
            out.print(text, markup=False)
        else:
            sys.stdout.write(text + "\n")
    failures = results.gate_failures()
    for failure in failures:
        err.print(f"[red]under failUnder:[/red] {failure}", markup=True, highlight=False)
    raise typer.Exit(1 if failures else 0)


def _run(suite: Path, plan: Any, settings: Any, config: Path | None, offline: bool, concurrency: int | None,
         rules: dict[str, float] | None, cache: bool) -> Any:
    from ecosystem.testbench.suites import SuiteResults
    from flows.evals import LocalEval, local_eval, run_eval_suite

    with EvalProgress(err, plan.run_count) as progress, \
            local_eval(LocalEval(settings=settings, offline=offline, plan=plan, progress=progress)):
        state: Any = asyncio.run(run_eval_suite(str(suite), str(config) if config else None, concurrency,  # type: ignore[arg-type]
                                                rules, cache, return_state=True))
    data = state.result(raise_on_failure=False) if state.data is not None else None
    if asyncio.iscoroutine(data):
        data = asyncio.run(data)
    if not isinstance(data, dict) or data.get("state") == "error":
        message = data.get("error") if isinstance(data, dict) else None
        raise fail(str(message or state.message or "the suite run failed"), 2)
    return SuiteResults.from_json(data)


def print_results(results: Any) -> None:
    """The comparison as rich tables: verdict, variants, frontier, flaky cases, cases side by side."""
    from rich.table import Table

    from flows.eval_report import cases_display, frontier_sentence, headline, variants_display, verdict

    out.print(f"[bold]{results.suite}[/bold] over {results.workflow}: {headline(results)}")
    passed = results.passed()
    out.print(("[green]" if passed else "[red]") + verdict(results) + ("[/green]" if passed else "[/red]"),
              highlight=False)
    out.print(_table(variants_display(results), Table, "variants"))
    out.print(frontier_sentence(results).replace("`", ""), markup=False)
    if results.flaky:
        labels = {v.id: v.label for v in results.variants}
        out.print("flaky cases (repeats disagree): " + ", ".join(
            f"{c.case_id} under {labels.get(c.variant_id, c.variant_id)} {c.passes}/{c.runs}" for c in results.flaky),
            markup=False)
    out.print(_table(cases_display(results), Table, "cases side by side"))
    for warning in results.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _table(frame: Any, table_class: Any, title: str) -> Any:
    table = table_class(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.astype(object).itertuples(index=False):
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


# -- report --evals ------------------------------------------------------------------------------


def report_evals(workflow: str | None, since: Any, format: str, config: Path | None) -> None:
    """``report --evals``: the suite runs since ``since`` and, for each suite, its newest comparison."""
    from blocks.resolve import resolve_settings
    from blocks.settings import ConfigError
    from ecosystem.store import Store, StoreError
    from ecosystem.store.evals import suite_runs, suite_variants
    from ecosystem.testbench.suites import SuiteResults

    try:
        store = Store.open(resolve_settings(config).storage.url)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        runs = suite_runs(store, since=since, workflow=workflow, limit=200)
        newest: dict[str, Any] = {}
        for run in runs:
            newest.setdefault(run.suite, run)
        if format in ("json", "csv"):
            rows = [{**_run_row(run), "variants": [vars(v) for v in suite_variants(store, run.suite_run_id)]}
                    for run in runs]
            if format == "json":
                sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            else:
                import pandas as pd

                flat = [{"suite_run_id": r["suite_run_id"], "suite": r["suite"], "workflow": r["workflow"],
                         "finished_at": r["finished_at"], **{k: v for k, v in variant.items() if k not in ("models", "choices", "metrics", "flaky_cases")}}
                        for r in rows for variant in r["variants"]]
                sys.stdout.write(str(pd.DataFrame(flat).to_csv(index=False)))
            return
        loaded = [SuiteResults.load(store, run.suite_run_id) for run in newest.values()]
    finally:
        store.close()
    if not runs:
        out.print("no eval suite runs recorded in that window (run one with `llm-orchestrator eval SUITE`)")
        return
    from flows.eval_report import markdown

    if format == "markdown":
        for results in loaded:
            if results is not None:
                out.print(markdown(results), markup=False)
        return
    from rich.table import Table

    table = Table(title="eval suite runs", title_justify="left")
    for column in ("finished", "suite", "workflow", "variants", "cases", "runs", "errored", "provider calls", "verdict"):
        table.add_column(column)
    for run in runs:
        table.add_row(run.finished_at.strftime("%Y-%m-%d %H:%M"), run.suite, run.workflow, str(run.variants),
                      str(run.cases), str(run.runs), str(run.errored), str(run.provider_calls),
                      "passed" if run.passed else "FAILED")
    out.print(table)
    for results in loaded:
        if results is not None:
            out.print("")
            print_results(results)


def _run_row(run: Any) -> dict[str, Any]:
    data = dict(vars(run))
    data.pop("details", None)
    return data
