"""Data-driven compliance suite: every row of cases.yaml is one test."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import compiler.expressions as ex

DATA = yaml.safe_load((Path(__file__).with_name("cases.yaml")).read_text(encoding="utf-8"))
CONTEXTS: dict[str, Any] = DATA["contexts"]


def _context(row: dict[str, Any]) -> Mapping[str, Any]:
    context = row.get("context", "default")
    return CONTEXTS[context] if isinstance(context, str) else context


def _expression(row: dict[str, Any]) -> str:
    if "build" in row:
        build = row["build"]
        return build["prefix"] + build["repeat"] * build["times"] + build["suffix"]
    return str(row["expression"])


def _id(text: str) -> str:
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= 60 else text[:57] + "..."


def _row_id(row: dict[str, Any]) -> str:
    if "build" in row:
        build = row["build"]
        label = f"{build['prefix']}{build['repeat']}*{build['times']}{build['suffix']}"
    else:
        label = _expression(row)
    extra = f" [status={row['status']}]" if "status" in row else ""
    return _id(label + extra)


def same(actual: Any, expected: Any) -> bool:
    """Equality that keeps GitHub kinds apart (True is not 1) and treats NaN as NaN."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and actual == expected
    if isinstance(expected, list):
        return (
            type(actual) is list
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, Mapping)
            and list(actual) == list(expected)
            and all(same(actual[key], expected[key]) for key in expected)
        )
    return type(actual) is type(expected) and actual == expected


def _check_error(row: dict[str, Any], run: Any) -> None:
    cls = getattr(ex, row["error"])
    with pytest.raises(cls) as info:
        run()
    error = info.value
    if "message_contains" in row:
        assert row["message_contains"] in error.message
    if "column" in row:
        assert error.column == row["column"]
    rendered = str(error)  # must never fail
    assert rendered.startswith(error.message)


@pytest.mark.parametrize("row", DATA["cases"], ids=[_row_id(row) for row in DATA["cases"]])
def test_expression(row: dict[str, Any]) -> None:
    expression = _expression(row)
    status = row.get("status", "success")

    def run() -> Any:
        return ex.evaluate(expression, _context(row), status=status)

    if "error" in row:
        _check_error(row, run)
        return
    actual = run()
    assert same(actual, row["result"]), f"{expression!r} gave {actual!r}, expected {row['result']!r}"
    if "type" in row:
        assert type(actual).__name__ == row["type"]
    # The tree path gives the same answer as the text path.
    assert same(ex.evaluate(ex.parse(expression), _context(row), status=status), row["result"])


@pytest.mark.parametrize("row", DATA["render_cases"], ids=[_id(row["text"]) for row in DATA["render_cases"]])
def test_render(row: dict[str, Any]) -> None:
    text = row["text"]

    def run() -> Any:
        return ex.render(text, _context(row), status=row.get("status", "success"))

    if "error" in row:
        _check_error(row, run)
        return
    actual = run()
    assert same(actual, row["result"]), f"{text!r} rendered {actual!r}, expected {row['result']!r}"


@pytest.mark.parametrize("row", DATA["span_cases"], ids=[_id(row["text"]) for row in DATA["span_cases"]])
def test_find_spans(row: dict[str, Any]) -> None:
    text = row["text"]
    if "error" in row:
        _check_error(row, lambda: ex.find_spans(text))
        return
    spans = ex.find_spans(text)
    assert [[span.start, span.end, span.source] for span in spans] == row["spans"]
    for span in spans:
        assert text[span.start : span.end].startswith("${{")
        assert text[span.start : span.end].endswith("}}")
    assert ex.has_expression(text) == ("${{" in text)


def test_suite_size() -> None:
    total = len(DATA["cases"]) + len(DATA["render_cases"]) + len(DATA["span_cases"])
    assert total >= 330
