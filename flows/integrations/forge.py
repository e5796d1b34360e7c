"""Forge in a run: one client per run, built from the ``llm-forge`` settings."""

from __future__ import annotations

from typing import Any

from blocks.clients import forge_settings
from flows.services import CLIENT_FACTORIES


def _forge(settings: Any, services: Any) -> Any:
    from ecosystem.forge import build_forge

    forge_config = forge_settings(settings)
    services.secret_values.update(forge_config.secret_values())
    return build_forge(forge_config)


CLIENT_FACTORIES["forge"] = _forge
