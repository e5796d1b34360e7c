"""Diagnostics: how the compiler tells a user what is wrong, where, and what to do.

    CompilerError                  root of everything the compiler raises
    └── CompilationFailed          carries every Diagnostic of a failed compilation

A ``Diagnostic`` renders like a compiler's: ``workflow.yaml:14:7: E204 unknown task 'sumarize'
in dependsOn`` followed by a hint line.  Codes are stable (documented in ``CODES``) so tools and
tests can match on them; line and column are 1-based and point at the offending YAML node.

Diagnostics are bounded by design, because a file's mistakes can be as many as its lines: a file
shows its first ``MAX_DIAGNOSTICS`` (errors before warnings) and one E107/W107 line counting the
rest, as javac does with ``-Xmaxerrs``; and "did you mean" costs O(candidates) per word
(``Suggestions``: a bit-count pre-filter in one pass, then difflib's ratio on a few) with any
fallback list of names cut to ``MAX_LISTED``.  Without both, 2,000 misspelt references among
2,000 tasks printed 26 MB (each hint listed every task id), and near misses (tsak_7 among task_0
... task_1999) took minutes of difflib.
"""

from __future__ import annotations

import difflib
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

MAX_DIAGNOSTICS = 100  # shown per file by default; CompileOptions(max_diagnostics=None) shows all
MAX_LISTED = 10  # names in a "known names: ..." hint
_CUTOFF = 0.6  # difflib.get_close_matches' default similarity
_RATIO_TRIES = 24  # difflib ratios computed per word, on the most alike names


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


