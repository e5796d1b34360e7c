"""The diagnostic corpus: small workflows with one mistake each (a few with several), plus tricky
valid ones and the shipped examples.

Each file under ``corpus/invalid`` starts with header comments::

    # expect: E204 16:11        code, line:column of the offending YAML node (1-based)
    # expect: E204 16           line only, when the column is not the point
    # xfail: <why>              a known compiler bug: the expectation is what SHOULD happen

Every ``# expect:`` line must match a diagnostic.  A file with a single ``# expect:`` line must
produce no other error (a file with several is a "report everything at once" case and may).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.compile import compile_file, compile_text
from compiler.diagnostics import CODES, Diagnostic, Severity

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
EXAMPLES_DIR = HERE.parents[1] / "examples"


def _is_workflow(path: Path) -> bool:
    """examples/ also holds orchestrator config files (orchestrator-config.yaml, ...): not workflows."""
    return "\napiVersion:" in "\n" + path.read_text(encoding="utf-8")


EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.yaml") if _is_workflow(p))

_EXPECT = re.compile(r"^#\s*expect:\s*(?P<code>[EW]\d{3})\s+(?P<line>\d+)(?::(?P<col>\d+))?\s*$")
_XFAIL = re.compile(r"^#\s*xfail:\s*(?P<reason>.+)$")


@dataclass(frozen=True)
class Expectation:
    code: str
    line: int
    column: int | None

    def matches(self, d: Diagnostic) -> bool:
        return (
            d.code == self.code and d.line == self.line and (self.column is None or d.column == self.column)
        )

    def __str__(self) -> str:
        return f"{self.code} {self.line}" + (f":{self.column}" if self.column is not None else "")


def parse_header(text: str) -> tuple[list[Expectation], str | None]:
    expectations: list[Expectation] = []
    xfail: str | None = None
    for raw in text.splitlines():
        if not raw.startswith("#"):
            break
        if m := _EXPECT.match(raw):
            col = m.group("col")
            expectations.append(Expectation(m.group("code"), int(m.group("line")), int(col) if col else None))
        elif m := _XFAIL.match(raw):
            xfail = m.group("reason")
    return expectations, xfail


def _invalid_params() -> list[object]:
    params = []
    for path in INVALID:
        _, xfail = parse_header(path.read_text(encoding="utf-8"))
        marks = [pytest.mark.xfail(strict=True, reason=f"compiler bug: {xfail}")] if xfail else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


def _show(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.render() for d in diagnostics) or "(no diagnostics)"


# -- the corpus itself ------------------------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 45
    assert len(VALID) >= 8


def test_every_invalid_file_has_an_expectation() -> None:
    missing = [p.name for p in INVALID if not parse_header(p.read_text(encoding="utf-8"))[0]]
    assert not missing


def test_expected_codes_are_documented() -> None:
    for path in INVALID:
        for expectation in parse_header(path.read_text(encoding="utf-8"))[0]:
            assert expectation.code in CODES, f"{path.name}: {expectation.code} is not in CODES"


def test_corpus_covers_every_code_a_document_can_produce() -> None:
    # E100 is about reading a file (tests/compiler/test_cli.py covers it); E105 (file size) and E107/W107
    # (more than 100 diagnostics) need inputs too big for the corpus: tests/compiler/test_compile_limits.py covers
    # them.  The suite codes (E6xx/W6xx) come from EvalSuite files: tests/compiler/test_suite_corpus.py covers
    # them.  E411 needs the config's env_allowlist as a compile option: tests/llm_orchestrator/
    # test_loose_inputs.py covers it.  Everything else comes from a document.
    covered = {e.code for p in INVALID for e in parse_header(p.read_text(encoding="utf-8"))[0]}
    big = {"E100", "E105", "E107", "W107", "E411"}
    workflow_codes = {c for c in CODES if c[1:2] != "6"} - big
    assert workflow_codes <= covered, sorted(workflow_codes - covered)


@pytest.mark.parametrize("path", _invalid_params())
def test_invalid_workflow_reports_expected_diagnostics(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expectations, _ = parse_header(text)
    result = compile_text(text, path.name)
    found = result.diagnostics
    missing = [e for e in expectations if not any(e.matches(d) for d in found)]
    assert not missing, f"expected {', '.join(map(str, missing))}; got:\n{_show(found)}"
    if any(e.code.startswith("E") for e in expectations):
        assert not result.ok and result.plans == []
    if len(expectations) == 1:
        unexpected = [d for d in result.errors if not expectations[0].matches(d)]
        assert not unexpected, f"a one-mistake file reported more errors:\n{_show(unexpected)}"


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem) for p in INVALID if parse_header(p.read_text(encoding="utf-8"))[1] is None],
)
def test_invalid_workflow_diagnostics_render_like_a_compiler(path: Path) -> None:
    result = compile_text(path.read_text(encoding="utf-8"), path.name)
    assert result.diagnostics
    for d in result.diagnostics:
        first = d.render().splitlines()[0]
        if d.severity is Severity.ERROR:
            assert first == f"{path.name}:{d.line}:{d.column}: {d.code} {d.message}"
        else:
            assert first == f"{path.name}:{d.line}:{d.column}: {d.code} warning: {d.message}"
        assert re.match(rf"^{re.escape(path.name)}:\d+:\d+: [EW]\d{{3}} ", first)
        assert d.line >= 1 and d.column >= 1
        assert d.code in CODES
        assert "Traceback" not in d.render()
        if d.hint:
            assert d.render().splitlines()[1] == f"    hint: {d.hint.splitlines()[0]}"


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in VALID])
def test_valid_corpus_compiles_without_errors(path: Path) -> None:
    result = compile_file(path)
    assert result.ok, _show(result.errors)
    assert result.plans
    for plan in result.plans:
        assert plan.nodes


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in EXAMPLES])
def test_examples_compile_without_errors(path: Path) -> None:
    result = compile_file(path)
    assert result.ok, _show(result.errors)
    assert len(result.plans) == 1


def test_the_shipped_examples_are_all_found() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "batch-summaries.yaml",
        "governed-llm-workflow.yaml",
        "llm-with-evaluation.yaml",
        "multi-model-comparison.yaml",
        "optimized-inference-pipeline.yaml",
        "support-triage.yaml",
    }


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.stem) for p in sorted(EXAMPLES_DIR.glob("*.yaml")) if not _is_workflow(p)]
)
def test_orchestrator_config_is_not_a_workflow(path: Path) -> None:
    result = compile_file(path)
    assert [d.code for d in result.errors] == ["E206"]
    assert "--config" in (result.errors[0].hint or "")


# -- specific messages and hints ------------------------------------------------------------------


def _errors(name: str) -> list[Diagnostic]:
    path = CORPUS / "invalid" / f"{name}.yaml"
    return compile_text(path.read_text(encoding="utf-8"), path.name).errors


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("e201_dependson", "did you mean 'dependsOn'?"),
        ("e201_executer", "did you mean 'executor'?"),
        ("e201_max_attempt", "did you mean 'maxAttempts'?"),
        ("e204_unknown_depends_on", "did you mean 'summarize'?"),
        ("e301_unknown_executor", "did you mean 'llm-forge:claude-api'?"),
        ("e301_unknown_tool", "did you mean 'llm-forge:tool:response-formatter'?"),
        ("e304_unknown_input", "did you mean 'prompt'?"),
        ("e304_unknown_config_key", "did you mean 'temperature'?"),
        ("e305_unknown_metric", "did you mean 'semantic_similarity'?"),
        ("e305_gpt_model_on_claude", "llm-forge:openai-api"),
        ("e402_unknown_context", "did you mean 'tasks'?"),
        ("e403_unknown_task", "did you mean 'summarize'?"),
        ("e404_unknown_output", "did you mean 'response'?"),
        ("e404_unknown_task_field", "did you mean 'outputs'?"),
        ("e405_undeclared_close_input", "did you mean 'prompt'?"),
        ("e101_unquoted_colon_expression", "quote"),
        ("e409_unknown_property_closed", "did you mean 'email'?"),
        ("e409_foreach_answers_are_a_list", "outputs.data[0].urgency"),
        ("e209_unknown_type_in_schema", "JSON Schema calls it 'string'"),
        ("e208_schema_on_non_llm_task", "declare its type alone"),
    ],
)
def test_hint(name: str, hint: str) -> None:
    errors = _errors(name)
    assert any(hint in (d.hint or "") for d in errors), _show(errors)


def test_unknown_output_message_names_the_reference() -> None:
    (error,) = _errors("e404_unknown_output")
    assert "tasks.summarize.outputs.respons" in error.message
    assert "respons" in error.message


def test_duplicate_key_message_points_at_first_definition() -> None:
    (error,) = _errors("e102_nested_config")
    assert "'temperature'" in error.message and "line 14" in error.message


def test_duplicate_id_message_points_at_first_definition() -> None:
    (error,) = _errors("e205_duplicate_across_events")
    assert "'notify'" in error.message and "line 9" in error.message


def _cycle(message: str) -> list[str]:
    m = re.search(r"dependency cycle: (.+)$", message)
    assert m, message
    return [part.strip() for part in m.group(1).split("->")]


@pytest.mark.parametrize(
    ("name", "members"),
    [
        ("e501_cycle_of_two", {"a", "b"}),
        ("e501_cycle_of_three", {"a", "b", "c"}),
        ("e501_cycle_through_expressions", {"a", "b"}),
        ("e501_cycle_mixed", {"a", "b", "c"}),
    ],
)
def test_cycle_message_shows_the_path(name: str, members: set[str]) -> None:
    (error,) = [d for d in _errors(name) if d.code == "E501"]
    path = _cycle(error.message)
    assert path[0] == path[-1], path  # closed: a -> b -> a
    assert set(path) == members and len(path) == len(members) + 1


def test_cycle_of_three_is_in_run_order() -> None:
    # a dependsOn c, b dependsOn a, c dependsOn b: shown in the order a run would need (a -> b -> c -> a).
    (error,) = _errors("e501_cycle_of_three")
    path = _cycle(error.message)
    text = " -> ".join(path + path[1:])
    assert "a -> b -> c -> a" in text


def test_a_cycle_is_reported_once() -> None:
    assert len([d for d in _errors("e501_cycle_of_three") if d.code == "E501"]) == 1


def test_two_independent_cycles_are_both_reported() -> None:
    text = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: t}
spec:
  tasks:
    - {id: a, executor: llm-forge:offline, dependsOn: [b], inputs: {prompt: x}}
    - {id: b, executor: llm-forge:offline, dependsOn: [a], inputs: {prompt: x}}
    - {id: c, executor: llm-forge:offline, dependsOn: [d], inputs: {prompt: x}}
    - {id: d, executor: llm-forge:offline, dependsOn: [c], inputs: {prompt: x}}
"""
    cycles = [set(_cycle(d.message)) for d in compile_text(text).errors if d.code == "E501"]
    assert sorted(map(sorted, cycles)) == [["a", "b"], ["c", "d"]]


