"""Reference-based, deterministic metrics: the ``accuracy`` family.

``accuracy`` is ``exact_match`` after SQuAD-style normalisation (case, punctuation, articles and
whitespace ignored), because an LLM answering "Paris." to "paris" is right.  When neither side is
text (objects, lists, numbers) values are compared as JSON, with 1 == 1.0.  ``levenshtein`` is
``1 - distance / max(len)`` on normalised text; ``rouge_l`` the LCS F1 over word tokens.  JSON
metrics strip one Markdown code fence first, since models wrap JSON in them, and parse strictly
(RFC 8259: ``NaN``, ``Infinity`` and overflowing numbers are refused, see ``jsonstrict``);
``json_schema`` enforces the ``format``s in ``jsonstrict.ENFORCED_FORMATS`` and says which others
the schema uses as labels only.  All scores are exact computations, so their ``method`` names the
algorithm.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

import jsonschema

from ecosystem.jsonschemas import Unresolvable, local_validator
from ecosystem.testbench.errors import MetricInputError
from ecosystem.testbench.jsonstrict import (
    ENFORCED_FORMATS,
    FORMAT_CHECKER,
    describe_non_finite,
    first_non_finite,
    parse_strict,
    unchecked_formats,
)
from ecosystem.testbench.metrics.base import MetricContext, MetricOutcome
from ecosystem.testbench.text import as_text, normalize_answer, words

_FENCED = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")
_MAX_PATTERN = 2000


def _equal_values(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal_values(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def exact_match(ctx: MetricContext) -> MetricOutcome:
    response, truth = ctx.response, ctx.ground_truth
    if not isinstance(response, str) and not isinstance(truth, str):
        same = _equal_values(response, truth)
        return MetricOutcome(float(same), "exact:json-equality", None if same else "values differ")
    if ctx.option("normalize", True):
        a, b = normalize_answer(as_text(response)), normalize_answer(as_text(truth))
        method = "exact:normalized"
    else:
        a, b, method = as_text(response), as_text(truth), "exact:verbatim"
    if a == b:
        return MetricOutcome(1.0, method, "matches the ground truth")
    return MetricOutcome(0.0, method, f"{a[:80]!r} != {b[:80]!r}")


async def contains(ctx: MetricContext) -> MetricOutcome:
    values = ctx.option("values")
    if values is None:
        value = ctx.option("value", ctx.ground_truth)
        values = [value] if value is not None else []
    if not isinstance(values, list) or not values:
        raise MetricInputError(f"{ctx.name}: needs a ground truth or options.value / options.values")
    case_sensitive = bool(ctx.option("case_sensitive", False))
    haystack = ctx.response_text if case_sensitive else ctx.response_text.casefold()
    missing = []
    for value in values:
        needle = as_text(value) if case_sensitive else as_text(value).casefold()
        if needle not in haystack:
            missing.append(as_text(value))
    score = (len(values) - len(missing)) / len(values)
    explanation = "contains every expected value" if not missing else f"missing: {', '.join(map(repr, missing))}"
    return MetricOutcome(score, "string:contains", explanation)


def _check_regex(name: str, options: dict[str, Any]) -> list[str]:
    pattern = options.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        return [f"{name}: options.pattern (a regular expression) is required"]
    if len(pattern) > _MAX_PATTERN:
        return [f"{name}: options.pattern is longer than {_MAX_PATTERN} characters"]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{name}: options.pattern is not a valid regular expression: {exc}"]
    return []


async def regex(ctx: MetricContext) -> MetricOutcome:
    problems = _check_regex(ctx.name, ctx.options)
    if problems:
        raise MetricInputError("; ".join(problems))
    flags = 0
    for letter in str(ctx.option("flags", "")):
        flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}.get(letter, 0)
    pattern = ctx.option("pattern")
    compiled = re.compile(pattern, flags)
    match = compiled.fullmatch(ctx.response_text) if ctx.option("full", False) else compiled.search(ctx.response_text)
    if match:
        return MetricOutcome(1.0, "regex:search", f"matched {match.group(0)[:80]!r}")
    return MetricOutcome(0.0, "regex:search", f"no match for /{pattern}/")


def levenshtein_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


async def levenshtein(ctx: MetricContext) -> MetricOutcome:
    a, b = normalize_answer(ctx.response_text), normalize_answer(ctx.ground_truth_text)
    longest = max(len(a), len(b))
    if longest == 0:
        return MetricOutcome(1.0, "edit:levenshtein-normalized", "both empty")
    distance = levenshtein_distance(a, b)
    return MetricOutcome(1.0 - distance / longest, "edit:levenshtein-normalized", f"{distance} edits over {longest} characters")


def lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, 1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(row[j], row[j - 1])
            diagonal = above
    return row[-1]


async def rouge_l(ctx: MetricContext) -> MetricOutcome:
    a, b = words(ctx.response_text), words(ctx.ground_truth_text)
    if not a or not b:
        score = 1.0 if a == b else 0.0
        return MetricOutcome(score, "overlap:rouge-l-f1", "empty text")
    lcs = lcs_length(a, b)
    precision, recall = lcs / len(a), lcs / len(b)
    f1 = 0.0 if lcs == 0 else 2 * precision * recall / (precision + recall)
    return MetricOutcome(f1, "overlap:rouge-l-f1", f"LCS {lcs} words; precision {precision:.2f}, recall {recall:.2f}")


def parse_json_response(value: Any) -> tuple[bool, Any, str | None]:
    """(ok, parsed, error): strings are parsed strictly (one code fence stripped); other values are
    JSON already, but must hold only finite numbers."""
    if not isinstance(value, str):
        found = first_non_finite(value)
        return (True, value, None) if found is None else (False, None, describe_non_finite(*found))
    text = value
    fenced = _FENCED.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return True, parse_strict(text), None
    except ValueError as exc:  # a syntax error, or NotStrictJson (NaN, Infinity, 1e400)
        return False, None, str(exc)


async def json_valid(ctx: MetricContext) -> MetricOutcome:
    ok, _, error = parse_json_response(ctx.response)
    return MetricOutcome(1.0 if ok else 0.0, "json:parse", "valid JSON" if ok else f"invalid JSON: {error}")


def _check_schema(name: str, options: dict[str, Any]) -> list[str]:
    schema = options.get("schema")
    if not isinstance(schema, dict | bool):
        return [f"{name}: options.schema (a JSON Schema object) is required"]
    problem = _schema_problem(json.dumps(schema, sort_keys=True))
    return [f"{name}: options.schema is not a valid JSON Schema: {problem}"] if problem else []


@lru_cache(maxsize=256)
def _schema_problem(schema_json: str) -> str | None:
    schema = json.loads(schema_json)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    # Keyed by the schema's canonical JSON: a workflow evaluates many responses against one schema.
    return local_validator(json.loads(schema_json), FORMAT_CHECKER)


async def json_schema(ctx: MetricContext) -> MetricOutcome:
    problems = _check_schema(ctx.name, ctx.options)
    if problems:
        raise MetricInputError("; ".join(problems))
    ok, value, error = parse_json_response(ctx.response)
    if not ok:
        return MetricOutcome(0.0, "json:schema", f"invalid JSON: {error}")
    validator = _validator(json.dumps(ctx.option("schema"), sort_keys=True))
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except Unresolvable:
        raise MetricInputError(
            f"{ctx.name}: options.schema has a $ref that cannot be resolved; "
            "only references inside the schema are followed"
        ) from None
    labels = unchecked_formats(ctx.option("schema"))
    note = (
        f" (format {', '.join(repr(f) for f in labels)} not checked: only {', '.join(ENFORCED_FORMATS)} are enforced)"
        if labels else ""
    )
    if not errors:
        return MetricOutcome(1.0, "json:schema", f"valid against the schema{note}")
    shown = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5])
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return MetricOutcome(0.0, "json:schema", f"{len(errors)} schema violation(s): {shown}{more}{note}")


def first_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    for match in _NUMBER.finditer(as_text(value)):
        token = match.group(0)
        if any(ch.isdigit() for ch in token):
            try:
                return float(token.replace(",", ""))
            except ValueError:
                continue
    return None


async def numeric_tolerance(ctx: MetricContext) -> MetricOutcome:
    expected = first_number(ctx.ground_truth)
    if expected is None:
        raise MetricInputError(f"{ctx.name}: the ground truth (or options.expected) holds no number")
    actual = first_number(ctx.response)
    if actual is None:
        return MetricOutcome(0.0, "numeric:tolerance", "the response holds no number")
    absolute = float(ctx.option("tolerance", 0.0))
    relative = float(ctx.option("relative_tolerance", 0.0))
    allowed = max(absolute, relative * abs(expected))
    diff = abs(actual - expected)
    if diff <= allowed + 1e-12:
        return MetricOutcome(1.0, "numeric:tolerance", f"{actual:g} is within {allowed:g} of {expected:g}")
    # Outside tolerance: a graded score for information; the default threshold (1.0) fails it.
    scale = max(abs(expected), allowed, 1e-12)
    graded = max(0.0, 1.0 - diff / scale) * 0.99
    return MetricOutcome(graded, "numeric:tolerance", f"{actual:g} differs from {expected:g} by {diff:g} (allowed {allowed:g})")


def check_regex(name: str, options: dict[str, Any]) -> list[str]:
    return _check_regex(name, options)


def check_schema(name: str, options: dict[str, Any]) -> list[str]:
    return _check_schema(name, options)
