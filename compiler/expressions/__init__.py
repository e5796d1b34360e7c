"""The ``${{ }}`` expression language: GitHub Actions expressions, extended for LLM pipelines.

Pipeline: ``lexer`` -> ``parser`` (Pratt, memoised) -> frozen dataclass tree
(``nodes``) -> ``interpreter`` (tree walk) with a whitelist of ``functions``;
``render`` handles ``${{ }}`` templates and ``references`` the static analysis.
No ``eval``, no ``exec``, no Python ``ast``.

GitHub semantics are followed where GitHub defines them: literals (a sign
touching a number is part of it), access, filters, truthiness, loose comparison
with OrdinalIgnoreCase strings, numbers printed as G15, ``case`` and the other
GitHub functions, status functions, an empty bare expression as null, and
GitHub's limits (``MAX_EXPRESSION_LENGTH`` = 21,000 characters, ``MAX_DEPTH`` =
50 levels counted as GitHub counts them, see ``parser``). The deliberate
differences, each with its reason in README's "Differences from GitHub Actions":

- arithmetic ``+ - * / %`` and unary ``-`` (numbers only; ``+`` also
  concatenates strings and arrays), ``cond ? a : b``, ``a ?? b``;
- functions ``len lower upper trim round min max sum``; no ``hashFiles``;
- arrays/objects convert to compact JSON text (embedded ``${{ }}``, ``format``,
  ``join``, ``+``), where GitHub writes "Array"/"Object";
- a lone ``${{ }}`` with whitespace around it keeps its type; an exact key
  match wins over a case-insensitive one;
- ``MAX_RESULT_SIZE`` characters/items for anything an expression builds
  (concatenation, format, join, toJSON, rendered text), instead of GitHub's
  1 MB of evaluation memory; at most ``MAX_DEPTH`` parentheses open at once.

Identifiers may contain ``-`` (GitHub), so subtraction after a name needs spaces:
``a - 1``. Unknown functions and wrong arities are syntax errors, raised by
``parse``. See each module's docstring for the decisions behind it.
"""

from __future__ import annotations

from .errors import ExpressionError, ExpressionEvaluationError, ExpressionLimitError, ExpressionSyntaxError
from .functions import FUNCTIONS
from .interpreter import evaluate
from .nodes import (
    Binary,
    Call,
    ContextRef,
    Filter,
    Index,
    Literal,
    Logical,
    Node,
    Property,
    Reference,
    Span,
    Ternary,
    Unary,
)
from .parser import MAX_DEPTH, MAX_EXPRESSION_LENGTH, parse
from .references import called_functions, references
from .render import Template, compile_template, find_spans, has_expression, render, render_template
from .values import MAX_RESULT_SIZE

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_RESULT_SIZE",
    "Binary",
    "Call",
    "ContextRef",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "Filter",
    "Index",
    "Literal",
    "Logical",
    "Node",
    "Property",
    "Reference",
    "Span",
    "Template",
    "Ternary",
    "Unary",
    "called_functions",
    "compile_template",
    "evaluate",
    "find_spans",
    "has_expression",
    "parse",
    "references",
    "render",
    "render_template",
]
