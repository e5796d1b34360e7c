"""A deployment's parameter schema, built from the workflow's declared inputs.

Prefect draws a deployment's Run form from ``parameter_openapi_schema`` and, with
``enforce_parameter_schema``, the server validates every new flow run's parameters against it
before the run exists.  Derived from the flow's signature, that schema would say only
``inputs: object`` (one empty JSON box, anything accepted), so each deployment gets its own:

* ``inputs`` is an object with one property per ``spec.inputs`` entry, in declaration order
  (``position``), with its JSON type, ``enum``, ``default`` and ``description``; ``required``
  lists the required inputs and ``additionalProperties: false`` refuses unknown names.  It stays
  one parameter, so ``prefect deployment run ... -p inputs='{"ticket": "..."}'`` works as before.
* ``workflow`` and ``config`` are operator settings chosen at deploy time: ``readOnly`` with the
  deployed value as their only ``enum`` member, as Prefect's own ``freeze()`` marks a parameter,
  so the forms show them disabled and the server refuses any other value.

The flow itself still checks the inputs at run time (``compiler.inputs.resolve_inputs``): runs
started without the server's validation, and coercions a JSON schema cannot express, get the
same message as ``llm-orchestrator run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from compiler.document import WorkflowInput

# orchestrator.llm/v1 input types -> JSON Schema types ("any" has none: every value fits).
JSON_TYPES: dict[str, str | None] = {
    "string": "string", "integer": "integer", "float": "number", "number": "number",
    "boolean": "boolean", "object": "object", "array": "array", "any": None,
}


def input_property(spec: WorkflowInput, position: int) -> dict[str, Any]:
    """The JSON schema of one workflow input, as Prefect's forms read it."""
    prop: dict[str, Any] = {"title": spec.name, "position": position}
    json_type = JSON_TYPES.get(spec.type)
    if json_type is not None:
        prop["type"] = json_type
    if json_type == "array":
        prop["items"] = {}
    if spec.description:
        prop["description"] = spec.description
    if spec.enum is not None:
        prop["enum"] = list(spec.enum)
    if spec.default is not None:
        prop["default"] = spec.default
    return prop


def inputs_schema(inputs: Sequence[WorkflowInput], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``inputs`` parameter: an object with one property per declared input."""
    properties = {spec.name: input_property(spec, i) for i, spec in enumerate(inputs)}
    for name, value in (defaults or {}).items():  # deploy-time inputs (spec.schedule.inputs, --input)
        if name in properties and value is not None:
            properties[name]["default"] = value
    schema: dict[str, Any] = {
        "title": "inputs",
        "description": "The workflow's inputs (spec.inputs).",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "position": 0,
    }
    required = [spec.name for spec in inputs if spec.required]
    if required:
        schema["required"] = required
    initial = {name: prop["default"] for name, prop in properties.items() if "default" in prop}
    if initial:
        schema["default"] = initial
    return schema


def _operator_setting(value: Any, title: str, description: str, position: int) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", "readOnly": True, "enum": [value],
            "default": value, "position": position}


def parameter_schema(inputs: Sequence[WorkflowInput], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment's ``parameter_openapi_schema`` for these inputs and deployment parameters."""
    properties: dict[str, Any] = {"inputs": inputs_schema(inputs, parameters.get("inputs"))}
    properties["workflow"] = _operator_setting(
        parameters["workflow"], "workflow (operator setting)",
        "The workflow file this deployment runs, relative to the project directory. Set by "
        "`llm-orchestrator deploy`; redeploy to change it.", 1)
    if parameters.get("config") is not None:
        properties["config"] = _operator_setting(
            parameters["config"], "config (operator setting)",
            "The orchestrator-config.yaml the runs use. Set by `llm-orchestrator deploy`; redeploy to change it.", 2)
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties, "definitions": {}}
    if any(spec.required for spec in inputs):
        schema["required"] = ["inputs"]
    return schema


_PLACEHOLDERS: dict[str, Any] = {"string": "...", "integer": 0, "float": 0.0, "number": 0.0, "boolean": False,
                                 "object": {}, "array": [], "any": "..."}


def sample_inputs(inputs: Sequence[WorkflowInput], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Inputs for an example command: the given ones, then every required input with a value of
    its type (its first enum member, its default, or a placeholder)."""
    sample = dict(given or {})
    for spec in inputs:
        if spec.required and spec.name not in sample:
            if spec.enum:
                sample[spec.name] = spec.enum[0]
            elif spec.default is not None:
                sample[spec.name] = spec.default
            else:
                sample[spec.name] = _PLACEHOLDERS.get(spec.type, "...")
    return sample
