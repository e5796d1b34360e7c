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
  stays exact, up to 2**53; beyond that they are floats, as every GitHub number
  is a double.
- Signs, as GitHub lexes them: where a value is expected, a ``+`` or ``-``
  touching a number (``+1``, ``-.5``, ``-1e3``, ``+Infinity``) is part of that
  number's token. GitHub's ``ParseNumber`` gives no sign to hex, octal or NaN, so
  ``-0xFF``, ``+0o7`` and ``-NaN`` are refused here, as GitHub refuses them. Any
  other ``-`` is our unary-minus extension (``-x``, ``- 0xFF``, ``-(a + b)``); a
  ``+`` that does not touch a number is not a value at all (GitHub has no unary
  ``+`` operator either). After a value, ``+`` and ``-`` are our binary operators.
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
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_EXACT_INT_LIMIT = 2**53
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
            if (text == "-" or text == "+") and _number_follows(expression, pos + 1) and not _after_operand(tokens):
                pos = _read_number(expression, pos, tokens)  # +1, -.5, -Infinity
            elif (
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


def _number_follows(expression: str, pos: int) -> bool:
    if _digit_at(expression, pos) or (expression.startswith(".", pos) and _digit_at(expression, pos + 1)):
        return True
    word = _WORD.match(expression, pos)
    return word is not None and word.group() in ("Infinity", "NaN")


def _read_number(expression: str, start: int, tokens: list[Token]) -> int:
    sign = expression[start] if expression[start] in "+-" else ""
    begin = start + len(sign)
    word = _WORD.match(expression, begin) if sign else None
    if word is not None:  # _number_follows has seen Infinity or NaN
        if word.group() == "NaN":
            raise ExpressionSyntaxError(
                f"invalid number {sign + 'NaN'!r} at column {start} (NaN takes no sign)", expression, start
            )
        infinity = _KEYWORDS["Infinity"]
        tokens.append(Token("number", -infinity if sign == "-" else infinity, start, sign + "Infinity"))
        return word.end()
    match = _NUMBER.match(expression, begin)
    end = match.end() if match else begin
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
        if value > _EXACT_INT_LIMIT:
            value = float(value)
    elif text.startswith(("0x", "0o")):
        if sign:
            raise ExpressionSyntaxError(
                f"invalid number {sign + text!r} at column {start} (a hexadecimal or octal number takes no sign)",
                expression,
                start,
            )
        number = parse_number(text)
        value = int(number) if number == number else number
        if value != value:
            raise ExpressionSyntaxError(
                f"number {text!r} at column {start} is out of range (32-bit)", expression, start
            )
    else:
        value = float(text)  # long digit strings too: int() would refuse > 4300 digits
    if sign == "-":
        value = -value
    tokens.append(Token("number", value, start, sign + text))
    return end


def _digit_at(expression: str, pos: int) -> bool:
    return pos < len(expression) and "0" <= expression[pos] <= "9"
