"""Diagnostics: how the compiler tells a user what is wrong, where, and what to do.

    CompilerError                  root of everything the compiler raises
    └── CompilationFailed          carries every Diagnostic of a failed compilation

A ``Diagnostic`` renders like a compiler's: ``workflow.yaml:14:7: E204 unknown task 'sumarize'
in dependsOn`` followed by a hint line.  Codes are stable (documented in ``CODES``) so tools and
tests can match on them; line and column are 1-based and point at the offending YAML node.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


CODES: dict[str, str] = {
    "E100": "file cannot be read",
    "E101": "YAML syntax error",
    "E102": "duplicate key",
    "E103": "document is not a mapping",
    "E104": "document too large or too deeply nested",
    "E201": "unknown field",
    "E202": "missing required field",
    "E203": "invalid value",
    "E204": "unknown task in dependsOn",
    "E205": "duplicate task id",
    "E206": "invalid apiVersion or kind",
    "E207": "invalid workflow input declaration",
    "E301": "unknown executor",
    "E302": "task type not allowed for executor",
    "E303": "missing required executor input",
    "E304": "unknown executor input",
    "E305": "invalid executor input value",
    "E306": "malformed executor reference",
    "E401": "expression syntax error",
    "E402": "unknown expression context",
    "E403": "unknown task referenced",
    "E404": "unknown output or field referenced",
    "E405": "undeclared workflow input",
    "E406": "certain type error",
    "E407": "context not available here",
    "E501": "dependency cycle",
    "E502": "task depends on itself",
    "W207": "input declaration that is probably a mistake",
    "W405": "undeclared workflow input (treated as required)",
    "W408": "reference to a task that may not run",
    # EvalSuite files (compiler.suite)

    "E601": "workflow file missing, unreadable or not one workflow",
    "E602": "workflow does not compile (its diagnostics follow)",
    "E603": "unknown task in matrix",
    "E604": "matrix task is not an llm task",
    "E605": "unknown workflow input",
    "E606": "input value does not fit its declaration",
    "E607": "missing required workflow input in a case",
    "E608": "unknown workflow output in an assertion",
    "E609": "unknown metric",
    "E610": "malformed assertion",
    "E611": "expression syntax error",
    "E612": "unknown context or case field in an expression",
    "E613": "dataset file missing, unreadable or of unknown format",
    "E614": "dataset line, row or header cannot be read",
    "E615": "a case is not a mapping",
    "E616": "duplicate case id",
    "E617": "no cases",
    "E618": "invalid matrix",
    "E619": "a matrix value makes the workflow invalid",
    "E620": "duplicate assertion name",
    "E621": "expression cannot be evaluated for a case",
    "E622": "a case has no ground truth for a metric that needs one",
    "W623": "a case sets an input the matrix varies (the matrix value is used)",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    file: str = "<string>"
    line: int = 1
    column: int = 1
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self) -> str:
        head = f"{self.file}:{self.line}:{self.column}: {self.code} {self.message}"
        if self.severity is Severity.WARNING:
            head = f"{self.file}:{self.line}:{self.column}: {self.code} warning: {self.message}"
        return head if not self.hint else f"{head}\n    hint: {self.hint}"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["column"] = data.pop("column")
        return data

    def __str__(self) -> str:
        return self.render()


class CompilerError(Exception):
    """Root of every error the compiler raises."""


class CompilationFailed(CompilerError):
    """Raised by ``compile_*(..., strict=True)`` when any error diagnostic was found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        super().__init__("\n".join(d.render() for d in errors) or "compilation failed")


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean 'x'?" hint for the closest candidate, or None."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    return (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code)
