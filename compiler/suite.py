"""``compile_suite(path)``: an ``EvalSuite`` file in, ``SuiteResult(plan | diagnostics)`` out.

The phases are a workflow's (``compile``): load YAML keeping positions (``source``) -> validate
with pydantic (``suite_document``, errors translated by ``schema_errors``: E201-E203 with "did you
mean") -> whole-suite checks here -> a frozen ``SuitePlan`` (``suite_plan``).  Every problem is a
positioned ``Diagnostic`` and all of them are reported at once; a problem in a dataset file points
into that file (``suite_dataset``), one in the workflow is the workflow compiler's own diagnostic.
One bad case is a diagnostic for that case, never an exception.

The checks need the compiled workflow (its llm tasks, declared inputs and outputs), so the
workflow is compiled first, from the path in ``spec.workflow`` relative to the suite file.  Each
matrix value (a model, a prompt, a call parameter) is then applied *alone* to the workflow
document and that document compiled again: whatever the workflow compiler would reject (a model
its provider does not serve, a prompt reading an unknown task, ``temperature: 3``) is reported at
the matrix value that causes it (E619).  Because values of different dimensions touch different
fields, checking each value alone covers every combination without compiling the whole product.

A model from another provider's family moves the task to that provider's executor
(``gpt-4o-mini`` on ``llm-forge:claude-api`` runs on ``llm-forge:openai-api``): comparing models
across providers is what a model matrix is for, and the executor is only the route to the model.

``${{ }}`` in a suite sees one context, ``case`` (``case.id``, ``case.inputs.<name>``,
``case.expected.<field>``, ``case.tags``, ``case.description``); expressions are parsed once here
and resolved per case at compile time, so the plan holds plain values.

Codes (``SUITE_CODES``, the suite rows of ``compiler.diagnostics.CODES``; reading and schema problems reuse the workflow codes E100-E104, E201-E203,
E206): see the table below.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from compiler.catalogue import KNOWN_METRICS, PROVIDERS, InferenceConfig
from compiler.checks import type_name_of, value_matches
from compiler.compile import MAX_FILE_BYTES, CompileOptions, compile_source
from compiler.diagnostics import CODES, CompilationFailed, Diagnostic, Severity, did_you_mean, sort_key
from compiler.document import API_VERSION, WorkflowInput
from compiler.executors import ExecutorRef
from compiler.expressions import ExpressionError, Reference, find_spans, parse, references, render
from compiler.plan import ExecutionPlan
from compiler.schema_errors import translate
from compiler.source import Path, SourceDocument, load_documents
from compiler.suite_dataset import dataset_format, load_dataset, read_dataset
from compiler.suite_document import SUITE_KIND, AssertionSpec, CaseSpec, EvalSuite, PromptOverride
from compiler.suite_plan import (
    BASELINE,
    Case,
    Check,
    FailRule,
    LimitCheck,
    MetricCheck,
    ModelChoice,
    PromptChoice,
    SuitePlan,
    Variant,
    apply_variant,
)

# The E6xx/W6xx rows of the one code table (``compiler.diagnostics.CODES``).
SUITE_CODES: dict[str, str] = {code: text for code, text in CODES.items() if code[1:2] == "6"}

CASE_FIELDS = ("id", "inputs", "expected", "tags", "description")
# Test-Bench metrics that need a ground truth or the prompt; tests keep these in step with
# ecosystem.testbench.METRICS (the compiler may not import the ecosystem).
NEEDS_GROUND_TRUTH = frozenset({"accuracy", "exact_match", "levenshtein", "rouge_l", "numeric_tolerance",
                                "semantic_similarity", "factual_consistency"})
NEEDS_PROMPT = frozenset({"relevance"})
MAX_VARIANTS = 256
MAX_CASES = 100_000
VARIANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
CALL_PARAMETERS = tuple(name for name in InferenceConfig.model_fields if name != "model")


@dataclass
class SuiteResult:
    plan: SuitePlan | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.errors

    def raise_for_errors(self) -> SuitePlan:
        if self.errors or self.plan is None:
            raise CompilationFailed(self.diagnostics)
        return self.plan


# -- entry -------------------------------------------------------------------------------------


def compile_suite(path: str | FilePath, options: CompileOptions | None = None) -> SuiteResult:
    """Compile the ``kind: EvalSuite`` file at ``path`` (relative paths in it are relative to it)."""
    name = str(path)
    try:
        file = FilePath(path)
        if file.stat().st_size > MAX_FILE_BYTES:
            return SuiteResult(None, [Diagnostic("E100", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", name)])
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SuiteResult(None, [Diagnostic("E100", "no such file", name)])
    except IsADirectoryError:
        return SuiteResult(None, [Diagnostic("E100", "is a directory, not a suite file", name)])
    except UnicodeDecodeError as exc:
        return SuiteResult(None, [Diagnostic("E100", f"file is not UTF-8 text ({exc.reason} at byte {exc.start})", name)])
    except OSError as exc:
        return SuiteResult(None, [Diagnostic("E100", f"cannot read file: {exc.strerror or exc}", name)])
    return compile_suite_text(text, name, options)


def compile_suite_text(text: str, file: str = "<string>", options: CompileOptions | None = None) -> SuiteResult:
    """Compile suite text; ``file`` names it in diagnostics and anchors its relative paths."""
    documents, diagnostics = load_documents(text, file)
    result = SuiteResult(None, list(diagnostics))
    if len(documents) != 1:
        if documents or not diagnostics:
            result.diagnostics.append(Diagnostic(
                "E103", f"a suite file holds exactly one document, this one holds {len(documents)}", file, 1, 1,
                "start with `apiVersion: orchestrator.llm/v1` and `kind: EvalSuite`"))
        return result
    doc = documents[0]
    if not isinstance(doc.data, dict):
        line, column = doc.position(())
        result.diagnostics.append(Diagnostic("E103", "the suite document is not a mapping", file, line, column))
        return result
    if doc.data.get("kind") == "Workflow":
        line, column = doc.position(("kind",))
        result.diagnostics.append(Diagnostic(
            "E206", "this is a Workflow, not an EvalSuite", file, line, column,
            "run workflows with `llm-orchestrator run`; a suite names one in `spec.workflow`"))
        return result
    try:
        suite = EvalSuite.model_validate(doc.data)
    except ValidationError as exc:
        result.diagnostics.extend(translate(exc, EvalSuite, doc))
        result.diagnostics.sort(key=sort_key)
        return result
    checker = SuiteChecker(suite, doc, options or CompileOptions())
    plan = checker.run()
    result.diagnostics.extend(checker.diagnostics)
    result.diagnostics.sort(key=sort_key)
    result.plan = plan if not result.errors else None
    return result


_SUITE_KIND_LINE = re.compile(r"""^kind:[ \t]*["']?EvalSuite["']?[ \t]*(#.*)?$""", re.MULTILINE)


def looks_like_suite(path: str | FilePath) -> bool:
    """The file says ``kind: EvalSuite`` at the top level (how ``validate`` tells suites from
    workflows without compiling twice); False when it cannot be read (the workflow compiler
    then reports why)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(256 * 1024)
    except OSError:
        return False
    return _SUITE_KIND_LINE.search(head) is not None


# -- helpers -----------------------------------------------------------------------------------


def _caret_hint(exc: ExpressionError) -> str | None:
    if exc.column is None:
        return None
    return f"{exc.expression}\n          {' ' * exc.column}^"


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _strings(value: Any, path: Path) -> Iterator[tuple[str, Path]]:
    if isinstance(value, str):
        yield value, path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, context) if "${{" in value else value
    if isinstance(value, Mapping):
        return {key: _render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context) for item in value]
    return value


def _item_documents(doc: SourceDocument, prefix: Path, count: int) -> list[SourceDocument]:
    """One document per item of the list at ``prefix``, its positions re-keyed relative to the item
    (one pass over the positions, so thousands of inline cases stay linear)."""
    n = len(prefix)
    tables: list[tuple[dict[Path, tuple[int, int]], dict[Path, tuple[int, int]]]] = [({}, {}) for _ in range(count)]
    for which, source in ((0, doc.positions), (1, doc.key_positions)):
        for path, where in source.items():
            if len(path) > n and path[:n] == prefix:
                index = path[n]
                if isinstance(index, int) and 0 <= index < count:
                    tables[index][which][path[n + 1:]] = where
    data = doc.data
    for part in prefix:
        data = data[part]
    return [SourceDocument(data[i], doc.file, doc.index, doc.line, positions, keys)
            for i, (positions, keys) in enumerate(tables)]


def _task_paths(data: Mapping[str, Any]) -> dict[str, Path]:
    """Where each task with an explicit id sits in a workflow document."""
    found: dict[str, Path] = {}
    spec = data.get("spec")
    if not isinstance(spec, Mapping):
        return found

    def add(tasks: Any, path: Path) -> None:
        if isinstance(tasks, list):
            for i, task in enumerate(tasks):
                if isinstance(task, Mapping) and isinstance(task.get("id"), str):
                    found.setdefault(task["id"], (*path, i))

    add(spec.get("tasks"), ("spec", "tasks"))
    for b, branch in enumerate(spec.get("branches") or []):
        if isinstance(branch, Mapping):
            add(branch.get("tasks"), ("spec", "branches", b, "tasks"))
            add(branch.get("else"), ("spec", "branches", b, "else"))
    events = spec.get("events")
    if isinstance(events, Mapping):
        for kind in ("onSuccess", "onFailure", "always"):
            add(events.get(kind), ("spec", "events", kind))
    return found


def _executor_for(model: str, current: ExecutorRef, providers: frozenset[str]) -> str | None:
    """The executor that serves ``model`` when the task's own does not (None: keep the task's)."""
    if current.namespace != "llm-forge":
        return None
    head, slash, _ = model.partition("/")
    if slash and head in providers:
        return None if current.name == head else f"llm-forge:{head}"
    _, prefixes = PROVIDERS.get(current.name, ("", ()))
    if not prefixes or model.startswith(prefixes):
        return None
    owner = next((name for name, (_, pre) in PROVIDERS.items() if pre and model.startswith(pre)), None)
    return f"llm-forge:{owner}" if owner else None


@dataclass
class _Template:
    """A suite- or case-level assertion, checked, with the expressions it reads."""

    spec: AssertionSpec
    doc: SourceDocument
    path: Path
    name: str
    reads: list[tuple[Reference, Path]] = field(default_factory=list)
    valid: bool = True


@dataclass
class _Dimension:
    key: str  # model.classify, prompt.classify, config.classify.temperature, input.tone
    label: str  # classify, classify prompt, classify temperature, tone
    kind: str  # models | prompts | config | inputs
    target: str  # task id or input name
    values: list[tuple[str, Any, Path]]  # (value label, choice, YAML path of the value)
    parameter: str | None = None


@dataclass
class _CaseDraft:
    spec: CaseSpec
    doc: SourceDocument
    path: Path  # of the case inside doc
    id: str
    source: str
    templates: list[_Template]


# -- the checker -------------------------------------------------------------------------------


class SuiteChecker:
    def __init__(self, suite: EvalSuite, doc: SourceDocument, options: CompileOptions) -> None:
        self.suite = suite
        self.spec = suite.spec
        self.doc = doc
        self.options = options
        self.base_dir = FilePath(doc.file).parent
        self.diagnostics: list[Diagnostic] = []
        self.workflow: ExecutionPlan | None = None
        self.workflow_doc: SourceDocument | None = None
        self.workflow_file = ""
        self.declared: dict[str, WorkflowInput] = {}

    def report(self, code: str, message: str, path: Path, hint: str | None = None, *, doc: SourceDocument | None = None,
               key: bool = False, severity: Severity = Severity.ERROR) -> None:
        where = doc or self.doc
        line, column = where.position(path, key=key)
        self.diagnostics.append(Diagnostic(code, message, where.file, line, column, hint, severity))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def run(self) -> SuitePlan | None:
        self.check_header()
        self.load_workflow()
        dimensions = self.check_matrix()
        suite_templates = [self.check_assertion(a, self.doc, ("spec", "assert", i)) for i, a in enumerate(self.spec.assert_)]
        drafts = self.load_cases(suite_templates)
        self.check_case_reads(suite_templates, drafts)
        cases = [case for case in (self.build_case(d, suite_templates) for d in drafts) if case is not None]
        if not drafts and not any(d.code in ("E613", "E614") for d in self.diagnostics):
            self.report("E617", "the suite has no cases", ("spec",),
                        "add `dataset: {file: cases.jsonl}` or inline `cases:` under spec", key=True)
        if drafts and not suite_templates and not any(d.templates for d in drafts):
            self.report("E610", "nothing to check: neither the suite nor any case has an assertion", ("spec",),
                        "add `assert: [{output: <name>, metric: exact_match, ground_truth: ${{ case.expected.<field> }}}]`",
                        key=True)
        self.check_overrides(dimensions)
        variants = self.expand(dimensions)
        if self.has_errors or self.workflow is None or self.workflow_doc is None:
            return None
        rules: list[FailRule] = []
        if self.spec.fail_under is not None:
            if self.spec.fail_under.pass_rate is not None:
                rules.append(FailRule("pass_rate", self.spec.fail_under.pass_rate))
            if self.spec.fail_under.mean_score is not None:
                rules.append(FailRule("mean_score", self.spec.fail_under.mean_score))
        return SuitePlan(
            name=self.suite.metadata.name, description=self.suite.metadata.description, file=self.doc.file,
            workflow_file=self.workflow_file, workflow=self.workflow,
            workflow_document=MappingProxyType(copy.deepcopy(self.workflow_doc.data)),
            cases=tuple(cases), variants=tuple(variants), repeat=self.spec.repeat,
            concurrency=self.spec.concurrency, fail_under=tuple(rules),
            task_paths=MappingProxyType(_task_paths(self.workflow_doc.data)),
        )

    def check_header(self) -> None:
        if self.suite.api_version != API_VERSION:
            self.report("E206", f"unsupported apiVersion '{self.suite.api_version}'", ("apiVersion",), f"use '{API_VERSION}'")
        if self.suite.kind != SUITE_KIND:
            self.report("E206", f"unsupported kind '{self.suite.kind}' for a suite file", ("kind",),
                        did_you_mean(self.suite.kind, [SUITE_KIND]) or f"use '{SUITE_KIND}'")

    # -- the workflow ------------------------------------------------------------------------

    def load_workflow(self) -> None:
        where: Path = ("spec", "workflow")
        name = os.path.normpath(self.base_dir / self.spec.workflow)
        self.workflow_file = name
        try:
            file = FilePath(name)
            if file.stat().st_size > MAX_FILE_BYTES:
                self.report("E601", f"workflow file '{name}' is larger than {MAX_FILE_BYTES // 2**20} MiB", where)
                return
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            siblings = [p.name for p in FilePath(name).parent.glob("*.y*ml")] if FilePath(name).parent.is_dir() else []
            hint = did_you_mean(FilePath(name).name, siblings)
            self.report("E601", f"workflow file '{name}' does not exist", where,
                        hint or "the path is relative to the suite file's directory")
            return
        except (IsADirectoryError, UnicodeDecodeError, OSError) as exc:
            problem = "is a directory" if isinstance(exc, IsADirectoryError) else f"cannot be read ({exc})"
            self.report("E601", f"workflow file '{name}' {problem}", where)
            return
        documents, loading = load_documents(text, name)
        self.diagnostics.extend(loading)
        if loading and not documents:
            self.report("E602", f"workflow '{name}' does not compile ({len(loading)} error(s), listed with their positions)", where)
            return
        if len(documents) != 1:
            self.report("E601", f"workflow file '{name}' holds {len(documents)} documents; a suite runs exactly one workflow", where)
            return
        if not isinstance(documents[0].data, dict):
            self.report("E601", f"workflow file '{name}' does not hold a workflow mapping", where)
            return
        doc = documents[0]
        if doc.data.get("kind") == SUITE_KIND:
            self.report("E601", f"'{name}' is an EvalSuite, not a workflow", where)
            return
        plan, found = compile_source(doc, self.options)
        self.diagnostics.extend(found)
        errors = [d for d in found if d.is_error]
        if plan is None or errors:
            self.report("E602", f"workflow '{name}' does not compile ({len(errors)} error(s), listed with their positions)", where)
            return
        self.workflow, self.workflow_doc = plan, doc
        self.declared = {i.name: i for i in plan.inputs}

    def llm_tasks(self) -> list[str]:
        assert self.workflow is not None
        return [i for i, n in self.workflow.nodes.items() if n.type == "llm"]

    def check_task(self, task: str, path: Path) -> bool:
        """Is ``task`` an llm task of the workflow?  (Reported when not; True without a workflow.)"""
        if self.workflow is None:
            return False
        node = self.workflow.nodes.get(task)
        if node is None:
            hint = did_you_mean(task, self.llm_tasks()) or f"llm tasks: {', '.join(self.llm_tasks()) or 'none'}"
            self.report("E603", f"unknown task '{task}' in the matrix: the workflow has no such task", path, hint, key=True)
            return False
        if node.type != "llm":
            self.report("E604", f"task '{task}' is a {node.type} task ({node.executor}); the matrix varies llm tasks only",
                        path, f"llm tasks: {', '.join(self.llm_tasks()) or 'none'}", key=True)
            return False
        return True

    def check_input_value(self, name: str, value: Any, path: Path, doc: SourceDocument, owner: str) -> None:
        declared = self.declared.get(name)
        if declared is None:
            return
        if declared.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is None and not declared.required:
            return
        if not value_matches(value, declared.type):
            self.report("E606", f"{owner}: input '{name}' must be {declared.type}, got {type_name_of(value)} {_label(value)[:60]}",
                        path, doc=doc)
        elif declared.enum is not None and value not in declared.enum:
            self.report("E606", f"{owner}: input '{name}' must be one of {declared.enum}, got {_label(value)[:60]}", path,
                        did_you_mean(str(value), [str(e) for e in declared.enum]), doc=doc)

    def unknown_input(self, name: str, path: Path, owner: str, doc: SourceDocument | None = None) -> bool:
        if self.workflow is None or name in self.declared:
            return False
        known = ", ".join(self.declared) or "none"
        self.report("E605", f"{owner}: '{name}' is not an input of the workflow (it takes: {known})", path,
                    did_you_mean(name, self.declared), doc=doc, key=True)
        return True

    # -- matrix ------------------------------------------------------------------------------

    def check_matrix(self) -> list[_Dimension]:
        matrix = self.spec.matrix
        base: Path = ("spec", "matrix")
        dims: list[_Dimension] = []
        for task, models in matrix.models.items():
            path: Path = (*base, "models", task)
            ok = self.check_task(task, path)
            values = self.check_values(models, path, f"models of '{task}'")
            if ok and values is not None:
                assert self.workflow is not None
                ref = self.workflow.nodes[task].executor
                models_of: list[tuple[str, Any, Path]] = [
                    (_label(m), ModelChoice(str(m), _executor_for(str(m), ref, self.options.providers)), p)
                    for m, p in values
                ]
                dims.append(_Dimension(f"model.{task}", task, "models", task, models_of))
        for task, prompts in matrix.prompts.items():
            path = (*base, "prompts", task)
            ok = self.check_task(task, path)
            if not prompts:
                self.report("E618", f"no prompt variants for '{task}'", path)
                continue
            choices: list[tuple[str, Any, Path]] = []
            for name, value in prompts.items():
                at: Path = (*path, name)
                override = PromptOverride(prompt=value) if isinstance(value, str) else value or PromptOverride()
                if not re.match(VARIANT_NAME, name):
                    self.report("E618", f"prompt variant name '{name}' must start with a letter or digit and use "
                                "letters, digits, '.', '_' and '-'", at, key=True)
                elif value is not None and override.prompt is None and override.system is None:
                    self.report("E618", f"prompt variant '{name}' of '{task}' sets neither prompt nor system", at,
                                "write `null` for the prompt as written")
                else:
                    choices.append((name, PromptChoice(name, override.prompt, override.system), at))
            if ok and choices and len(choices) == len(prompts):
                dims.append(_Dimension(f"prompt.{task}", f"{task} prompt", "prompts", task, choices))
        for task, parameters in matrix.config.items():
            path = (*base, "config", task)
            ok = self.check_task(task, path)
            for parameter, values_of in parameters.items():
                at = (*path, parameter)
                if parameter not in CALL_PARAMETERS:
                    hint = ("vary models under matrix.models" if parameter == "model"
                            else did_you_mean(parameter, CALL_PARAMETERS) or f"call parameters: {', '.join(CALL_PARAMETERS)}")
                    self.report("E618", f"'{parameter}' is not an LLM call parameter", at, hint, key=True)
                    continue
                values = self.check_values(values_of, at, f"{parameter} of '{task}'")
                if ok and values is not None:
                    dims.append(_Dimension(f"config.{task}.{parameter}", f"{task} {parameter}", "config", task,
                                           [(_label(v), v, p) for v, p in values], parameter))
        for name, values_of in matrix.inputs.items():
            path = (*base, "inputs", name)
            unknown = self.unknown_input(name, path, "matrix.inputs")
            values = self.check_values(values_of, path, f"values of input '{name}'")
            if values is None or unknown:
                continue
            for value, at in values:
                self.check_input_value(name, value, at, self.doc, "matrix.inputs")
            dims.append(_Dimension(f"input.{name}", name, "inputs", name, [(_label(v), v, p) for v, p in values]))
        size = 1
        for dim in dims:
            size *= len(dim.values)
        if size > MAX_VARIANTS:
            self.report("E618", f"the matrix expands to {size:,} variants; the limit is {MAX_VARIANTS}", base,
                        "split it into several suites, or vary fewer dimensions at once", key=True)
        return dims

    def check_values(self, values: list[Any], path: Path, what: str) -> list[tuple[Any, Path]] | None:
        if not values:
            self.report("E618", f"{what}: the list is empty", path)
            return None
        seen: dict[str, int] = {}
        result = []
        for i, value in enumerate(values):
            label = _label(value)
            if isinstance(value, str) and not value.strip():
                self.report("E618", f"{what}: value {i + 1} is empty", (*path, i))
                return None
            if label in seen:
                self.report("E618", f"{what}: '{label}' is listed twice", (*path, i))
                return None
            seen[label] = i
            result.append((value, (*path, i)))
        return result

    def check_overrides(self, dims: list[_Dimension]) -> None:
        """Compile the workflow with each matrix value applied alone; report what it breaks."""
        if self.workflow is None or self.workflow_doc is None:
            return
        paths = _task_paths(self.workflow_doc.data)
        for dim in dims:
            if dim.kind == "inputs":
                continue
            task: Any = self.workflow_doc.data
            for part in paths[dim.target]:
                task = task[part]
            inputs = task.get("inputs")
            existing = inputs.get("config") if isinstance(inputs, Mapping) else None
            for label, choice, at in dim.values:
                if existing is not None and not isinstance(existing, Mapping) and dim.kind in ("models", "config"):
                    self.report("E619", f"task '{dim.target}' computes its config with an expression; the matrix cannot "
                                "set single call parameters in it", at, "write the task's config as a mapping")
                    break
                variant = self.single(dim, label, choice)
                document = SourceDocument(
                    self.apply(variant), self.workflow_doc.file, self.workflow_doc.index, self.workflow_doc.line,
                    self.workflow_doc.positions, self.workflow_doc.key_positions, self.workflow_doc.raw_numbers,
                )
                _, found = compile_source(document, self.options)
                for d in found:
                    if d.is_error:  # the workflow as written compiles: every error is the value's
                        what = {"models": f"model '{label}'", "prompts": f"prompt variant '{label}'",
                                "config": f"{dim.parameter} {label}"}[dim.kind]
                        self.report("E619", f"{what} for task '{dim.target}' makes the workflow invalid: {d.code} {d.message}",
                                    at, d.hint)

    def apply(self, variant: Variant) -> dict[str, Any]:
        assert self.workflow_doc is not None
        return apply_variant(self.workflow_doc.data, _task_paths(self.workflow_doc.data), variant)

    @staticmethod
    def single(dim: _Dimension, label: str, choice: Any) -> Variant:
        if dim.kind == "models":
            return Variant(label, label, models={dim.target: choice})
        if dim.kind == "prompts":
            return Variant(label, label, prompts={dim.target: choice})
        if dim.kind == "config":
            assert dim.parameter is not None
            return Variant(label, label, config={dim.target: {dim.parameter: choice}})
        return Variant(label, label, inputs={dim.target: choice})

    def expand(self, dims: list[_Dimension]) -> list[Variant]:
        if not dims:
            return [Variant(BASELINE, BASELINE)]
        size = 1
        for dim in dims:
            size *= len(dim.values)
        if size > MAX_VARIANTS:
            return []
        variants = []
        for combination in itertools.product(*(dim.values for dim in dims)):
            models: dict[str, ModelChoice] = {}
            prompts: dict[str, PromptChoice] = {}
            config: dict[str, dict[str, Any]] = {}
            inputs: dict[str, Any] = {}
            for dim, (_, choice, _) in zip(dims, combination, strict=True):
                if dim.kind == "models":
                    models[dim.target] = choice
                elif dim.kind == "prompts":
                    prompts[dim.target] = choice
                elif dim.kind == "config":
                    assert dim.parameter is not None
                    config.setdefault(dim.target, {})[dim.parameter] = choice
                else:
                    inputs[dim.target] = choice
            choices = tuple((dim.key, label) for dim, (label, _, _) in zip(dims, combination, strict=True))
            variants.append(Variant(
                id=",".join(f"{key}={label}" for key, label in choices),
                label=", ".join(f"{dim.label}={label}" for dim, (label, _, _) in zip(dims, combination, strict=True)),
                models=MappingProxyType(models), prompts=MappingProxyType(prompts),
                config=MappingProxyType({k: MappingProxyType(v) for k, v in config.items()}),
                inputs=MappingProxyType(inputs), choices=choices,
            ))
        return variants

    # -- assertions --------------------------------------------------------------------------

    def check_assertion(self, spec: AssertionSpec, doc: SourceDocument, path: Path) -> _Template:
        limits = [m for m in ("cost_usd", "latency_ms") if getattr(spec, m) is not None]
        is_metric = spec.metric is not None or spec.output is not None
        name = spec.name or (limits[0] if limits and not is_metric else f"{spec.output}.{spec.metric}")
        template = _Template(spec, doc, path, name)
        if is_metric and limits or len(limits) > 1:
            template.valid = False
            self.report("E610", "an assertion checks one thing: a metric on an output, cost_usd or latency_ms",
                        path, "split it into one assertion per check", doc=doc)
            return template
        if not is_metric and not limits:
            template.valid = False
            self.report("E610", "an assertion needs `output` and `metric`, or `cost_usd: {max: ...}`, or "
                        "`latency_ms: {max: ...}`", path, doc=doc)
            return template
        if limits:
            stray = [f for f in ("ground_truth", "prompt", "threshold") if getattr(spec, f) is not None] + (
                ["options"] if spec.options else [])
            if stray:
                template.valid = False
                self.report("E610", f"{', '.join(stray)} only apply to metric assertions, not to {limits[0]}", path, doc=doc)
            return template
        if spec.metric is None or spec.output is None:
            template.valid = False
            missing = "metric" if spec.metric is None else "output"
            outputs = ", ".join(self.workflow.outputs) if self.workflow else ""
            self.report("E610", f"a metric assertion needs `{missing}`", path,
                        f"the workflow's outputs: {outputs}" if missing == "output" and outputs else
                        "e.g. metric: exact_match" if missing == "metric" else None, doc=doc)
            return template
        if spec.metric not in KNOWN_METRICS:
            template.valid = False
            self.report("E609", f"unknown metric '{spec.metric}'", (*path, "metric"),
                        did_you_mean(spec.metric, KNOWN_METRICS) or "known: " + ", ".join(KNOWN_METRICS), doc=doc)
        if self.workflow is not None and spec.output not in self.workflow.outputs:
            template.valid = False
            declared = list(self.workflow.outputs)
            self.report("E608", f"the workflow has no output '{spec.output}'", (*path, "output"),
                        did_you_mean(spec.output, declared) or f"its outputs: {', '.join(declared) or 'none'}", doc=doc)
        if spec.metric in NEEDS_GROUND_TRUTH and spec.ground_truth is None and "expected" not in spec.options:
            template.valid = False
            self.report("E610", f"{spec.metric} needs a ground_truth", path,
                        "ground_truth: ${{ case.expected.<field> }}", doc=doc)
        if spec.metric in NEEDS_PROMPT and spec.prompt is None:
            template.valid = False
            self.report("E610", f"{spec.metric} needs the prompt", path, "prompt: ${{ case.inputs.<name> }}", doc=doc)
        for field_name in ("ground_truth", "prompt", "options"):
            self.check_expressions(getattr(spec, field_name), (*path, field_name), doc, template)
        return template

    def check_expressions(self, value: Any, path: Path, doc: SourceDocument, template: _Template) -> None:
        for text, at in _strings(value, path):
            if "${{" not in text:
                continue
            try:
                sources = [span.source for span in find_spans(text)]
            except ExpressionError as exc:
                template.valid = False
                self.report("E611", f"expression syntax error: {exc.message}", at, _caret_hint(exc), doc=doc)
                continue
            for source in sources:
                try:
                    node = parse(source)
                except ExpressionError as exc:
                    template.valid = False
                    self.report("E611", f"expression syntax error in '{source}': {exc.message}", at, _caret_hint(exc), doc=doc)
                    continue
                for ref in references(node):
                    if ref.root.casefold() != "case":
                        template.valid = False
                        self.report("E612", f"unknown context '{ref.root}' in '{source}': a suite's expressions see only `case`",
                                    at, "case.inputs.<name>, case.expected.<field>, case.id, case.tags, case.description",
                                    doc=doc)
                        continue
                    head = ref.path[0] if ref.path else None
                    if head is not None and (not isinstance(head, str) or head.casefold() not in CASE_FIELDS):
                        template.valid = False
                        self.report("E612", f"'{ref.text}': a case has no field '{head}'", at,
                                    did_you_mean(str(head), CASE_FIELDS) or f"a case has {', '.join(CASE_FIELDS)}", doc=doc)
                        continue
                    if isinstance(head, str) and head.casefold() == "inputs" and len(ref.path) > 1 and isinstance(ref.path[1], str):
                        if self.workflow is not None and ref.path[1] not in self.declared:
                            template.valid = False
                            self.unknown_input(ref.path[1], at, f"'{ref.text}'", doc)
                            continue
                    template.reads.append((ref, at))

    # -- cases -------------------------------------------------------------------------------

    def load_cases(self, suite_templates: list[_Template]) -> list[_CaseDraft]:
        drafts: list[_CaseDraft] = []
        sources: list[tuple[SourceDocument, Path, list[str]]] = []
        inline = self.spec.cases
        if inline:
            sources.append((self.doc, ("spec", "cases"), [f"case-{i + 1}" for i in range(len(inline))]))
        dataset = self.spec.dataset
        if dataset is not None:
            where: Path = ("spec", "dataset", "file")
            name = os.path.normpath(self.base_dir / dataset.file)
            fmt = dataset_format(dataset.file, dataset.format)
            if fmt is None:
                self.report("E613", f"cannot tell the format of '{dataset.file}' from its extension", where,
                            "use .jsonl, .csv or .yaml, or set `format: jsonl|csv|yaml`")
            else:
                text, problem = read_dataset(FilePath(name), name)
                if problem is not None or text is None:
                    self.report("E613", problem or "cannot read the dataset", where,
                                "the path is relative to the suite file's directory")
                else:
                    types = {n: i.type for n, i in self.declared.items()} if self.workflow is not None else None
                    loaded = load_dataset(text, name, fmt, types)
                    self.diagnostics.extend(loaded.diagnostics)
                    sources.append((loaded.doc, (), loaded.default_ids))
        seen: dict[str, str] = {}
        for doc, prefix, default_ids in sources:
            per_item = _item_documents(doc, prefix, len(default_ids))
            if len(drafts) + len(per_item) > MAX_CASES:
                self.report("E618", f"more than {MAX_CASES:,} cases", prefix, doc=doc)
                break
            for item_doc, default_id in zip(per_item, default_ids, strict=True):
                draft = self.check_case(item_doc.data, item_doc, default_id, seen)
                if draft is not None:
                    drafts.append(draft)
        return drafts

    def check_case(self, item: Any, doc: SourceDocument, default_id: str, seen: dict[str, str]) -> _CaseDraft | None:
        line, _ = doc.position(())
        source = f"{FilePath(doc.file).name}:{line}"
        explicit = item.get("id") if isinstance(item, dict) else None
        label = f"case '{explicit}'" if isinstance(explicit, str | int) and not isinstance(explicit, bool) else f"case at {source}"
        if not isinstance(item, dict):
            self.report("E615", f"{label} is a {type_name_of(item)}, not a mapping", (), doc=doc,
                        hint="a case is {id, inputs: {...}, expected: ..., tags: [...], assert: [...]}")
            return None
        try:
            spec = CaseSpec.model_validate(item)
        except ValidationError as exc:
            for d in translate(exc, CaseSpec, doc):
                message = d.message.replace(" in document", "").replace(" for document", "")
                self.diagnostics.append(replace(d, message=f"{label}: {message}"))
            return None
        case_id = spec.id or default_id
        if case_id in seen:
            self.report("E616", f"duplicate case id '{case_id}' (first at {seen[case_id]})", ("id",), doc=doc,
                        hint="case ids name a case in reports and across variants; make them unique")
            return None
        seen[case_id] = source
        label = f"case '{case_id}'"
        for name, value in spec.inputs.items():
            at: Path = ("inputs", name)
            if self.unknown_input(name, at, label, doc):
                continue
            self.check_input_value(name, value, at, doc, label)
            if name in self.spec.matrix.inputs:
                self.report("W623", f"{label} sets input '{name}', which the matrix varies; the matrix value is used",
                            at, doc=doc, key=True, severity=Severity.WARNING)
        if self.workflow is not None:
            for name, declared in self.declared.items():
                if (declared.required and declared.default is None and name not in spec.inputs
                        and name not in self.spec.matrix.inputs):
                    self.report("E607", f"{label} does not give the workflow's required input '{name}' ({declared.type})",
                                ("inputs",) if "inputs" in item else (), doc=doc, key=True)
        templates = [self.check_assertion(a, doc, ("assert", i)) for i, a in enumerate(spec.assert_)]
        return _CaseDraft(spec, doc, (), case_id, source, templates)

    def check_case_reads(self, suite_templates: list[_Template], drafts: list[_CaseDraft]) -> None:
        """``case.expected.<field>`` read by a suite-level assertion: does any case have that field?"""
        fields: dict[str, None] = {}
        for draft in drafts:
            if isinstance(draft.spec.expected, Mapping):
                fields.update(dict.fromkeys(str(k) for k in draft.spec.expected))
        folded = {f.casefold() for f in fields}
        for template in suite_templates:
            for ref, at in template.reads:
                path = ref.path
                if (drafts and len(path) > 1 and isinstance(path[0], str) and path[0].casefold() == "expected"
                        and isinstance(path[1], str) and path[1].casefold() not in folded):
                    template.valid = False
                    self.report("E612", f"'{ref.text}': no case has expected.{path[1]}", at,
                                did_you_mean(path[1], fields) or f"the cases' expected fields: {', '.join(fields) or 'none'}",
                                doc=template.doc)

    def build_case(self, draft: _CaseDraft, suite_templates: list[_Template]) -> Case | None:
        spec = draft.spec
        case = Case(draft.id, MappingProxyType(dict(spec.inputs)), spec.expected, tuple(spec.tags), spec.description, (),
                    draft.source)
        context = {"case": case.context}
        checks: list[Check] = []
        names: dict[str, Path] = {}
        ok = True
        for template in [*suite_templates, *draft.templates]:
            if not template.valid:
                ok = False
                continue
            own = template.doc is draft.doc
            if template.name in names:
                self.report("E620", f"case '{draft.id}': two assertions are named '{template.name}'",
                            template.path if own else (), "give one of them a `name:`",
                            doc=template.doc if own else draft.doc)
                ok = False
                continue
            names[template.name] = template.path
            check = self.resolve(template, context, draft)
            if check is None:
                ok = False
            else:
                checks.append(check)
        return replace(case, checks=tuple(checks)) if ok else None

    def resolve(self, template: _Template, context: Mapping[str, Any], draft: _CaseDraft) -> Check | None:
        spec = template.spec
        own = template.doc is draft.doc
        if spec.metric is None:
            measure = "cost_usd" if spec.cost_usd is not None else "latency_ms"
            limit = spec.cost_usd or spec.latency_ms
            assert limit is not None
            return LimitCheck(template.name, measure, limit.max)  # type: ignore[arg-type]
        try:
            ground_truth = _render(spec.ground_truth, context)
            prompt = _render(spec.prompt, context)
            options = _render(spec.options, context)
        except ExpressionError as exc:
            self.report("E621", f"case '{draft.id}': assertion '{template.name}' cannot be evaluated: {exc.message}",
                        template.path if own else (), _caret_hint(exc), doc=template.doc if own else draft.doc)
            return None
        if spec.metric in NEEDS_GROUND_TRUTH and ground_truth is None and options.get("expected") is None:
            reads = ", ".join(ref.text for ref, at in template.reads if at[len(template.path):][:1] == ("ground_truth",))
            self.report("E622", f"case '{draft.id}' has no ground truth for '{template.name}'"
                        + (f" ({reads} is missing or null)" if reads else ""),
                        template.path if own else (), "give the case that expected field, or assert on it per case",
                        doc=template.doc if own else draft.doc)
            return None
        assert spec.output is not None
        return MetricCheck(template.name, spec.output, spec.metric, ground_truth, prompt, spec.threshold, spec.weight,
                           MappingProxyType(options))
