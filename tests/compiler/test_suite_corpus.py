"""The EvalSuite diagnostic corpus: suites with mistakes, each expected at its file:line:col.

Each file under ``suites/invalid`` lists what it must produce in header comments::

    # expect: E603 20:7                       code, line:column in the suite file
    # expect: E614 bad-lines.jsonl:3:45       ... or in another file (a dataset, the workflow)

Every expectation must match a diagnostic, and the file must produce no error or warning that is
not expected, so a new false positive fails here too.  ``suites/valid`` must compile cleanly, and
so must the example suites under ``examples/evals``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.diagnostics import Diagnostic
from compiler.suite import SUITE_CODES, compile_suite

HERE = Path(__file__).parent / "suites"
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
INVALID = [p for p in INVALID if "kind: EvalSuite" in p.read_text(encoding="utf-8")]
VALID = sorted(p for p in (HERE / "valid").glob("*.yaml") if "kind: EvalSuite" in p.read_text(encoding="utf-8"))
EXAMPLES = sorted(p for p in (HERE.parents[2] / "examples" / "evals").glob("*.yaml")
                  if "kind: EvalSuite" in p.read_text(encoding="utf-8"))  # not the offline config beside them
_EXPECT = re.compile(r"^#\s*expect:\s*(?P<code>[EW]\d{3})\s+(?:(?P<file>[^\s:]+):)?(?P<line>\d+):(?P<col>\d+)\s*$")


def expectations(path: Path) -> list[tuple[str, str, int, int]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EXPECT.match(line)
        if match:
            found.append((match["code"], match["file"] or path.name, int(match["line"]), int(match["col"])))
    return found


def key(d: Diagnostic) -> tuple[str, str, int, int]:
    return d.code, Path(d.file).name, d.line, d.column


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_suite_reports_exactly_what_it_expects(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' lines"
    result = compile_suite(path)
    found = [key(d) for d in result.diagnostics]
    rendered = "\n".join(d.render() for d in result.diagnostics)
    missing = [e for e in expected if e not in found]
    unexpected = [f for f in found if f not in expected]
    assert not missing, f"missing {missing}; got:\n{rendered}"
    assert not unexpected, f"unexpected {unexpected}; got:\n{rendered}"
    assert (result.plan is None) == any(code.startswith("E") for code, *_ in expected)


@pytest.mark.parametrize("path", [*VALID, *EXAMPLES], ids=[p.stem for p in [*VALID, *EXAMPLES]])
def test_valid_suites_compile_cleanly(path: Path) -> None:
    result = compile_suite(path)
    assert result.diagnostics == [], "\n".join(d.render() for d in result.diagnostics)
    assert result.ok and result.plan is not None


def test_every_suite_code_is_exercised_and_documented() -> None:
    used = {code for path in INVALID for code, *_ in expectations(path)}
    suite_codes = {c for c in used if c[1] == "6"}
    assert suite_codes <= set(SUITE_CODES)
    # E617 and E618 "too many variants" are covered by unit tests in test_suite.py.
    assert set(SUITE_CODES) - suite_codes <= {"E617", "E618"}


def test_a_diagnostic_renders_like_a_compiler() -> None:
    result = compile_suite(HERE / "invalid" / "many-problems.yaml")
    first = next(d for d in result.diagnostics if d.code == "E603")
    assert first.render() == (
        f"{first.file}:20:7: E603 unknown task 'clasify' in the matrix: the workflow has no such task\n"
        "    hint: did you mean 'classify'?"
    )
