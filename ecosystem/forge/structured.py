"""Structured answers: parse a model's JSON, validate it against the request's schema, ask once more.

A caller's loop (the attempts loop) does ``check_response`` -> one ``repair_request`` -> fail with
``violation(problems)``.  Forge itself never loops here: it asks each provider natively for the
schema (``schema_dialects``) and returns the answer parsed, unvalidated, in ``parsed``.

Decisions:

* **Strict JSON.**  ``NaN``/``Infinity`` are not JSON and are refused, whether they arrive as text
  (``json.loads`` accepts them by default) or as floats in an already parsed value.
* **Lenient framing, strict content.**  Models wrap JSON in a Markdown fence or a sentence; the
  first fenced block, else the whole text, else the outermost ``{...}``/``[...]`` span is parsed.
  What is inside must be JSON.
* **Paths a person can read.**  Every problem names a JSONPath (``$.customer.email``,
  ``$.items[2].sku``); a missing required property is reported at the property's own path and an
  unexpected one at its path too, since that is where a reader looks.
* ``synthesize`` builds a deterministic value that matches a schema, for the offline provider, so
  workflows with a response schema run without a network.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as JsonSchemaError

from ecosystem.forge.errors import ForgeInvalidRequest, ForgeSchemaViolation
from ecosystem.forge.models import ChatMessage, ForgeInferenceRequest, ForgeInferenceResponse

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class SchemaProblem:
    """One way an answer misses its schema: where (a JSONPath), what, and the schema keyword."""

    path: str
    message: str
    keyword: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant)


def _candidates(text: str) -> Iterator[str]:
    stripped = text.strip()
    fenced = _FENCE.search(stripped)
    if fenced:
        yield fenced.group(1).strip()
    yield stripped
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = stripped.find(opener), stripped.rfind(closer)
        if 0 <= start < end:
            yield stripped[start : end + 1]


def parse_json_answer(text: str) -> Any:
    """The JSON value in a model's answer; ``ForgeSchemaViolation`` at ``$`` when there is none."""
    first_error: str | None = None
    for candidate in _candidates(text):
        try:
            return _loads(candidate)
        except ValueError as exc:
            first_error = first_error or str(exc)
    detail = first_error or "empty answer"
    raise ForgeSchemaViolation(f"$: the answer is not JSON ({detail})")


def try_parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when ``text`` holds JSON, else (False, None): for adapters filling ``parsed``."""
    try:
        return True, parse_json_answer(text)
    except ForgeSchemaViolation:
        return False, None


def json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            path += f".{part}"
        else:
            path += "[" + json.dumps(str(part)) + "]"
    return path


def _non_finite(value: Any, parts: tuple[Any, ...] = ()) -> Iterator[SchemaProblem]:
    if isinstance(value, float) and not math.isfinite(value):
        yield SchemaProblem(json_path(parts), f"{value!r} is not a JSON number", "json")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*parts, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*parts, index))


def _problems_of(error: JsonSchemaError) -> list[SchemaProblem]:
    parts = tuple(error.absolute_path)
    keyword = str(error.validator)
    instance = error.instance
    if keyword == "required" and isinstance(instance, Mapping):
        missing = [name for name in error.validator_value if name not in instance]
        return [SchemaProblem(json_path((*parts, name)), "is required but missing", keyword) for name in missing]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) else {}
        extras = [
            name for name in instance
            if name not in declared and not any(re.search(p, name) for p in patterns)
        ]
        if extras:
            return [SchemaProblem(json_path((*parts, name)), "is not allowed by the schema", keyword) for name in extras]
    return [SchemaProblem(json_path(parts), error.message, keyword)]


def validate_answer(value: Any, schema: Mapping[str, Any]) -> list[SchemaProblem]:
    """Every way ``value`` misses ``schema`` (empty: it conforms), at most ``MAX_PROBLEMS``.

    A schema that is itself invalid is the request's fault: ``ForgeInvalidRequest``.
    """
    problems = list(_non_finite(value))
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except SchemaError as exc:
        raise ForgeInvalidRequest(f"response_schema is not a valid JSON Schema: {exc.message}") from exc
    for error in errors:
        problems.extend(_problems_of(error))
    unique = list(dict.fromkeys(problems))
    return unique[:MAX_PROBLEMS]


def check_response(response: ForgeInferenceResponse, schema: Mapping[str, Any]) -> list[SchemaProblem]:
    """Problems of a response's answer against ``schema``, an unparsable answer included."""
    value = response.parsed
    if value is None:
        try:
            value = parse_json_answer(response.text)
        except ForgeSchemaViolation as exc:
            return [SchemaProblem("$", exc.message.removeprefix("$: "), "json")]
    return validate_answer(value, schema)


