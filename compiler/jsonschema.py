"""JSON Schema of the workflow document for editors (``llm-orchestrator schema``).

The document schema comes from the pydantic models (camelCase aliases); each registered
executor adds an ``if executor == X then inputs: <its input schema>`` rule, so an editor with
the YAML language server completes and checks executor inputs too.
"""

from __future__ import annotations

from typing import Any

from compiler.catalogue import default_registry
from compiler.document import VALUE_TYPES, Workflow
from compiler.executors import ExecutorRegistry
from compiler.response_schema import JSON_TYPES


def workflow_schema(registry: ExecutorRegistry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    schema = Workflow.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "orchestrator.llm/v1 Workflow"
    defs = schema.setdefault("$defs", {})
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": "orchestrator.llm/v1", "type": "string"}
    props["kind"] = {"const": "Workflow", "type": "string"}
    rules: list[dict[str, Any]] = []
    executors: list[str] = []
    for spec in sorted(registry.specs(), key=lambda s: s.reference):
        if spec.is_family:
            continue
        executors.append(spec.reference)
        if spec.inputs is None:
            continue
        input_schema = spec.inputs.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        for name, definition in input_schema.pop("$defs", {}).items():
            defs.setdefault(name, allow_expressions(definition))
        input_schema = allow_expressions(input_schema)
        rules.append({
            "if": {"properties": {"executor": {"const": spec.reference}}, "required": ["executor"]},
            "then": {"properties": {"inputs": input_schema, "type": {"enum": sorted(spec.task_types)}}},
        })
    _relax_document(defs)
    task = defs.get("Task")
    if task is not None:
        task.setdefault("properties", {})["executor"] = {
            "type": "string",
            "description": "namespace:name or namespace:kind:name",
            "anyOf": [{"enum": executors}, {"pattern": "^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*(:[a-z0-9][a-z0-9._-]*)?$"}],
        }
        task["allOf"] = rules
    return schema


EXPRESSION = {"type": "string", "pattern": "\\$\\{\\{"}


def allow_expressions(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property may also be a string holding ``${{ }}`` (its value is only known at run time)."""
    schema = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["properties"] = {
            name: {"anyOf": [allow_expressions(sub) if isinstance(sub, dict) else sub, EXPRESSION],
                   **({"description": sub["description"]} if isinstance(sub, dict) and "description" in sub else {})}
            for name, sub in properties.items()
        }
    return schema


_SELF = {"$ref": "#/$defs/ResponseSchema"}
# Completion for the keywords every provider accepts; other JSON Schema keywords are allowed here
# and warned about by the compiler (W209), so the object stays open.
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The JSON Schema an llm task's answer must match (JSON Schema 2020-12; the subset every "
                   "provider accepts: type, properties, required, items, enum, description, "
                   "additionalProperties, anyOf, $defs and local $ref).",
    "properties": {
        "type": {"anyOf": [{"enum": list(JSON_TYPES)}, {"type": "array", "items": {"enum": list(JSON_TYPES)}}]},
        "description": {"type": "string"},
        "properties": {"type": "object", "additionalProperties": _SELF},
        "required": {"type": "array", "items": {"type": "string"}},
        "items": _SELF,
        "enum": {"type": "array"},
        "additionalProperties": {"anyOf": [{"type": "boolean"}, _SELF]},
        "anyOf": {"type": "array", "items": _SELF},
        "$defs": {"type": "object", "additionalProperties": _SELF},
        "$ref": {"type": "string", "pattern": "^#", "description": "a local reference, e.g. '#/$defs/customer'"},
    },
}


def _relax_document(defs: dict[str, Any]) -> None:
    """Shorthands the compiler accepts that pydantic's schema cannot express by itself."""
    for model in ("Task", "TaskDefaults"):
        cache = defs.get(model, {}).get("properties", {}).get("cache")
        if isinstance(cache, dict) and "anyOf" in cache:
            cache["anyOf"] = [*cache["anyOf"], {"type": "boolean"}]
    task_outputs = defs.get("Task", {}).get("properties", {}).get("outputs")
    if isinstance(task_outputs, dict):
        task_outputs["additionalProperties"] = {"anyOf": [{"enum": list(VALUE_TYPES)}, {"$ref": "#/$defs/TaskOutput"}]}
    task_output = defs.get("TaskOutput", {}).get("properties")
    if isinstance(task_output, dict):
        task_output["schema"] = {"$ref": "#/$defs/ResponseSchema"}
        defs["ResponseSchema"] = RESPONSE_SCHEMA
    outputs = defs.get("Spec", {}).get("properties", {}).get("outputs")
    if isinstance(outputs, dict):
        outputs["additionalProperties"] = {
            "description": "{value: <expression or literal>, description} or the value itself"
        }
