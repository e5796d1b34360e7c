"""Finding the body of an executor reference.

A compiled node carries its ``ExecutorSpec``; ``spec.implementation`` names the body as
``module:attribute`` and is imported on first use (integrations pull in their ecosystem clients
only when a workflow uses them).  ``register_executor`` adds a spec and its body at run time:
tests and embedding applications use it; packages use the ``llm_orchestrator.executors``
entry-point group instead.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from compiler.catalogue import default_registry
from compiler.executors import ExecutorSpec
from tasks.errors import ExecutorNotAvailable

_bodies: dict[str, Any] = {}


def register_executor(spec: ExecutorSpec, body: Any) -> None:
    """Make ``spec`` known to the compiler and ``body`` its implementation, in this process."""
    default_registry().register(spec)
    _bodies[spec.reference] = body


def unregister_executor(reference: str) -> None:
    _bodies.pop(reference, None)


def body_for(spec: ExecutorSpec) -> Any:
    body = _bodies.get(spec.reference)
    if body is not None:
        return body
    if not spec.implementation:
        raise ExecutorNotAvailable(f"executor '{spec.reference}' has no implementation registered")
    module_name, _, attribute = spec.implementation.partition(":")
    try:
        module = import_module(module_name)
        body = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ExecutorNotAvailable(
            f"executor '{spec.reference}' is implemented by '{spec.implementation}', which cannot be loaded: {exc}"
        ) from exc
    _bodies[spec.reference] = body
    return body
