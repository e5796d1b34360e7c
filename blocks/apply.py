"""``config apply`` and ``config show`` without the command line: save a config as blocks, and
render the effective configuration with every secret masked.

``apply_settings`` saves the integration blocks first (``<name>-forge``, ``<name>-test-bench``,
``<name>-auto-optimizer``, ``<name>-governance``), then ``OrchestratorConfig`` ``<name>``.  The
parent then holds block-document references to them (see ``blocks.configs``).  Only the
sections the file has are saved.  A block left from an earlier apply whose section is gone is
no longer referenced, and we leave it alone: it may have been edited in the UI.

``effective_config`` is what a run would use: every integration's full ecosystem settings,
defaults and environment fallbacks included.  Secrets show as ``**********``.  A database
URL shows with its password masked, so that the host and database are still readable.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from blocks.settings import GOVERNANCE_RUN_KEYS, INTEGRATIONS, OrchestratorSettings, mask_url

MASK = "**********"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class BlockNameError(ValueError):
    """A block document name Prefect would refuse."""


def check_block_name(name: str) -> str:
    if not _NAME.match(name):
        raise BlockNameError(
            f"invalid block name {name!r}: use lowercase letters, digits and dashes (e.g. 'default', 'prod-eu')"
        )
    return name


def block_names(name: str) -> dict[str, str]:
    """Config section -> the block document name ``apply`` saves it under (and '' -> the parent)."""
    from blocks.configs import INTEGRATION_BLOCKS

    return {"": name, **{section: f"{name}-{suffix}" for section, (_, _, suffix) in INTEGRATION_BLOCKS.items()}}


def apply_settings(settings: OrchestratorSettings, name: str = "default") -> list[tuple[str, str]]:
    """Save ``settings`` as blocks; returns ``(block type slug, document name)`` per saved block,
    the ``OrchestratorConfig`` last."""
    from blocks.configs import INTEGRATION_BLOCKS, OrchestratorConfig

    check_block_name(name)
    names = block_names(name)
    config = OrchestratorConfig.from_settings(settings)
    saved: list[tuple[str, str]] = []
    for section, (field, _, _) in INTEGRATION_BLOCKS.items():
        block = getattr(config, field)
        if block is None:
            continue
        block.save(names[section], overwrite=True, _sync=True)  # type: ignore[call-arg]
        saved.append((block.get_block_type_slug(), names[section]))
    config.save(name, overwrite=True, _sync=True)  # type: ignore[call-arg]
    saved.append((config.get_block_type_slug(), name))
    return saved


def effective_config(settings: OrchestratorSettings, source: str | None = None) -> dict[str, Any]:
    """The configuration a run with ``settings`` uses, in the config file's shape, secrets masked."""
    from blocks.clients import resolve_systems

    systems = resolve_systems(settings)
    sections: dict[str, Any] = {
        "llm-forge": systems.forge,
        "llm-test-bench": systems.testbench,
        "llm-auto-optimizer": systems.optimizer,
        "llm-governance-core": systems.governance,
    }
    integrations: dict[str, Any] = {}
    for section in INTEGRATIONS:
        data = sections[section].model_dump(mode="json")
        if "storage_url" in data:
            data["storage_url"] = mask_url(_plain(sections[section].storage_url))
        for endpoint in (data.get("endpoints") or {}).values():
            # headers carry gateway credentials as often as not; blocks keep them secret too
            endpoint["headers"] = {header: MASK for header in endpoint.get("headers") or {}}
        if section == "llm-governance-core":
            raw = settings.integration(section)
            for key in GOVERNANCE_RUN_KEYS:
                if key in raw:
                    data[key] = raw[key]
        data["configured"] = section in settings.integrations
        integrations[section] = data
    webhook = settings.notifications.webhook_url
    out: dict[str, Any] = {
        "orchestrator": {
            "storage": {"type": settings.storage.type, "url": mask_url(settings.storage.url)},
            "concurrency": settings.concurrency.model_dump(mode="json"),
            "notifications": {"webhook_url": MASK if webhook and webhook.get_secret_value() else None},
            "env_allowlist": list(settings.env_allowlist),
            "offline": settings.offline,
            "task_runner": settings.task_runner,
            "integrations": integrations,
        }
    }
    if source:
        out = {"source": source, **out}
    return out


def _plain(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


