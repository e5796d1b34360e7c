"""Where a run's config comes from: a file, the saved block, the environment or the defaults.

Resolution order for a run (``resolve_settings``), first found wins:

1. an explicit ``--config`` file (or a mapping/settings object passed to the flow);
2. the saved ``OrchestratorConfig`` block named ``default``, looked up only when a Prefect API is
   configured (``PREFECT_API_URL``, a Prefect profile, or inside a flow run).  We never start a
   temporary server just to look;
3. the environment: ``LLM_ORCHESTRATOR_CONFIG`` names a config file;
4. the embedded defaults.

Whichever source wins, environment variables still fill what it leaves unset:
``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, ``GEMINI_API_KEY``/``GOOGLE_API_KEY`` and
``LLM_FORGE_ENDPOINT`` (see ``blocks.clients.resolve_systems``).  A config file or block key always
beats the environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from blocks.settings import (
    DEFAULT_BLOCK_NAME,
    ConfigError,
    OrchestratorSettings,
    load_config_file,
    settings_from_mapping,
)
from compiler.diagnostics import Diagnostic

logger = logging.getLogger("llm_orchestrator.config")


def prefect_api_url() -> str | None:
    """The configured Prefect API (env, profile or the test harness), or None.

    Inside a flow run there is always an API (perhaps the ephemeral one), reported as
    ``"<flow run>"``.  Without ``PREFECT_API_URL`` in the environment this imports Prefect's
    settings, which costs about a second; callers only ask when no config file was given.
    """
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.context import FlowRunContext
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if url:
        return str(url)
    return "<flow run>" if FlowRunContext.get() is not None else None


def load_saved_settings(name: str = DEFAULT_BLOCK_NAME) -> OrchestratorSettings | None:
    """The saved ``OrchestratorConfig`` block ``name`` as settings; None when no Prefect API is
    configured or no such block exists.  An API that is configured but fails is a ConfigError:
    silently running without the operator's budgets and policies would be worse."""
    api = prefect_api_url()
    if api is None:
        return None
    from blocks.saved import read_saved_config  # no Block classes unless the block exists

    try:
        return read_saved_config(name)  # type: ignore[no-any-return]
    except Exception as exc:
        _saved_block_failure(exc, name, api)
        return None


async def aload_saved_settings(name: str = DEFAULT_BLOCK_NAME, *, in_flow_run: bool = False) -> OrchestratorSettings | None:
    """``load_saved_settings`` for async callers (the flow): it reuses the run's API client,
    where the sync form would build a client of its own and block the event loop.
    ``in_flow_run``: the caller is part of a flow run (perhaps before its context exists, as in
    an on_running hook), so there is an API, if only the ephemeral one."""
    api = prefect_api_url() or ("<flow run>" if in_flow_run else None)
    if api is None:
        return None
    from blocks.saved import aread_saved_config  # no Block classes unless the block exists

    try:
        return await aread_saved_config(name)  # type: ignore[no-any-return]
    except Exception as exc:
        _saved_block_failure(exc, name, api)
        return None


def _saved_block_failure(exc: Exception, name: str, api: str) -> None:
    """Nothing for a block that does not exist; a ConfigError for one that cannot be read or used."""
    from prefect.exceptions import ObjectNotFound

    if isinstance(exc, ValidationError):
        raise ConfigError([Diagnostic("E203", f"saved block '{name}' does not match this version's "
                                      f"OrchestratorConfig: {exc.error_count()} problem(s)", f"block:{name}", 1, 1,
                                      "re-apply the config file: llm-orchestrator config apply FILE")]) from None
    if isinstance(exc, ValueError | ObjectNotFound):
        return  # no such block (or block type not registered yet)
    raise ConfigError([Diagnostic(
        "E100", f"cannot read the saved config block '{name}' from the Prefect API at {api}: "
        f"{type(exc).__name__}: {exc}", f"block:{name}", 1, 1,
        "start the Prefect server, or pass --config FILE, or unset PREFECT_API_URL",
    )]) from None


_NOT_READ = object()


def resolve_settings_with_source(
    config: str | Path | Mapping[str, Any] | OrchestratorSettings | None,
    *,
    block_name: str = DEFAULT_BLOCK_NAME,
    saved: Any = _NOT_READ,
) -> tuple[OrchestratorSettings, str]:
    """``resolve_settings`` plus a description of the source that won.  ``saved``: the saved
    block's settings (or None) when the caller has already read them, as the flow does."""
    if isinstance(config, OrchestratorSettings):
        settings, source = config, "settings object"
    elif isinstance(config, Mapping):
        settings, source = settings_from_mapping(config), "mapping"
    elif config:
        settings, source = load_config_file(config), f"file {config}"
    else:
        if saved is _NOT_READ:
            saved = load_saved_settings(block_name)
        if saved is not None:
            settings, source = saved, f"block {block_name!r}"
        elif os.environ.get("LLM_ORCHESTRATOR_CONFIG"):
            path = os.environ["LLM_ORCHESTRATOR_CONFIG"]
            settings, source = load_config_file(path), f"file {path} (LLM_ORCHESTRATOR_CONFIG)"
        else:
            settings, source = OrchestratorSettings(), "defaults"
    if os.environ.get("LLM_ORCHESTRATOR_OFFLINE", "").lower() in {"1", "true", "yes"} and not settings.offline:
        settings = settings.model_copy(update={"offline": True})
        source += " (offline: LLM_ORCHESTRATOR_OFFLINE)"
    logger.debug("config from %s", source)
    return settings, source


def resolve_settings(config: str | Path | Mapping[str, Any] | OrchestratorSettings | None) -> OrchestratorSettings:
    """The effective settings for a run: ``--config`` file, else the saved ``default`` block (when a
    Prefect API is configured), else ``LLM_ORCHESTRATOR_CONFIG``, else defaults; environment API
    keys fill what the winner leaves unset.  ``LLM_ORCHESTRATOR_OFFLINE=1`` forces offline.

    Raises ``ConfigError`` (with positioned diagnostics) for a bad config file or block.
    """
    return resolve_settings_with_source(config)[0]
