"""Phase 2: the ``orchestrator.llm/v1`` Workflow document as pydantic models.

Spelled as the seed spells it (camelCase in YAML, aliases here; snake_case in Python).  Every
model forbids unknown keys and is frozen.  Values that may hold ``${{ }}`` expressions stay
strings here; ``checks`` parses them.  Semantic rules that need the whole document (unique ids,
references, executors) are not here: they are in ``checks`` so that every problem is reported
at once with its position rather than one pydantic error at a time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from compiler.durations import parse_duration

API_VERSION = "orchestrator.llm/v1"
KIND = "Workflow"
TASK_TYPES = ("llm", "evaluation", "policy", "analytics", "custom", "transform")
VALUE_TYPES = ("string", "integer", "float", "number", "boolean", "object", "array", "any")
TASK_ID_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")

TaskType = Literal["llm", "evaluation", "policy", "analytics", "custom", "transform"]
ValueType = Literal["string", "integer", "float", "number", "boolean", "object", "array", "any"]


def _to_text(value: object) -> object:
    # `version: 1.0` is a float in YAML; users mean the text they wrote.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _duration(value: object) -> float:
    return parse_duration(value)


DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$|^\s*\d+(\.\d+)?\s*$"
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}],
                    "description": "seconds, or a duration such as '30s', '5m', '1h30m'"}),
]
# Text the user may write as a number (`version: 1.0`): accepted and kept as text.
Text = Annotated[str, BeforeValidator(_to_text), WithJsonSchema({"type": ["string", "number"]})]


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, strict=False
    )


class Metadata(StrictModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    version: Text = "0.0.0"
    description: str | None = None
    labels: dict[str, Text] = Field(default_factory=dict)
    annotations: dict[str, Text] = Field(default_factory=dict)


class WorkflowInput(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    type: ValueType = "string"
    required: bool = False
    default: Any = None
    description: str | None = None
    enum: list[Any] | None = None


class RetryPolicy(StrictModel):
    max_attempts: int = Field(default=3, ge=1, le=100)
    backoff: Literal["exponential", "linear", "constant"] = "exponential"
    initial_delay: Duration = 1.0
    max_delay: Duration = 60.0
    jitter: Annotated[float, WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "boolean"}]})] = Field(
        default=0.1, ge=0, le=1
    )
    retry_on: list[str] | None = None

    @field_validator("jitter", mode="before")
    @classmethod
    def _jitter_flag(cls, value: object) -> object:
        if value is True:
            return 0.1
        if value is False:
            return 0.0
        return value


class CachePolicy(StrictModel):
    ttl: Duration = 3600.0
    key: str | None = None
    enabled: bool = True


def _cache_shorthand(value: object) -> object:
    if value is True:
        return {}
    if value is False:
        return {"enabled": False}
    return value


class TaskDefaults(StrictModel):
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    cache: Annotated[CachePolicy | None, BeforeValidator(_cache_shorthand)] = None
    continue_on_error: bool | None = None
    # The `inputs.config.mode` of every llm-forge inference task with forEach that does not set one.
    mode: Literal["online", "batch"] | None = None


class TaskOutput(StrictModel):
    """A task's output: its type, and for an llm task the JSON Schema its answer must match (the
    model is asked for it natively, the answer is validated, and the parsed object is this
    output).  `name: type` is shorthand for `name: {type: type}`; with a schema, `type` may be
    left out (it is the schema's root type)."""

    # Consistency of `type` and `schema`, and the schema itself, are checked in `checks`.
    type: ValueType | None = None
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


def _output_type_shorthand(value: object) -> object:
    if isinstance(value, str):
        return {"type": value}
    if not isinstance(value, dict | TaskOutput):
        raise ValueError("an output is declared by its type (`data: object`) or as {type, description, schema}")
    return value


class Task(StrictModel):
    id: str | None = None
    type: TaskType | None = None
    executor: str = Field(min_length=1)
    description: str | None = None
    depends_on: Annotated[
        list[str],
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
    ] = Field(default_factory=list)
    if_: str | bool | None = Field(default=None, alias="if")
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Annotated[TaskOutput, BeforeValidator(_output_type_shorthand)]] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    cache: Annotated[CachePolicy | None, BeforeValidator(_cache_shorthand)] = None
    continue_on_error: bool = False
    for_each: str | list[Any] | None = None

    @field_validator("depends_on", mode="before")
    @classmethod
    def _single_dependency(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Branch(StrictModel):
    id: str | None = None
    condition: str | bool
    tasks: list[Task] = Field(default_factory=list)
    else_: list[Task] = Field(default_factory=list, alias="else")


class Events(StrictModel):
    on_success: list[Task] = Field(default_factory=list)
    on_failure: list[Task] = Field(default_factory=list)
    always: list[Task] = Field(default_factory=list)


class Concurrency(StrictModel):
    max_parallel_tasks: int = Field(default=20, ge=1, le=10_000)


class Schedule(StrictModel):
    cron: str | None = None
    interval: Duration | None = None
    timezone: str = "UTC"
    inputs: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule needs exactly one of 'cron' or 'interval'")
        return self


class WorkflowOutput(StrictModel):
    value: Any = None
    description: str | None = None


def _output_shorthand(value: object) -> object:
    # `outputs: {answer: ${{ ... }}}` is accepted as shorthand for `{answer: {value: ...}}`.
    if isinstance(value, dict) and "value" in value:
        return value  # the full form; unknown keys next to `value` are then reported
    return {"value": value}


class Spec(StrictModel):
    inputs: list[WorkflowInput] = Field(default_factory=list)
    defaults: TaskDefaults = Field(default_factory=TaskDefaults)
    concurrency: Concurrency | None = None
    schedule: Schedule | None = None
    tasks: list[Task] = Field(default_factory=list)
    branches: list[Branch] = Field(default_factory=list)
    events: Events = Field(default_factory=Events)
    outputs: dict[str, Annotated[WorkflowOutput, BeforeValidator(_output_shorthand)]] = Field(default_factory=dict)


class Workflow(StrictModel):
    api_version: str
    kind: str
    metadata: Metadata
    spec: Spec
