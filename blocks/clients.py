"""From orchestrator settings to each ecosystem system's own settings, and its client.

The seed's config sections (``integrations.llm-forge``, ``llm-test-bench``,
``llm-auto-optimizer``, ``llm-governance-core``) are passed to the matching ecosystem settings
model; ``orchestrator.storage.url`` is shared by Governance and the Auto-Optimizer so several
processes on one database share one set of budgets and one metric history.  Secrets missing
from the config are taken from the environment (``ANTHROPIC_API_KEY``...).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from blocks.settings import ConfigError, OrchestratorSettings
from compiler.diagnostics import Diagnostic


def _section(settings: OrchestratorSettings, name: str) -> dict[str, Any]:
    return settings.integration(name)


def _build(model: Any, data: dict[str, Any], section: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([
            Diagnostic("C202", f"integrations.{section}.{'.'.join(map(str, e['loc']))}: {e['msg']}", "<config>")
            for e in exc.errors(include_url=False)
        ]) from None


def storage_url(settings: OrchestratorSettings) -> str | None:
    return settings.storage.url


def forge_settings(settings: OrchestratorSettings) -> Any:
    from ecosystem.forge import ForgeSettings

    data = _section(settings, "llm-forge")
    if settings.offline:
        data["offline"] = True
        data.pop("endpoint", None)  # offline means no network at all, remote Forge included
    env = ForgeSettings.from_env()
    keys = {**{k: v for k, v in env.api_keys.items()}, **(data.pop("api_keys", None) or {})}
    data.setdefault("endpoint", env.endpoint)
    return _build(ForgeSettings, {**data, "api_keys": keys}, "llm-forge")


def governance_settings(settings: OrchestratorSettings) -> Any:
    from ecosystem.governance import GovernanceSettings

    data = _section(settings, "llm-governance-core")
    if settings.storage.url and not data.get("storage_url"):
        data["storage_url"] = settings.storage.url
    return _build(GovernanceSettings, data, "llm-governance-core")


def testbench_settings(settings: OrchestratorSettings) -> Any:
    from ecosystem.testbench import TestBenchSettings

    return _build(TestBenchSettings, _section(settings, "llm-test-bench"), "llm-test-bench")


def optimizer_settings(settings: OrchestratorSettings) -> Any:
    from ecosystem.optimizer import AutoOptimizerSettings

    data = _section(settings, "llm-auto-optimizer")
    if settings.storage.url and not data.get("storage_url"):
        data["storage_url"] = settings.storage.url
    return _build(AutoOptimizerSettings, data, "llm-auto-optimizer")
