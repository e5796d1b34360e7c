"""What every ``llm-orchestrator`` command module shares: the error console, a one-line
failure with its exit code, and loading the run settings with positioned diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned Exit."""
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", markup=True)
    return typer.Exit(code)


def print_diagnostics(diagnostics: Any) -> None:
    for d in diagnostics:
        err.print(d.render(), markup=False)


def config_exit_code(diagnostics: Any) -> int:
    """2 when the config file could not be read at all, else 1."""
    return 2 if any(d.code == "E100" for d in diagnostics) else 1


def settings_or_exit(config: Path | None) -> Any:
    """The effective settings, or the config file's diagnostics and exit 2 (unreadable) / 1."""
    from blocks.resolve import resolve_settings
    from blocks.settings import ConfigError

    try:
        return resolve_settings(config)
    except ConfigError as exc:
        print_diagnostics(exc.diagnostics)
        raise typer.Exit(config_exit_code(exc.diagnostics)) from None


def compile_settings_or_exit(config: Path | None) -> Any:
    """Settings for commands that only compile (validate, graph, explain): ``--config``, else
    ``LLM_ORCHESTRATOR_CONFIG``, else defaults.  No saved block is looked up: these commands
    stay fast enough for an editor's save hook and never need a Prefect server."""
    import os

    from blocks.settings import ConfigError, OrchestratorSettings, load_config_file

    path = config or os.environ.get("LLM_ORCHESTRATOR_CONFIG")
    if not path:
        return OrchestratorSettings()
    try:
        return load_config_file(path)
    except ConfigError as exc:
        print_diagnostics(exc.diagnostics)
        raise typer.Exit(config_exit_code(exc.diagnostics)) from None
