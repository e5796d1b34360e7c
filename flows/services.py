"""The services one run uses, built from its settings: ecosystem clients and hooks.

Clients are built on first use, so a workflow that never calls Forge never builds a Forge
client, and all of them are closed when the run ends.  ``hooks_for`` decides which
integrations hook into this run from the settings and the workflow's annotations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from blocks.settings import OrchestratorSettings

logger = logging.getLogger("llm_orchestrator")

# name -> factory(settings, services) -> client; integrations add theirs here.
CLIENT_FACTORIES: dict[str, Callable[[OrchestratorSettings, Services], Any]] = {}
# factories(run) -> hook or None; integrations add theirs here.
HOOK_FACTORIES: list[Callable[[Any], Any]] = []


class Services:
    def __init__(self, settings: OrchestratorSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self.warned: set[str] = set()
        # Secrets the run's clients hold, so reports and logs can redact any echo of them.
        self.secret_values: set[str] = set()

    def get(self, name: str) -> Any:
        if name not in self._clients:
            factory = CLIENT_FACTORIES.get(name)
            if factory is None:
                raise LookupError(f"no client factory registered for '{name}'")
            self._clients[name] = factory(self.settings, self)
        return self._clients[name]

    def has(self, name: str) -> bool:
        return name in self._clients

    def warn_once(self, key: str, message: str, log: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> None:
        if key not in self.warned:
            self.warned.add(key)
            (log or logger).warning(message)

    async def aclose(self) -> None:
        for name, client in list(self._clients.items()):
            try:
                closer = getattr(client, "aclose", None)
                if closer is not None:
                    await closer()
                elif hasattr(client, "close"):
                    client.close()
            except Exception:
                logger.exception("closing %s failed", name)
        self._clients.clear()


def hooks_for(run: Any) -> list[Any]:
    hooks = []
    # Factories marked `runs_last` (artifacts) see what every other hook added, whatever the import order.
    for factory in sorted(HOOK_FACTORIES, key=lambda f: bool(getattr(f, "runs_last", False))):
        hook = factory(run)
        if hook is not None:
            hooks.append(hook)
    return hooks


def annotation_flag(annotations: Any, key: str) -> bool | None:
    value = (annotations or {}).get(key)
    if value is None:
        return None
    return str(value).strip().lower() in {"1", "true", "yes", "on"}
