"""The executor registry: which ``executor:`` strings exist and what they accept and produce.

The compiler only needs an executor's *contract*: allowed task types, an input model (pydantic,
for required/unknown inputs and literal value checks and the editor JSON Schema) and output
types (for references such as ``tasks.x.outputs.response``).  Bodies live in ``tasks/`` and are
found there by the same reference, so the compiler stays free of Prefect and HTTP.

Third parties add executors through the entry-point group ``llm_orchestrator.executors``: each
entry point loads to an ``ExecutorSpec`` or an iterable of them (``implementation`` then names
the ``module:attribute`` of the body for ``tasks/`` to import).  A spec whose reference ends in
``:*`` matches a family (``llm-forge:tool:*``); an exact reference wins over a family.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

ENTRY_POINT_GROUP = "llm_orchestrator.executors"
TOOLS_ENTRY_POINT_GROUP = "llm_orchestrator.tools"
_SEGMENT = r"[a-z0-9][a-z0-9._-]*"
REFERENCE_PATTERN = re.compile(rf"^{_SEGMENT}:{_SEGMENT}(?::{_SEGMENT})?$")


@dataclass(frozen=True, slots=True)
class ExecutorRef:
    """A parsed ``namespace:name[:sub]`` reference (``llm-forge:tool:response-formatter``)."""

    namespace: str
    name: str
    sub: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExecutorRef:
        if not REFERENCE_PATTERN.match(text):
            raise ValueError(
                f"malformed executor reference {text!r}: expected 'namespace:name' or 'namespace:kind:name' "
                "in lower case (e.g. 'llm-forge:claude-api', 'llm-forge:tool:response-formatter')"
            )
        parts = text.split(":")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}" + (f":{self.sub}" if self.sub else "")


# A static check an executor may add: (inputs as written, reference) -> [(input path, code, message, hint)].
InputCheck = Callable[[Mapping[str, Any], "ExecutorRef"], list[tuple[tuple[str | int, ...], str, str, str | None]]]


@dataclass(frozen=True)
class ExecutorSpec:
    reference: str
    task_types: frozenset[str]
    inputs: type[BaseModel] | None
    outputs: Mapping[str, str]
    description: str
    default_type: str | None = None
    open_outputs: bool = False
    implementation: str | None = None
    check: InputCheck | None = field(default=None, compare=False)
    # The body runs the task's retry policy itself (llm inference: retries and fallbacks are one
    # loop of provider calls, so one budget), and the engine does not retry it again.
    retries_inside: bool = False

    @property
    def is_family(self) -> bool:
        return self.reference.endswith(":*")

    @property
    def implied_type(self) -> str:
        return self.default_type or sorted(self.task_types)[0]

    def required_inputs(self) -> list[str]:
        if self.inputs is None:
            return []
        return [f.alias or name for name, f in self.inputs.model_fields.items() if f.is_required()]

    def input_names(self) -> list[str]:
        if self.inputs is None:
            return []
        return [f.alias or name for name, f in self.inputs.model_fields.items()]

    def accepts_extra_inputs(self) -> bool:
        return self.inputs is None or self.inputs.model_config.get("extra") != "forbid"


class ExecutorRegistry:
    """Exact references and families; built-ins plus everything from entry points."""

    def __init__(self, specs: Iterable[ExecutorSpec] = ()) -> None:
        self._exact: dict[str, ExecutorSpec] = {}
        self._families: dict[str, ExecutorSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ExecutorSpec) -> None:
        if spec.is_family:
            self._families[spec.reference[:-2]] = spec
        else:
            self._exact[spec.reference] = spec

    def lookup(self, reference: str) -> ExecutorSpec | None:
        if reference in self._exact:
            return self._exact[reference]
        prefix = reference
        while ":" in prefix:
            prefix = prefix.rsplit(":", 1)[0]
            if prefix in self._families:
                return self._families[prefix]
        return None

    def references(self) -> list[str]:
        return sorted([*self._exact, *(f"{p}:*" for p in self._families)])

    def specs(self) -> list[ExecutorSpec]:
        return [*self._exact.values(), *self._families.values()]

    def copy(self) -> ExecutorRegistry:
        return ExecutorRegistry(self.specs())


def entry_point_specs() -> list[ExecutorSpec]:
    found: list[ExecutorSpec] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        items = loaded() if callable(loaded) and not isinstance(loaded, ExecutorSpec) else loaded
        if isinstance(items, ExecutorSpec):
            found.append(items)
        else:
            found.extend(item for item in items if isinstance(item, ExecutorSpec))
    return found


def tool_names_from_entry_points() -> list[str]:
    """Names of user tools registered for ``llm-forge:tool:<name>`` (metadata only, nothing imported)."""
    return sorted(point.name for point in entry_points(group=TOOLS_ENTRY_POINT_GROUP))
