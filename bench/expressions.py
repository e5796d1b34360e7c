"""Benchmark for compiler.expressions: parse (cold and memoised), evaluate and render.

Run: .venv/bin/python bench/expressions.py [--against REV]

Ratios are against a baseline measured in the same run -- the hand-written Python
that does the same lookup and comparison -- so the numbers mean something on any
machine. Not a test: nothing here asserts a time.

``--against REV`` (a git revision, e.g. ``HEAD~1``) also measures that revision's expression
engine, checked out in a temporary worktree: the two trees are measured in turn, each in a
process of its own, ``ROUNDS`` times interleaved, best of each; ``vs_previous`` is the sum of
this tree's per-call times over the other's (below 1: faster now).
Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
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


ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent


def measure() -> dict[str, float]:
    """Per-call seconds of each (expression, operation), and the hand-written baseline."""
    figures = {"baseline": per_call(lambda: CONTEXT["tasks"]["a"]["outputs"]["b"] == "x")}
    for number, expression in enumerate(EXPRESSIONS):
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
        figures.update({f"{number}|{label}": seconds for label, seconds in rows.items()})
    return figures


def in_tree(root: Path) -> dict[str, float]:
    """``measure()`` in a fresh process importing the expression engine from ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def best_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: min(r[key] for r in rounds) for key in rounds[0]}


def main(against: str | None) -> None:
    if against is None:
        figures = best_of([in_tree(ROOT) for _ in range(ROUNDS)])
        previous = None
    else:
        worktree = Path(tempfile.mkdtemp(prefix="llmo-bench-expr-")) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), against], check=True)
        try:
            now, then = [], []
            for _ in range(ROUNDS):
                now.append(in_tree(ROOT))
                then.append(in_tree(worktree))
            figures, previous = best_of(now), best_of(then)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    baseline = figures["baseline"]
    print(f"baseline (hand-written lookup + ==): {baseline * 1e6:8.3f} us")
    for number, expression in enumerate(EXPRESSIONS):
        print(f"\n{expression}")
        for key in [k for k in figures if k.startswith(f"{number}|")]:
            seconds = figures[key]
            versus = f"  ({seconds / previous[key]:.2f}x {against})" if previous else ""
            print(f"  {key.split('|', 1)[1]:18} {seconds * 1e6:8.2f} us  {seconds / baseline:8.1f}x baseline{versus}")
    timed = [k for k in figures if k != "baseline"]
    total = sum(figures[k] for k in timed)
    line: dict[str, object] = {"bench": "expressions", "sum_per_call_us": round(total * 1e6, 2),
                               "evaluate_tree_vs_baseline": round(
                                   sum(figures[k] for k in timed if k.endswith("evaluate(tree)")) / baseline / len(EXPRESSIONS), 2)}
    if previous is not None:
        line.update({"against": against, "vs_previous": round(total / sum(previous[k] for k in timed), 3),
                     "previous_sum_per_call_us": round(sum(previous[k] for k in timed) * 1e6, 2)})
    print(json.dumps(line))


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(measure()))
    elif len(sys.argv) == 3 and sys.argv[1] == "--against":
        main(sys.argv[2])
    else:
        main(None)
