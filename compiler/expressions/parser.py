"""Pratt parser: tokens -> frozen AST, memoised.

Job: build the tree for a bare expression (no ``${{ }}``), rejecting anything
invalid with an ``ExpressionSyntaxError`` that points at the offending column.

Decisions:
- Top-down operator precedence (Pratt), as jmespath.py does: one small table
  of binding powers instead of one function per precedence level. Low to high:
  ``?:`` (right-assoc) < ``??`` < ``||`` < ``&&`` < ``== !=`` < ``< <= > >=`` <
  ``+ -`` < ``* / %`` < unary ``! -`` < postfix ``. [] .* (call)``.
- Unknown functions and wrong argument counts are caught here, not at run time:
  the compiler parses every expression of a workflow before anything runs.
- Limits, GitHub's numbers counted GitHub's way (``made`` and ``too_deep`` are
  the one place): ``MAX_EXPRESSION_LENGTH`` = 21,000 characters, and
  ``MAX_DEPTH`` = 50 levels, measured as the runner's ``CheckMaxDepth`` measures its finished tree:
  the nodes on the deepest root-to-leaf path, leaves included (``a.b`` is 2,
  ``!!x`` is 3, ``f(g(1))`` is 3). A run of ``&&`` (or of ``||``) is one
  ``Logical`` node with many terms, as GitHub flattens it (even across
  parentheses), so a 60-term condition is depth 2. Parentheses make no node;
  instead at most ``MAX_DEPTH`` groups may be open at once, as GitHub's
  TypeScript parser counts them (the runner's stack-based parser has no such
  bound; ours recurses per group). The two rules bound both the parser's
  recursion and the depth of every tree, so neither the interpreter nor hashing
  or printing a tree can reach Python's recursion limit.
- An empty (or all-whitespace) expression is ``null``, as in GitHub.
- ``parse`` is an ``lru_cache`` over the text: a 10,000-task workflow repeats the
  same expressions, and trees are immutable so sharing them is safe.
"""

from __future__ import annotations

import difflib
import weakref
from functools import lru_cache

from .errors import ExpressionLimitError, ExpressionSyntaxError
from .functions import FUNCTIONS, lookup
from .lexer import Token, tokenize
from .nodes import Binary, Call, ContextRef, Filter, Index, Literal, Logical, Node, Property, Ternary, Unary
from .values import is_number

__all__ = ["MAX_DEPTH", "MAX_EXPRESSION_LENGTH", "parse", "source_of"]

MAX_EXPRESSION_LENGTH = 21_000
"""Longest bare expression accepted, in characters (GitHub's ``MaxLength``)."""

MAX_DEPTH = 50
"""Deepest tree accepted, and most parentheses open at once (GitHub's ``MaxDepth``)."""

# Within both rules, parser calls nest at most 1 + MAX_DEPTH (groups) + 2 * MAX_DEPTH
# (child positions, counting && / || terms flattened out of a group); only our
# unary-minus extension (``- - - 1`` folds into one literal) can nest deeper, and
# this stops it before Python's own stack does.
_MAX_NESTING = 3 * MAX_DEPTH
_LOGICAL = frozenset({"&&", "||"})

_BINARY = {
    "??": 2,
    "||": 3,
    "&&": 4,
    "==": 5,
    "!=": 5,
    "<": 6,
    "<=": 6,
    ">": 6,
    ">=": 6,
    "+": 7,
    "-": 7,
    "*": 8,
    "/": 8,
    "%": 8,
}
_TERNARY = 1
_UNARY = 9
_POSTFIX = 10
_LBP = {**_BINARY, "?": _TERNARY, ".": _POSTFIX, "[": _POSTFIX}

# Source text of every tree ``parse`` returned, so evaluate(node) can quote it in errors.
_SOURCES: weakref.WeakKeyDictionary[Node, str] = weakref.WeakKeyDictionary()


def parse(expression: str) -> Node:
    """Parse a bare expression (without ``${{ }}``) into a tree."""
    if not isinstance(expression, str):
        raise ExpressionSyntaxError(f"expression must be a string, got {type(expression).__name__}", "", 0)
    return _parse_cached(expression)


@lru_cache(maxsize=32_768)
def _parse_cached(expression: str) -> Node:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionLimitError(
            f"expression is {len(expression)} characters long; "
            f"the limit is MAX_EXPRESSION_LENGTH={MAX_EXPRESSION_LENGTH}",
            expression,
            None,
        )
    node = _Parser(expression).parse()
    try:
        _SOURCES[node] = expression
    except TypeError:  # pragma: no cover - every node type is weak-referenceable
        pass
    return node


def source_of(node: Node) -> str:
    """The text ``node`` was parsed from, or its canonical text."""
    try:
        found = _SOURCES.get(node)
    except TypeError:  # pragma: no cover
        found = None
    return found if found is not None else str(node)


