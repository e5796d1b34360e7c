"""JSON Schema of the workflow document for editors (``llm-orchestrator schema``).

The document schema comes from the pydantic models (camelCase aliases); each registered
executor adds an ``if executor == X then inputs: <its input schema>`` rule, so an editor with
the YAML language server completes and checks executor inputs too.
"""

from __future__ import annotations

from typing import Any

from compiler.document import Workflow
from compiler.executors import ExecutorRegistry, default_registry


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
            defs.setdefault(name, definition)
        rules.append({
            "if": {"properties": {"executor": {"const": spec.reference}}, "required": ["executor"]},
            "then": {"properties": {"inputs": input_schema, "type": {"enum": sorted(spec.task_types)}}},
        })
    task = defs.get("Task")
    if task is not None:
        task.setdefault("properties", {})["executor"] = {
            "type": "string",
            "description": "namespace:name or namespace:kind:name",
            "anyOf": [{"enum": executors}, {"pattern": "^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*(:[a-z0-9][a-z0-9._-]*)?$"}],
        }
        task["allOf"] = rules
    return schema
