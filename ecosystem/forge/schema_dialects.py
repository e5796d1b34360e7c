"""A user's JSON Schema in each provider's structured-output dialect, and what was lost on the way.

Every conversion returns the schema to send and ``notes``: plain sentences saying what had to
change (put in the response metadata as ``schema_notes``).  Nothing is lost for good: the answer
is validated against the user's *original* schema afterwards (``structured.validate_answer``), so a
constraint a provider could not enforce still fails loudly and gets its one repair.

* **OpenAI strict** (``response_format: json_schema, strict: true``) needs every object closed
  (``additionalProperties: false``) and every property required, and knows a subset of keywords.
  ``openai_strict`` closes objects, makes optional properties required-but-nullable (``restore``
  drops the nulls the model then sends for them) and drops unknown keywords.  What strict mode
  cannot express at all (an open object, ``patternProperties``, ``allOf``, ``not``,
  ``if``/``then``) falls back to ``strict: false`` with the schema as written, and says so.
* **Anthropic** receives the schema as a tool's ``input_schema`` (forced tool call) or as
  ``output_config.format`` (its JSON outputs mode, which also wants closed objects).
* **Gemini** ``responseSchema`` is an OpenAPI 3.0 subset: upper-case types, ``nullable`` instead of
  a ``null`` type, string-only enums, no ``$ref``/``additionalProperties``.  ``gemini_schema``
  converts, inlining local ``$ref``\\ s and dropping what it cannot say.
* A non-object root (a bare array, a string) is wrapped as ``{"value": ...}`` for the providers
  whose answer must be an object (OpenAI strict, Anthropic tools); ``unwrap`` takes it back out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WRAP_KEY = "value"
_NAME = re.compile(r"[^A-Za-z0-9_-]+")

# Keywords OpenAI's strict mode accepts (its Structured Outputs guide, "Supported schemas").
_OPENAI_STRICT = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
    "$ref", "$defs", "definitions", "description", "title", "pattern", "format", "multipleOf",
    "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "minItems", "maxItems",
}
_OPENAI_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
# Keywords no closed, all-required schema can carry: strict mode is off for these.
_NOT_STRICT = {"allOf", "not", "if", "then", "else", "patternProperties", "dependentSchemas",
               "dependentRequired", "unevaluatedProperties", "prefixItems"}
# Anthropic JSON outputs: the keywords its SDK keeps (anthropic-sdk-python lib/_parse/_transform.py).
_ANTHROPIC_FORMAT = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "allOf",
    "$ref", "$defs", "description", "title", "format", "minItems",
}
# Gemini responseSchema (google-genai types.Schema; developer API subset).
_GEMINI_KEYS = {
    "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "propertyOrdering", "items", "anyOf", "minimum", "maximum",
}
_GEMINI_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}
# Annotations that constrain nothing: dropped without a note.
_SILENT = {"$schema", "$id", "$comment", "examples", "default", "title"}


@dataclass
class Converted:
    schema: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    strict: bool = True
    wrapped: bool = False


def schema_name(schema: Mapping[str, Any]) -> str:
    """A ``json_schema.name`` / tool name: the schema's title, else ``response`` (a-z, 0-9, _ -; 64)."""
    title = schema.get("title")
    name = _NAME.sub("_", title).strip("_") if isinstance(title, str) else ""
    return (name or "response")[:64]