class _Parser:
    __slots__ = ("expression", "tokens", "pos", "nesting", "groups", "depths")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.pos = 0
        self.nesting = 0
        self.groups = 0
        self.depths: dict[int, int] = {}

    # -- helpers ---------------------------------------------------------------

    def error(self, message: str, column: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, self.expression, column)

    def unexpected(self, token: Token, expected: str = "") -> ExpressionSyntaxError:
        if token.kind == "eof":
            message = f"unexpected end of expression at column {token.column}"
        else:
            message = f"unexpected token {token.text!r} at column {token.column}"
        if expected:
            message += f" (expected {expected})"
        return self.error(message, token.column)

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def expect(self, text: str) -> Token:
        token = self.advance()
        if token.kind != "op" or token.text != text:
            raise self.unexpected(token, f"{text!r}")
        return token

    def too_deep(self, column: int) -> ExpressionLimitError:
        return ExpressionLimitError(
            f"exceeded max expression depth {MAX_DEPTH} (MAX_DEPTH) at column {column}",
            self.expression,
            column,
        )

    def made(self, node: Node, *children: Node) -> Node:
        """Record ``node``'s depth (GitHub's count, see the module docstring) and check it."""
        depths = self.depths
        deepest = 0
        for child in children:
            depth = depths.get(id(child), 1)
            if depth > deepest:
                deepest = depth
        if deepest >= MAX_DEPTH:
            raise self.too_deep(node.column)
        depths[id(node)] = deepest + 1
        return node

    # -- grammar ---------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            return Literal(None, 0)  # GitHub: an expression without tokens is null
        try:
            node = self.expression_(0)
        except RecursionError:  # only if the caller's own stack is already deep
            raise self.too_deep(0) from None
        token = self.peek()
        if token.kind != "eof":
            raise self.unexpected(token, "an operator or the end of the expression")
        return node

    def expression_(self, rbp: int) -> Node:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise self.too_deep(self.peek().column)
        left = self.nud(self.advance())
        while True:
            token = self.peek()
            if token.kind != "op" or _LBP.get(token.text, 0) <= rbp:
                break
            self.advance()
            left = self.led(token, left)
        self.nesting -= 1
        return left

    def nud(self, token: Token) -> Node:
        kind = token.kind
        if kind in ("number", "string", "literal"):
            return Literal(token.value, token.column)
        if kind == "name":
            following = self.peek()
            if following.kind == "op" and following.text == "(":
                return self.call(token)
            return ContextRef(token.value, token.column)
        if kind == "op":
            text = token.text
            if text == "(":
                self.groups += 1
                if self.groups > MAX_DEPTH:
                    raise self.too_deep(token.column)
                node = self.expression_(0)
                self.expect(")")
                self.groups -= 1
                return node
            if text == "!":
                operand = self.expression_(_UNARY)
                return self.made(Unary("!", operand, token.column), operand)
            if text == "-":
                operand = self.expression_(_UNARY)
                if isinstance(operand, Literal) and is_number(operand.value):
                    return Literal(-operand.value, token.column)
                return self.made(Unary("-", operand, token.column), operand)
        raise self.unexpected(token, "a value")

    def led(self, token: Token, left: Node) -> Node:
        text = token.text
        if text == ".":
            name = self.advance()
            if name.kind in ("name", "literal"):
                return self.made(Property(left, name.text, token.column), left)
            if name.kind == "op" and name.text == "*":
                return self.made(Filter(left, token.column), left)
            raise self.unexpected(name, "a property name or '*' after '.'")
        if text == "[":
            following = self.peek()
            if following.kind == "op" and following.text == "*":
                after = self.tokens[self.pos + 1]
                if after.kind == "op" and after.text == "]":
                    self.pos += 2
                    return self.made(Filter(left, token.column), left)
            index = self.expression_(0)
            self.expect("]")
            return self.made(Index(left, index, token.column), left, index)
        if text == "?":
            then = self.expression_(0)
            self.expect(":")
            otherwise = self.expression_(0)
            return self.made(Ternary(left, then, otherwise, token.column), left, then, otherwise)
        if text in _LOGICAL:
            return self.logical(token, left)
        right = self.expression_(_BINARY[text])
        return self.made(Binary(text, left, right, token.column), left, right)

    def logical(self, token: Token, left: Node) -> Node:
        # One node for the whole run ``a && b && (c && d)``, flattened as GitHub does.
        op = token.text
        terms: list[Node] = []
        _add_term(terms, op, left)
        while True:
            _add_term(terms, op, self.expression_(_BINARY[op]))
            following = self.peek()
            if following.kind != "op" or following.text != op:
                break
            self.advance()
        return self.made(Logical(op, tuple(terms), token.column), *terms)

    def call(self, name: Token) -> Node:
        spec = lookup(name.value)
        if spec is None:
            raise self.error(_unknown_function(name.value, name.column), name.column)
        self.advance()  # '('
        args: list[Node] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                args.append(self.expression_(0))
                token = self.advance()
                if token.kind == "op" and token.text == ")":
                    break
                if not (token.kind == "op" and token.text == ","):
                    raise self.unexpected(token, "',' or ')'")
        else:
            self.advance()
        problem = spec.arity_error(len(args))
        if problem is not None:
            raise self.error(f"{problem} at column {name.column}", name.column)
        return self.made(Call(spec.name, tuple(args), name.column), *args)


def _add_term(terms: list[Node], op: str, term: Node) -> None:
    if type(term) is Logical and term.op == op:
        terms.extend(term.terms)
    else:
        terms.append(term)


def _unknown_function(name: str, column: int) -> str:
    names = sorted(FUNCTIONS)
    lowered = {candidate.lower(): candidate for candidate in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f" (did you mean '{lowered[close[0]]}'?)" if close else ""
    return f"unknown function '{name}' at column {column}{hint}; available: {', '.join(names)}"
