"""Templates: finding ``${{ }}`` spans in text and rendering them.

Job: ``find_spans`` locates every ``${{ ... }}`` (a ``}}`` inside a single-quoted
string literal does not close it; an empty ``${{ }}`` is an error, as in GitHub's
template reader, although a bare empty expression evaluates to null); ``render``
applies the whole-vs-embedded rule: text that is exactly one ``${{ expr }}``
(surrounding whitespace ignored, unlike GitHub: see README) yields the value with
its type, otherwise each span is replaced by its string conversion (null -> '',
true/false, numbers as GitHub prints them, compact JSON for arrays/objects) and a
``str`` is returned.

Decision -- values are data, never templates: the output is assembled once from
the original text's spans and is never scanned again, so an LLM response or a
user input containing ``${{ workflow.secret }}`` stays literal text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from .interpreter import evaluate
from .nodes import Span
from .values import MAX_RESULT_SIZE, to_string

__all__ = ["find_spans", "has_expression", "render"]

_OPEN = "${{"
_CLOSE = "}}"


def has_expression(text: str) -> bool:
    """Fast check: does ``text`` contain ``${{`` at all?"""
    return isinstance(text, str) and _OPEN in text


def find_spans(text: str) -> list[Span]:
    """Every ``${{ ... }}`` in ``text``, in order, with its stripped inner source."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError(f"template must be a string, got {type(text).__name__}", "", 0)
    spans: list[Span] = []
    start = text.find(_OPEN)
    length = len(text)
    while start >= 0:
        pos = start + len(_OPEN)
        in_string = False
        close = -1
        while pos < length:
            char = text[pos]
            if in_string:
                if char == "'":
                    if text.startswith("''", pos):
                        pos += 2
                        continue
                    in_string = False
            elif char == "'":
                in_string = True
            elif char == "}" and text.startswith(_CLOSE, pos):
                close = pos
                break
            pos += 1
        if close < 0:
            detail = " inside an unterminated string literal" if in_string else ""
            raise ExpressionSyntaxError(
                f"'${{{{' at column {start} is never closed with '}}}}'{detail}", text, start
            )
        source = text[start + len(_OPEN) : close].strip()
        if not source:
            # GitHub's template reader: "An expression was expected" (a bare empty expression is null).
            raise ExpressionSyntaxError(f"'${{{{ }}}}' at column {start} contains no expression", text, start)
        spans.append(Span(start, close + len(_CLOSE), source))
        start = text.find(_OPEN, close + len(_CLOSE))
    return spans


def render(text: str, context: Mapping[str, Any], *, status: str = "success") -> Any:
    """Render ``text``: a lone ``${{ }}`` keeps its type, anything else becomes a string."""
    if not has_expression(text):
        return text
    spans = find_spans(text)
    if len(spans) == 1:
        span = spans[0]
        if not text[: span.start].strip() and not text[span.end :].strip():
            return evaluate(span.source, context, status=status)
    parts: list[str] = []
    size = 0
    position = 0
    for span in spans:
        parts.append(text[position : span.start])
        value = evaluate(span.source, context, status=status)
        try:
            piece = to_string(value)
        except ExpressionError as exc:
            exc.expression, exc.column = span.source, None
            raise
        parts.append(piece)
        size += span.start - position + len(piece)
        if size > MAX_RESULT_SIZE:
            raise ExpressionLimitError(
                f"rendered text exceeds MAX_RESULT_SIZE={MAX_RESULT_SIZE} characters", text, span.start
            )
        position = span.end
    parts.append(text[position:])
    return "".join(parts)
