"""Response schemas: the JSON Schema an llm task's answer must match, checked before any call.

Job: ``schema_issues(schema)`` says whether a task's ``outputs.<name>.schema`` is a JSON Schema
that every provider can be asked for; ``ResponseSchema.walk(parts)`` says where a reference such
as ``tasks.extract.outputs.data.customer.email`` lands in it (or where it leaves it), for the
reference checks and for the static types that the "certain type errors" check compares.

Decisions:

* **Two validators, one verdict.**  The meta-schema check is jsonschema's, with the validator
  class and format checker Forge's ``structured.validate_answer`` uses at run time, so a schema
  that compiles is one Forge accepts.  jsonschema is imported only when a workflow has a schema
  (it costs ~0.2 s to import).
* **The portable subset** (``PORTABLE``) is what OpenAI's strict mode, Anthropic's tool
  ``input_schema`` and Gemini's ``responseSchema`` all take.  Any other JSON Schema keyword
  (``pattern``, ``minimum``, ``oneOf``...) is a warning (W209), not an error: Forge validates the
  answer against the schema as written, so the constraint still holds, but a provider that is not
  told about it breaks it more often, and each break costs the repair call.
* **Errors (E209)** are what would fail a run: not a JSON Schema, a ``type`` that is not one of
  the seven JSON types, a ``$ref`` that is not local (``#/...``: providers cannot follow it) or
  points at nothing.  An unknown keyword or a ``required`` name that is not among ``properties``
  is a warning with a did-you-mean (W210): JSON Schema ignores unknown keywords, so a typo drops a
  constraint without a word.
* **Walking a reference** follows ``properties`` (the exact name, then case-insensitively, as the
  interpreter's lookups do), ``items`` for an index and for ``.*``, every ``anyOf``/``oneOf``/
  ``allOf`` branch and every member of a ``type`` list, and local ``$ref`` links (bounded, so a
  recursive schema cannot loop).  A name that no branch declares is an error (E409) when every
  branch is closed (``additionalProperties: false``, or not an object at all), and a warning
  (W409) when a branch lists its properties but leaves others allowed: the model is asked for the
  listed ones, so another name is almost surely a typo, yet the schema lets an answer carry it.
  An object without ``properties``, or whose ``additionalProperties`` is a schema (a map), takes
  any name without a word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.diagnostics import Severity, did_you_mean, listing
from compiler.expressions.values import fold

JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
# What every provider accepts (see the module docstring); annotations that constrain nothing.
PORTABLE = frozenset({"type", "properties", "required", "items", "enum", "description", "additionalProperties",
                      "anyOf", "$defs", "$ref"})
ANNOTATIONS = frozenset({"title", "$schema", "$id", "$comment", "examples", "default", "deprecated", "readOnly",
                         "writeOnly"})
# JSON Schema keywords outside the portable subset: kept and enforced by Forge's validation.
NOT_PORTABLE = frozenset({
    "const", "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "contains", "minContains",
    "maxContains", "minProperties", "maxProperties", "oneOf", "allOf", "not", "if", "then", "else",
    "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "unevaluatedProperties",
    "unevaluatedItems", "prefixItems", "definitions", "dependencies", "additionalItems", "contentEncoding",
    "contentMediaType", "contentSchema", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
})
KEYWORDS = PORTABLE | ANNOTATIONS | NOT_PORTABLE
_ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
               "unevaluatedProperties", "unevaluatedItems", "additionalItems", "contentSchema")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_BRANCHES = ("anyOf", "oneOf", "allOf")
_STRUCTURAL = ("type", "properties", "items", "additionalProperties", "enum", "const")
_TYPE_HINTS = {"str": "string", "text": "string", "int": "integer", "float": "number", "double": "number",
               "bool": "boolean", "dict": "object", "map": "object", "list": "array", "none": "null", "any": None}
_PORTABLE_INSTEAD = {
    "const": "`enum: [<value>]` says the same and every provider accepts it",
    "oneOf": "`anyOf` is portable (an answer matching two branches at once is rarely the point)",
    "definitions": "`$defs` is the portable spelling (refer to it as '#/$defs/<name>')",
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ISSUES = 20  # per schema: a pasted-in schema of the wrong dialect should not flood the output
MAX_BRANCHES = 64  # schemas followed at once by a walk (anyOf inside anyOf... cannot explode)
MAX_STEPS = 4096  # schemas looked at per step of a walk (a $ref chain, nested branches)

SchemaPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SchemaIssue:
    """One problem of a schema, at ``path`` inside it (keys and indices, as in the YAML)."""

    path: SchemaPath
    code: str
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR
    key: bool = False  # point at the key rather than its value


def json_path(parts: Sequence[Any]) -> str:
    """``$.customer.email``, ``$.items[0]``, ``$.items[*]``: the path of a value in an answer,
    spelled as Forge's validation errors spell it."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "*":
            path += "[*]"
        elif _IDENTIFIER.match(str(part)):
            path += f".{part}"
        else:
            path += "[" + json.dumps(str(part)) + "]"
    return path


