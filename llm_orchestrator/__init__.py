"""llm-orchestrator: declarative YAML LLM workflows compiled into Prefect flows.

The public Python API is small and mirrors the CLI:

    from llm_orchestrator import validate, compile_workflow
    result = validate("examples/llm-with-evaluation.yaml")   # CompileResult with diagnostics
    plan = compile_workflow("examples/llm-with-evaluation.yaml")  # ExecutionPlan or CompilationFailed

Running (``run``) lives in ``llm_orchestrator.api`` and imports Prefect only when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.compile import CompileOptions, CompileResult, compile_file
from compiler.plan import ExecutionPlan

__version__ = "0.1.0"


def validate(path: str | Path, options: CompileOptions | None = None) -> CompileResult:
    """Compile a workflow file and return every diagnostic (never raises for bad input)."""
    return compile_file(path, options)


def compile_workflow(path: str | Path, options: CompileOptions | None = None) -> ExecutionPlan:
    """The execution plan of a one-workflow file; raises ``CompilationFailed`` on errors."""
    return compile_file(path, options).plan


def run(workflow: str | Path | dict[str, Any], inputs: dict[str, Any] | None = None, *,
        config: str | Path | None = None, offline: bool = False, hooks: Any = ()) -> Any:
    """Run a workflow as a Prefect flow in this process and return its ``tasks.state.RunResult``
    (``state``, ``outputs``, ``tasks``, ``total_cost``...).  ``offline``: every LLM call from the
    offline provider; ``hooks``: ``tasks.hooks.Hook`` objects that join the run.  Bad configs,
    workflows and inputs raise ``ConfigError``, ``CompilationFailed`` and ``InputError``."""
    from llm_orchestrator.api import run as run_workflow

    return run_workflow(workflow, inputs, config=config, offline=offline, hooks=hooks)


__all__ = ["CompileOptions", "CompileResult", "ExecutionPlan", "__version__", "compile_workflow", "run", "validate"]
