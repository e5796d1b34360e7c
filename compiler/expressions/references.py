"""Static analysis: every context access chain in a tree.

Job: ``references(node)`` lists what an expression reads -- ``tasks.a.outputs.x``
becomes ``Reference("tasks", ("a", "outputs", "x"), column, text)`` -- so the
compiler can build dependency edges and check names before anything runs.

Decisions: each ``ContextRef`` yields exactly one reference, for the longest
chain it starts. ``.*`` contributes ``"*"``; a literal index contributes its key
(``'x'`` -> "x", ``0`` -> 0); any other index is dynamic, contributes ``None``
and ends the chain (its own references are still reported). ``text`` is the
canonical source of the chain (``to_source``), which for the usual dotted form
is exactly what the user wrote. Results are in source order.
"""

from __future__ import annotations

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
    Ternary,
    Unary,
    property_source,
    quote,
    to_source,
)
from .values import is_number

__all__ = ["called_functions", "references"]


def references(node: Node) -> list[Reference]:
    found: list[Reference] = []
    _visit(node, found)
    found.sort(key=lambda reference: reference.column)
    return found


def _visit(node: Node, found: list[Reference]) -> None:
    if isinstance(node, Property | Index | Filter | ContextRef):
        links: list[Node] = []
        base: Node = node
        while isinstance(base, Property | Index | Filter):
            links.append(base)
            base = base.target
        links.reverse()
        if not isinstance(base, ContextRef):
            _visit(base, found)
            for link in links:
                if isinstance(link, Index):
                    _visit(link.index, found)
            return
        path: list[str | int | None] = []
        text = base.name
        ended = False
        for link in links:
            if isinstance(link, Index):
                if ended:
                    _visit(link.index, found)
                    continue
                key = _static_key(link.index)
                if key is None:
                    path.append(None)
                    text += "[" + to_source(link.index) + "]"
                    ended = True
                    _visit(link.index, found)
                else:
                    path.append(key)
                    text += "[" + (quote(key) if isinstance(key, str) else str(key)) + "]"
            elif ended:
                continue
            elif isinstance(link, Property):
                path.append(link.name)
                text += property_source(link.name)
            else:
                path.append("*")
                text += ".*"
        found.append(Reference(base.name, tuple(path), base.column, text))
        return
    if isinstance(node, Unary):
        _visit(node.operand, found)
    elif isinstance(node, Binary):
        _visit(node.left, found)
        _visit(node.right, found)
    elif isinstance(node, Logical):
        for term in node.terms:
            _visit(term, found)
    elif isinstance(node, Ternary):
        _visit(node.condition, found)
        _visit(node.then, found)
        _visit(node.otherwise, found)
    elif isinstance(node, Call):
        for arg in node.args:
            _visit(arg, found)


def _static_key(index: Node) -> str | int | None:
    if not isinstance(index, Literal):
        return None
    value = index.value
    if isinstance(value, str):
        return value
    if is_number(value) and value == value and abs(value) != float("inf") and value == int(value):
        return int(value)
    return None


def called_functions(node: Node) -> frozenset[str]:
    """The names of every function the tree calls (``success``, ``contains``...), found in the
    tree: a string that merely contains ``failure()`` calls nothing."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Call):
            found.add(current.name)
            stack.extend(current.args)
        elif isinstance(current, Property | Filter):
            stack.append(current.target)
        elif isinstance(current, Index):
            stack.extend((current.target, current.index))
        elif isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Binary):
            stack.extend((current.left, current.right))
        elif isinstance(current, Ternary):
            stack.extend((current.condition, current.then, current.otherwise))
    return frozenset(found)
