"""The frozen ``SuitePlan`` an eval runner executes: cases, variants, checks, fail-under rules.

Everything a runner needs is resolved at compile time, so nothing is evaluated while it runs:
each ``Case`` carries its ``checks`` with ``${{ case.* }}`` already replaced by that case's values
(values are data: the result is never scanned for expressions again); the matrix is expanded into
``Variant``s, the cartesian product of its dimensions in document order (models, prompts, config,
inputs), the first dimension varying slowest.  A variant's ``id`` names each choice by dimension
(``model.classify=gpt-4o-mini,prompt.classify=short,input.tone=formal``) so ids never collide; its
``label`` is the short form for tables (``classify=gpt-4o-mini, classify prompt=short,
tone=formal``).  Without a matrix there is one variant, ``baseline``: the workflow as written.

``document_for(variant)`` gives the workflow document with the variant applied (a fresh copy; the
user's file is never touched) and ``inputs_for(case, variant)`` the run's inputs: the case's, with
the matrix's input choices on top.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from compiler.plan import ExecutionPlan
from compiler.source import Path

BASELINE = "baseline"
Measure = Literal["cost_usd", "latency_ms"]


@dataclass(frozen=True)
class MetricCheck:
    """A Test-Bench metric on a workflow output (``ground_truth``, ``prompt``, ``options`` resolved)."""

    name: str
    output: str
    metric: str
    ground_truth: Any = None
    prompt: Any = None
    threshold: float | None = None
    weight: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LimitCheck:
    """A run's cost or latency must not exceed ``max``."""

    name: str
    measure: Measure
    max: float


Check = MetricCheck | LimitCheck


@dataclass(frozen=True)
class Case:
    id: str
    inputs: Mapping[str, Any]
    expected: Any
    tags: tuple[str, ...]
    description: str | None
    checks: tuple[Check, ...]  # the suite's, then the case's own
    source: str  # where it was written: "tickets.jsonl:7", "triage.yaml:31"

    @property
    def context(self) -> dict[str, Any]:
        """What ``${{ case.* }}`` sees."""
        return {"id": self.id, "inputs": dict(self.inputs), "expected": self.expected, "tags": list(self.tags),
                "description": self.description}


@dataclass(frozen=True)
class ModelChoice:
    model: str
    executor: str | None = None  # set when the model needs another provider's executor


@dataclass(frozen=True)
class PromptChoice:
    name: str
    prompt: str | None = None
    system: str | None = None


@dataclass(frozen=True)
class Variant:
    id: str
    label: str
    models: Mapping[str, ModelChoice] = field(default_factory=dict)  # llm task id -> model
    prompts: Mapping[str, PromptChoice] = field(default_factory=dict)  # llm task id -> prompt
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # llm task id -> call parameters
    inputs: Mapping[str, Any] = field(default_factory=dict)  # workflow input -> value
    choices: tuple[tuple[str, str], ...] = ()  # (dimension, value label), in matrix order


@dataclass(frozen=True)
class FailRule:
    measure: Literal["pass_rate", "mean_score"]
    minimum: float


@dataclass(frozen=True)
class SuiteRun:
    case: Case
    variant: Variant
    repeat: int  # 0-based


@dataclass(frozen=True)
class SuitePlan:
    name: str
    description: str | None
    file: str
    workflow_file: str
    workflow: ExecutionPlan
    workflow_document: Mapping[str, Any] = field(repr=False)
    cases: tuple[Case, ...]
    variants: tuple[Variant, ...]
    repeat: int
    concurrency: int
    fail_under: tuple[FailRule, ...]
    task_paths: Mapping[str, Path] = field(repr=False, default_factory=dict)

    @property
    def run_count(self) -> int:
        return len(self.cases) * len(self.variants) * self.repeat

    def runs(self) -> Iterator[SuiteRun]:
        """Every run: for each variant, each case, each repeat."""
        for variant in self.variants:
            for case in self.cases:
                for repeat in range(self.repeat):
                    yield SuiteRun(case, variant, repeat)

    def inputs_for(self, case: Case, variant: Variant) -> dict[str, Any]:
        return {**case.inputs, **variant.inputs}

    def document_for(self, variant: Variant) -> dict[str, Any]:
        """The workflow document with ``variant`` applied: a new dict, deep-copied."""
        return apply_variant(self.workflow_document, self.task_paths, variant)

    def __str__(self) -> str:
        lines = [f"EvalSuite {self.name} ({self.file})",
                 f"  workflow: {self.workflow_file} ({self.workflow.name} v{self.workflow.version})",
                 f"  cases: {len(self.cases)}"]
        tags: dict[str, int] = {}
        for case in self.cases:
            for tag in case.tags:
                tags[tag] = tags.get(tag, 0) + 1
        if tags:
            common = sorted(tags.items(), key=lambda item: (-item[1], item[0]))
            shown = ", ".join(f"{t} {n}" for t, n in common[:8])
            lines[-1] += f" (tags: {shown}{', ...' if len(common) > 8 else ''})"
        lines.append(f"  variants: {len(self.variants)} x {len(self.cases)} cases x repeat {self.repeat} = "
                     f"{self.run_count} runs, {self.concurrency} at a time")
        lines.extend(f"    {v.id}" for v in self.variants)
        checks = self.cases[0].checks if self.cases else ()
        if checks:
            lines.append("  checks: " + ", ".join(_describe(c) for c in checks))
        if self.fail_under:
            lines.append("  failUnder: " + ", ".join(f"{r.measure} >= {r.minimum:g}" for r in self.fail_under))
        return "\n".join(lines)


def _describe(check: Check) -> str:
    if isinstance(check, LimitCheck):
        return f"{check.measure} <= {check.max:g}"
    return check.name + (f" >= {check.threshold:g}" if check.threshold is not None else "")


def _task(document: dict[str, Any], path: Path) -> dict[str, Any]:
    node: Any = document
    for part in path:
        node = node[part]
    return node  # type: ignore[no-any-return]


def apply_variant(document: Mapping[str, Any], task_paths: Mapping[str, Path], variant: Variant) -> dict[str, Any]:
    """A deep copy of ``document`` with the variant's models, prompts and call parameters set."""
    result = copy.deepcopy(dict(document))
    touched = set(variant.models) | set(variant.prompts) | set(variant.config)
    for task_id in touched:
        task = _task(result, task_paths[task_id])
        inputs = task.get("inputs")
        if not isinstance(inputs, dict):
            inputs = task["inputs"] = {}
        config = inputs.get("config")
        if not isinstance(config, dict):
            config = None
        if task_id in variant.models:
            choice = variant.models[task_id]
            config = config if config is not None else {}
            config["model"] = choice.model
            if choice.executor:
                task["executor"] = choice.executor
        if task_id in variant.config:
            config = config if config is not None else {}
            config.update(variant.config[task_id])
        if config is not None:
            inputs["config"] = config
        if task_id in variant.prompts:
            prompt = variant.prompts[task_id]
            if prompt.prompt is not None:
                inputs["prompt"] = prompt.prompt
            if prompt.system is not None:
                inputs["system"] = prompt.system
    return result
