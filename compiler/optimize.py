"""Applying Auto-Optimizer recommendations to a compiled plan: a pure function.

    new_plan, applied, skipped = apply_recommendations(plan, recommendations)

``recommendations`` are plain dicts (``Recommendation.model_dump(mode="json")``: ``{"id",
"recommendation_type": {"kind", ...}, "confidence", "expected_impact", "evidence"}``), bare
recommendation types (``{"kind": "caching", ...}``), or any object with ``model_dump`` (the
ecosystem's pydantic models) -- this module imports neither Prefect, HTTP nor the ecosystem.

Each kind is applied as its docstring in ``ecosystem.optimizer.models`` says, and refused with a
reason when it no longer fits the plan (the workflow changed since the history was recorded):

* ``model_switch``: the node's ``inputs.config.model`` becomes ``to``, only if it is still
  ``from``.  The offline provider reports ``offline:<model>``, so names compare without that
  prefix, and the plan keeps the spelling the user wrote (no ``offline:`` is written into it).
* ``parameter_tuning``: ``inputs.config.<parameter>`` becomes ``new_value``, only if it equals
  ``old_value`` (a parameter the task does not set is compared with ``call_defaults``, the values
  the LLM call uses when the config is silent, e.g. ``{"max_tokens": 1000}``).
* ``parallelization``: each ``[from, to]`` edge is dropped from ``to``'s ``dependsOn`` only when it
  is an explicit ``dependsOn`` edge that carries no data (``to`` reads nothing of ``from``), is not
  implied by a branch condition, and ``to``'s ``if`` uses no status function (``always()``,
  ``failure()``...), which reads the statuses of the dependencies.  All edges of one
  recommendation are removed together or not at all.
* ``caching``: a ``CachePolicy`` with ``ttl_seconds`` is given to a task that declares no ``cache``
  (neither on the task nor through ``defaults``: the user's setting wins, ``cache: false``
  included), and never to executors with side effects (notifications, governance, the
  optimizer's own tasks, asserts).

* ``batch_mode``: ``inputs.config.mode`` becomes ``batch`` on a task that still fans out
  (``forEach``) on an llm-forge inference executor and sets no ``mode`` of its own (the user's
  ``online`` wins), and whose ``timeout``, if any, leaves room for the 24 h batch window.

The result is a new ``ExecutionPlan`` (built with ``replace_nodes``, whose ``applied`` gains one
human sentence per applied recommendation); the input plan is never modified.  ``applied`` and
``skipped`` are sentences too; ``skipped`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from compiler.catalogue import INFERENCE_IMPLEMENTATION
from compiler.document import CachePolicy
from compiler.durations import format_duration
from compiler.plan import ExecutionPlan, PlanNode

OFFLINE_PREFIX = "offline:"
BATCH_WINDOW_S = 24 * 3600
# Executors whose effect is the point of running them: a cached result would skip the effect.
SIDE_EFFECT_NAMESPACES = frozenset({"notification", "llm-governance", "llm-auto-optimizer", "orchestrator"})


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dict(dump(mode="json", by_alias=True))
    raise TypeError(f"a recommendation must be a mapping or a pydantic model, not {type(value).__name__}")


def normalize(recommendation: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the recommendation, its type) as dicts, for a Recommendation or a bare type."""
    data = _as_dict(recommendation)
    rtype = data.get("recommendation_type")
    if rtype is None and "kind" in data:
        return {"recommendation_type": data}, data
    return data, _as_dict(rtype or {})


