"""Pydantic validation errors -> plain-sentence diagnostics at the offending YAML node.

Users never see a raw ``ValidationError``.  Each pydantic error has a ``loc`` of aliases that is
also the path of the value in the loaded YAML, so its position is a dictionary lookup.  Unknown
keys get a "did you mean" from the fields that model actually has at that location.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.source import Path, SourceDocument


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(annotation) for a in _unwrap(arg)]
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that validates the object at ``loc`` (aliases), if any."""
    current: Any = root
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            # list / dict containers: step into their item type
            candidates = [c for c in _unwrap(current) if typing.get_origin(c) in (list, dict)]
            if not candidates:
                return None
            args = typing.get_args(candidates[0])
            current = args[-1] if args else None
            models = [c for c in _unwrap(current) if isinstance(c, type) and issubclass(c, BaseModel)]
            current = models[0] if models else current
            if isinstance(part, int) or typing.get_origin(candidates[0]) is dict:
                continue
        field = next(
            (f for name, f in current.model_fields.items() if (f.alias or name) == part),
            None,
        ) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return None
        options = _unwrap(field.annotation)
        models = [c for c in options if isinstance(c, type) and issubclass(c, BaseModel)]
        containers = [c for c in options if typing.get_origin(c) in (list, dict)]
        current = models[0] if models else (containers[0] if containers else None)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clean_loc(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[Any, ...]:
    """The path of the error in the user's data: pydantic inserts union-member and validator
    names into ``loc``; keep only the parts that step through the data itself."""
    kept: list[Any] = []
    current = data
    for position, part in enumerate(loc):
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            kept.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            kept.append(part)
            current = current[part]
        elif kind == "missing" and position == len(loc) - 1 and isinstance(part, str):
            kept.append(part)
    return tuple(kept)


def translate(error: ValidationError, root: type[BaseModel], doc: SourceDocument, prefix: Path = ()) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for item in error.errors(include_url=False):
        loc = (*prefix, *_clean_loc(tuple(item["loc"]), doc.data, item["type"]))
        kind = item["type"]
        where = ".".join(str(p) for p in loc) or "document"
        if kind == "extra_forbidden":
            key = loc[-1]
            parent = loc[:-1]
            line, col = doc.position(loc, key=True)
            hint = did_you_mean(str(key), _field_names(model_at(root, parent[len(prefix):])))
            allowed = _field_names(model_at(root, parent[len(prefix):]))
            if hint is None and allowed:
                hint = "allowed here: " + ", ".join(allowed)
            diagnostics.append(Diagnostic("E201", f"unknown field '{key}' in {'.'.join(map(str, parent)) or 'document'}", doc.file, line, col, hint))
            continue
        if kind == "missing":
            line, col = doc.position(loc[:-1])
            diagnostics.append(Diagnostic("E202", f"missing required field '{loc[-1]}' in {'.'.join(map(str, loc[:-1])) or 'document'}", doc.file, line, col))
            continue
        signature = (loc, kind)
        if loc in {s[0] for s in seen} and kind in {"string_type", "bool_type", "dict_type", "model_type", "list_type"}:
            continue  # one message per location is enough for union members
        seen.add(signature)
        line, col = doc.position(loc)
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        hint = None
        if kind == "literal_error":
            expected = item.get("ctx", {}).get("expected")
            hint = f"expected one of {expected}" if expected else None
        elif kind == "string_pattern_mismatch" and loc and loc[-1] == "name":
            hint = "names start with a letter or digit and use letters, digits, '.', '_' and '-'"
        value = item.get("input")
        diagnostics.append(Diagnostic("E203", f"invalid value {_describe(value)} for {where}: {message[0].lower() + message[1:] if message else 'invalid'}", doc.file, line, col, hint))
    return diagnostics
