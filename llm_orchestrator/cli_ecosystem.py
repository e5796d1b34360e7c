"""``llm-orchestrator ecosystem serve SYSTEM``: one embedded system served on its /v1 contract.

The server is the embedded implementation a run would use, built from the same config, behind
the FastAPI app of ``ecosystem/<system>/server.py``.  It binds 127.0.0.1 unless told otherwise;
a bearer token comes from ``--token-env`` (the name of an environment variable), never from the
command line, so it does not show up in process listings or shell history.  A non-loopback
``--host`` without a token is refused (exit 2) unless ``--insecure-no-auth`` says it is meant:
the rule itself is ``ecosystem.service.check_binding``, which ``serve`` applies too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

SYSTEMS = {"forge": 8080, "test-bench": 8081, "auto-optimizer": 8082, "governance": 8083}

ecosystem_app = typer.Typer(help="Serve Forge, Test-Bench, Auto-Optimizer or Governance over HTTP.", no_args_is_help=True)


def build_app(system: str, settings: Any, token: str | None) -> Any:
    from blocks.clients import resolve_systems

    systems = resolve_systems(settings)  # the settings a run would use (the served system is embedded)
    if system == "forge":
        from ecosystem.forge import EmbeddedForge, create_forge_app

        return create_forge_app(EmbeddedForge(systems.forge.model_copy(update={"endpoint": None})), token=token)
    if system == "test-bench":
        from ecosystem.testbench import EmbeddedTestBench
        from ecosystem.testbench.server import create_testbench_app

        return create_testbench_app(EmbeddedTestBench(systems.testbench.model_copy(update={"endpoint": None})), token=token)
    if system == "auto-optimizer":
        from ecosystem.optimizer import EmbeddedAutoOptimizer
        from ecosystem.optimizer.server import create_optimizer_app

        return create_optimizer_app(EmbeddedAutoOptimizer(systems.optimizer.model_copy(update={"endpoint": None})), token=token)
    from ecosystem.governance import EmbeddedGovernance
    from ecosystem.governance.server import create_governance_app

    return create_governance_app(EmbeddedGovernance(systems.governance.model_copy(update={"endpoint": None})), token=token)


@ecosystem_app.command()
def serve(
    system: Annotated[str, typer.Argument(help="forge, test-bench, auto-optimizer or governance")],
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default 8080-8083 by system).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="orchestrator-config.yaml")] = None,
    token_env: Annotated[str | None, typer.Option("--token-env", help="Environment variable holding the bearer token.")] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve without a token on a non-loopback address: anyone who reaches it can use it.",
        ),
    ] = False,
) -> None:
    """Serve one embedded ecosystem system on its /v1 HTTP contract."""
    from blocks.resolve import resolve_settings
    from blocks.settings import ConfigError
    from ecosystem.errors import InsecureBinding
    from ecosystem.service import check_binding, is_loopback
    from ecosystem.service import serve as run_server

    if system not in SYSTEMS:
        typer.echo(f"error: unknown system '{system}' (use {', '.join(SYSTEMS)})", err=True)
        raise typer.Exit(2)
    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            typer.echo(f"error: environment variable {token_env} is not set", err=True)
            raise typer.Exit(2)
    try:
        check_binding(host, authenticated=bool(token), allow_unauthenticated=insecure_no_auth)
    except InsecureBinding as exc:
        typer.echo(f"error: {system}: {exc.message} (--token-env VAR, or --insecure-no-auth)", err=True)
        raise typer.Exit(2) from None
    try:
        settings = resolve_settings(config)
        app = build_app(system, settings, token)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if not token and not is_loopback(host):
        typer.echo(f"WARNING: {system} on {host} has no authentication: anyone who can reach it can use it", err=True)
    typer.echo(f"serving {system} on http://{host}:{port or SYSTEMS[system]}/v1 ({'bearer token required' if token else 'no authentication'})", err=True)
    run_server(app, host=host, port=port or SYSTEMS[system], log_level="warning", allow_unauthenticated=insecure_no_auth)
