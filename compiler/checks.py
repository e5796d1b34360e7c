"""Phase 3: whole-document checks on a schema-valid workflow, and the facts the plan needs.

Every problem is collected, never raised, so a user sees all of them at once: task ids,
executors and task types, executor inputs, expression syntax, references (tasks, outputs,
workflow inputs, contexts), certain type errors, dependencies and cycles.  Each ``${{ }}`` is
parsed exactly once here; the dependencies the plan uses are the union of ``dependsOn`` and
every task an expression reads.

Hints that search many names (task ids, the executor catalogue) are deferred: ``report`` takes a callable,
and ``run`` calls it only for diagnostics the file will show (``limit_diagnostics`` keeps the
first ``max_diagnostics`` by ``priority``, and a document's share of those is within its own
first ``max_diagnostics``).  So 2,000 misspelt references cost a hundred searches, not 2,000.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from compiler.catalogue import INFERENCE_IMPLEMENTATION, InferenceInputs
from compiler.diagnostics import (
    MAX_DIAGNOSTICS,
    Diagnostic,
    Severity,
    Suggestions,
    did_you_mean,
    listing,
    priority,
)
from compiler.document import TASK_ID_PATTERN, Task, Workflow
from compiler.executors import ExecutorRef, ExecutorRegistry, ExecutorSpec, tool_names_from_entry_points
from compiler.expressions import (
    Binary,
    ExpressionError,
    Filter,
    Index,
    Literal,
    Node,
    Property,
    find_spans,
    parse,
    references,
)
from compiler.expressions.values import fold
from compiler.response_schema import Landing, Miss, ResponseSchema, json_path, schema_issues, schema_types
from compiler.source import Path, SourceDocument

WORKFLOW_FIELDS = ("inputs", "id", "name", "version", "annotations", "labels", "run_id", "error", "status")
TASK_FIELDS = ("outputs", "metadata", "status", "error")
METADATA_FIELDS = ("execution_time", "cost", "model", "attempts", "usage", "provider", "cached", "started", "finished", "evaluation", "quality_score")
CONTEXTS = ("workflow", "tasks", "item", "index", "env", "secrets")
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
_NUMERIC = {"integer", "float", "number"}



@dataclass
class TaskInfo:
    task: Task
    id: str
    path: Path
    group: str  # main | branch | event
    event: str | None = None
    branch_id: str | None = None
    arm: str | None = None
    condition: str | None = None
    spec: ExecutorSpec | None = None
    ref: ExecutorRef | None = None
    type: str | None = None
    deps: set[str] = field(default_factory=set)
    data_deps: set[str] = field(default_factory=set)
    # Declared outputs: name -> type (inferred from the schema when only a schema is given), and
    # the response schema of an llm task's structured output.
    output_types: dict[str, str] = field(default_factory=dict)
    schemas: dict[str, ResponseSchema] = field(default_factory=dict)


@dataclass
class Analysis:
    tasks: dict[str, TaskInfo]
    diagnostics: list[Diagnostic]
    implicit_inputs: list[str]
    branch_ids: list[tuple[str, str, Path]]


class Checker:
    def __init__(self, workflow: Workflow, doc: SourceDocument, registry: ExecutorRegistry, providers: frozenset[str],
                 max_diagnostics: int | None = MAX_DIAGNOSTICS, env_allowlist: frozenset[str] | None = None) -> None:
        self.wf = workflow
        self.doc = doc
        self.registry = registry
        self.providers = providers
        self.env_allowlist = env_allowlist
        self.diagnostics: list[Diagnostic] = []
        self.tasks: dict[str, TaskInfo] = {}
        self.declared_inputs = {i.name: i for i in workflow.spec.inputs}
        self.implicit_inputs: dict[str, None] = {}
        self.branch_ids: list[tuple[str, str, Path]] = []
        self._tools: list[str] | None = None
        self.max_diagnostics = max_diagnostics
        self._deferred: dict[int, Callable[[], str | None]] = {}  # diagnostic index -> its hint, made on demand
        self._task_names: Suggestions | None = None
        self._input_names: Suggestions | None = None
        self._executor_names: Suggestions | None = None

    # -- reporting -------------------------------------------------------------------------------
    def report(self, code: str, message: str, path: Path, hint: str | Callable[[], str | None] | None = None, *,
               key: bool = False, severity: Severity = Severity.ERROR) -> None:
        line, col = self.doc.position(path, key=key)
        if callable(hint):
            self._deferred[len(self.diagnostics)] = hint
            hint = None
        self.diagnostics.append(Diagnostic(code, message, self.doc.file, line, col, hint, severity))

    def resolve_hints(self) -> None:
        """Make the deferred hints of the diagnostics that can be shown (see the module docstring)."""
        if not self._deferred:
            return
        shown: range | set[int] = range(len(self.diagnostics))
        if self.max_diagnostics is not None and len(self.diagnostics) > self.max_diagnostics:
            ranked = sorted(range(len(self.diagnostics)), key=lambda i: priority(self.diagnostics[i]))
            shown = set(ranked[: self.max_diagnostics])
        for index, make in self._deferred.items():
            if index in shown:
                self.diagnostics[index] = replace(self.diagnostics[index], hint=make())
        self._deferred.clear()

    def task_hint(self, word: str) -> Callable[[], str | None]:
        """The deferred hint for an unknown task id: the closest id, or a few of them."""
        def make() -> str | None:
            if self._task_names is None:
                self._task_names = Suggestions(self.tasks)
            return self._task_names.hint(word, "tasks in this workflow")
        return make

    def executor_hint(self, ref: ExecutorRef) -> str:
        """The hint for an unknown executor: the closest reference, or what there is to choose from."""
        known = self.registry.references()
        if self._executor_names is None:
            self._executor_names = Suggestions(k for k in known if not k.endswith("*"))
        close = self._executor_names.closest(str(ref))
        hint = f"did you mean '{close}'?" if close is not None else None
        if ref.namespace == "llm-forge" and ref.name == "tool":
            tools = sorted({*(k.split(":")[2] for k in known if k.startswith("llm-forge:tool:") and not k.endswith("*")),
                            *(self._tools or [])})
            return (hint + " " if hint else "") + listing("known tools", tools) + "; user tools register through the entry-point group 'llm_orchestrator.tools'"
        if ref.namespace == "llm-forge" and ref.sub is None:
            return (hint + " " if hint else "") + "named endpoints must be configured under integrations.llm-forge.endpoints"
        if hint is None:
            namespaces = sorted({k.split(':')[0] for k in known})
            return f"known namespaces: {', '.join(namespaces)}; run `llm-orchestrator schema` for the catalogue"
        return hint

    def input_suggestion(self, word: str) -> str | None:
        if self._input_names is None:
            self._input_names = Suggestions(self.declared_inputs)
        match = self._input_names.closest(word)
        return f"did you mean '{match}'?" if match is not None else None

    # -- entry -----------------------------------------------------------------------------------
    def run(self) -> Analysis:
        self.check_header()
        self.check_inputs()
        self.collect_tasks()
        for info in self.tasks.values():
            self.check_executor(info)
            self.check_output_declarations(info)
        for info in self.tasks.values():
            self.check_task_expressions(info)
            self.check_depends_on(info)
        self.check_branches()
        self.check_outputs()
        self.check_schedule()
        self.check_cycles()
        self.resolve_hints()
        return Analysis(self.tasks, self.diagnostics, list(self.implicit_inputs), self.branch_ids)

    def check_header(self) -> None:
        if self.wf.api_version != "orchestrator.llm/v1":
            self.report("E206", f"unsupported apiVersion '{self.wf.api_version}'", ("apiVersion",), "use 'orchestrator.llm/v1'")
        if self.wf.kind != "Workflow":
            self.report("E206", f"unsupported kind '{self.wf.kind}'", ("kind",), "use 'Workflow'")

    def check_inputs(self) -> None:
        seen: set[str] = set()
        for i, declared in enumerate(self.wf.spec.inputs):
            path: Path = ("spec", "inputs", i)
            if declared.name in seen:
                self.report("E207", f"workflow input '{declared.name}' is declared twice", (*path, "name"))
            seen.add(declared.name)
            if declared.default is not None and not value_matches(declared.default, declared.type):
                self.report("E207", f"default {declared.default!r} of input '{declared.name}' is not of type {declared.type}", (*path, "default"))
            if declared.enum is not None:
                for k, option in enumerate(declared.enum):
                    if not value_matches(option, declared.type):
                        self.report("E207", f"enum value {option!r} of input '{declared.name}' is not of type {declared.type}", (*path, "enum", k))
                if declared.default is not None and declared.default not in declared.enum:
                    self.report("E207", f"default {declared.default!r} of input '{declared.name}' is not one of its enum values", (*path, "default"))
            if declared.required and declared.default is not None:
                self.report("W207", f"input '{declared.name}' is required but has a default", (*path, "required"),
                            "drop `required: true` (a default makes it optional) or drop the default", severity=Severity.WARNING)

    def collect_tasks(self) -> None:
        spec = self.wf.spec
        groups: list[tuple[list[Task], Path, str, dict[str, Any]]] = [(spec.tasks, ("spec", "tasks"), "main", {})]
        for b, branch in enumerate(spec.branches):
            branch_id = branch.id or f"branch-{b + 1}"
            if any(existing == branch_id for existing, _, _ in self.branch_ids):
                self.report("E205", f"duplicate branch id '{branch_id}'", ("spec", "branches", b, "id"))
            condition = branch.condition if isinstance(branch.condition, str) else ("true" if branch.condition else "false")
            self.branch_ids.append((branch_id, condition, ("spec", "branches", b)))
            groups.append((branch.tasks, ("spec", "branches", b, "tasks"), "branch", {"branch_id": branch_id, "arm": "then", "condition": condition}))
            groups.append((branch.else_, ("spec", "branches", b, "else"), "branch", {"branch_id": branch_id, "arm": "else", "condition": condition}))
        for kind, tasks in (("onSuccess", spec.events.on_success), ("onFailure", spec.events.on_failure), ("always", spec.events.always)):
            groups.append((tasks, ("spec", "events", kind), "event", {"event": kind}))
        for tasks, base, group, extra in groups:
            for i, task in enumerate(tasks):
                path = (*base, i)
                task_id = task.id
                if task_id is None:
                    if group == "event":
                        task_id = f"{extra['event']}-{i + 1}"  # the seed's event tasks have no id
                    else:
                        self.report("E202", "task has no 'id'", path, "give every task a unique snake_case id, e.g. `id: summarize`")
                        continue
                elif not TASK_ID_PATTERN.match(task_id):
                    self.report("E203", f"invalid task id '{task_id}'", (*path, "id"),
                                "task ids are snake_case identifiers: lower-case letters, digits and '_' (e.g. 'summarize_text')")
                if task_id in self.tasks:
                    first = self.doc.position(self.tasks[task_id].path)
                    self.report("E205", f"duplicate task id '{task_id}' (first defined at line {first[0]})", (*path, "id"))
                    continue
                self.tasks[task_id] = TaskInfo(task, task_id, path, group, **extra)

    # -- executors ---------------------------------------------------------------------------------
    def lookup(self, ref: ExecutorRef) -> ExecutorSpec | None:
        spec = self.registry.lookup(str(ref))
        if spec is not None and spec.is_family and ref.namespace == "llm-forge" and ref.name == "tool":
            if self._tools is None:
                self._tools = _tool_names()
            if ref.sub not in self._tools:
                return None
        if spec is None and ref.namespace == "llm-forge" and ref.sub is None and ref.name in self.providers:
            base = self.registry.lookup("llm-forge:openai-compatible")
            if base is not None:
                from dataclasses import replace

                spec = replace(base, reference=str(ref), description=f"Inference on the configured endpoint '{ref.name}'.")
        return spec

    def check_executor(self, info: TaskInfo) -> None:
        task, path = info.task, info.path
        try:
            ref = ExecutorRef.parse(task.executor)
        except ValueError as exc:
            self.report("E306", str(exc), (*path, "executor"))
            return
        info.ref = ref
        spec = self.lookup(ref)
        if spec is None:
            self.report("E301", f"unknown executor '{ref}'", (*path, "executor"), lambda: self.executor_hint(ref))
            return
        info.spec = spec
        if task.type is not None and task.type not in spec.task_types:
            self.report("E302", f"task type '{task.type}' is not allowed for executor '{ref}'", (*path, "type"),
                        f"allowed: {', '.join(sorted(spec.task_types))}")
        info.type = task.type or spec.implied_type
        self.check_executor_inputs(info, spec, ref)
        self.check_mode(info, spec, ref)

    def check_mode(self, info: TaskInfo, spec: ExecutorSpec, ref: ExecutorRef) -> None:
        """``config.mode: batch`` needs a literal value, forEach and an llm-forge inference executor."""
        config = info.task.inputs.get("config")
        if not isinstance(config, Mapping) or "mode" not in config:
            return
        mode, where = config["mode"], (*info.path, "inputs", "config", "mode")
        if contains_expression(mode):
            self.report("E307", f"config.mode must be written as 'online' or 'batch', not an expression ({_short(mode)})",
                        where, "the engine decides how to run a fan-out before it renders the inputs")
        elif mode == "batch" and info.task.for_each is None:
            self.report("E307", "mode 'batch' needs forEach: a batch is the items of one fan-out", where,
                        "add `forEach:` over the items, or drop `mode: batch`")
        elif mode == "batch" and spec.implementation != INFERENCE_IMPLEMENTATION:
            self.report("E307", f"mode 'batch' needs an llm-forge inference executor, not '{ref}'", where,
                        "batch mode sends the items to a provider's batch API (claude-api, openai-api, gemini-api, offline)")

    def check_executor_inputs(self, info: TaskInfo, spec: ExecutorSpec, ref: ExecutorRef) -> None:
        path = (*info.path, "inputs")
        inputs = info.task.inputs
        if spec.inputs is not None:
            self.check_model_inputs(spec.inputs, inputs, path, str(ref))
        if spec.check is not None:
            for sub, code, message, hint in spec.check(inputs, ref):
                self.report(code, message, (*path, *sub), hint)

    def check_model_inputs(self, model: type[BaseModel], inputs: Mapping[str, Any], path: Path, owner: str) -> None:
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        closed = model.model_config.get("extra") == "forbid"
        for name, f in fields.items():
            if f.is_required() and name not in inputs:
                self.report("E303", f"executor '{owner}' needs input '{name}'", path, f"add `{name}:` to the task's inputs")
        for name, value in inputs.items():
            if name not in fields:
                if closed:
                    hint = did_you_mean(name, fields) or listing("accepted", list(fields))
                    self.report("E304", f"unknown input '{name}' for executor '{owner}'", (*path, name), hint, key=True)
                continue
            info = fields[name]
            annotation = info.annotation
            nested = _model_of(annotation)
            if nested is not None and isinstance(value, Mapping):
                self.check_model_inputs(nested, value, (*path, name), owner)
                continue
            item_model = _list_item_model(annotation)
            if item_model is not None and isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Mapping):
                        self.check_model_inputs(item_model, item, (*path, name, i), owner)
                continue
            if contains_expression(value):
                continue
            try:
                _adapter(annotation, tuple(info.metadata)).validate_python(value)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = (*path, name, *[p for p in first["loc"] if isinstance(p, int | str) and p in _walk_keys(value)])
                self.report("E305", f"invalid value {_short(value)} for input '{name}' of '{owner}': {first['msg'].lower()}", where)

    # -- declared outputs and response schemas ------------------------------------------------------
    def check_output_declarations(self, info: TaskInfo) -> None:
        """Each declared output's type, and the response schema of an llm task: at most one, on a
        name of its own, valid (``response_schema.schema_issues``) and agreeing with ``type``."""
        first: str | None = None  # the output that carries the task's response schema
        for name, output in info.task.outputs.items():
            path = (*info.path, "outputs", name)
            schema = output.json_schema
            if schema is None:
                info.output_types[name] = output.type or "any"
                continue
            at = (*path, "schema")
            if info.type is not None and info.type != "llm":
                self.report("E208", f"output '{name}' of task '{info.id}' has a schema, but only llm tasks answer to one",
                            at, f"declare its type alone (`{name}: {output.type or 'object'}`); a schema is what an llm "
                            "task asks its model for, and nothing checks it for other tasks", key=True)
                info.output_types[name] = output.type or "any"
                continue
            if first is not None:
                self.report("E208", f"task '{info.id}' declares a second response schema (on '{name}'; '{first}' has one)",
                            at, "a model gives one structured answer per call: put both under one object schema", key=True)
                info.output_types[name] = output.type or "any"
                continue
            if info.spec is not None and name in info.spec.outputs:
                self.report("E208", f"output '{name}' of task '{info.id}' has a schema, but '{name}' is an output of "
                            f"executor '{info.ref}' ({info.spec.outputs[name]})", (*info.path, "outputs", name),
                            f"give the structured answer a name of its own, e.g. 'data' ({', '.join(info.spec.outputs)} "
                            "stay as they are)", key=True)
                info.output_types[name] = output.type or "any"
                continue
            first = name
            problems = schema_issues(schema)
            for issue in problems:
                self.report(issue.code, issue.message, (*at, *issue.path), issue.hint, key=issue.key, severity=issue.severity)
            info.output_types[name] = self.schema_output_type(name, output.type, schema, path)
            if not any(p.severity is Severity.ERROR for p in problems):
                info.schemas[name] = ResponseSchema(schema)

    def schema_output_type(self, name: str, declared: str | None, schema: Mapping[str, Any], path: Path) -> str:
        """The output's type: as declared when it fits the schema's root, else inferred from it."""
        types = schema_types(schema, schema)
        found = None if types is None else types - {"null"}
        inferred = "any"
        if found:
            inferred = "number" if found == {"integer", "number"} else next(iter(found)) if len(found) == 1 else "any"
        if declared is None:
            return inferred
        allowed = {"float": {"number", "integer"}, "number": {"number", "integer"}}.get(declared, {declared})
        if declared != "any" and found and not found <= allowed:
            self.report("E208", f"output '{name}' is declared {declared} but its schema's root type is "
                        f"{' or '.join(sorted(found))}", (*path, "type"),
                        f"drop `type:` (the schema says it) or make them agree (`type: {inferred}`)")
        return declared

    def output_landing(self, info: TaskInfo, name: str, rest: tuple[Any, ...]) -> tuple[ResponseSchema, Landing | Miss, int] | None:
        """Where ``tasks.<id>.outputs.<name>.<rest>`` lands in the output's response schema (and how
        many leading parts of ``rest`` stepped through the list a forEach task's outputs are)."""
        schema = info.schemas.get(name)
        if schema is None:
            return None
        if info.task.for_each is None:
            return schema, schema.walk(rest), 0
        if not rest or rest[0] is None:
            return schema, Landing(None, mapped=True), 0
        if isinstance(rest[0], int) or rest[0] == "*":
            return schema, schema.walk(rest[1:], mapped=rest[0] == "*"), 1
        return schema, Miss(0, True, (), "a list (one answer per forEach item)"), 0

    def check_schema_reference(self, text: str, parts: tuple[Any, ...], path: Path, target: TaskInfo) -> None:
        rest = tuple(parts[3:])
        found = self.output_landing(target, parts[2], rest)
        if found is None or not isinstance(found[1], Miss):
            return
        miss, offset = found[1], found[2]
        part = rest[offset + miss.depth]
        where = json_path([p for p in rest[offset:offset + miss.depth]])
        owner = f"the response schema of '{target.id}' (output '{parts[2]}')"
        if offset == 0 and target.task.for_each is not None and miss.depth == 0:
            self.report("E409", f"{text}: task '{target.id}' runs forEach, so outputs.{parts[2]} is a list of answers",
                        path, f"read one answer (`outputs.{parts[2]}[0].{part}`) or every one (`outputs.{parts[2]}.*.{part}`)")
            return
        step = "item [*]" if part == "*" else f"item [{part}]" if isinstance(part, int) else f"property '{part}'"
        names = list(miss.names)
        listed = listing(f"properties of {where}", names) if names else None
        if not miss.closed:
            close = did_you_mean(str(part), names)
            self.report("W409", f"{text}: '{part}' is not among the properties of {where} in {owner}", path,
                        (close + " " if close else (listed + "; " if listed else ""))
                        + "the schema allows other properties, but the model is asked only for the listed ones",
                        severity=Severity.WARNING)
        elif miss.found != "an object":
            self.report("E409", f"{text}: {where} is {miss.found} in {owner}; it has no {step}", path,
                        f"read {where} as a whole, or change its schema")
        else:
            self.report("E409", f"{text}: {owner} has no {step} at {where}", path,
                        (did_you_mean(str(part), names) if isinstance(part, str) else None) or listed
                        or "the object there lists no properties and allows no others")

    # -- expressions ---------------------------------------------------------------------------------
    def expressions_in(self, value: Any, path: Path, *, bare: bool = False) -> Iterator[tuple[Node, str, Path]]:
        """Every parsed expression in ``value`` with its source and YAML path; errors reported."""
        if isinstance(value, str):
            if bare and "${{" not in value:
                sources = [value]
            else:
                try:
                    sources = [span.source for span in find_spans(value)]
                except ExpressionError as exc:
                    self.report("E401", f"expression syntax error: {exc.message}", path, _caret_hint(exc))
                    return
            for source in sources:
                try:
                    yield parse(source), source, path
                except ExpressionError as exc:
                    self.report("E401", f"expression syntax error in '{source}': {exc.message}", path, _caret_hint(exc))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from self.expressions_in(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from self.expressions_in(item, (*path, i))

    def check_task_expressions(self, info: TaskInfo) -> None:
        task, path = info.task, info.path
        places: list[tuple[Any, Path, bool, bool]] = [(task.inputs, (*path, "inputs"), False, True)]
        if isinstance(task.if_, str):
            places.append((task.if_, (*path, "if"), True, True))
        if isinstance(task.for_each, str):
            places.append((task.for_each, (*path, "forEach"), True, False))
        elif isinstance(task.for_each, list):
            places.append((task.for_each, (*path, "forEach"), False, False))
        if task.cache is not None and task.cache.key:
            places.append((task.cache.key, (*path, "cache", "key"), False, True))
        for value, where, bare, item_scope in places:
            for node, source, at in self.expressions_in(value, where, bare=bare):
                self.check_references(node, source, at, info, item_scope=item_scope and task.for_each is not None)
                if _may_compare(source):
                    self.check_types(node, source, at)

    def check_env_reference(self, text: str, parts: Any, path: Path) -> None:
        """``env.NAME`` must be allowed by the config, or it would silently render empty."""
        if self.env_allowlist is None or not parts or not isinstance(parts[0], str) or parts[0] == "*":
            return
        name = parts[0]
        if name not in self.env_allowlist:
            allowed = ", ".join(sorted(self.env_allowlist)) or "none"
            self.report("E411", f"'{text}': environment variable '{name}' is not in the config's env_allowlist "
                        f"(allowed: {allowed})", path,
                        f"add {name} to orchestrator.env_allowlist in orchestrator-config.yaml if runs may read it")

    def check_references(self, node: Node, source: str, path: Path, info: TaskInfo | None, *, item_scope: bool = False,
                         event: str | None = None) -> set[str]:
        """Check every context reference in ``node``; return the tasks it reads."""
        read: set[str] = set()
        event = event or (info.event if info else None)
        for ref in references(node):
            root, parts = ref.root, ref.path
            if root == "tasks":
                read |= self.check_task_reference(ref.text, parts, path, info)
            elif root == "workflow":
                self.check_workflow_reference(ref.text, parts, path, event)
            elif root in ("item", "index"):
                if not item_scope:
                    self.report("E407", f"'{root}' is only defined inside a task with forEach (in '{source}')", path,
                                "add `forEach:` to the task or read the value from tasks.<id>.outputs")
            elif root == "env":
                self.check_env_reference(ref.text, parts, path)
            elif root == "secrets":
                # Not implemented: a value that is always null would pass for a secret and fail late.
                self.report("E410", f"'{ref.text}': the secrets context is not supported", path,
                            "give a provider key in the config's api_keys (a SecretStr, masked everywhere) or read an "
                            "allowed variable with env.NAME (orchestrator.env_allowlist)")
            else:
                hint = did_you_mean(root, CONTEXTS) or f"available contexts: {', '.join(CONTEXTS)}"
                self.report("E402", f"unknown context '{root}' in '{source}'", path, hint)
        if info is not None:
            for target in read:
                if target == info.id:
                    self.report("E502", f"task '{info.id}' reads its own outputs", path)
                    continue
                target_info = self.tasks.get(target)
                if target_info is None:
                    continue
                if target_info.group == "event" and info.group != "event":
                    self.report("E407", f"task '{info.id}' reads event task '{target}', which runs after the main graph", path)
                    continue
                if info.group == "event" and target_info.group != "event":
                    continue  # events run after the whole main graph: no edge needed
                if target_info.branch_id is not None and (target_info.branch_id, target_info.arm) != (info.branch_id, info.arm):
                    self.report("W408", f"'{info.id}' reads '{target}', which only runs when branch '{target_info.branch_id}' "
                                f"takes its {'then' if target_info.arm == 'then' else 'else'} arm; it sees null (and is skipped "
                                "unless its if uses always()) otherwise", path,
                                f"use `tasks.{target}.outputs.x ?? <default>` with `if: always()` if that is intended",
                                severity=Severity.WARNING)
                info.deps.add(target)
                info.data_deps.add(target)
        return read

    def check_task_reference(self, text: str, parts: tuple[Any, ...], path: Path, info: TaskInfo | None) -> set[str]:
        if not parts or not isinstance(parts[0], str):
            return set()
        target = parts[0]
        if target not in self.tasks:
            self.report("E403", f"{text}: no task '{target}'", path, self.task_hint(target))
            return set()
        if len(parts) < 2 or parts[1] is None:
            return {target}
        field_name = parts[1]
        if field_name not in TASK_FIELDS:
            self.report("E404", f"{text}: tasks have no field '{field_name}'", path,
                        did_you_mean(str(field_name), TASK_FIELDS) or f"fields: {', '.join(TASK_FIELDS)}")
            return {target}
        if len(parts) >= 3 and isinstance(parts[2], str):
            name = parts[2]
            target_info = self.tasks[target]
            if field_name == "outputs" and target_info.spec is not None and not target_info.spec.open_outputs:
                known = {**target_info.spec.outputs, **target_info.task.outputs}
                if name not in known:
                    hint = did_you_mean(name, known) or (listing(f"outputs of '{target}'", list(known)) if known else None)
                    self.report("E404", f"{text}: no output '{name}'", path, hint)
                elif len(parts) > 3:
                    self.check_schema_reference(text, parts, path, target_info)
            elif field_name == "metadata" and name not in METADATA_FIELDS:
                self.report("E404", f"{text}: no metadata '{name}'", path,
                            did_you_mean(name, METADATA_FIELDS) or f"metadata: {', '.join(METADATA_FIELDS)}")
        return {target}

    def check_workflow_reference(self, text: str, parts: tuple[Any, ...], path: Path, event: str | None) -> None:
        if not parts or not isinstance(parts[0], str):
            return
        head = parts[0]
        if head not in WORKFLOW_FIELDS:
            self.report("E404", f"{text}: workflow has no field '{head}'", path,
                        did_you_mean(head, WORKFLOW_FIELDS) or f"fields: {', '.join(WORKFLOW_FIELDS)}")
            return
        if head == "error" and event not in ("onFailure", "always"):
            self.report("E407", f"{text}: workflow.error is only set in onFailure and always events", path)
        if head == "inputs" and len(parts) >= 2 and isinstance(parts[1], str):
            name = parts[1]
            if name not in self.declared_inputs:
                close = self.input_suggestion(name)
                if close:
                    self.report("E405", f"{text}: no workflow input '{name}'", path, close)
                elif name not in self.implicit_inputs:
                    self.implicit_inputs[name] = None
                    self.report("W405", f"workflow input '{name}' is used but not declared; it is treated as a required string input",
                                path, f"declare it under spec.inputs: `- name: {name}` with its type", severity=Severity.WARNING)

    def check_types(self, node: Node, source: str, path: Path) -> None:
        """Comparisons whose outcome is certainly a mistake (a string output compared with a number,
        or with a string its response schema's enum never allows)."""
        for binary in _binaries(node):
            if binary.op not in _COMPARISONS:
                continue
            left, right = self.static_type(binary.left), self.static_type(binary.right)
            if left is None or right is None or left == right or "any" in (left, right):
                if binary.op in ("==", "!="):
                    self.check_enum(binary, source, path)
                continue
            pair = {left, right}
            certain = ("string" in pair and pair & (_NUMERIC | {"boolean"})) or ("boolean" in pair and pair & _NUMERIC) \
                or (pair & {"object", "array"})
            if not certain:
                continue
            self.report("E406", f"'{source}' compares {_article(left)} with {_article(right)}; that comparison is never what you mean", path,
                        "convert one side (e.g. fromJSON(...)) or compare with a value of the same type")

    def check_enum(self, binary: Binary, source: str, path: Path) -> None:
        for side, other in ((binary.left, binary.right), (binary.right, binary.left)):
            if not (isinstance(other, Literal) and isinstance(other.value, str)):
                continue
            found = self.schema_landing(side)
            if found is None:
                continue
            schema, landing = found
            values = schema.enum(landing)
            texts = [v for v in values or () if v is not None]
            if not texts or not all(isinstance(v, str) for v in texts) or fold(other.value) in {fold(v) for v in texts}:
                continue
            self.report("E406", f"'{source}' compares a value that is one of {', '.join(map(repr, texts))} (its response "
                        f"schema's enum) with {other.value!r}; they are never equal", path,
                        did_you_mean(other.value, texts) or "compare with one of the enum's values, or add this one to it")
            return

    def schema_landing(self, node: Node) -> tuple[ResponseSchema, Landing] | None:
        """Where an access chain ``tasks.<id>.outputs.<name>.<more>`` lands in a response schema."""
        chain = _access_chain(node)
        if not chain or chain[0] != "tasks" or len(chain) < 5 or chain[2] != "outputs":
            return None
        info = self.tasks.get(str(chain[1]))
        if info is None or not isinstance(chain[3], str):
            return None
        found = self.output_landing(info, chain[3], tuple(chain[4:]))
        if found is None or not isinstance(found[1], Landing):
            return None
        return found[0], found[1]

    def static_type(self, node: Node) -> str | None:
        if isinstance(node, Literal):
            value = node.value
            if isinstance(value, bool):
                return "boolean"
            if isinstance(value, int | float):
                return "number"
            if isinstance(value, str):
                return "string"
            return None
        chain = _access_chain(node)
        if chain and chain[0] == "tasks" and len(chain) == 4 and chain[2] == "outputs":
            info = self.tasks.get(str(chain[1]))
            if info is not None and info.task.for_each is None and isinstance(chain[3], str):
                return info.output_types.get(chain[3]) or (info.spec.outputs.get(chain[3]) if info.spec else None)
        if chain and chain[0] == "workflow" and len(chain) == 3 and chain[1] == "inputs" and isinstance(chain[2], str):
            declared_input = self.declared_inputs.get(chain[2])
            return declared_input.type if declared_input else None
        found = self.schema_landing(node)
        if found is not None:
            return found[0].static_type(found[1])
        return None

    # -- dependencies --------------------------------------------------------------------------------
    def check_depends_on(self, info: TaskInfo) -> None:
        for k, dep in enumerate(info.task.depends_on):
            path = (*info.path, "dependsOn", k)
            if dep == info.id:
                self.report("E502", f"task '{info.id}' depends on itself", path)
            elif dep not in self.tasks:
                self.report("E204", f"unknown task '{dep}' in dependsOn", path, self.task_hint(dep))
            elif self.tasks[dep].group == "event" and info.group != "event":
                self.report("E407", f"task '{info.id}' depends on event task '{dep}', which runs after the main graph", path)
            elif info.group == "event" and self.tasks[dep].group != "event":
                continue  # ordering after the main graph is implied for events
            else:
                info.deps.add(dep)

    def check_branches(self) -> None:
        for branch_id, condition, path in self.branch_ids:
            read: set[str] = set()
            for node, source, at in self.expressions_in(condition, (*path, "condition"), bare=True):
                read |= self.check_references(node, source, at, None)
                self.check_types(node, source, at)
            at = (*path, "condition")
            for target in sorted(read):
                target_info = self.tasks.get(target)
                if target_info is None:
                    continue
                if target_info.group == "event":
                    self.report("E407", f"branch '{branch_id}' condition reads event task '{target}', which runs after the main graph", at)
                elif target_info.branch_id == branch_id:
                    self.report("E501", f"dependency cycle: branch '{branch_id}' condition reads '{target}', a task inside the same branch", at,
                                "a branch's condition can only read tasks outside the branch")
            for info in self.tasks.values():
                if info.branch_id == branch_id:
                    for target in read:
                        target_info = self.tasks.get(target)
                        if target_info is not None and target_info.branch_id != branch_id and target_info.group != "event":
                            info.deps.add(target)

    def check_outputs(self) -> None:
        for name, output in self.wf.spec.outputs.items():
            for node, source, at in self.expressions_in(output.value, ("spec", "outputs", name, "value")):
                for ref in references(node):
                    if ref.root in ("item", "index"):
                        self.report("E407", f"'{ref.root}' is not defined in workflow outputs", at)
                self.check_references(node, source, at, None, item_scope=True, event="outputs")

    def check_schedule(self) -> None:
        from compiler.schedule import cron_problem, timezone_problem

        schedule = self.wf.spec.schedule
        if schedule is None:
            return
        base: Path = ("spec", "schedule")
        if schedule.cron is not None:
            problem = cron_problem(schedule.cron)
            if problem:
                self.report("E203", f"invalid cron '{schedule.cron}': {problem}", (*base, "cron"),
                            "e.g. '0 9 * * 1-5' (09:00 on weekdays) or '@daily'")
        problem = timezone_problem(schedule.timezone)
        if problem:
            self.report("E203", problem, (*base, "timezone"))
        for name in schedule.inputs:
            if name not in self.declared_inputs and name not in self.implicit_inputs:
                hint = did_you_mean(name, [*self.declared_inputs, *self.implicit_inputs])
                self.report("E405", f"schedule input '{name}' is not an input of this workflow", (*base, "inputs", name), hint, key=True)

    def check_cycles(self) -> None:
        graph = {i: sorted(info.deps) for i, info in self.tasks.items()}
        state: dict[str, int] = {}
        stack: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(start: str) -> None:
            # Iterative DFS so 10,000-task chains do not hit the recursion limit.
            work: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
            state[start] = 1
            stack.append(start)
            while work:
                current, children = work[-1]
                child = next(children, None)
                if child is None:
                    work.pop()
                    stack.pop()
                    state[current] = 2
                    continue
                if child not in graph:
                    continue
                if state.get(child) == 1:
                    cycle = stack[stack.index(child):] + [child]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        # cycle is child -> ... -> current -> child in "depends on" direction; show run order
                        order = list(reversed(cycle))
                        self.report("E501", "dependency cycle: " + " -> ".join(order), self.tasks[child].path,
                                    "a task cannot (directly or through expressions) depend on a task that depends on it")
                elif state.get(child) is None:
                    state[child] = 1
                    stack.append(child)
                    work.append((child, iter(graph[child])))

        for task_id in graph:
            if state.get(task_id) is None:
                visit(task_id)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any, constraints: tuple[Any, ...] = ()) -> TypeAdapter[Any]:
    """TypeAdapters are costly to build (a core schema each): one per annotation per process.
    ``constraints`` are the field's own (``ge``, ``le``...), so ranges are checked too."""
    target: Any = Annotated[(annotation, *constraints)] if constraints else annotation
    try:
        return _ADAPTERS[target]
    except KeyError:
        adapter = _ADAPTERS[target] = TypeAdapter(target)
        return adapter
    except TypeError:  # unhashable annotation
        return TypeAdapter(target)


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    import types
    import typing

    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    for option in options:
        if typing.get_origin(option) is list:
            args = typing.get_args(option)
            if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                return args[0]
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    import types
    import typing

    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    for option in options:
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _walk_keys(value: Any) -> set[Any]:
    if isinstance(value, Mapping):
        return set(value)
    if isinstance(value, list):
        return set(range(len(value)))
    return set()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