def test_expression_error_hint_shows_a_caret() -> None:
    (error,) = _errors("e401_double_quoted_string")
    assert error.hint and "^" in error.hint
    assert "single quotes" in error.message


def test_all_errors_of_a_file_are_reported_at_once() -> None:
    errors = _errors("multi_semantic_errors")
    assert {d.code for d in errors} >= {"E301", "E204", "E403"}


def test_diagnostics_are_sorted_by_position() -> None:
    errors = _errors("multi_semantic_errors")
    assert [(d.line, d.column) for d in errors] == sorted((d.line, d.column) for d in errors)


def test_diagnostic_json_has_the_documented_keys() -> None:
    (error,) = _errors("e204_unknown_depends_on")
    data = error.to_json()
    assert set(data) == {"code", "severity", "message", "file", "line", "column", "hint"}
    assert (
        data["severity"] == "error" and data["code"] == "E204" and (data["line"], data["column"]) == (16, 11)
    )


def test_file_name_is_carried_into_every_diagnostic() -> None:
    path = CORPUS / "invalid" / "multi_semantic_errors.yaml"
    result = compile_file(path)
    assert {d.file for d in result.diagnostics} == {str(path)}


def test_warning_codes_start_with_w() -> None:
    text = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: t}
spec:
  inputs:
    - {name: p, type: string, required: true, default: x}
  tasks:
    - {id: a, executor: llm-forge:offline, inputs: {prompt: "${{ workflow.inputs.p }}"}}
