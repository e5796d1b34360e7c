"""The ``kind: EvalSuite`` document (``orchestrator.llm/v1``) as pydantic models.

An evaluation suite runs one workflow over a dataset of cases, for every variant of a matrix
(models, prompts, call parameters, input values), ``repeat`` times, and checks assertions on each
run.  Spelling, as DESIGN.md section 10 recommends with these choices:

* Structural keys are camelCase like a workflow's (``failUnder``); names of measured quantities are
  snake_case like Test-Bench's metric names and request fields (``exact_match``, ``ground_truth``,
  ``cost_usd``, ``latency_ms``, ``pass_rate``), so an assertion reads like the evaluation it makes.
* ``spec.cases`` is validated case by case (in ``suite``), not here, so one bad case is a
  diagnostic for that case and the others still compile; the same models validate cases that come
  from a dataset file.
* ``matrix.prompts`` values are either text (it replaces the task's ``prompt`` input),
  ``{prompt, system}``, or null: the task's prompt as written, so the original can be one of the
  compared variants (``{original: null, terse: {system: ...}}``); ``matrix.config`` varies LLM call parameters (``inputs.config.<param>``
  of a task: temperature, max_tokens...), the only "config" a run of the same workflow can vary
  without touching the orchestrator's own configuration.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from compiler.document import Metadata, StrictModel, Text

SUITE_KIND = "EvalSuite"
DATASET_FORMATS = ("jsonl", "csv", "yaml")
LIMIT_MEASURES = ("cost_usd", "latency_ms")


class Limit(StrictModel):
    max: float = Field(ge=0, description="Largest value a run may have.")


class AssertionSpec(StrictModel):
    """One check on every run of a case: a Test-Bench metric on a workflow output, or a limit."""

    name: str | None = Field(default=None, min_length=1, description="Defaults to `<output>.<metric>` or the measure.")
    output: str | None = Field(default=None, description="The workflow output under test.")
    metric: str | None = Field(default=None, description="A Test-Bench metric, e.g. `exact_match`.")
    ground_truth: Any = Field(default=None, alias="ground_truth", description="May use `${{ case.* }}`.")
    prompt: Any = Field(default=None, description="The prompt, for metrics that judge relevance.")
    threshold: float | None = Field(default=None, ge=0, le=1)
    weight: float = Field(default=1.0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict, description="The metric's options.")
    cost_usd: Limit | None = Field(default=None, alias="cost_usd")
    latency_ms: Limit | None = Field(default=None, alias="latency_ms")


class CaseSpec(StrictModel):
    id: Text | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    tags: list[Text] = Field(default_factory=list)
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")


def _dataset_shorthand(value: object) -> object:
    return {"file": value} if isinstance(value, str) else value


class DatasetSpec(StrictModel):
    file: str = Field(min_length=1, description="Relative to the suite file.")
    format: Literal["jsonl", "csv", "yaml"] | None = Field(default=None, description="Default: from the extension.")


class PromptOverride(StrictModel):
    prompt: str | None = None
    system: str | None = None


class MatrixSpec(StrictModel):
    models: dict[str, list[Text]] = Field(default_factory=dict, description="llm task id -> models to try.")
    prompts: dict[str, dict[str, str | PromptOverride | None]] = Field(
        default_factory=dict,
        description="llm task id -> {variant name: prompt text, {prompt, system}, or null for the prompt as written}.",
    )
    config: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict, description="llm task id -> {call parameter: values}."
    )
    inputs: dict[str, list[Any]] = Field(default_factory=dict, description="workflow input -> values.")


class FailUnder(StrictModel):
    pass_rate: float | None = Field(default=None, ge=0, le=1, alias="pass_rate")
    mean_score: float | None = Field(default=None, ge=0, le=1, alias="mean_score")


class SuiteSpec(StrictModel):
    workflow: str = Field(min_length=1, description="The workflow file, relative to the suite file.")
    dataset: Annotated[DatasetSpec | None, BeforeValidator(_dataset_shorthand)] = None
    cases: list[Any] = Field(default_factory=list, description="Inline cases (validated one by one).")
    matrix: MatrixSpec = Field(default_factory=MatrixSpec)
    repeat: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=4, ge=1, le=256)
    assert_: list[AssertionSpec] = Field(default_factory=list, alias="assert")
    fail_under: FailUnder | None = None


class EvalSuite(StrictModel):
    api_version: str
    kind: str
    metadata: Metadata
    spec: SuiteSpec
