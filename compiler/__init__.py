"""YAML workflow text in, validated and frozen execution plans out.

The compiler runs in phases, each a pure function: load YAML keeping positions
(``source``) -> validate the document with pydantic (``document``) -> parse every ``${{ }}``
once and check executors, references and types (``checks``) -> build nodes, edges and levels
(``plan``).  Problems are collected as ``Diagnostic``s across all phases and reported at once.
Nothing here imports Prefect or does I/O beyond reading the file it is given.

Attributes are imported lazily so that ``import compiler.expressions`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CompilationFailed": "compiler.diagnostics",
    "CompilerError": "compiler.diagnostics",
    "Diagnostic": "compiler.diagnostics",
    "Severity": "compiler.diagnostics",
    "CompileOptions": "compiler.compile",
    "CompileResult": "compiler.compile",
    "compile_file": "compiler.compile",
    "compile_text": "compiler.compile",
    "compile_document": "compiler.compile",
    "ExecutionPlan": "compiler.plan",
    "PlanNode": "compiler.plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")