# ----------------------------------------------------------------------------- checking a schema


def schema_issues(schema: Mapping[str, Any]) -> list[SchemaIssue]:
    """Every problem of ``schema`` (errors and warnings), at most ``MAX_ISSUES``."""
    issues: list[SchemaIssue] = []
    _visit(schema, (), schema, issues)
    if not any(i.code == "E209" and i.path == () for i in issues):
        issues.extend(_meta_issues(schema, {i.path for i in issues if i.severity is Severity.ERROR}))
    return issues[:MAX_ISSUES]


def _visit(node: Any, path: SchemaPath, root: Mapping[str, Any], issues: list[SchemaIssue]) -> None:
    if len(issues) >= MAX_ISSUES or not isinstance(node, Mapping):
        return  # a non-schema value where a schema belongs: the meta-schema check reports it
    properties = node.get("properties")
    for key, value in node.items():
        here = (*path, key)
        if not isinstance(key, str):
            issues.append(SchemaIssue(here, "E209", f"schema keyword {key!r} is not text", key=True))
        elif key in _ONE_SCHEMA:
            _visit(value, here, root, issues)
        elif key in _SCHEMA_LISTS:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    _visit(item, (*here, i), root, issues)
        elif key in _SCHEMA_MAPS:
            if isinstance(value, Mapping):
                for name, item in value.items():
                    _visit(item, (*here, name), root, issues)
        elif key == "type":
            _check_type(value, here, issues)
        elif key == "$ref":
            _check_ref(value, here, root, issues)
        elif key == "required" and isinstance(value, list) and isinstance(properties, Mapping):
            for i, name in enumerate(value):
                if isinstance(name, str) and name not in properties:
                    issues.append(SchemaIssue(
                        (*here, i), "W210", f"required property '{name}' is not among the properties at {_where(path)}",
                        did_you_mean(name, [str(p) for p in properties]) or "list it under `properties` with its schema",
                        Severity.WARNING))
        if not isinstance(key, str) or key in PORTABLE or key in ANNOTATIONS:
            continue
        if key in NOT_PORTABLE:
            issues.append(SchemaIssue(
                here, "W209", f"'{key}' (at {_where(path)}) is not in the schema subset every provider accepts",
                _PORTABLE_INSTEAD.get(key, "some providers are not told about it; Forge still validates each "
                                      "answer against it, and a violation costs the one repair call"),
                Severity.WARNING, key=True))
        else:
            hint = did_you_mean(key, sorted(KEYWORDS))
            if key == "nullable":
                hint = "JSON Schema spells it `type: [string, 'null']` (or anyOf with {type: 'null'})"
            issues.append(SchemaIssue(
                here, "W210", f"unknown schema keyword '{key}' (at {_where(path)}) is ignored",
                hint or listing("keywords every provider accepts", sorted(PORTABLE)), Severity.WARNING, key=True))


def _check_type(value: Any, path: SchemaPath, issues: list[SchemaIssue]) -> None:
    names = value if isinstance(value, list) else [value]
    for i, name in enumerate(names):
        if isinstance(name, str) and name in JSON_TYPES:
            continue
        where = (*path, i) if isinstance(value, list) else path
        guess = _TYPE_HINTS.get(str(name).lower(), "") if isinstance(name, str) else ""
        if guess is None:
            hint: str | None = "leave `type` out to allow any value"
        elif guess:
            hint = f"JSON Schema calls it '{guess}'"
        else:
            hint = did_you_mean(str(name), JSON_TYPES) or listing("JSON types", list(JSON_TYPES))
        issues.append(SchemaIssue(where, "E209", f"unknown type {name!r} at {_where(path[:-1])} in the response schema", hint))