def _bare_model(name: Any) -> str:
    text = str(name).strip()
    return text[len(OFFLINE_PREFIX):] if text.startswith(OFFLINE_PREFIX) else text


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${{" in value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _pct(value: Any) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "?"


class _Applier:
    def __init__(self, plan: ExecutionPlan, call_defaults: Mapping[str, Any]) -> None:
        self.plan = plan
        self.call_defaults = dict(call_defaults)
        self.applied: list[str] = []
        self.skipped: list[str] = []

    def skip(self, what: str, why: str) -> None:
        self.skipped.append(f"{what}: {why}")

    def commit(self, nodes: dict[str, PlanNode], sentence: str) -> None:
        self.plan = self.plan.replace_nodes(nodes, sentence)
        self.applied.append(sentence)

    def node(self, task_id: Any, what: str) -> PlanNode | None:
        node = self.plan.nodes.get(str(task_id)) if task_id is not None else None
        if node is None:
            self.skip(what, f"task '{task_id}' is not in the workflow")
        return node

    def config_of(self, node: PlanNode, what: str) -> dict[str, Any] | None:
        inputs = node.inputs
        if not isinstance(inputs, Mapping):
            self.skip(what, f"the inputs of '{node.id}' are not a mapping")
            return None
        config = inputs.get("config", {})
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            self.skip(what, f"'{node.id}' takes its config from an expression; it cannot be changed before the run")
            return None
        return dict(config)

    @staticmethod
    def with_config(node: PlanNode, config: dict[str, Any]) -> PlanNode:
        return replace(node, inputs={**dict(node.inputs), "config": config})

    # -- the four kinds ------------------------------------------------------------------------

    def model_switch(self, rec: dict[str, Any], rtype: dict[str, Any]) -> None:
        task_id, source, target = rtype.get("task_id"), rtype.get("from", rtype.get("from_model")), rtype.get("to")
        what = f"model switch for {task_id} ({source} -> {target})"
        if not source or not target:
            self.skip(what, "the recommendation names no source or target model")
            return
        node = self.node(task_id, what)
        if node is None:
            return
        config = self.config_of(node, what)
        if config is None:
            return
        current = config.get("model")
        if current is None:
            self.skip(what, f"'{node.id}' names no model (it uses the provider's default); set config.model to apply it")
            return
        if _is_expression(current):
            self.skip(what, f"the model of '{node.id}' is an expression ({current}), only known at run time")
            return
        if _bare_model(current) == _bare_model(target):
            self.skip(what, f"'{node.id}' already uses {current}")
            return
        if _bare_model(current) != _bare_model(source):
            self.skip(what, f"stale: '{node.id}' now uses {current}, not {source}")
            return
        written = str(target) if str(current).startswith(OFFLINE_PREFIX) else _bare_model(target)
        evidence = rec.get("evidence") or {}
        margin = evidence.get("quality_margin")
        diff = evidence.get("diff")
        quality = f"quality within {margin:g}" if isinstance(margin, int | float) else "quality kept"
        if isinstance(diff, int | float):
            quality += f" ({diff:+.3f})"
        saving = evidence.get("saving_ratio")
        cost = f"cost -{_pct(saving)}" if isinstance(saving, int | float) else "cost lower"
        n = evidence.get("n_pairs") if evidence.get("method") == "paired_bootstrap" else None
        if not n:
            n = (evidence.get("n_candidate") or 0) + (evidence.get("n_baseline") or 0) or None
        sentence = f"switched {node.id} from {_bare_model(current)} to {_bare_model(target)}: {quality}, {cost}"
        if n:
            sentence += f" (n={n})"
        self.commit({node.id: self.with_config(node, {**config, "model": written})}, sentence)

    def parameter_tuning(self, rec: dict[str, Any], rtype: dict[str, Any]) -> None:
        task_id, parameter = rtype.get("task_id"), rtype.get("parameter")
        old, new = rtype.get("old_value"), rtype.get("new_value")
        what = f"{parameter} of {task_id} ({old} -> {new})"
        if not parameter or parameter == "model":
            self.skip(what, "not a tunable call parameter")
            return
        node = self.node(task_id, what)
        if node is None:
            return
        config = self.config_of(node, what)
        if config is None:
            return
        current = config.get(parameter, self.call_defaults.get(parameter))
        if _is_expression(current):
            self.skip(what, f"{parameter} of '{node.id}' is an expression ({current}), only known at run time")
            return
        if _same(current, new):
            self.skip(what, f"'{node.id}' already has {parameter} {current}")
            return
        if not _same(current, old):
            self.skip(what, f"stale: {parameter} of '{node.id}' is now {current}, not {old}")
            return
        reason = str(rtype.get("reason") or "").strip()
        sentence = f"set {parameter} of {node.id} from {current} to {new}" + (f": {reason}" if reason else "")
        self.commit({node.id: self.with_config(node, {**config, parameter: new})}, sentence)

    def parallelization(self, rec: dict[str, Any], rtype: dict[str, Any]) -> None:
        edges = [tuple(e) for e in rtype.get("remove_edges") or []]
        names = ", ".join(f"{u} -> {v}" for u, v in edges) or "no edges"
        what = f"parallelization ({names})"
        if not edges:
            self.skip(what, "the recommendation names no edge")
            return
        changed: dict[str, PlanNode] = {}
        for upstream, downstream in edges:
            node = changed.get(downstream) or self.plan.nodes.get(downstream)
            if node is None or upstream not in self.plan.nodes:
                missing = downstream if node is None else upstream
                self.skip(what, f"task '{missing}' is not in the workflow")
                return
            if upstream not in node.depends_on:
                self.skip(what, f"stale: '{downstream}' no longer depends on '{upstream}'")
                return
            if upstream in node.data_dependencies:
                self.skip(what, f"'{downstream}' reads the outputs of '{upstream}': the edge carries data")
                return
            if upstream not in node.explicit_depends_on:
                self.skip(what, f"the edge {upstream} -> {downstream} comes from a branch condition, not dependsOn")
                return
            if node.status_aware:
                self.skip(what, f"the if of '{downstream}' uses a status function, which needs '{upstream}' to finish first")
                return
            changed[downstream] = replace(
                node,
                depends_on=node.depends_on - {upstream},
                explicit_depends_on=tuple(d for d in node.explicit_depends_on if d != upstream),
            )
        speedup = rtype.get("expected_speedup")
        evidence = rec.get("evidence") or {}
        sentence = f"removed the order-only dependsOn {names} so they run in parallel"
        details = []
        if isinstance(speedup, int | float):
            details.append(f"expected speedup {speedup:.2f}x")
        before, after = evidence.get("critical_path_ms"), evidence.get("critical_path_without_edge_ms")
        if isinstance(before, int | float) and isinstance(after, int | float):
            details.append(f"critical path {before:.0f} ms -> {after:.0f} ms")
        if details:
            sentence += ": " + ", ".join(details)
        self.commit(changed, sentence)

    def caching(self, rec: dict[str, Any], rtype: dict[str, Any]) -> None:
        task_id, ttl = rtype.get("task_id"), rtype.get("ttl_seconds", rtype.get("ttl"))
        what = f"caching of {task_id}"
        node = self.node(task_id, what)
        if node is None:
            return
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0:
            self.skip(what, f"invalid TTL {ttl!r}")
            return
        if node.cache is not None:
            state = "enabled" if node.cache.enabled else "disabled"
            self.skip(what, f"the workflow already declares cache for '{node.id}' ({state}); the user's setting wins")
            return
        if node.executor.namespace in SIDE_EFFECT_NAMESPACES:
            self.skip(what, f"'{node.id}' runs {node.executor}, which has side effects a cached result would skip")
            return
        evidence = rec.get("evidence") or {}
        rate, n = evidence.get("repeat_rate"), evidence.get("n")
        sentence = f"cached {node.id} for {format_duration(float(ttl))}"
        if isinstance(rate, int | float):
            sentence += f": {_pct(rate)} of {n} executions repeated an earlier input"
        self.commit({node.id: replace(node, cache=CachePolicy(ttl=float(ttl)))}, sentence)


def _batch_mode(applier: _Applier, rec: dict[str, Any], rtype: dict[str, Any]) -> None:
    task_id = rtype.get("task_id")
    what = f"batch mode for {task_id}"
    node = applier.node(task_id, what)
    if node is None:
        return
    if node.for_each is None or node.spec.implementation != INFERENCE_IMPLEMENTATION:
        applier.skip(what, f"'{node.id}' is no longer an llm-forge fan-out (forEach on an inference executor)")
        return
    config = applier.config_of(node, what)
    if config is None:
        return
    if "mode" in config:
        applier.skip(what, f"'{node.id}' sets mode {config['mode']!r} itself; the user's setting wins")
        return
    if node.timeout is not None and node.timeout < BATCH_WINDOW_S:
        applier.skip(what, f"'{node.id}' has a timeout of {format_duration(node.timeout)}, shorter than the 24h batch window")
        return
    evidence = rec.get("evidence") or {}
    saving, runs = evidence.get("saving_ratio"), evidence.get("runs")
    sentence = f"batched {node.id} (config.mode: batch)"
    if isinstance(saving, int | float):
        sentence += f": cost -{_pct(saving)}"
        if runs:
            sentence += f", {runs} scheduled runs that nothing waits for"
    applier.commit({node.id: applier.with_config(node, {**config, "mode": "batch"})}, sentence)


def apply_recommendations(
    plan: ExecutionPlan,
    recommendations: Iterable[Any],
    *,
    call_defaults: Mapping[str, Any] | None = None,
    min_confidence: float = 0.0,
) -> tuple[ExecutionPlan, list[str], list[str]]:
    """(new plan, applied sentences, skipped sentences with reasons); ``plan`` is left as it is.

    ``recommendations`` may also be a ``Recommendations`` object or dict (its ``items`` are used).
    Recommendations below ``min_confidence`` are skipped.
    """
    if isinstance(recommendations, Mapping) and "items" in recommendations:
        recommendations = recommendations["items"]
    elif hasattr(recommendations, "items") and not isinstance(recommendations, Mapping | list | tuple):
        recommendations = recommendations.items  # a Recommendations model
    applier = _Applier(plan, call_defaults or {})
    handlers = {
        "model_switch": applier.model_switch,
        "parameter_tuning": applier.parameter_tuning,
        "parallelization": applier.parallelization,
        "caching": applier.caching,
        "batch_mode": lambda rec, rtype: _batch_mode(applier, rec, rtype),
    }
    for item in recommendations:
        rec, rtype = normalize(item)
        kind = str(rtype.get("kind") or "?")
        confidence = rec.get("confidence")
        if isinstance(confidence, int | float) and confidence < min_confidence:
            applier.skip(f"{kind} {rec.get('id') or ''}".strip(), f"confidence {confidence:.2f} below {min_confidence:.2f}")
            continue
        handler = handlers.get(kind)
        if handler is None:
            applier.skip(f"recommendation {rec.get('id') or ''}".strip(), f"unknown kind '{kind}'")
            continue
        handler(rec, rtype)
    return applier.plan, applier.applied, applier.skipped
