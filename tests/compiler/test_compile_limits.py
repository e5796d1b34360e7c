"""Compile work is bounded by the input: alias budgets per file, capped diagnostics and hints,
and a file size limit.  Assertions are on what a user sees (codes, positions, hints, how much is
printed), never on time; bench/compile.py times the same files."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler import source
from compiler.compile import MAX_FILE_BYTES, CompileOptions, compile_file, compile_text
from compiler.diagnostics import MAX_DIAGNOSTICS, MAX_LISTED, Diagnostic, Suggestions, did_you_mean
from compiler.source import MAX_ALIAS_NODES, load_documents
from llm_orchestrator.cli import app

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


def test_the_node_limit_is_per_file_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_NODES", 50)
    one = "items: [" + ", ".join(["x"] * 20) + "]\n"  # 22 nodes
    documents, diagnostics = load_documents("---\n".join([one] * 5), "many.yaml")
    assert len(documents) == 2
    assert [(d.code, d.line) for d in diagnostics] == [("E104", 5)]
    assert diagnostics[0].message == "the file holds more than 50 YAML nodes (expanded aliases included)"


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


# -- many mistakes: capped diagnostics, bounded hints ---------------------------------------------


def typo_workflow(n: int) -> str:
    """``n`` tasks; each depends on a task that does not exist and reads a misspelt one."""
    lines = [HEADER + "metadata: {name: typos}\nspec:\n  tasks:"]
    for i in range(n):
        lines.append(f"    - id: task_{i}\n      executor: orchestrator:template\n      dependsOn: [sumarize]\n"
                     f"      inputs: {{template: \"${{{{ tasks.tsak_{i}.outputs.text }}}}\"}}")
    return "\n".join(lines) + "\n"


def test_two_thousand_typos_print_a_bounded_report_with_hints() -> None:
    result = compile_text(typo_workflow(2_000), "typos.yaml")
    shown, note = result.diagnostics[:-1], result.diagnostics[-1]
    assert len(shown) == MAX_DIAGNOSTICS
    assert {d.code for d in shown} == {"E204", "E403"}
    assert note.code == "E107" and note.is_error
    assert note.message == "3,900 more errors not shown (E204 ×1,950, E403 ×1,950)"
    # The first hidden diagnostic is where the note points.
    assert (note.line, note.column) > (shown[-1].line, shown[-1].column)
    for d in shown:
        if d.code == "E403":  # tasks.tsak_7 -> task_7
            assert d.hint == f"did you mean '{d.message.split(chr(39))[1].replace('tsak', 'task')}'?"
        else:  # nothing is close to 'sumarize': a few task ids, and how many there are
            assert d.hint is not None and d.hint.startswith("tasks in this workflow: task_0, task_1, ")
            assert d.hint.endswith("(2,000 in all)") and d.hint.count(",") == MAX_LISTED + 1
    assert len(_rendered(result.diagnostics)) < 100_000


def test_unknown_executors_get_their_hint_within_the_cap() -> None:
    tasks = "".join(f"    - id: t{i}\n      executor: llm-forge:claude-apii\n      inputs: {{prompt: hi}}\n" for i in range(300))
    result = compile_text(HEADER + "metadata: {name: many}\nspec:\n  tasks:\n" + tasks, "many.yaml")
    assert [d.code for d in result.diagnostics] == ["E301"] * MAX_DIAGNOSTICS + ["E107"]
    assert all(d.hint and d.hint.startswith("did you mean 'llm-forge:claude-api'?") for d in result.diagnostics[:-1])
    assert result.diagnostics[-1].message == "200 more errors not shown (E301 ×200)"


def test_every_diagnostic_can_be_asked_for() -> None:
    result = compile_text(typo_workflow(150), "typos.yaml", CompileOptions(max_diagnostics=None))
    assert len(result.diagnostics) == 300
    assert all(d.hint for d in result.diagnostics)
    assert not any(d.code == "E107" for d in result.diagnostics)


def test_errors_are_kept_before_warnings() -> None:
    # 150 undeclared workflow inputs (W405 each) and one unknown task near the end of the file.
    tasks = "".join(f"    - id: t{i}\n      executor: orchestrator:template\n"
                    f"      inputs: {{template: '${{{{ workflow.inputs.undeclared_{i} }}}}'}}\n" for i in range(150))
    text = HEADER + "metadata: {name: noisy}\nspec:\n  tasks:\n" + tasks + (
        "    - id: last\n      executor: orchestrator:template\n      dependsOn: [nope]\n      inputs: {template: x}\n")
    result = compile_text(text, "noisy.yaml")
    codes = [d.code for d in result.diagnostics]
    assert "E204" in codes and codes.count("W405") == MAX_DIAGNOSTICS - 1
    assert result.diagnostics[-1].code == "W107" and not result.diagnostics[-1].is_error
    assert result.diagnostics[-1].message == "51 more warnings not shown (W405 ×51)"


def test_many_warnings_alone_do_not_fail_the_compile() -> None:
    tasks = "".join(f"    - id: t{i}\n      executor: orchestrator:template\n"
                    f"      inputs: {{template: '${{{{ workflow.inputs.undeclared_{i} }}}}'}}\n" for i in range(120))
    result = compile_text(HEADER + "metadata: {name: noisy}\nspec:\n  tasks:\n" + tasks, "noisy.yaml")
    assert result.ok and len(result.plan.nodes) == 120
    assert [d.code for d in result.diagnostics][-1] == "W107"


def test_suggestions_agree_with_difflib() -> None:
    names = ["summarize", "summary", "classify", "extract_fields", "response", "prompt", "translate", "score",
             *(f"task_{i}" for i in range(300))]
    words = ["sumarize", "summry", "clasify", "extract_field", "respones", "promt", "xyz", "tsak_12", "task12",
             "task_1000", "scores", "", "translation", "sumary"]
    suggestions = Suggestions(names)
    for word in words:
        expected = difflib.get_close_matches(word, names, n=1)
        assert suggestions.closest(word) == (expected[0] if expected else None), word
    assert did_you_mean("sumarize", names) == "did you mean 'summarize'?"


def test_fallback_lists_are_capped() -> None:
    names = [f"n{i}" for i in range(50)]
    assert Suggestions(names).hint("zzzzzzzz", "known") == (
        "known: " + ", ".join(names[:MAX_LISTED]) + ", … (50 in all)")
    assert Suggestions(["a", "b"]).hint("zzzzzzzz", "known") == "known: a, b"


# -- file size ------------------------------------------------------------------------------------


def test_oversized_text_is_refused_before_parsing() -> None:
    text = HEADER + "metadata: {name: big}\n# " + "x" * MAX_FILE_BYTES + "\n"
    result = compile_text(text, "big.yaml")
    assert [(d.code, d.line, d.column) for d in result.diagnostics] == [("E105", 1, 1)]
    assert "at most 10 MiB" in result.diagnostics[0].message and result.diagnostics[0].hint


def test_size_counts_utf8_bytes_not_characters() -> None:
    text = HEADER + "metadata: {name: big}\n# " + "é" * (MAX_FILE_BYTES // 2 + 1) + "\n"
    assert len(text) < MAX_FILE_BYTES
    assert [d.code for d in compile_text(text, "big.yaml").diagnostics] == ["E105"]


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written, and nothing should be read
    result = compile_file(path)
    assert [d.code for d in result.diagnostics] == ["E105"]
    assert result.diagnostics[0].file == str(path)


def test_a_ten_thousand_task_workflow_is_well_under_the_limit() -> None:
    task = ("    - id: t{i}\n      executor: llm-forge:claude-api\n      dependsOn: [t{j}]\n"
            "      if: ${{{{ tasks.t{j}.outputs.response != '' }}}}\n      inputs:\n"
            "        prompt: \"Summarise in three sentences: ${{{{ tasks.t{j}.outputs.response }}}}\"\n"
            "        config: {{model: claude-haiku-4-5, temperature: 0.2, max_tokens: 500}}\n"
            "      retry: {{maxAttempts: 3, backoff: exponential}}\n      timeout: 5m\n")
    text = HEADER + "spec:\n  tasks:\n" + "".join(task.format(i=i, j=max(i - 1, 0)) for i in range(10_000))
    assert len(text.encode()) < MAX_FILE_BYTES / 2


# -- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "code"),
    [("bomb.yaml", BOMB, "E106"), ("bombs.yaml", "\n---\n".join([BOMB] * 10), "E106"),
     ("typos.yaml", typo_workflow(2_000), "E107")],
)
def test_validate_prints_a_bounded_report(tmp_path: Path, name: str, text: str, code: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f" {code} " in result.output
    assert len(result.output.encode()) < 100_000