def is_object_root(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (kind is None and "properties" in schema and "anyOf" not in schema)


def wrap(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """An object root for providers that need one; (schema, True) when it had to be wrapped."""
    if is_object_root(schema):
        return dict(schema), False
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
    outer: dict[str, Any] = {"type": "object", "properties": {WRAP_KEY: inner}, "required": [WRAP_KEY]}
    for key in ("$defs", "definitions"):
        if key in schema:
            outer[key] = schema[key]
    return outer, True


def unwrap(value: Any, wrapped: bool) -> Any:
    if wrapped and isinstance(value, Mapping) and WRAP_KEY in value:
        return value[WRAP_KEY]
    return value


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


# ----------------------------------------------------------------- OpenAI strict


def _blocks_strict(schema: Any) -> str | None:
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key in _NOT_STRICT:
                return key
            if key == "additionalProperties" and value not in (False, None) and schema.get("type") == "object":
                return "an open object (additionalProperties)"
            if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
                # Names of properties and definitions are not keywords: look only at their schemas.
                found = next((f for f in map(_blocks_strict, value.values()) if f), None)
            else:
                found = _blocks_strict(value)
            if found:
                return found
    elif isinstance(schema, list):
        for item in schema:
            found = _blocks_strict(item)
            if found:
                return found
    return None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and kind != "null":
        out = {**schema, "type": [kind, "null"]}
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            out["enum"] = [*schema["enum"], None]
        return out
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _closed(schema: Any, notes: list[str], where: str, *, allowed: set[str], formats: set[str] | None,
            require_all: bool) -> Any:
    if isinstance(schema, list):
        return [_closed(s, notes, where, allowed=allowed, formats=formats, require_all=require_all) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "oneOf" or (key in _SILENT and key not in allowed):
            continue
        if key not in allowed:
            notes.append(f"{where or 'root'}: dropped '{key}' (not supported here; checked after the answer)")
            continue
        if key == "format" and formats is not None and value not in formats:
            notes.append(f"{where or 'root'}: dropped format {value!r} (not supported here; checked after the answer)")
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {
                name: _closed(sub, notes, _path(where, name), allowed=allowed, formats=formats,
                              require_all=require_all)
                for name, sub in value.items()
            }
        elif key in ("items", "anyOf", "allOf"):
            out[key] = _closed(value, notes, where, allowed=allowed, formats=formats, require_all=require_all)
        else:
            out[key] = copy.deepcopy(value)
    if "oneOf" in schema and "anyOf" in allowed:
        out["anyOf"] = _closed(schema["oneOf"], notes, where, allowed=allowed, formats=formats,
                               require_all=require_all)
        notes.append(f"{where or 'root'}: oneOf sent as anyOf (exclusivity checked after the answer)")
    is_object = out.get("type") == "object" or (isinstance(out.get("type"), list) and "object" in out["type"])
    if is_object or ("properties" in out and "type" not in out):
        if schema.get("additionalProperties") not in (None, False):
            notes.append(f"{where or 'root'}: extra properties are not allowed here (sent as a closed object)")
        out["additionalProperties"] = False
        properties = out.setdefault("properties", {})
        if require_all:
            required = set(schema.get("required") or [])
            for name in list(properties):
                if name not in required:
                    properties[name] = _nullable(properties[name])
                    notes.append(f"{_path(where, name)}: optional, sent as required and nullable (a null answer is dropped)")
            out["required"] = list(properties)
    return out


def openai_strict(schema: Mapping[str, Any]) -> Converted:
    """The ``json_schema.schema`` to send, strict when strict mode can carry it."""
    root, wrapped = wrap(schema)
    notes = ["a non-object answer is wrapped as {\"value\": ...}"] if wrapped else []
    blocker = _blocks_strict(schema)
    if blocker:
        notes.append(f"strict mode cannot express {blocker}: sent with strict false")
        return Converted(root, notes, strict=False, wrapped=wrapped)
    converted = _closed(root, notes, "", allowed=_OPENAI_STRICT, formats=_OPENAI_FORMATS, require_all=True)
    return Converted(converted, notes, strict=True, wrapped=wrapped)


def anthropic_tool_schema(schema: Mapping[str, Any]) -> Converted:
    """A tool ``input_schema``: any JSON Schema with an object root."""
    root, wrapped = wrap(schema)
    notes = ["a non-object answer is wrapped as {\"value\": ...}"] if wrapped else []
    return Converted(root, notes, strict=False, wrapped=wrapped)


def anthropic_output_format(schema: Mapping[str, Any]) -> Converted:
    """``output_config.format.schema``: closed objects and the keywords JSON outputs supports."""
    notes: list[str] = []
    converted = _closed(dict(schema), notes, "", allowed=_ANTHROPIC_FORMAT, formats=None, require_all=False)
    return Converted(converted, notes, strict=True)


def restore(value: Any, original: Mapping[str, Any], sent: Mapping[str, Any] | None = None,
            _root: Mapping[str, Any] | None = None) -> Any:
    """Drop the nulls strict mode made the model send for properties the user left optional."""
    root = _root if _root is not None else original
    ref = original.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        original = target if isinstance(target, Mapping) else {}
    if isinstance(value, dict):
        properties = original.get("properties") or {}
        required = set(original.get("required") or [])
        out = {}
        for name, item in value.items():
            sub = properties.get(name)
            if item is None and name not in required and isinstance(sub, Mapping) and not _allows_null(sub):
                continue
            out[name] = restore(item, sub, _root=root) if isinstance(sub, Mapping) else item
        return out
    if isinstance(value, list) and isinstance(original.get("items"), Mapping):
        return [restore(item, original["items"], _root=root) for item in value]
    return value


def _allows_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if isinstance(schema.get("enum"), list) and None in schema["enum"]:
        return True
    return any(isinstance(b, Mapping) and _allows_null(b) for b in schema.get("anyOf", []) or [])


# ----------------------------------------------------------------- Gemini


def gemini_schema(schema: Mapping[str, Any]) -> Converted:
    """Gemini's ``responseSchema`` (OpenAPI 3.0 subset) for a JSON Schema."""
    notes: list[str] = []
    converted = _gemini(schema, schema, notes, "", set())
    return Converted(converted, notes, strict=True)


def _gemini(schema: Any, root: Mapping[str, Any], notes: list[str], where: str, refs: set[str]) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in refs or not ref.startswith("#/"):
            notes.append(f"{where or 'root'}: recursive or external $ref {ref!r} sent as an untyped object")
            return {"type": "OBJECT"}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        merged = {**(target if isinstance(target, Mapping) else {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _gemini(merged, root, notes, where, refs | {ref})
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        if "null" in kind:
            out["nullable"] = True
        if len(non_null) > 1:
            notes.append(f"{where or 'root'}: union type {kind} sent as anyOf")
            out["anyOf"] = [{"type": k.upper()} for k in non_null if k in _GEMINI_TYPES]
            kind = None
        else:
            kind = non_null[0] if non_null else "null"
    if isinstance(kind, str) and kind in _GEMINI_TYPES and kind != "null":
        out["type"] = kind.upper()
    elif kind == "null":
        out["nullable"] = True
    if "const" in schema:
        schema = {**schema, "enum": [schema["const"]]}
    for key, value in schema.items():
        if key in ("type", "const", "$defs", "definitions", "nullable") or key in _SILENT:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out["properties"] = {
                name: _gemini(sub, root, notes, _path(where, name), refs) for name, sub in value.items()
            }
            out["propertyOrdering"] = list(value)
        elif key == "items":
            out["items"] = _gemini(value, root, notes, f"{where}[]", refs)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            branches = [b for b in value if not (isinstance(b, Mapping) and b.get("type") == "null")]
            if len(branches) < len(value):
                out["nullable"] = True
            if key == "oneOf":
                notes.append(f"{where or 'root'}: oneOf sent as anyOf (exclusivity checked after the answer)")
            if len(branches) == 1:
                out.update(_gemini(branches[0], root, notes, where, refs))
            else:
                out["anyOf"] = [_gemini(b, root, notes, where, refs) for b in branches]
        elif key == "enum" and isinstance(value, list):
            values = [v for v in value if v is not None]
            if all(isinstance(v, str) for v in values):
                out["enum"] = values
                out.setdefault("type", "STRING")
            else:
                notes.append(f"{where or 'root'}: dropped a non-string enum (checked after the answer)")
            if None in value:
                out["nullable"] = True
        elif key in _GEMINI_KEYS:
            out[key] = copy.deepcopy(value)
        else:
            notes.append(f"{where or 'root'}: dropped '{key}' (not in Gemini's schema subset; checked after the answer)")
    return out
