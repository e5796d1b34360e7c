"""How a suite run reads: pandas tables and a markdown comparison, shared by every view of it.

The Prefect artifacts of ``run_eval_suite``, ``llm-orchestrator eval --format ...`` and
``llm-orchestrator report --evals`` all render a ``SuiteResults`` through these functions, so
the numbers look the same wherever a person meets them.  Two kinds of table:

* ``variants_frame`` / ``runs_frame``: plain numbers with the unit in the column name (rates as
  fractions, ``*_usd``, ``*_s``), for CSV, JSON and Prefect table artifacts;
* ``variants_display`` / ``cases_display``: text formatted by meaning (percent for rates,
  percentage points for differences, fixed decimals for USD and seconds), for markdown and the
  terminal.

No Prefect here (``report`` imports this without starting anything).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from ecosystem.testbench.suites import CaseRun, SuiteResults

OUTPUT_CHARS = 40  # per output value in the side-by-side table
MAX_CASE_ROWS = 200  # the side-by-side table of a bigger suite is cut (the JSON has every run)


# -- formatting by meaning --------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def points(value: float) -> str:
    return f"{100 * value:+.1f} pts"


def usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def seconds(ms: float | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f} s"


def score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def truncate(value: Any, limit: int = OUTPUT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- tables --------------------------------------------------------------------------------------


def _metric_names(results: SuiteResults) -> list[str]:
    names: dict[str, None] = {}
    for stats in results.variant_stats:
        names.update(dict.fromkeys(stats.metrics))
    return list(names)


def variants_frame(results: SuiteResults) -> pd.DataFrame:
    """One row per variant, plain numbers (CSV, JSON, table artifacts)."""
    metrics = _metric_names(results)
    on_front = set(results.frontier_ids)
    differences = {d.variant_id: d for d in results.differences}
    rows = []
    for stats in results.variant_stats:
        diff = differences.get(stats.variant_id)
        row: dict[str, Any] = {
            "variant": results.variant(stats.variant_id).label, "variant_id": stats.variant_id,
            "cases": stats.cases, "runs": stats.runs, "passes": stats.passes, "errored": stats.errored,
            "pass_rate": round(stats.pass_rate.estimate, 6), "pass_rate_low": round(stats.pass_rate.low, 6),
            "pass_rate_high": round(stats.pass_rate.high, 6),
            "diff_vs_first": None if diff is None else round(diff.interval.estimate, 6),
            "diff_low": None if diff is None else round(diff.interval.low, 6),
            "diff_high": None if diff is None else round(diff.interval.high, 6),
            "mean_score": stats.mean_score,
        }
        for name in metrics:
            metric = stats.metrics.get(name)
            row[f"score:{name}"] = metric.mean if metric is not None else None
        row.update({
            "cost_mean_usd": stats.cost_mean_usd, "cost_total_usd": stats.cost_total_usd,
            "cost_unknown_runs": stats.cost_unknown_runs,
            "latency_p50_s": None if stats.latency_p50_ms is None else round(stats.latency_p50_ms / 1000, 6),
            "latency_p95_s": None if stats.latency_p95_ms is None else round(stats.latency_p95_ms / 1000, 6),
            "on_frontier": stats.variant_id in on_front, "flaky_cases": len(stats.flaky_cases),
        })
        rows.append(row)
    return pd.DataFrame(rows)


def variants_display(results: SuiteResults) -> pd.DataFrame:
    """One row per variant, formatted for people."""
    metrics = _metric_names(results)
    on_front = set(results.frontier_ids)
    differences = {d.variant_id: d for d in results.differences}
    confidence = f"{results.confidence:.0%}"
    rows = []
    for stats in results.variant_stats:
        diff = differences.get(stats.variant_id)
        rate = stats.pass_rate
        row: dict[str, Any] = {
            "variant": results.variant(stats.variant_id).label,
            "pass rate": f"{pct(rate.estimate)} ({pct(rate.low)}–{pct(rate.high)})",
            "vs first": "reference" if diff is None else
            f"{points(diff.interval.estimate)} ({points(diff.interval.low)} to {points(diff.interval.high)})",
        }
        for name in metrics:
            metric = stats.metrics.get(name)
            row[name] = score(metric.mean if metric is not None else None)
        unknown = f" ({stats.cost_unknown_runs} unknown)" if stats.cost_unknown_runs and stats.cost_mean_usd is not None else ""
        row.update({
            "cost/run": usd(stats.cost_mean_usd) + unknown, "cost total": usd(stats.cost_total_usd),
            "p50": seconds(stats.latency_p50_ms), "p95": seconds(stats.latency_p95_ms),
            "frontier": "yes" if stats.variant_id in on_front else "",
            "flaky": str(len(stats.flaky_cases)) if stats.flaky_cases else "",
            "errors": str(stats.errored) if stats.errored else "",
        })
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.rename(columns={"pass rate": f"pass rate ({confidence} CI)"})
    return frame


def _checked_outputs(results: SuiteResults) -> list[str]:
    """The outputs assertions read (else every output), for the side-by-side table."""
    names: dict[str, None] = {}
    for run in results.runs:
        for check in run.checks:
            if check.kind == "metric" and "." in check.name:
                names.setdefault(check.name.split(".", 1)[0], None)
    return [n for n in names if any(n in r.outputs for r in results.runs)]


def _cell(runs: list[CaseRun], outputs: list[str]) -> str:
    if not runs:
        return ""
    passes = sum(r.passed for r in runs)
    mark = ("✓" if passes == len(runs) else "✗" if passes == 0 else "~") + (f" {passes}/{len(runs)}" if len(runs) > 1 else "")
    first = runs[0]
    if first.state != "completed":
        return f"{mark} error: {truncate(first.error or first.state)}"
    shown = outputs or list(first.outputs)
    values = [truncate(first.outputs.get(name)) if len(shown) == 1 else f"{name}={truncate(first.outputs.get(name))}"
              for name in shown]
    failed = [c.name for c in first.checks if not c.passed]
    return " ".join([mark, *values]) + (f" (failed: {', '.join(failed)})" if failed and passes < len(runs) else "")


def cases_display(results: SuiteResults, limit: int = MAX_CASE_ROWS) -> pd.DataFrame:
    """One row per case, one column per variant: verdict, passes/repeats, the outputs (truncated)."""
    outputs = _checked_outputs(results)
    grouped: dict[tuple[str, str], list[CaseRun]] = {}
    for run in sorted(results.runs, key=lambda r: r.repeat):
        grouped.setdefault((run.case_id, run.variant_id), []).append(run)
    rows = []
    for case in results.cases[:limit]:
        row = {"case": case.id}
        for variant in results.variants:
            row[variant.label] = _cell(grouped.get((case.id, variant.id), []), outputs)
        rows.append(row)
    return pd.DataFrame(rows)


def runs_frame(results: SuiteResults) -> pd.DataFrame:
    """One row per case run, plain numbers."""
    labels = {v.id: v.label for v in results.variants}
    rows = [{
        "case": r.case_id, "variant": labels.get(r.variant_id, r.variant_id), "repeat": r.repeat, "state": r.state,
        "passed": r.passed, "errored": r.errored, "score": r.score, "cost_usd": r.cost_usd, "spent_usd": r.spent_usd,
        "latency_s": None if r.latency_ms is None else round(r.latency_ms / 1000, 6), "cached_tasks": r.cached_tasks,
        "provider_calls": r.provider_calls, "error": r.error,
    } for r in results.runs]
    return pd.DataFrame(rows)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for a Prefect table artifact (NaN as None)."""
    rows = frame.astype(object).to_dict(orient="records")
    return [{str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.astype(object).itertuples(index=False)]
    return "\n".join([header, rule, *body])


# -- the comparison ------------------------------------------------------------------------------


def headline(results: SuiteResults) -> str:
    cached = f", {results.cached_tasks} task(s) from the cache" if results.cached_tasks else ""
    return (f"{len(results.cases)} cases x {len(results.variants)} variants x repeat {results.repeat} = "
            f"{len(results.runs)} runs ({results.errored_runs} errored{cached}); "
            f"{results.provider_calls} provider call(s), {usd(results.spent_usd)} spent")


def verdict(results: SuiteResults) -> str:
    rules = results.fail_under
    if not rules:
        return "no failUnder rule: the suite passes whatever the numbers"
    failures = results.gate_failures()
    wanted = ", ".join(f"{name} >= {pct(value) if name == 'pass_rate' else score(value)}" for name, value in rules.items())
    if not failures:
        return f"passed ({wanted} for every variant)"
    return f"FAILED ({wanted}): " + "; ".join(failures)


def frontier_sentence(results: SuiteResults) -> str:
    labels = [results.variant(i).label for i in results.frontier_ids]
    if not labels:
        return "No variant has a known cost, so none is placed on the cost/quality frontier."
    others = [v.label for v in results.variants if v.id not in set(results.frontier_ids)]
    text = "On the cost/quality frontier (no other variant is both cheaper and better), cheapest first: " + ", ".join(
        f"`{label}`" for label in labels) + "."
    if others:
        text += " Dominated: " + ", ".join(f"`{label}`" for label in others) + "."
    return text


def markdown(results: SuiteResults) -> str:
    """The comparison a person reads: verdict, variants, frontier, flaky cases, cases side by side."""
    lines = [
        f"# Eval suite {results.suite} over {results.workflow}",
        "",
        headline(results) + ".",
        "",
        f"**{verdict(results)}**",
        "",
        "## Variants",
        "",
        markdown_table(variants_display(results)) if results.variant_stats else "No run finished.",
        "",
        "Pass rates count the case as the unit (repeats of a case average into its rate); the interval is "
        f"Wilson's at {results.confidence:.0%}; differences from the first variant use Newcombe's interval. "
        "Cost is what the calls cost when they were made, cached or not.",
        "",
        "## Cost/quality frontier",
        "",
        frontier_sentence(results),
    ]
    flaky = results.flaky
    if flaky:
        lines += ["", "## Flaky cases", "", "Cases whose repeats disagree (some passed, some failed):", ""]
        labels = {v.id: v.label for v in results.variants}
        lines += [f"- `{c.case_id}` under `{labels.get(c.variant_id, c.variant_id)}`: {c.passes}/{c.runs} passed"
                  for c in flaky]
    lines += ["", "## Cases side by side", ""]
    if len(results.cases) > MAX_CASE_ROWS:
        lines += [f"The first {MAX_CASE_ROWS} of {len(results.cases)} cases; `--format json` has every run.", ""]
    lines.append(markdown_table(cases_display(results)))
    errors = [r for r in results.runs if r.errored and r.error]
    if errors:
        lines += ["", "## Errors", ""]
        labels = {v.id: v.label for v in results.variants}
        lines += [f"- `{r.case_id}` under `{labels.get(r.variant_id, r.variant_id)}` (repeat {r.repeat}): "
                  f"{truncate(r.error, 300)}" for r in errors[:20]]
        if len(errors) > 20:
            lines.append(f"- ... and {len(errors) - 20} more")
    if results.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in results.warnings]
    return "\n".join(lines) + "\n"


def render(results: SuiteResults, fmt: str) -> str:
    """``json`` (everything), ``csv`` (the variants table) or ``markdown`` (the comparison)."""
    if fmt == "json":
        return json.dumps(results.to_json(), indent=2, default=str)
    if fmt == "csv":
        return str(variants_frame(results).to_csv(index=False)).rstrip("\n")
    if fmt == "markdown":
        return markdown(results)
    raise ValueError(f"unknown format '{fmt}'")
