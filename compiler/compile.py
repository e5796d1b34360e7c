"""The compiler's front door: text or file in, ``CompileResult`` (plans + diagnostics) out.

Runs the phases in order for every document of a file and collects every diagnostic.  A
document with schema errors stops after schema validation (later phases would only report
consequences of the same mistakes); one with only semantic errors still reports all of them.

Work is bounded by the size of the input: a file over ``MAX_FILE_BYTES`` is refused before it is
parsed (E105), YAML aliases have a per-file budget (``source``), and a file shows its first
``max_diagnostics`` diagnostics plus a count of the rest (``diagnostics.limit_diagnostics``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from compiler.catalogue import INFERENCE_IMPLEMENTATION, default_registry
from compiler.checks import Analysis, Checker
from compiler.diagnostics import MAX_DIAGNOSTICS, CompilationFailed, Diagnostic, limit_diagnostics
from compiler.document import Workflow, WorkflowInput
from compiler.executors import ExecutorRegistry
from compiler.plan import BranchGate, ExecutionPlan, PlanNode, compute_levels
from compiler.schema_errors import translate
from compiler.source import SourceDocument, load_documents

# A generated 10,000-task workflow (bench/compile.py) is 2.8 MB; this leaves room for long
# prompts while keeping the worst case (a file of tiny YAML nodes) to seconds, not minutes.
MAX_FILE_BYTES = 10 * 2**20


@dataclass(frozen=True)
class CompileOptions:
    registry: ExecutorRegistry | None = None
    # Named OpenAI-compatible endpoints from config: `llm-forge:<name>` is then a known executor.
    providers: frozenset[str] = frozenset()
    # Diagnostics shown per file (errors first); the rest are counted in one E107/W107. None: all.
    max_diagnostics: int | None = MAX_DIAGNOSTICS
    # The config's env_allowlist: `env.X` for any other X is an error (None: not checked, as for
    # a library caller that compiles without settings).
    env_allowlist: frozenset[str] | None = None


@dataclass
class CompileResult:
    plans: list[ExecutionPlan] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> CompileResult:
        if self.errors:
            raise CompilationFailed(self.diagnostics)
        return self

    @property
    def plan(self) -> ExecutionPlan:
        """The single plan of a one-document file (raises when there is not exactly one)."""
        self.raise_for_errors()
        if len(self.plans) != 1:
            raise CompilationFailed([Diagnostic("E103", f"expected one workflow document, found {len(self.plans)}")])
        return self.plans[0]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Compiling builds many small objects and no garbage cycles; the cyclic collector's repeated
    passes over them made 10,000-task files super-linear (50x the time of 1,000)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compile_text(text: str, file: str = "<string>", options: CompileOptions | None = None) -> CompileResult:
    with _no_gc():
        return _compile_text(text, file, options)


def _too_large(size: int, file: str) -> CompileResult:
    return CompileResult(diagnostics=[Diagnostic(
        "E105", f"file is {size / 2**20:.1f} MiB; a workflow file may be at most {MAX_FILE_BYTES // 2**20} MiB", file, 1, 1,
        "split it into several workflows, or move long prompts and data into workflow inputs")])


def _compile_text(text: str, file: str, options: CompileOptions | None) -> CompileResult:
    options = options or CompileOptions()
    size = len(text)
    if 4 * size > MAX_FILE_BYTES:  # a character is 1-4 bytes in UTF-8: count them only when it matters
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        return _too_large(size, file)
    documents, diagnostics = load_documents(text, file)
    result = CompileResult(diagnostics=list(diagnostics))
    if not documents and not diagnostics:
        result.diagnostics.append(Diagnostic("E103", "file holds no workflow document", file, 1, 1,
                                             "start with `apiVersion: orchestrator.llm/v1` and `kind: Workflow`"))
    for doc in documents:
        plan, found = compile_source(doc, options)
        result.diagnostics.extend(found)
        if plan is not None:
            result.plans.append(plan)
    result.diagnostics = limit_diagnostics(result.diagnostics, options.max_diagnostics)
    if result.errors:
        result.plans = []
    return result


def compile_file(path: str | FilePath, options: CompileOptions | None = None) -> CompileResult:
    name = str(path)
    try:
        file = FilePath(path)
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:  # refused before reading it
            return _too_large(size, name)
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CompileResult(diagnostics=[Diagnostic("E100", "no such file", name)])
    except IsADirectoryError:
        return CompileResult(diagnostics=[Diagnostic("E100", "is a directory, not a workflow file", name)])
    except UnicodeDecodeError as exc:
        return CompileResult(diagnostics=[Diagnostic("E100", f"file is not UTF-8 text ({exc.reason} at byte {exc.start})", name)])
    except OSError as exc:
        return CompileResult(diagnostics=[Diagnostic("E100", f"cannot read file: {exc.strerror or exc}", name)])
    return compile_text(text, name, options)


def compile_document(data: Mapping[str, Any], file: str = "<document>", options: CompileOptions | None = None) -> CompileResult:
    """Compile an already-loaded document (a workflow passed as a flow parameter)."""
    options = options or CompileOptions()
    doc = SourceDocument(dict(data), file, 0, 1)
    plan, diagnostics = compile_source(doc, options)
    result = CompileResult([plan] if plan is not None else [], limit_diagnostics(diagnostics, options.max_diagnostics))
    if result.errors:
        result.plans = []
    return result


def compile_source(doc: SourceDocument, options: CompileOptions) -> tuple[ExecutionPlan | None, list[Diagnostic]]:
    data = doc.data
    if not isinstance(data, dict):
        line, col = doc.position(())
        kind = "empty" if data is None else type(data).__name__
        return None, [Diagnostic("E103", f"document {doc.index + 1} is {kind}, not a mapping", doc.file, line, col,
                                 "a workflow starts with `apiVersion: orchestrator.llm/v1` and `kind: Workflow`")]
    if "apiVersion" not in data and "kind" not in data:
        line, col = doc.position(())
        hint = "add `apiVersion: orchestrator.llm/v1` and `kind: Workflow` at the top"
        if "orchestrator" in data:
            hint = "this looks like an orchestrator config file: pass it with --config, or apply it with `llm-orchestrator config apply`"
        return None, [Diagnostic("E206", f"document {doc.index + 1} is not a workflow (it has no apiVersion or kind)", doc.file, line, col, hint)]
    _restore_number_text(doc)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        return None, translate(exc, Workflow, doc)
    checker = Checker(workflow, doc, options.registry or default_registry(), options.providers, options.max_diagnostics,
                      options.env_allowlist)
    analysis = checker.run()
    if any(d.is_error for d in analysis.diagnostics):
        return None, analysis.diagnostics
    return build_plan(workflow, doc, analysis), analysis.diagnostics


def _restore_number_text(doc: SourceDocument) -> None:
    """`version: 1.10` is text to its author: use the scalar as written, not the float 1.1."""
    metadata = doc.data.get("metadata")
    if not isinstance(metadata, dict):
        return
    raw = doc.raw_numbers.get(("metadata", "version"))
    if raw is not None and not isinstance(metadata.get("version"), str):
        metadata["version"] = raw
    for section in ("labels", "annotations"):
        values = metadata.get(section)
        if isinstance(values, dict):
            for key, value in values.items():
                raw = doc.raw_numbers.get(("metadata", section, key))
                if raw is not None and not isinstance(value, str):
                    values[key] = raw


def _with_default_mode(inputs: dict[str, Any], mode: str | None, fans_out: bool, inference: bool) -> dict[str, Any]:
    """``spec.defaults.mode`` as the task's ``config.mode``, for inference tasks with forEach that
    set none (the task's own setting wins; a config given as an expression is left alone)."""
    config = inputs.get("config", {})
    if mode is None or not fans_out or not inference or not isinstance(config, Mapping) or "mode" in (config or {}):
        return inputs
    return {**inputs, "config": {**(config or {}), "mode": mode}}


def build_plan(workflow: Workflow, doc: SourceDocument, analysis: Analysis) -> ExecutionPlan:
    spec = workflow.spec
    defaults = spec.defaults
    nodes: dict[str, PlanNode] = {}
    for task_id, info in analysis.tasks.items():
        task = info.task
        assert info.spec is not None and info.ref is not None and info.type is not None
        gate = BranchGate(info.branch_id, info.arm, info.condition) if info.branch_id and info.arm in ("then", "else") and info.condition is not None else None  # type: ignore[arg-type]
        condition = task.if_ if isinstance(task.if_, str) else (None if task.if_ in (None, True) else "false")
        nodes[task_id] = PlanNode(
            id=task_id,
            executor=info.ref,
            spec=info.spec,
            type=info.type,
            inputs=_with_default_mode(task.inputs, defaults.mode, task.for_each is not None,
                                      info.spec.implementation == INFERENCE_IMPLEMENTATION),
            depends_on=frozenset(info.deps),
            explicit_depends_on=tuple(task.depends_on),
            condition=condition,
            for_each=task.for_each,
            retry=task.retry or defaults.retry,
            timeout=task.timeout if task.timeout is not None else defaults.timeout,
            cache=task.cache or defaults.cache,
            continue_on_error=task.continue_on_error or bool(defaults.continue_on_error),
            declared_outputs=MappingProxyType(dict(info.output_types)),
            output_schemas=MappingProxyType({name: schema.root for name, schema in info.schemas.items()}),
            group=info.group,  # type: ignore[arg-type]
            gate=gate,
            event=info.event,  # type: ignore[arg-type]
            description=task.description,
            data_dependencies=frozenset(info.data_deps),
            line=doc.position(info.path)[0],
        )
    levels = compute_levels(nodes)
    level_of = {i: depth for depth, ids in enumerate(levels) for i in ids}
    for node_id, node in nodes.items():
        object.__setattr__(node, "level", level_of.get(node_id, 0))  # still private to this function
    inputs = list(spec.inputs)
    for name in analysis.implicit_inputs:
        inputs.append(WorkflowInput(name=name, type="string", required=True, description="(undeclared; inferred from use)"))
    events = {
        kind: tuple(i for i, n in nodes.items() if n.event == kind)
        for kind in ("onSuccess", "onFailure", "always")
    }
    branches = tuple(BranchGate(bid, "then", cond) for bid, cond, _ in analysis.branch_ids)
    return ExecutionPlan(
        name=workflow.metadata.name,
        version=workflow.metadata.version,
        file=doc.file,
        workflow=workflow,
        nodes=MappingProxyType(nodes),
        levels=levels,
        events=MappingProxyType(events),
        inputs=tuple(inputs),
        outputs=MappingProxyType({k: v.value for k, v in spec.outputs.items()}),
        annotations=MappingProxyType(dict(workflow.metadata.annotations)),
        max_parallel_tasks=spec.concurrency.max_parallel_tasks if spec.concurrency else None,
        branches=branches,
    )

