"""Lexer: bare expression text -> list of tokens.

Job: turn ``tasks.a.outputs['x'] == 'y'`` into tokens carrying their 0-based
column, and reject what can never be valid (double quotes, a lone ``=``,
unterminated strings, stray characters) with a precise column and a hint.

Decisions:
- As in GitHub, identifiers may contain ``-`` (``steps.my-step.outputs``), so our
  subtraction extension needs spaces around ``-`` after a name: ``a - 1``
  (``a-1`` is the identifier ``a-1``).
- ``true false null NaN Infinity`` are case-sensitive keywords, except right
  after ``.`` where every word is a property name.
- Numbers: decimal, ``.5``, exponent, ``0x`` hex and ``0o`` octal (GitHub's
  ``ParseNumber``). Integer literals stay Python ``int`` so integer arithmetic
  stays exact. A leading ``-`` is the unary operator; the parser folds it into
  the literal.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import ExpressionSyntaxError
from .values import parse_number

__all__ = ["Token", "tokenize"]

# kinds: "number", "string", "name", "literal" (true/false/null/NaN/Infinity), "op", "eof"


class Token(NamedTuple):
    kind: str
    value: Any
    column: int
    text: str


_NUMBER = re.compile(r"0x[0-9a-fA-F]+|0o[0-7]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")
_KEYWORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
}
_OPERAND_END = frozenset({"number", "string", "name", "literal"})
_HINTS = {
    "=": "did you mean '=='?",
    "&": "did you mean '&&'?",
    "|": "did you mean '||'?",
    '"': "use single quotes for strings, e.g. 'text'; write '' for a quote inside",
    "`": "strings use single quotes: 'text'",
}


_MASTER = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||\?\?|[!<>()\[\],.*?:+\-/%])"
    r"|(?P<digit>[0-9])"
    r"|(?P<quote>')"
)


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    length = len(expression)
    match_at = _MASTER.match
    pos = 0
    while pos < length:
        match = match_at(expression, pos)
        if match is None:
            char = expression[pos]
            hint = _HINTS.get(char)
            message = f"unexpected character {char!r} at column {pos}"
            raise ExpressionSyntaxError(message + (f" ({hint})" if hint else ""), expression, pos)
        kind = match.lastgroup
        if kind == "space":
            pos = match.end()
        elif kind == "name":
            text = match.group()
            previous = tokens[-1] if tokens else None
            if text in _KEYWORDS and not (
                previous is not None and previous.kind == "op" and previous.text == "."
            ):
                append(Token("literal", _KEYWORDS[text], pos, text))
            else:
                append(Token("name", text, pos, text))
            pos = match.end()
        elif kind == "op":
            text = match.group()
            if (
                text == "."
                and pos + 1 < length
                and "0" <= expression[pos + 1] <= "9"
                and not _after_operand(tokens)
            ):
                pos = _read_number(expression, pos, tokens)  # .5
            else:
                append(Token("op", text, pos, text))
                pos = match.end()
        elif kind == "digit":
            pos = _read_number(expression, pos, tokens)
        else:
            pos = _read_string(expression, pos, tokens)
    tokens.append(Token("eof", None, length, ""))
    return tokens


def _after_operand(tokens: list[Token]) -> bool:
    if not tokens:
        return False
    previous = tokens[-1]
    return previous.kind in _OPERAND_END or previous.text in (")", "]")


def _read_string(expression: str, start: int, tokens: list[Token]) -> int:
    pos = start + 1
    parts = []
    while True:
        end = expression.find("'", pos)
        if end < 0:
            raise ExpressionSyntaxError(
                f"unterminated string starting at column {start} (close it with ')", expression, start
            )
        parts.append(expression[pos:end])
        if expression.startswith("''", end):
            parts.append("'")
            pos = end + 2
            continue
        tokens.append(Token("string", "".join(parts), start, expression[start : end + 1]))
        return end + 1


def _read_number(expression: str, start: int, tokens: list[Token]) -> int:
    match = _NUMBER.match(expression, start)
    end = match.end() if match else start
    tail = _NUMBER_TAIL.match(expression, end)
    if match is None or (tail and not (tail.group() == "." and not _digit_at(expression, end + 1))):
        # e.g. 1abc, 1.2.3, 0xZZ: read to the next boundary to show the whole bad token
        stop = end
        while stop < len(expression) and _NUMBER_TAIL.match(expression, stop):
            stop += 1
        bad = expression[start:stop]
        raise ExpressionSyntaxError(f"invalid number {bad!r} at column {start}", expression, start)
    text = match.group()
    value: Any
    if text.isdigit() and len(text) <= 18:
        value = int(text)
    elif text.startswith(("0x", "0o")):
        number = parse_number(text)
        value = int(number) if number == number else number
        if value != value:
            raise ExpressionSyntaxError(
                f"number {text!r} at column {start} is out of range (32-bit)", expression, start
            )
    else:
        value = float(text)  # long digit strings too: int() would refuse > 4300 digits
    tokens.append(Token("number", value, start, text))
    return end


def _digit_at(expression: str, pos: int) -> bool:
    return pos < len(expression) and "0" <= expression[pos] <= "9"
