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
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def settings_or_exit(config: Path | None) -> Any:
    """The effective settings, or the config file's diagnostics and exit 2 (unreadable) / 1."""
    from blocks.settings import ConfigError, resolve_settings

    try:
        return resolve_settings(config)
    except ConfigError as exc:
        for d in exc.diagnostics:
            err.print(d.render(), markup=False)
        raise typer.Exit(2 if any(d.code == "E100" for d in exc.diagnostics) else 1) from None
