"""``llm-orchestrator report``: costs, tokens, latency percentiles and quality across runs.

pandas over the store: ``performance_metrics`` (one row per task run: latency, tokens, cost,
quality score) is the primary source; ``cost_records`` (the Governance ledger) is used when no
metrics were collected; ``evaluation_scores`` (Test-Bench reports) gives quality per task.  The
grouping is by task, model or day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import text

from compiler.durations import parse_duration

COLUMNS = ["runs", "calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "p50_ms", "p95_ms", "p99_ms", "quality"]


def _read(store: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    with store.engine.connect() as connection:
        return pd.read_sql_query(text(sql), connection, params=params)


def load(store: Any, *, workflow: str | None, since: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(task rows, evaluation score rows) since ``since``, optionally for one workflow."""
    params: dict[str, Any] = {"since": since.replace(tzinfo=None) if store.engine.dialect.name == "sqlite" else since}
    where = "timestamp >= :since" + (" AND workflow = :workflow" if workflow else "")
    if workflow:
        params["workflow"] = workflow
    metrics = _read(store, f"""SELECT workflow, run_id, task_id, model, status, timestamp, execution_time_ms,
        prompt_tokens, completion_tokens, token_count AS total_tokens, cost_nanos, quality_score
        FROM performance_metrics WHERE {where} AND status IN ('completed', 'failed')""", params)
    if metrics.empty:
        where_cost = "timestamp >= :since" + (" AND workflow_id = :workflow" if workflow else "")
        metrics = _read(store, f"""SELECT workflow_id AS workflow, run_id, task_id, model, 'completed' AS status, timestamp,
            NULL AS execution_time_ms, prompt_tokens, completion_tokens, total_tokens, cost_nanos, NULL AS quality_score
            FROM cost_records WHERE {where_cost}""", params)
    scores = _read(store, "SELECT workflow, run_id, task_id, metric, score, passed, created_at FROM evaluation_scores WHERE created_at >= :since"
                   + (" AND workflow = :workflow" if workflow else ""), params)
    return metrics, scores


def summarise(metrics: pd.DataFrame, scores: pd.DataFrame, by: str) -> pd.DataFrame:
    if metrics.empty:
        return pd.DataFrame(columns=[by, *COLUMNS])
    frame = metrics.copy()
    frame["cost_usd"] = pd.to_numeric(frame["cost_nanos"], errors="coerce") / 1e9
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="mixed")
    for column in ("execution_time_ms", "prompt_tokens", "completion_tokens", "total_tokens", "quality_score"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    key = {"task": ["workflow", "task_id"], "model": ["model"], "day": ["day"]}[by]
    if by == "day":
        frame["day"] = frame["timestamp"].dt.strftime("%Y-%m-%d")
    frame["model"] = frame["model"].fillna("(none)")
    grouped = frame.groupby(key, dropna=False)
    summary = grouped.agg(
        runs=("run_id", "nunique"),
        calls=("task_id", "size"),
        prompt_tokens=("prompt_tokens", "sum"),
        completion_tokens=("completion_tokens", "sum"),
        total_tokens=("total_tokens", "sum"),
        cost_usd=("cost_usd", "sum"),
        p50_ms=("execution_time_ms", lambda s: s.quantile(0.50)),
        p95_ms=("execution_time_ms", lambda s: s.quantile(0.95)),
        p99_ms=("execution_time_ms", lambda s: s.quantile(0.99)),
        quality=("quality_score", "mean"),
    ).reset_index()
    if by == "task" and not scores.empty:
        quality = scores.groupby(["workflow", "task_id"])["score"].mean().rename("evaluated_quality").reset_index()
        summary = summary.merge(quality, on=["workflow", "task_id"], how="outer")
        summary["quality"] = summary["evaluated_quality"].combine_first(summary["quality"])
        summary = summary.drop(columns=["evaluated_quality"])
    summary["cost_usd"] = summary["cost_usd"].round(6)
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
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
