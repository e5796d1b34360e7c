"""Which integrations join a run: the hook factories each ``flows.integrations`` module registers.

A factory looks at the run (its settings and the workflow's annotations) and returns its hook,
or None when the integration has nothing to do in this run.  ``hooks_for`` builds them in
registration order, with factories marked ``runs_last`` (artifacts) after every other, so that
their ``after_workflow`` sees what the others added to the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tasks.hooks import Hook
from tasks.state import WorkflowRun

HookFactory = Callable[[WorkflowRun], Hook | None]
HOOK_FACTORIES: list[HookFactory] = []


def hooks_for(run: WorkflowRun) -> list[Hook]:
    hooks = []
    for factory in sorted(HOOK_FACTORIES, key=lambda f: bool(getattr(f, "runs_last", False))):
        hook = factory(run)
        if hook is not None:
            hooks.append(hook)
    return hooks


def annotation_flag(annotations: Mapping[str, str] | None, key: str) -> bool | None:
    """A workflow annotation read as a flag: True/False, or None when absent."""
    value = (annotations or {}).get(key)
    if value is None:
        return None
    return str(value).strip().lower() in {"1", "true", "yes", "on"}
