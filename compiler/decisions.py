"""One decision model: for one node and what is known so far, run it, skip it (with the reason
a person reads), fail it, wait, or say that it cannot be known yet.

The scheduler calls ``decide`` with the live run; ``explain`` calls it with what the inputs alone
tell (every task assumed to succeed, anything read from task results or the environment
unknown).  The rules exist once, here, so ``explain`` agrees with a run by construction.

The rules, in order, and why that order:

1. A dependency that has not finished: wait.
2. Unless the node's ``if`` calls a status function (found in the parsed tree, see
   ``PlanNode.status_aware``): an upstream task that failed (without ``continueOnError``) or
   was skipped skips the node, naming that task - the most specific reason there is.
3. A branch arm that is not taken skips the node (``branch B not taken``; for the ``else``
   arm ``else of branch B not taken``), also after a failure elsewhere: that, not the failure,
   is why the node never runs.
4. After a failure elsewhere (fail-fast), a node that is neither status-aware nor an event is
   not started.
5. The ``if`` is evaluated with GitHub's truthiness (``[]`` and ``{}`` are true, ``''``, ``0``
   and ``null`` false): false skips, an evaluation error fails the node.
6. Whatever is still unknown (a branch or an ``if`` that reads run-time values, an upstream
   task whose fate is unknown) makes the decision unknown; otherwise the node runs.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from compiler.expressions import ExpressionError, Node
from compiler.expressions.values import truthy
from compiler.plan import BranchGate, PlanNode

Action = Literal["run", "skip", "fail", "wait", "unknown"]
UNFINISHED = frozenset({"pending", "running"})


class _Unknown:
    """The value of an expression that reads something not known yet (``explain`` only)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str | None = None


RUN = Decision("run")
WAIT = Decision("wait")


class DecisionView(Protocol):
    """What ``decide`` reads: the states so far and a way to evaluate expressions."""

    @property
    def failed_task(self) -> str | None:
        """The task whose failure failed the run (fail-fast), if any."""
        ...

    @property
    def branches(self) -> MutableMapping[str, bool | None]:
        """Branch id -> taken, remembered the first time it is decided (a branch is decided once)."""
        ...

    def state(self, node_id: str) -> str | None:
        """A task's state (``pending running completed failed skipped cached``); None: unknown."""
        ...

    def allowed_failure(self, node_id: str) -> bool:
        """The task failed but had ``continueOnError``, so its dependents still run."""
        ...

    def value(self, tree: Node) -> Any:
        """The expression's value, ``UNKNOWN`` if it reads what is not known; may raise
        ``ExpressionError``."""
        ...


def branch_taken(gate: BranchGate, view: DecisionView) -> bool | None:
    """Whether the ``then`` arm of ``gate``'s branch runs (None: not known yet)."""
    if gate.branch_id not in view.branches:
        value = view.value(gate.tree)
        view.branches[gate.branch_id] = None if value is UNKNOWN else truthy(value)
    return view.branches[gate.branch_id]


def branch_reason(gate: BranchGate) -> str:
    if gate.arm == "then":
        return f"branch {gate.branch_id} not taken (condition false: {gate.condition})"
    return f"else of branch {gate.branch_id} not taken (condition true: {gate.condition})"


def decide(node: PlanNode, view: DecisionView, *, events: bool = False) -> Decision:
    """Run, skip, fail, wait or unknown for ``node``; see the module docstring for the rules."""
    states = {dep: view.state(dep) for dep in sorted(node.depends_on)}
    if any(state in UNFINISHED for state in states.values()):
        return WAIT
    if not node.status_aware:
        for dep, state in states.items():
            if state == "failed" and not view.allowed_failure(dep):
                return Decision("skip", f"upstream {dep} failed")
            if state == "skipped":
                return Decision("skip", f"upstream {dep} skipped")
    fail_fast = view.failed_task is not None and not node.status_aware and not events
    taken: bool | None = True
    if node.gate is not None:
        try:
            taken = branch_taken(node.gate, view)
        except ExpressionError as exc:
            if fail_fast:  # the failure elsewhere is why the condition cannot be read
                return _not_started(view)
            return Decision("fail", f"branch {node.gate.branch_id} condition failed: {exc}")
        if taken is not None and taken != (node.gate.arm == "then"):
            return Decision("skip", branch_reason(node.gate))
    if fail_fast:
        return _not_started(view)
    if node.condition_tree is not None:
        try:
            value = view.value(node.condition_tree)
        except ExpressionError as exc:
            return Decision("fail", f"if condition failed: {exc}")
        if value is UNKNOWN:
            return Decision("unknown", f"if depends on run-time values: {node.condition}")
        if not truthy(value):
            return Decision("skip", f"if is false: {node.condition}")
    if taken is None and node.gate is not None:
        return Decision("unknown", f"branch {node.gate.branch_id} is decided at run time ({node.gate.condition})")
    if not node.status_aware and any(state is None for state in states.values()):
        return Decision("unknown", "after tasks decided at run time")
    return RUN


def _not_started(view: DecisionView) -> Decision:
    return Decision("skip", f"not started: workflow failed ('{view.failed_task}' failed)")