def _caret_hint(exc: ExpressionError) -> str | None:
    if exc.column is None:
        return None
    return f"{exc.expression}\n          {' ' * exc.column}^"


@functools.lru_cache(maxsize=1)
def _tool_names() -> list[str]:
    return tool_names_from_entry_points()


def _article(kind: str) -> str:
    return ("an " if kind[:1] in ("a", "e", "i", "o", "u") else "a ") + kind


def _may_compare(source: str) -> bool:
    return "=" in source or "<" in source or ">" in source


def _binaries(node: Node) -> Iterator[Binary]:
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Binary):
            yield current
        for name in getattr(current, "__dataclass_fields__", {}):
            child = getattr(current, name)
            if isinstance(child, tuple):
                stack.extend(c for c in child if hasattr(c, "column"))
            elif hasattr(child, "column") and not isinstance(child, int):
                stack.append(child)


def _access_chain(node: Node) -> list[str | int] | None:
    """``tasks.a.outputs.x[0].*`` -> ['tasks', 'a', 'outputs', 'x', 0, '*']; None for anything
    but a context access chain with literal keys."""
    parts: list[str | int] = []
    current: Any = node
    while isinstance(current, Property | Index | Filter):
        if isinstance(current, Property):
            parts.append(current.name)
        elif isinstance(current, Filter):
            parts.append("*")
        else:
            key = current.index.value if isinstance(current.index, Literal) else None
            if isinstance(key, bool) or not isinstance(key, str | int):
                return None
            parts.append(key)
        current = current.target
    if type(current).__name__ == "ContextRef":
        parts.append(current.name)
        return list(reversed(parts))
    return None


def contains_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "${{" in value
    if isinstance(value, Mapping):
        return any(contains_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_expression(v) for v in value)
    return False


def value_matches(value: Any, type_name: str) -> bool:
    """Does a (runtime or literal) value fit a declared type name?"""
    if type_name == "any" or value is None and type_name == "any":
        return True
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, Mapping),
        "array": lambda v: isinstance(v, list | tuple),
    }
    check = checks.get(type_name)
    return bool(check(value)) if check else True


def type_name_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


__all__ = ["Analysis", "Checker", "InferenceInputs", "TaskInfo", "contains_expression", "type_name_of", "value_matches"]