"""
    result = compile_text(text)
    assert result.ok and result.warnings
    for d in result.diagnostics:
        assert d.code.startswith("W") == (d.severity is Severity.WARNING), d.render()


@pytest.mark.parametrize(
    "transform",
    [lambda t: t.replace("\n", "\r\n"), lambda t: "\ufeff" + t, lambda t: t.replace("\n", "\r")],
    ids=["crlf", "bom", "cr"],
)
def test_positions_survive_line_endings_and_bom(transform: object) -> None:
    path = CORPUS / "invalid" / "e204_unknown_depends_on.yaml"
    result = compile_text(transform(path.read_text(encoding="utf-8")), path.name)  # type: ignore[operator]
    assert [(d.code, d.line, d.column) for d in result.errors] == [("E204", 16, 11)]


def test_merge_key_overrides_are_not_duplicates_but_repeats_are() -> None:
    text = """apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: t}
spec:
  tasks:
    - &base {id: a, executor: llm-forge:offline, inputs: {prompt: x}}
    - <<: *base
      id: b
    - <<: *base
      id: c
      id: d
"""
    result = compile_text(text)
    assert [(d.code, d.line, d.column) for d in result.errors] == [("E102", 11, 7)]


def _one_task(executor: str, inputs: str) -> str:
    return f"""apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {{name: t}}
spec:
  tasks:
    - id: a
      executor: {executor}
      inputs:
{inputs}"""


def test_fine_tuned_openai_model_is_accepted() -> None:
    text = _one_task(
        "llm-forge:openai-api",
        '        prompt: hi\n        config: {model: "ft:gpt-4o-mini-2024-07-18:acme::abc123"}\n',
    )
    result = compile_text(text)
    assert result.ok, _show(result.errors)


@pytest.mark.parametrize(
    ("executor", "inputs", "position"),
    [
        ("llm-test-bench:multi-metric", "        response: x\n        threshold: 1.5\n", (10, 20)),
        ("llm-forge:claude-api", "        prompt: hi\n        config: {max_tokens: 0}\n", (10, 30)),
        ("llm-forge:openai-api", "        prompt: hi\n        config: {top_p: -0.5}\n", (10, 25)),
    ],
    ids=["threshold-1.5", "max_tokens-0", "top_p-negative"],
)
def test_out_of_range_executor_inputs_are_e305(executor: str, inputs: str, position: tuple[int, int]) -> None:
    result = compile_text(_one_task(executor, inputs))
    assert [(d.code, d.line, d.column) for d in result.errors] == [("E305", *position)], _show(result.errors)