CODES: dict[str, str] = {
    "E100": "file cannot be read",
    "E101": "YAML syntax error",
    "E102": "duplicate key",
    "E103": "document is not a mapping",
    "E104": "document too large or too deeply nested",
    "E105": "file too large",
    "E106": "YAML aliases expand too far",
    "E107": "too many diagnostics: the rest are counted, not shown",
    "E201": "unknown field",
    "E202": "missing required field",
    "E203": "invalid value",
    "E204": "unknown task in dependsOn",
    "E205": "duplicate task id",
    "E206": "invalid apiVersion or kind",
    "E207": "invalid workflow input declaration",
    "E208": "invalid task output declaration (a response schema where none can be, or at odds with its type)",
    "E209": "invalid response schema",
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
    "E409": "reference to a property a response schema cannot have",
    "E410": "the secrets context is not supported",
    "E411": "environment variable not in the config's env_allowlist",
    "E501": "dependency cycle",
    "E502": "task depends on itself",
    "W107": "too many warnings: the rest are counted, not shown",
    "W207": "input declaration that is probably a mistake",
    "W209": "response schema keyword outside the subset every provider accepts",
    "W210": "response schema keyword or required name that is probably a typo",
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
    "W409": "reference to a property a response schema does not list (but allows)",
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
    match = Suggestions(candidates).closest(word)
    return f"did you mean '{match}'?" if match is not None else None


def listing(label: str, names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``label: a, b, c`` or, for many names, ``label: a, b, ..., j (2,000 in all)``."""
    if len(names) <= limit:
        return f"{label}: {', '.join(names)}"
    return f"{label}: {', '.join(names[:limit])}, … ({len(names):,} in all)"


class Suggestions:
    """"Did you mean" over one set of names, asked about many words.

    Answers as difflib.get_close_matches(word, names, n=1) does, at O(names) cheap steps per
    word.  difflib's ratio is 2*M/(len(a)+len(b)) with M matched characters, and M is at most
    the size of the two strings' character-multiset intersection: the bit count of an AND when
    each name is a bitmask with one bit per (character, occurrence).  One pass keeps the names
    whose bound reaches the cutoff, and difflib's ratio then runs only on the ``_RATIO_TRIES``
    most alike of them (most shared character pairs, then highest bound), so near-identical
    names (task_1 ... task_2000) stay cheap.  Among such names the answer may differ from
    difflib's by a hair (a tie broken otherwise); it is still a close one.  With no more names
    than that, difflib runs on them all.  Answers are memoised per word.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(dict.fromkeys(names))
        self._bits: dict[tuple[str, int], int] | None = None
        self._by_length: dict[int, list[tuple[int, int, str]]] = {}
        self._memo: dict[str, str | None] = {}

    def _index(self) -> dict[tuple[str, int], int]:
        bits: dict[tuple[str, int], int] = {}
        for name in self.names:
            chars = pairs = 0
            for key in _occurrences(name):
                chars |= 1 << bits.setdefault(key, len(bits))
            for key in _occurrences(_pairs(name)):
                pairs |= 1 << bits.setdefault(key, len(bits))
            self._by_length.setdefault(len(name), []).append((chars, pairs, name))
        return bits

    def _mask(self, items: Iterable[tuple[str, int]]) -> int:
        assert self._bits is not None
        mask = 0
        for key in items:
            bit = self._bits.get(key)
            if bit is not None:
                mask |= 1 << bit
        return mask

    def closest(self, word: str) -> str | None:
        if word in self._memo:
            return self._memo[word]
        if len(self.names) <= _RATIO_TRIES:  # few names: difflib itself, exactly
            matches = difflib.get_close_matches(word, self.names, n=1, cutoff=_CUTOFF)
            self._memo[word] = matches[0] if matches else None
            return self._memo[word]
        if self._bits is None:
            self._bits = self._index()
        chars, pairs = self._mask(_occurrences(word)), self._mask(_occurrences(_pairs(word)))
        size = len(word)
        alike: list[tuple[int, float, str]] = []
        for length, entries in self._by_length.items():
            total = size + length
            need = _CUTOFF * total / 2  # matched characters needed to reach the cutoff
            if min(size, length) < need:
                continue
            alike.extend(
                ((p & pairs).bit_count(), 2 * common / total, name)
                for c, p, name in entries
                if (common := (c & chars).bit_count()) >= need
            )
        if len(alike) > _RATIO_TRIES:
            alike = heapq.nlargest(_RATIO_TRIES, alike)
        best: tuple[float, str] | None = None
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(word)
        for _, _, name in alike:
            matcher.set_seq1(name)
            ratio = matcher.ratio()
            if ratio >= _CUTOFF and (best is None or (ratio, name) > best):
                best = (ratio, name)
        answer = best[1] if best is not None else None
        self._memo[word] = answer
        return answer

    def hint(self, word: str, label: str) -> str | None:
        """"did you mean 'x'?", else a capped list of the names under ``label``; None if no names."""
        match = self.closest(word)
        if match is not None:
            return f"did you mean '{match}'?"
        return listing(label, self.names) if self.names else None


def _pairs(text: str) -> list[str]:
    return [text[i:i + 2] for i in range(len(text) - 1)]


def _occurrences(items: Iterable[str]) -> Iterable[tuple[str, int]]:
    """Each item with how many times it has occurred so far: 'aba' -> (a, 1), (b, 1), (a, 2)."""
    seen: dict[str, int] = {}
    for item in items:
        count = seen[item] = seen.get(item, 0) + 1
        yield item, count


def priority(diagnostic: Diagnostic) -> tuple[bool, str, int, int, str]:
    """Which diagnostics a capped list keeps: errors first, then by position."""
    return (not diagnostic.is_error, *sort_key(diagnostic))


def limit_diagnostics(diagnostics: Sequence[Diagnostic], limit: int | None) -> list[Diagnostic]:
    """The diagnostics in position order, cut to the ``limit`` with the highest ``priority``
    plus one E107 (or W107, when only warnings were cut) counting the rest by code."""
    ordered = sorted(diagnostics, key=sort_key)
    if limit is None or len(ordered) <= limit:
        return ordered
    ranked = sorted(ordered, key=priority)
    kept, cut = ranked[:limit], ranked[limit:]
    counts = Counter(d.code for d in cut)
    errors = sum(1 for d in cut if d.is_error)
    first = cut[0]
    noun = "diagnostics" if errors and errors < len(cut) else ("errors" if errors else "warnings")
    note = Diagnostic(
        "E107" if errors else "W107",
        f"{len(cut):,} more {noun} not shown ("
        + ", ".join(f"{code} ×{count:,}" for code, count in sorted(counts.items())) + ")",
        first.file,
        first.line,
        first.column,
        f"the first {limit} are shown; fix them and validate again",
        Severity.ERROR if errors else Severity.WARNING,
    )
    return [*sorted(kept, key=sort_key), note]


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    return (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code)