def _check_ref(value: Any, path: SchemaPath, root: Mapping[str, Any], issues: list[SchemaIssue]) -> None:
    if not isinstance(value, str):
        return  # the meta-schema check reports it
    if not value.startswith("#"):
        issues.append(SchemaIssue(path, "E209", f"$ref '{value}' is not local to the schema",
                                  "providers cannot follow a reference out of the schema: put the definition under "
                                  "`$defs` and refer to it as '#/$defs/<name>'"))
    elif _pointer(root, value) is None:
        defs = root.get("$defs")
        names = [f"#/$defs/{n}" for n in defs] if isinstance(defs, Mapping) else []
        issues.append(SchemaIssue(path, "E209", f"$ref '{value}' points at nothing in the schema",
                                  did_you_mean(value, names) or (listing("definitions", names) if names else
                                                                 "define it under `$defs`")))


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    """The value a local ``$ref`` (``#`` or ``#/a/b``) points at; None when it points at nothing."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    target: Any = root
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, Mapping) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target


def _meta_issues(schema: Mapping[str, Any], reported: set[SchemaPath]) -> list[SchemaIssue]:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path])
    except Exception as exc:  # jsonschema on a value it cannot handle: a diagnostic, never a traceback
        return [SchemaIssue((), "E209", f"the response schema cannot be checked: {exc}")]
    issues: list[SchemaIssue] = []
    for error in errors:
        path: SchemaPath = tuple(p for p in error.absolute_path if isinstance(p, str | int))
        if path and any(path[: len(done)] == done or done[: len(path)] == path for done in reported):
            continue  # already said better (an unknown type, a non-text key)
        reported.add(path)
        issues.append(SchemaIssue(path, "E209", f"invalid response schema: {_keyword_at(path)}: {error.message}"))
    return issues


def _keyword_at(path: SchemaPath) -> str:
    """('properties', 'l', 'items') -> "'items' of $.l": the keyword a path ends in, and where."""
    for end in range(len(path), 0, -1):
        if isinstance(path[end - 1], str) and path[end - 1] in KEYWORDS and (end < 2 or path[end - 2] not in _SCHEMA_MAPS):
            return f"'{path[end - 1]}' of {_where(path[:end - 1])}"
    return f"at {_where(path)}"


def _where(path: SchemaPath) -> str:
    """Where in the *answer* a schema path describes: ('properties', 'a', 'items') -> $.a[*]."""
    parts: list[Any] = []
    steps = list(path)
    i = 0
    while i < len(steps):
        step = steps[i]
        if step in ("properties", "patternProperties") and i + 1 < len(steps):
            parts.append(steps[i + 1])
            i += 2
            continue
        if step in ("items", "additionalItems", "prefixItems", "contains"):
            parts.append("*")
        elif step == "$defs" and i + 1 < len(steps):
            return f"#/$defs/{steps[i + 1]}" + json_path(_answer_parts(steps[i + 2:]))[1:]
        i += 1
    return json_path(parts)


def _answer_parts(steps: Sequence[Any]) -> list[Any]:
    parts: list[Any] = []
    i = 0
    while i < len(steps):
        if steps[i] == "properties" and i + 1 < len(steps):
            parts.append(steps[i + 1])
            i += 2
            continue
        if steps[i] == "items":
            parts.append("*")
        i += 1
    return parts


# ------------------------------------------------------------------------------- types of a schema


def schema_types(schema: Any, root: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a value of ``schema`` may have; None when it may be anything."""
    types: set[str] = set()
    for member in _members([schema], root):
        if member is True or member is False:
            if member is True:
                return None
            continue
        own = _own_types(member)
        if own is None:
            return None
        types |= own
    return types


