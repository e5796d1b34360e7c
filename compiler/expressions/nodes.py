"""The abstract syntax tree of an expression, plus ``Span`` and ``Reference``.

Job: immutable, hashable data the parser produces once and the compiler and
interpreter share (``parse`` is memoised, so a tree may be handed to many
callers). Every node records ``column``, the 0-based offset of its first
character (or of its operator) in the bare expression, for diagnostics.

Decision: frozen ``slots`` dataclasses and no behaviour besides ``__str__``,
which prints canonical expression text (``to_source``). The canonical text
re-parses to the same tree (columns aside); ``references`` uses it to show a
chain, and ``evaluate`` uses it to describe a tree it did not parse itself.
Parentheses are never stored: grouping is the shape of the tree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Binary",
    "Call",
    "ContextRef",
    "Filter",
    "Index",
    "Literal",
    "Logical",
    "Node",
    "Property",
    "Reference",
    "Span",
    "Ternary",
    "Unary",
    "to_source",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_KEYWORDS = frozenset({"true", "false", "null", "NaN", "Infinity"})


class Node:
    """Base class of every AST node."""

    __slots__ = ()
    column: int

    def __str__(self) -> str:
        return to_source(self)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Literal(Node):
    value: Any
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class ContextRef(Node):
    name: str
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Property(Node):
    target: Node
    name: str
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Index(Node):
    target: Node
    index: Node
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Filter(Node):
    target: Node
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Unary(Node):
    op: str
    operand: Node
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Binary(Node):
    op: str
    left: Node
    right: Node
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Logical(Node):
    """A run of ``&&`` (or of ``||``) as one node, as GitHub builds it; ``column`` is the first operator's."""

    op: str
    terms: tuple[Node, ...]
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Ternary(Node):
    condition: Node
    then: Node
    otherwise: Node
    column: int = 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    column: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """One ``${{ ... }}`` in a text: ``text[start:end]`` is the whole span."""

    start: int
    end: int
    source: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A context access chain, e.g. ``tasks.a.outputs['x']`` -> ("a", "outputs", "x")."""

    root: str
    path: tuple[str | int | None, ...]
    column: int
    text: str


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal_source(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    return str(value)


def property_source(name: str) -> str:
    if _IDENTIFIER.match(name):
        return "." + name
    return "[" + quote(name) + "]"


def to_source(node: Node) -> str:
    """Canonical expression text for ``node`` (re-parses to an equal tree)."""
    if isinstance(node, Literal):
        return literal_source(node.value)
    if isinstance(node, ContextRef):
        return node.name
    if isinstance(node, Property):
        return _postfix_target(node.target) + property_source(node.name)
    if isinstance(node, Index):
        return _postfix_target(node.target) + "[" + to_source(node.index) + "]"
    if isinstance(node, Filter):
        return _postfix_target(node.target) + ".*"
    if isinstance(node, Unary):
        return node.op + _operand(node.operand)
    if isinstance(node, Binary):
        return f"{_operand(node.left)} {node.op} {_operand(node.right)}"
    if isinstance(node, Logical):
        return f" {node.op} ".join(_operand(term) for term in node.terms)
    if isinstance(node, Ternary):
        return f"{_operand(node.condition)} ? {_operand(node.then)} : {_operand(node.otherwise)}"
    if isinstance(node, Call):
        return node.name + "(" + ", ".join(to_source(arg) for arg in node.args) + ")"
    raise TypeError(f"not an expression node: {node!r}")


def _operand(node: Node) -> str:
    text = to_source(node)
    if isinstance(node, Binary | Logical | Ternary | Unary) or _negative_literal(node):
        return "(" + text + ")"
    return text


def _postfix_target(node: Node) -> str:
    # A number followed by '.' would lex as a decimal point; keep literals grouped.
    if isinstance(node, Binary | Logical | Ternary | Unary | Literal):
        return "(" + to_source(node) + ")"
    return to_source(node)


def _negative_literal(node: Node) -> bool:
    value = getattr(node, "value", None) if isinstance(node, Literal) else None
    return isinstance(value, int | float) and not isinstance(value, bool) and (value < 0 or value != value)
