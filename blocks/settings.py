"""The seed's ``orchestrator-config.yaml`` as one pydantic model, and where a run gets its config.

Resolution order for a run: an explicit ``--config`` file (or a mapping passed to the flow),
then (issue 8) the saved ``OrchestratorConfig`` block, then environment variables, then the
embedded defaults.  Integration sections are kept as mappings here and parsed by each
ecosystem's own settings model when that integration is built, so this file does not need to
change when an integration grows a field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from compiler.diagnostics import Diagnostic
from compiler.durations import parse_duration
from compiler.source import load_documents


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StorageSettings(_Section):
    type: str = "sqlite"
    url: str | None = None


class ConcurrencySettings(_Section):
    worker_threads: int = Field(default=8, ge=1)
    max_parallel_tasks: int = Field(default=20, ge=1)


class NotificationSettings(_Section):
    webhook_url: SecretStr | None = None


class OrchestratorSettings(_Section):
    storage: StorageSettings = Field(default_factory=StorageSettings)
    concurrency: ConcurrencySettings = Field(default_factory=ConcurrencySettings)
    integrations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    env_allowlist: list[str] = Field(default_factory=list)
    offline: bool = False
    task_runner: str = "default"

    @field_validator("integrations")
    @classmethod
    def _known_integrations(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        known = {"llm-forge", "llm-test-bench", "llm-auto-optimizer", "llm-governance-core"}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown integration(s) {sorted(unknown)}; known: {sorted(known)}")
        return {k: (v or {}) for k, v in value.items()}

    def integration(self, name: str) -> dict[str, Any]:
        return dict(self.integrations.get(name) or {})


class ConfigError(ValueError):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


def _normalise_durations(section: Any) -> Any:
    if isinstance(section, Mapping):
        out: dict[str, Any] = {}
        for key, value in section.items():
            if isinstance(value, str) and key in {"timeout", "flush_interval", "reservation_ttl"}:
                out[key] = parse_duration(value)
            else:
                out[key] = _normalise_durations(value)
        return out
    return section


def settings_from_mapping(data: Mapping[str, Any], file: str = "<config>") -> OrchestratorSettings:
    root = data.get("orchestrator", data) if isinstance(data, Mapping) else data
    try:
        return OrchestratorSettings.model_validate(_normalise_durations(root))
    except (ValidationError, ValueError) as exc:
        problems = exc.errors(include_url=False) if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        raise ConfigError([
            Diagnostic("C201", f"{'.'.join(map(str, p['loc'])) or 'config'}: {p['msg']}", file) for p in problems
        ]) from None


def load_config_file(path: str | Path) -> OrchestratorSettings:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Diagnostic("E100", f"cannot read config file: {exc.strerror or exc}", file)]) from None
    documents, diagnostics = load_documents(text, file)
    if diagnostics:
        raise ConfigError(diagnostics)
    if not documents or not isinstance(documents[0].data, Mapping):
        raise ConfigError([Diagnostic("E103", "config file holds no mapping", file)])
    return settings_from_mapping(documents[0].data, file)


def resolve_settings(config: str | Path | Mapping[str, Any] | OrchestratorSettings | None) -> OrchestratorSettings:
    """The effective settings for a run (explicit config first, then environment, then defaults).

    ``LLM_ORCHESTRATOR_OFFLINE=1`` forces the offline provider whatever the source (``--offline``).
    """
    if isinstance(config, OrchestratorSettings):
        settings = config
    elif isinstance(config, Mapping):
        settings = settings_from_mapping(config)
    elif config:
        settings = load_config_file(config)
    elif os.environ.get("LLM_ORCHESTRATOR_CONFIG"):
        settings = load_config_file(os.environ["LLM_ORCHESTRATOR_CONFIG"])
    else:
        settings = OrchestratorSettings()
    if os.environ.get("LLM_ORCHESTRATOR_OFFLINE", "").lower() in {"1", "true", "yes"} and not settings.offline:
        settings = settings.model_copy(update={"offline": True})
    return settings
