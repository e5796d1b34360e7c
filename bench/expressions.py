"""Benchmark for compiler.expressions: parse (cold and memoised), evaluate and render.

Run: .venv/bin/python bench/expressions.py

Ratios are against a baseline measured in the same run -- the hand-written Python
that does the same lookup and comparison -- so the numbers mean something on any
machine. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import timeit
from typing import Any

from compiler.expressions import evaluate, parse, render
from compiler.expressions.parser import _Parser

EXPRESSIONS = [
    "tasks.a.outputs.b == 'x'",
    "success() && tasks.classify.outputs.label != 'spam'",
    "format('{0}: {1}', workflow.name, join(tasks.a.outputs.tags, ', '))",
    "tasks.a.metadata.cost * 1000 > 5 ? 'expensive' : 'cheap'",
]
CONTEXT: dict[str, Any] = {
    "tasks": {
        "a": {"outputs": {"b": "x", "tags": ["p", "q"]}, "metadata": {"cost": 0.004}},
        "classify": {"outputs": {"label": "ham"}},
    },
    "workflow": {"name": "demo"},
}


def per_call(fn: Any, number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    baseline = per_call(lambda: CONTEXT["tasks"]["a"]["outputs"]["b"] == "x")
    print(f"baseline (hand-written lookup + ==): {baseline * 1e6:8.3f} us")
    for expression in EXPRESSIONS:
        node = parse(expression)
        rows = {
            "parse (cold)": per_call(lambda expression=expression: _Parser(expression).parse(), 5_000),
            "parse (memoised)": per_call(lambda expression=expression: parse(expression)),
            "evaluate(tree)": per_call(lambda node=node: evaluate(node, CONTEXT)),
            "evaluate(text)": per_call(lambda expression=expression: evaluate(expression, CONTEXT)),
            "render(embedded)": per_call(
                lambda expression=expression: render(f"v=${{{{ {expression} }}}}", CONTEXT)
            ),
        }
        print(f"\n{expression}")
        for label, seconds in rows.items():
            print(f"  {label:18} {seconds * 1e6:8.2f} us  {seconds / baseline:8.1f}x baseline")


if __name__ == "__main__":
    main()
