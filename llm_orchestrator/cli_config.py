"""``llm-orchestrator config apply`` and ``config show``: the orchestrator config as Prefect Blocks.

Hooked into the typer app by ``llm_orchestrator.cli``:

    from llm_orchestrator.cli_config import config_app
    app.add_typer(config_app, name="config")

(or register ``config_apply``/``config_show`` on a typer of your own).  ``apply`` validates an
orchestrator-config.yaml (diagnostics at file:line:col, as ``validate`` prints for a workflow)
and saves it as blocks ``<name>``, ``<name>-forge``, ...; runs without ``--config`` then use the
block named ``default``.  ``show`` prints the effective configuration, secrets masked: a saved
block (``--name``), a file (``--config``) or whatever a run would resolve.  Exit codes: 0 ok,
1 bad config or API failure, 2 usage errors (unreadable file, bad option, no Prefect API).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llm_orchestrator.cli_support import err as _err
from llm_orchestrator.cli_support import fail as _fail

FORMATS = ("yaml", "json")

_out = Console(highlight=False, soft_wrap=True)



def _diagnostics(exc: Any) -> typer.Exit:
    for d in exc.diagnostics:
        _err.print(d.render(), markup=False)
    return typer.Exit(2 if any(d.code == "E100" for d in exc.diagnostics) else 1)


def _require_api() -> str:
    from blocks.resolve import prefect_api_url

    api = prefect_api_url()
    if api is None:
        raise _fail("no Prefect API configured: blocks live in a Prefect server. Start `prefect server start` and "
                    "set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api), or use --config FILE with each command", 2)
    return api


def config_apply(
    file: Annotated[Path, typer.Argument(help="orchestrator-config.yaml to save as Prefect blocks.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Block name; integrations are saved as <name>-forge, ...")] = "default",
) -> None:
    """Validate an orchestrator-config.yaml and save it as Prefect blocks (runs use 'default')."""
    from blocks.apply import BlockNameError, apply_settings, check_block_name
    from blocks.settings import ConfigError, load_config_file

    try:
        check_block_name(name)
    except BlockNameError as exc:
        raise _fail(str(exc), 2) from None
    try:
        settings = load_config_file(file)
    except ConfigError as exc:
        raise _diagnostics(exc) from None
    api = _require_api()
    try:
        saved = apply_settings(settings, name)
    except Exception as exc:  # the API's errors (unreachable, refused): one line, no traceback
        raise _fail(f"cannot save blocks to the Prefect API at {api}: {type(exc).__name__}: {exc}") from None
    for slug, document in saved:
        _out.print(f"saved {slug}/{document}", markup=False)
    note = "" if name == "default" else f" (runs read 'default'; load this one with OrchestratorConfig.load({name!r}))"
    _out.print(f"applied {file} as block '{name}'{note}", markup=False)


def config_show(
    name: Annotated[str | None, typer.Option("--name", "-n", help="Show this saved OrchestratorConfig block.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="yaml or json")] = "yaml",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Show this config file instead.")] = None,
) -> None:
    """Print the effective configuration (defaults and environment fallbacks included), secrets masked."""
    import yaml

    from blocks.apply import effective_config
    from blocks.resolve import resolve_settings_with_source
    from blocks.settings import ConfigError

    if format not in FORMATS:
        raise _fail(f"unknown --format '{format}' (use {' or '.join(FORMATS)})", 2)
    if name is not None and config is not None:
        raise _fail("use --name or --config, not both", 2)
    try:
        if name is not None:
            settings, source = _saved(name), f"block {name!r}"
        else:
            settings, source = resolve_settings_with_source(config)
        shown = effective_config(settings, source)
    except ConfigError as exc:
        raise _diagnostics(exc) from None
    if format == "json":
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))


def _saved(name: str) -> Any:
    from blocks.resolve import load_saved_settings

    api = _require_api()
    settings = load_saved_settings(name)
    if settings is None:
        raise _fail(f"no saved OrchestratorConfig block named {name!r} at {api} "
                    "(save one with: llm-orchestrator config apply FILE --name NAME)")
    return settings


config_app = typer.Typer(help="The orchestrator config as Prefect blocks.", no_args_is_help=True)
config_app.command("apply")(config_apply)
config_app.command("show")(config_show)
