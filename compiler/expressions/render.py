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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from .interpreter import evaluate
from .nodes import Node, Span
from .parser import parse
from .values import MAX_RESULT_SIZE, to_string

__all__ = ["Template", "compile_template", "find_spans", "has_expression", "render", "render_template"]

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
    return _template(text).render(context, status=status)


@dataclass(frozen=True, slots=True)
class Template:
    """A string with ``${{ }}`` spans, split and parsed once (the compiler does it for every
    input of a plan), so rendering is only evaluation.  ``whole``: the text is exactly one span
    and renders to that value with its type; otherwise each span becomes text."""

    text: str
    spans: tuple[Span, ...]
    trees: tuple[Node, ...]
    whole: bool

    @classmethod
    def of(cls, text: str) -> Template:
        """Split and parse ``text``; raises ``ExpressionSyntaxError`` as ``render`` would."""
        spans = tuple(find_spans(text))
        whole = len(spans) == 1 and not text[: spans[0].start].strip() and not text[spans[0].end :].strip()
        return cls(text, spans, tuple(parse(span.source) for span in spans), whole)

    def render(self, context: Mapping[str, Any], *, status: str = "success") -> Any:
        if self.whole:
            return _evaluate_span(self.trees[0], self.spans[0], context, status)
        text = self.text
        parts: list[str] = []
        size = 0
        position = 0
        for span, tree in zip(self.spans, self.trees, strict=True):
            parts.append(text[position : span.start])
            value = _evaluate_span(tree, span, context, status)
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


_template = lru_cache(maxsize=4096)(Template.of)


def _evaluate_span(tree: Node, span: Span, context: Mapping[str, Any], status: str) -> Any:
    try:
        return evaluate(tree, context, status=status)
    except ExpressionError as exc:
        if not exc.expression:
            exc.expression = span.source
        raise


def compile_template(value: Any) -> Any:
    """``value`` (any YAML) with every string that holds ``${{ }}`` replaced by its ``Template``;
    mappings and lists are copied, everything else is kept as it is."""
    if isinstance(value, str):
        return Template.of(value) if has_expression(value) else value
    if isinstance(value, Mapping):
        return {k: compile_template(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_template(v) for v in value]
    return value


def render_template(template: Any, context: Mapping[str, Any], *, status: str = "success") -> Any:
    """The value of a ``compile_template`` result: every ``Template`` rendered, the rest copied.
    The output is assembled from the template and never scanned again (values are data)."""
    if isinstance(template, Template):
        return template.render(context, status=status)
    if isinstance(template, Mapping):
        return {k: render_template(v, context, status=status) for k, v in template.items()}
    if isinstance(template, list):
        return [render_template(v, context, status=status) for v in template]
    return template
