"""``llm-orchestrator report``: costs, tokens, latency percentiles and quality across runs.

Each figure has one source, so a filtered report and the unfiltered one always add up:

* **money, tokens, calls, runs** come from the Governance ledger (``cost_records``), which every
  run writes for every LLM call whatever the config (a forEach item's record ``task[i]`` counts
  for ``task``; a reservation that lapsed unsettled counts at its reserved amount);
* **latency percentiles** come from the Auto-Optimizer's per-task metrics (finished task runs);
* **quality** is Test-Bench's evaluation scores where there are any, else the metrics'
  ``quality_score``.

A task with metrics but no ledger record (a task that calls no model) shows 0 calls and no cost.
The rows come from ``ecosystem.store.reports``; this module only aggregates them (pandas).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from compiler.durations import parse_duration
from ecosystem.store import Store
from ecosystem.store.reports import cost_records, evaluation_scores, performance_metrics

KEYS = {"task": ["workflow", "task_id"], "model": ["model"], "day": ["day"]}
COLUMNS = ["runs", "calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "p50_ms", "p95_ms", "p99_ms", "quality"]
_ITEM = re.compile(r"\[\d+\]$")


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows], columns=columns) if rows else pd.DataFrame(columns=columns)


def load(store: Store, *, workflow: str | None, since: datetime) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(ledger rows, metric rows, evaluation score rows) since ``since``, optionally for one workflow."""
    if store.engine.dialect.name == "sqlite":
        since = since.replace(tzinfo=None)
    costs = _frame(cost_records(store, since=since, workflow=workflow),
                   ["workflow", "run_id", "task_id", "model", "prompt_tokens", "completion_tokens", "total_tokens",
                    "cost_usd", "unsettled", "timestamp"])
    metrics = _frame(performance_metrics(store, since=since, workflow=workflow),
                     ["workflow", "run_id", "task_id", "model", "timestamp", "execution_time_ms", "quality_score"])
    scores = _frame(evaluation_scores(store, since=since, workflow=workflow),
                    ["workflow", "run_id", "task_id", "metric", "score", "created_at"])
    return costs, metrics, scores


def _prepare(frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["task_id"] = frame["task_id"].astype(str).str.replace(_ITEM, "", regex=True)
    frame["model"] = frame["model"].fillna("(none)") if "model" in frame else "(none)"
    stamps = pd.to_datetime(frame[time_column], utc=True, errors="coerce", format="mixed")
    frame["day"] = stamps.dt.strftime("%Y-%m-%d")
    return frame


def summarise(costs: pd.DataFrame, metrics: pd.DataFrame, scores: pd.DataFrame, by: str) -> pd.DataFrame:
    key = KEYS[by]
    if costs.empty and metrics.empty:
        return pd.DataFrame(columns=[*key, *COLUMNS])
    parts: list[pd.DataFrame] = []
    if not costs.empty:
        ledger = _prepare(costs, "timestamp")
        for column in ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"):
            ledger[column] = pd.to_numeric(ledger[column], errors="coerce")
        parts.append(ledger.groupby(key, dropna=False).agg(
            runs=("run_id", "nunique"), calls=("task_id", "size"), prompt_tokens=("prompt_tokens", "sum"),
            completion_tokens=("completion_tokens", "sum"), total_tokens=("total_tokens", "sum"),
            cost_usd=("cost_usd", "sum"),
        ))
    if not metrics.empty:
        measured = _prepare(metrics, "timestamp")
        measured["execution_time_ms"] = pd.to_numeric(measured["execution_time_ms"], errors="coerce")
        measured["quality_score"] = pd.to_numeric(measured["quality_score"], errors="coerce")
        timing = measured.groupby(key, dropna=False).agg(
            metric_runs=("run_id", "nunique"),
            p50_ms=("execution_time_ms", lambda s: s.quantile(0.50)),
            p95_ms=("execution_time_ms", lambda s: s.quantile(0.95)),
            p99_ms=("execution_time_ms", lambda s: s.quantile(0.99)),
            quality=("quality_score", "mean"),
        )
        parts.append(timing)
    summary = pd.concat(parts, axis=1).reset_index() if len(parts) > 1 else parts[0].reset_index()
    for column in ("runs", "calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd",
                   "p50_ms", "p95_ms", "p99_ms", "quality"):
        if column not in summary:
            summary[column] = float("nan")
    if "metric_runs" in summary:  # a task that called no model: its runs come from the metrics
        summary["runs"] = summary["runs"].fillna(summary["metric_runs"])
        summary = summary.drop(columns=["metric_runs"])
    summary[["runs", "calls"]] = summary[["runs", "calls"]].fillna(0).astype(int)
    if by == "task" and not scores.empty:
        evaluated = _prepare(scores.assign(model=None), "created_at")
        quality = evaluated.groupby(key)["score"].mean().rename("evaluated").reset_index()
        summary = summary.merge(quality, on=key, how="left")
        summary["quality"] = summary["evaluated"].combine_first(summary["quality"])
        summary = summary.drop(columns=["evaluated"])
    summary["cost_usd"] = summary["cost_usd"].round(9)
    summary = summary[[*key, *COLUMNS]]
    return summary.sort_values("cost_usd", ascending=False, na_position="last").reset_index(drop=True)


def since_datetime(text_value: str) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=parse_duration(text_value))


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return str(frame.to_csv(index=False))
    if fmt == "json":
        return str(frame.to_json(orient="records", indent=2))
    shown = frame.astype(object).where(frame.notna(), "")
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(cell(v, c) for v, c in zip(row, shown.columns, strict=True)) + " |"
            for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def cell(value: Any, column: str = "") -> str:
    """A figure as a person reads it: USD to 6 decimals, milliseconds whole, scores to 3."""
    if isinstance(value, float):
        if column == "cost_usd":
            return f"{value:.6f}"
        if column.endswith("_ms"):
            return f"{value:.0f}"
        if column == "quality":
            return f"{value:.3f}"
        return f"{value:.6g}"
    return str(value)
