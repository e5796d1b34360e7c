"""Exceptions raised by the expression language.

Job: one root exception per package (httpx style) so callers can catch
``ExpressionError`` and know nothing else escapes ``parse``, ``evaluate``,
``render`` or ``find_spans``::

    ExpressionError                 expression, column, message
    ├── ExpressionSyntaxError       lexing / parsing, unknown function, wrong arity
    ├── ExpressionEvaluationError   unknown context, type errors, division by zero, bad JSON ...
    └── ExpressionLimitError        MAX_EXPRESSION_LENGTH, MAX_DEPTH, MAX_RESULT_SIZE

Decision: ``str()`` renders like a compiler diagnostic -- the message, then the
expression, then a caret under the (0-based) column -- so a user sees where the
problem is without counting characters. Very long expressions are shown as a
window around the column so the caret stays readable.
"""

from __future__ import annotations

__all__ = [
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
]

_WINDOW = 100  # characters of context shown either side of the caret


class ExpressionError(Exception):
    """Root of every error raised by ``compiler.expressions``."""

    def __init__(self, message: str, expression: str = "", column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.column = column

    def __str__(self) -> str:
        if not self.expression:
            return self.message
        # One display line: newlines/tabs would break the caret alignment.
        shown = self.expression.translate(_FLATTEN)
        column = self.column
        prefix = ""
        if len(shown) > 2 * _WINDOW:
            centre = column if column is not None else 0
            start = max(0, centre - _WINDOW)
            end = min(len(shown), centre + _WINDOW)
            prefix = "..." if start > 0 else ""
            shown = prefix + shown[start:end] + ("..." if end < len(shown) else "")
            if column is not None:
                column = column - start + len(prefix)
        lines = [self.message, "  " + shown]
        if column is not None:
            lines.append("  " + " " * max(0, min(column, len(shown))) + "^")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the attributes when pickled across process boundaries (Prefect workers).
        return (type(self), (self.message, self.expression, self.column))


_FLATTEN = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


class ExpressionSyntaxError(ExpressionError):
    """The text is not a valid expression (always carries a column)."""


class ExpressionEvaluationError(ExpressionError):
    """A valid expression failed while being evaluated against a context."""


class ExpressionLimitError(ExpressionError):
    """A size or depth limit was exceeded; the message names the limit."""