def _own_types(schema: Mapping[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    values = schema["enum"] if isinstance(schema.get("enum"), list) else [schema["const"]] if "const" in schema else None
    if values is not None:
        return {_json_type(v) for v in values}
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _members(schemas: Sequence[Any], root: Mapping[str, Any]) -> list[Any]:
    """The schemas a value must match one of: every local ``$ref`` followed, ``anyOf``/``oneOf``/
    ``allOf`` flattened (allOf as a union too: lenient, never a false error), at most
    ``MAX_BRANCHES``.  A schema that leads only back to itself constrains nothing: ``[True]``."""
    found: list[Any] = []
    made: list[Any] = []  # dicts made here stay alive until the end, so their ids are never reused
    seen: set[int] = set()
    stack = list(reversed(schemas))
    steps = 0
    while stack and len(found) < MAX_BRANCHES and steps < MAX_STEPS:
        steps += 1
        schema = stack.pop()
        if not isinstance(schema, Mapping):
            found.append(schema is not False)  # a boolean schema (or junk the meta-schema reports)
            continue
        if id(schema) in seen:
            continue
        seen.add(id(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = _pointer(root, ref)
            if target is None:
                found.append(True)  # an unresolvable $ref is an E209 of its own; here it constrains nothing
                continue
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if any(k in rest for k in _STRUCTURAL + _BRANCHES):
                made.append(rest)  # $ref next to other keywords: both apply
                stack.append(rest)
            stack.append(target)
            continue
        branches = [b for key in _BRANCHES if isinstance(schema.get(key), list) for b in schema[key]]
        if not branches:
            found.append(schema)
            continue
        if any(k in schema for k in _STRUCTURAL):
            own = {k: v for k, v in schema.items() if k not in _BRANCHES}
            made.append(own)
            found.append(own)
        stack.extend(reversed(branches))
    return found or [True]


# ------------------------------------------------------------------------------ walking a reference


@dataclass(frozen=True)
class Landing:
    """Where a reference lands: the schemas its value matches (``None``: the schema says nothing
    about it), and whether a ``.*`` on the way made it a list of such values."""

    schemas: tuple[Any, ...] | None
    mapped: bool = False


@dataclass(frozen=True)
class Miss:
    """A reference leaves the schema at ``parts[depth]``: ``closed`` (E409) or merely unlisted (W409)."""

    depth: int
    closed: bool
    names: tuple[str, ...]  # the properties that are there (for the hint)
    found: str  # what is there instead: "an object", "a string"...


class ResponseSchema:
    """One task output's schema, walked by the references that read into it."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.root = schema

    def walk(self, parts: Sequence[str | int | None], *, mapped: bool = False) -> Landing | Miss:
        current = _members([self.root], self.root)
        for depth, part in enumerate(parts):
            if part is None:  # a dynamic index: nothing more is known statically
                return Landing(None, mapped)
            step = self._step(current, part)
            if isinstance(step, Miss):
                return Miss(depth, step.closed, step.names, step.found)
            if step is None:
                return Landing(None, mapped or part == "*")
            current = _members(step, self.root)
            mapped = mapped or part == "*"
        return Landing(tuple(current), mapped)

    def _step(self, members: list[Any], part: str | int) -> list[Any] | Miss | None:
        """The schemas one step leads to; None: anything may be there; a Miss: nothing may."""
        following: list[Any] = []
        open_miss = False
        names: list[str] = []
        kinds: list[str] = []
        for member in members:
            if member is True:
                return None
            if member is False:
                continue
            types = _own_types(member)
            if types is None:
                return None  # no constraint on this branch: anything may be there
            if part == "*":
                if "array" in types:
                    if "items" not in member:
                        return None
                    following.append(member["items"])
                if "object" in types:
                    properties = member.get("properties")
                    if isinstance(properties, Mapping):
                        following.extend(properties.values())
                    extra = member.get("additionalProperties", True)
                    if extra is True and not (isinstance(properties, Mapping) and properties):
                        return None
                    if isinstance(extra, Mapping):
                        following.append(extra)
                kinds.extend(sorted(types - {"null", "array", "object"}))
                continue
            if isinstance(part, int) and "array" in types:
                if "items" not in member or "prefixItems" in member:
                    return None
                following.append(member["items"])
                continue
            if "object" not in types:
                kinds.extend(sorted(types - {"null"}))
                continue
            key = str(part)
            properties = member.get("properties")
            properties = properties if isinstance(properties, Mapping) else {}
            names.extend(str(n) for n in properties)
            match = _lookup(properties, key)
            if match is not None:
                following.append(match)
                continue
            if "patternProperties" in member:
                return None
            extra = member.get("additionalProperties", True)
            if isinstance(extra, Mapping):
                following.append(extra)  # a map: any name, values of this schema
            elif extra is not False:
                if not properties:
                    return None  # an object that lists nothing: any name
                open_miss = True
        if following:
            return following
        kinds = list(dict.fromkeys(kinds))
        found = " or ".join(_article(k) for k in kinds) if kinds else "an object"
        return Miss(0, not open_miss, tuple(dict.fromkeys(names)), found)

    def static_type(self, landing: Landing) -> str | None:
        """The one type a landing's value has (``number`` for integer-or-number), else None."""
        if landing.mapped:
            return "array"
        if landing.schemas is None:
            return None
        types = schema_types({"anyOf": list(landing.schemas)}, self.root) if landing.schemas else None
        if not types:
            return None
        types.discard("null")  # an optional property: still never equal to a value of another type
        if types == {"integer", "number"}:
            return "number"
        return next(iter(types)) if len(types) == 1 else None

    def enum(self, landing: Landing) -> tuple[Any, ...] | None:
        """The values a landing's value can take when every branch lists them (enum/const)."""
        if landing.mapped or not landing.schemas:
            return None
        values: list[Any] = []
        for member in _members(list(landing.schemas), self.root):
            if not isinstance(member, Mapping):
                return None
            if isinstance(member.get("enum"), list):
                values.extend(member["enum"])
            elif "const" in member:
                values.append(member["const"])
            elif member.get("type") == "null":
                values.append(None)
            else:
                return None
        return tuple(values)


def _lookup(properties: Mapping[str, Any], key: str) -> Any:
    if key in properties:
        return properties[key]
    wanted = fold(key)
    return next((v for k, v in properties.items() if isinstance(k, str) and fold(k) == wanted), None)


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


__all__ = ["JSON_TYPES", "Landing", "Miss", "ResponseSchema", "SchemaIssue", "json_path", "schema_issues",
           "schema_types"]