def describe(problems: list[SchemaProblem], limit: int = 5) -> str:
    shown = "; ".join(str(p) for p in problems[:limit])
    more = len(problems) - limit
    return shown + (f" (and {more} more)" if more > 0 else "")


def violation(problems: list[SchemaProblem], *, model: str | None = None) -> ForgeSchemaViolation:
    """The error to raise when an answer (after its repair) still misses the schema."""
    source = f" from {model}" if model else ""
    return ForgeSchemaViolation(f"the answer{source} does not match the response schema: {describe(problems)}")


def repair_request(
    request: ForgeInferenceRequest, bad_text: str, problems: list[SchemaProblem]
) -> ForgeInferenceRequest:
    """The one repair call: the same conversation, the bad answer, and what was wrong with it.

    System prompt, cache marks and schema stay as they were, so a cached prefix is still a hit.
    """
    listing = "\n".join(f"- {problem}" for problem in problems[:MAX_PROBLEMS])
    instruction = (
        "Your previous answer does not match the required JSON schema:\n"
        f"{listing}\n"
        "Answer again with only the corrected JSON value, matching this schema exactly:\n"
        f"{json.dumps(request.response_schema, separators=(',', ':'), sort_keys=True)}"
    )
    turns = [
        *request.conversation(),
        ChatMessage(role="assistant", content=bad_text.strip() or "(empty answer)"),
        ChatMessage(role="user", content=instruction),
    ]
    return request.model_copy(
        update={"prompt": "", "messages": turns, "metadata": {**request.metadata, "schema_repair": True}}
    )


# ----------------------------------------------------------------- offline answers


def _pick(seed: str, path: str, count: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{path}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % count


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < 32:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, Mapping) else {}
        schema = target if isinstance(target, Mapping) else {}
        seen += 1
    return schema


_FORMATS = {
    "email": "user@example.com",
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


def synthesize(schema: Mapping[str, Any], seed: str = "", *, _root: Mapping[str, Any] | None = None,
               _path: str = "$", _depth: int = 0) -> Any:
    """A deterministic value matching ``schema`` (same seed, same value); best effort for ``pattern``."""
    root = _root if _root is not None else schema
    schema = _resolve(schema, root)
    if _depth > 12:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[_pick(seed, _path, len(enum))]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            non_null = [b for b in branches if isinstance(b, Mapping) and b.get("type") != "null"] or branches
            return synthesize(non_null[0], seed, _root=root, _path=_path, _depth=_depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part, root) if isinstance(part, Mapping) else {}
            for name, value in part.items():
                if name in ("properties",) and isinstance(value, Mapping):
                    merged.setdefault("properties", {}).update(value)
                elif name == "required" and isinstance(value, list):
                    merged.setdefault("required", []).extend(value)
                else:
                    merged.setdefault(name, value)
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return synthesize({**merged, **rest}, seed, _root=root, _path=_path, _depth=_depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: synthesize(sub, seed, _root=root, _path=f"{_path}.{name}", _depth=_depth + 1)
            for name, sub in properties.items()
            if isinstance(sub, Mapping)
        }
    if kind == "array":
        raw_items = schema.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [
            synthesize(items, seed, _root=root, _path=f"{_path}[{i}]", _depth=_depth + 1) for i in range(count)
        ]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer", seed, _path)
    if kind == "boolean":
        return _pick(seed, _path, 2) == 1
    if kind == "null":
        return None
    return _string(schema, seed, _path)


def _number(schema: Mapping[str, Any], integer: bool, seed: str, path: str) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    low_f = float(low) if isinstance(low, int | float) else 0.0
    high_f = float(high) if isinstance(high, int | float) else low_f + 100.0
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        low_f += 1 if integer else 1e-6
    if "exclusiveMaximum" in schema and "maximum" not in schema:
        high_f -= 1 if integer else 1e-6
    value = low_f + (high_f - low_f) * (_pick(seed, path, 101) / 100) if high_f > low_f else low_f
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        value = math.ceil(value / step) * step
        if value > high_f:
            value -= step
    if integer:
        candidate = math.ceil(value)
        return candidate if candidate <= high_f else math.floor(value)
    return round(value, 6)


def _string(schema: Mapping[str, Any], seed: str, path: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    name = path.rsplit(".", 1)[-1].strip("$[]\"") or "value"
    text = f"offline {name} {hashlib.sha256(f'{seed}{path}'.encode()).hexdigest()[:6]}"
    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text = text + "x" * (min_length - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text
