"""Compile work is bounded by the input: alias budgets per file.  Assertions are on what a user sees (codes, positions, hints, how much is
printed), never on time; bench/compile.py times the same files."""

from __future__ import annotations

from compiler.compile import compile_text
from compiler.diagnostics import Diagnostic
from compiler.source import MAX_ALIAS_NODES, load_documents

HEADER = "apiVersion: orchestrator.llm/v1\nkind: Workflow\n"

# 396 bytes of YAML, a billion strings once expanded.
BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

# Merge keys copy too: 120 mappings that each merge in the same 1,000 keys.
MERGE_COPIES = "base: &base {" + ", ".join(f"k{i}: {i}" for i in range(1_000)) + "}\nitems:\n" + "  - {<<: *base}\n" * 120


def _rendered(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.render() for d in diagnostics)


# -- aliases ---------------------------------------------------------------------------------------


def test_alias_bomb_gives_one_positioned_diagnostic() -> None:
    result = compile_text(BOMB, "bomb.yaml")
    assert [d.code for d in result.diagnostics] == ["E106"]
    bomb = result.diagnostics[0]
    # f's copies of e push the budget over: the site is f's list (line 6), an alias of e (line 5).
    assert (bomb.file, bomb.line, bomb.column) == ("bomb.yaml", 6, 4)
    assert f"more than {MAX_ALIAS_NODES:,} nodes" in bomb.message and "line 5, column 4" in bomb.message
    assert bomb.hint and "aliases of aliases" in bomb.hint
    assert not result.ok and result.plans == []
    assert len(_rendered(result.diagnostics)) < 1_000


def test_ten_document_bomb_spends_one_budget_and_reports_once() -> None:
    text = "\n---\n".join([BOMB] * 10)
    result = compile_text(text, "bombs.yaml")
    assert [(d.code, d.line) for d in result.diagnostics] == [("E106", 6)]
    assert len(_rendered(result.diagnostics)) < 1_000


def test_the_budget_is_per_file_not_per_document() -> None:
    # Each document copies ~30,000 nodes (well under the budget); the fourth one goes over it.
    one = "base: &base [" + ", ".join(["x"] * 999) + "]\ncopies: [" + ", ".join(["*base"] * 30) + "]\n"
    documents, diagnostics = load_documents("---\n".join([one] * 10), "many.yaml")
    assert len(documents) == 3
    assert [d.code for d in diagnostics] == ["E106"]
    assert "in document 4" in diagnostics[0].message


def test_merge_keys_count_against_the_budget() -> None:
    result = compile_text(MERGE_COPIES, "merge.yaml")
    assert [d.code for d in result.diagnostics] == ["E106"]


def test_anchors_used_in_every_task_stay_within_the_budget() -> None:
    tasks = "".join(
        f"    - id: t{i}\n      executor: orchestrator:template\n      retry: *retry\n      inputs: *inputs\n"
        for i in range(1, 2_000)
    )
    text = HEADER + (
        "metadata: {name: anchored}\nspec:\n  tasks:\n"
        "    - id: t0\n      executor: orchestrator:template\n"
        "      retry: &retry {maxAttempts: 4, backoff: linear, initialDelay: 2s}\n"
        "      inputs: &inputs {template: 'hello {{ who }}', values: {who: world}}\n"
    ) + tasks
    result = compile_text(text, "anchored.yaml")
    assert result.ok, _rendered(result.errors[:3])
    assert result.plan.nodes["t1999"].retry == result.plan.nodes["t0"].retry
