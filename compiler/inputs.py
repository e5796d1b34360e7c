"""Workflow inputs: coerce what a user typed and check it against the declarations.

Shared by ``explain``, ``run`` and the flow itself, so a missing, unknown or mistyped input is
the same clear error before anything runs, whichever way the workflow was started.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from compiler.checks import type_name_of, value_matches
from compiler.diagnostics import did_you_mean
from compiler.plan import ExecutionPlan
from compiler.source import load_documents


class InputError(ValueError):
    """Every problem with the supplied workflow inputs, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid workflow inputs:\n" + "\n".join(f"  - {p}" for p in problems))


def parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise InputError([f"'{text}' is not of the form name=value"])
    name, _, value = text.partition("=")
    return name.strip(), value


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce(raw: str, type_name: str) -> Any:
    """Command-line text -> a value of the declared type.

    Plain decimal rules, not YAML 1.1's (where ``010`` is octal, ``12:30`` is base 60 and
    ``1e3`` is a string): integers are decimal, floats accept exponents, booleans accept
    true/false/yes/no/on/off/1/0.  Objects and arrays are JSON, or YAML with dates kept as text.
    A value that does not fit is returned as typed, so the type check reports it.
    """
    text = raw.strip()
    if type_name == "string":
        return raw
    if type_name == "integer":
        return int(text, 10) if text.lstrip("+-").isdigit() else raw
    if type_name in ("float", "number"):
        try:
            return float(text)
        except ValueError:
            return raw
    if type_name == "boolean":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else raw
    try:
        return json.loads(text)
    except ValueError:
        pass
    if type_name == "any":
        return raw
    documents, problems = load_documents(text, "<input>")
    return documents[0].data if documents and not problems else raw


def coerce_assignments(plan: ExecutionPlan, assignments: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for text in assignments:
        name, raw = parse_assignment(text)
        declared = plan.input(name)
        values[name] = coerce(raw, declared.type if declared else "any")
    return values


def resolve_inputs(plan: ExecutionPlan, supplied: Mapping[str, Any] | None) -> dict[str, Any]:
    """Supplied inputs plus defaults, checked against the declarations; raises InputError."""
    supplied = dict(supplied or {})
    problems: list[str] = []
    declared = {i.name: i for i in plan.inputs}
    for name in supplied:
        if name not in declared:
            hint = did_you_mean(name, declared)
            known = ", ".join(declared) or "none"
            problems.append(f"unknown input '{name}'" + (f" ({hint})" if hint else f" (this workflow takes: {known})"))
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in supplied:
            value = supplied[name]
            if spec.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if value is None and not spec.required:
                value = spec.default
            elif not value_matches(value, spec.type):
                problems.append(f"input '{name}' must be {spec.type}, got {type_name_of(value)} {value!r}")
                continue
            if spec.enum is not None and value not in spec.enum:
                problems.append(f"input '{name}' must be one of {spec.enum}, got {value!r}")
                continue
            values[name] = value
        elif spec.required:
            problems.append(f"missing required input '{name}' ({spec.type})" + (f": {spec.description}" if spec.description else ""))
        else:
            values[name] = spec.default
    if problems:
        raise InputError(problems)
    return values
