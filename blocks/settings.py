"""The seed's ``orchestrator-config.yaml`` as one pydantic model, and where a run gets its config.

Where a run's config comes from (a file, the saved block, the environment, the defaults) is
``blocks.resolve``.

Integration sections stay mappings of what the user wrote.  Presence matters to runs (a
Governance section that sets ``enforce_policies`` turns the hook on), so defaults are not filled
in here.  Each section is still validated against its ecosystem settings model when the file is
read.  An unknown key, a wrong type or a bad duration is a ``Diagnostic`` at the YAML node's
file:line:col, like a bad workflow's, with a "did you mean" from that model's fields.  Error
messages never echo a secret's value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from compiler.compile import CompileOptions
from compiler.diagnostics import Diagnostic, did_you_mean, sort_key
from compiler.durations import DurationError, parse_duration
from compiler.schema_errors import model_at, translate
from compiler.source import Path as NodePath
from compiler.source import SourceDocument, load_documents

logger = logging.getLogger("llm_orchestrator.config")

DEFAULT_BLOCK_NAME = "default"
INTEGRATIONS = ("llm-forge", "llm-test-bench", "llm-auto-optimizer", "llm-governance-core")
# Keys of the llm-governance-core section that the run reads and GovernanceSettings does not know
# (taken out once, by blocks.clients.resolve_systems).
GOVERNANCE_RUN_KEYS = ("approval_timeout", "approval_poll_interval")
# Fields that hold a duration ("60s", "5m", "1h30m" or seconds) in any section's model.
DURATION_FIELDS = frozenset({
    "timeout", "flush_interval", "reservation_ttl", "recommendation_cache_ttl", "initial_delay", "max_delay",
    "max_retry_after", "offline_latency", "latency", "approval_timeout", "approval_poll_interval", "reservation_wait",
    "offline_batch_delay", "batch_poll_interval",
})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def mask_url(url: str | None) -> str | None:
    """A database URL with its password replaced (``postgresql://app:***@db/x``)."""
    if not url or "@" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "**********"


class StorageSettings(_Section):
    # The stores there are: a misspelt or unsupported kind is a config error, not a silent SQLite.
    type: Literal["sqlite", "postgresql"] = "sqlite"
    url: str | None = None

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "url" else value


def _task_tags_mode(value: Any) -> Any:
    if isinstance(value, bool):  # the old switch: true (its default) kept limits working, as auto does
        return "auto" if value else "never"
    return value.strip().lower() if isinstance(value, str) else value


TaskTagsMode = Annotated[Literal["auto", "always", "never"], BeforeValidator(_task_tags_mode)]


class ConcurrencySettings(_Section):
    worker_threads: int = Field(default=8, ge=1)
    max_parallel_tasks: int = Field(default=20, ge=1)
    # Which task runs carry their [executor namespace, type] tags: auto, always or never
    # (flows.tags explains each; true means auto, false never).
    task_tags: TaskTagsMode = "auto"


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
        known = set(INTEGRATIONS)
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown integration(s) {sorted(unknown)}; known: {sorted(known)}")
        return {k: (v or {}) for k, v in value.items()}

    def integration(self, name: str) -> dict[str, Any]:
        return dict(self.integrations.get(name) or {})

    def compile_options(self) -> CompileOptions:
        """What the compiler needs from the config: the named Forge endpoints, which make
        ``llm-forge:<endpoint>`` a known executor, and ``env_allowlist`` (``env.X`` for any other
        X is a compile error).  The CLI's validate and run, the Python API and the flow all
        compile with these."""
        endpoints = self.integration("llm-forge").get("endpoints") or {}
        return CompileOptions(providers=frozenset(endpoints) if isinstance(endpoints, Mapping) else frozenset(),
                              env_allowlist=frozenset(self.env_allowlist))

    def __repr_args__(self) -> Any:
        # Secrets in sections are SecretStr already; database URLs stay str (the store wants one).
        for name, value in super().__repr_args__():
            if name == "integrations":
                value = {
                    section: {k: mask_url(v) if k == "storage_url" and isinstance(v, str) else v for k, v in data.items()}
                    for section, data in value.items()
                }
            yield name, value


class ConfigError(ValueError):
    """A config that cannot be used; ``diagnostics`` say what and where."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


# -- validation with positions ------------------------------------------------------------------


def section_models() -> dict[str, type[BaseModel]]:
    """Config section name -> the pydantic model that validates it (the ecosystem's settings;
    Governance's section also takes the run-side approval keys)."""
    from ecosystem.forge import ForgeSettings
    from ecosystem.governance import GovernanceSettings
    from ecosystem.optimizer import AutoOptimizerSettings
    from ecosystem.testbench import TestBenchSettings

    return {
        "llm-forge": ForgeSettings,
        "llm-test-bench": TestBenchSettings,
        "llm-auto-optimizer": AutoOptimizerSettings,
        "llm-governance-core": _governance_section_model(GovernanceSettings),
    }


_GOVERNANCE_SECTION: type[BaseModel] | None = None


def _governance_section_model(base: type[BaseModel]) -> type[BaseModel]:
    global _GOVERNANCE_SECTION
    if _GOVERNANCE_SECTION is None:

        class GovernanceSection(base):  # type: ignore[misc, valid-type]
            """``GovernanceSettings`` plus the keys the run reads (tasks.governance.run_options)."""

            approval_timeout: float | None = Field(default=None, ge=0, description="Seconds to wait for an approval.")
            approval_poll_interval: float | None = Field(default=None, ge=0, description="Seconds between checks.")

        _GOVERNANCE_SECTION = GovernanceSection
    return _GOVERNANCE_SECTION


def _dotted(path: NodePath) -> str:
    return ".".join(str(p) for p in path) or "document"


def _is_secret_annotation(annotation: Any) -> bool:
    text = repr(annotation)
    return "SecretStr" in text or "SecretDict" in text


def _normalise(
    value: Any, model: type[BaseModel], path: NodePath, rel: NodePath, doc: SourceDocument,
    diagnostics: list[Diagnostic], secrets: list[str],
) -> Any:
    """Durations parsed to seconds (only where ``model`` has a duration field), bad ones reported
    at their position; the values of secret fields collected so messages can mask them."""
    if isinstance(value, list):
        return [_normalise(v, model, (*path, i), (*rel, i), doc, diagnostics, secrets) for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    here = model_at(model, rel) if rel else model
    fields = here.model_fields if here is not None else {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        if field is not None and _is_secret_annotation(field.annotation):
            _collect_secrets(item, secrets)
            out[key] = _as_secret(item)
            continue
        if field is not None and key in DURATION_FIELDS and isinstance(item, str):
            try:
                out[key] = parse_duration(item)
            except DurationError:
                line, col = doc.position((*path, key))
                diagnostics.append(Diagnostic(
                    "E203", f"invalid duration {item!r} for {_dotted((*path, key))}", doc.file, line, col,
                    "use seconds or a number with a unit: 250ms, 30s, 5m, 1h, 1h30m, 2d",
                ))
            continue
        out[key] = _normalise(item, model, (*path, key), (*rel, key), doc, diagnostics, secrets)
    return out


def _as_secret(value: Any) -> Any:
    """Strings of secret fields (and of mappings of them) as SecretStr, so that no repr, log or
    dump of the settings shows them; anything else is left for validation to report."""
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, Mapping):
        return {k: SecretStr(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, Mapping):
        for item in value.values():
            _collect_secrets(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_secrets(item, found)
        found.append(str(value))
    elif isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif value is not None and not isinstance(value, bool) and str(value):
        found.append(str(value))


def _mask(diagnostics: list[Diagnostic], secrets: list[str]) -> list[Diagnostic]:
    values = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
    if not values:
        return diagnostics
    pattern = re.compile("|".join(re.escape(v) for v in values))
    return [
        Diagnostic(d.code, pattern.sub("**********", d.message), d.file, d.line, d.column,
                   pattern.sub("**********", d.hint) if d.hint else d.hint, d.severity)
        for d in diagnostics
    ]


def _view(doc: SourceDocument, data: Any) -> SourceDocument:
    # ``translate`` walks ``doc.data`` with pydantic's loc (relative to the validated section) to
    # drop union/validator names, and looks positions up by the full path (prefix + loc).
    return SourceDocument(data, doc.file, doc.index, doc.line, doc.positions, doc.key_positions)


def validate_document(doc: SourceDocument) -> tuple[OrchestratorSettings | None, list[Diagnostic]]:
    """Check a loaded config document; every problem is reported, each at its YAML node."""
    diagnostics: list[Diagnostic] = []
    secrets: list[str] = []
    data = doc.data
    if not isinstance(data, Mapping):
        return None, [Diagnostic("E103", "config file holds no mapping", doc.file, *doc.position(()),
                                 "start with 'orchestrator:' as in examples/orchestrator-config.yaml")]
    prefix: NodePath = ()
    root: Any = data
    if "orchestrator" in data:
        prefix = ("orchestrator",)
        root = data["orchestrator"]
        for key in data:
            if key != "orchestrator":
                line, col = doc.position((key,), key=True)
                diagnostics.append(Diagnostic(
                    "E201", f"unknown field '{key}' in document", doc.file, line, col,
                    did_you_mean(str(key), ["orchestrator"]) or "the config file has one top-level key, 'orchestrator'",
                ))
    if root is None:
        root = {}
    if not isinstance(root, Mapping):
        line, col = doc.position(prefix)
        return None, [*diagnostics, Diagnostic("E203", f"{_dotted(prefix)} must be a mapping", doc.file, line, col)]

    core = {k: v for k, v in root.items() if k != "integrations"}
    core = _normalise(core, OrchestratorSettings, prefix, (), doc, diagnostics, secrets)
    try:
        OrchestratorSettings.model_validate(core)
    except ValidationError as exc:
        diagnostics.extend(translate(exc, OrchestratorSettings, _view(doc, core), prefix))

    sections: dict[str, dict[str, Any]] = {}
    integrations = root.get("integrations")
    ipath = (*prefix, "integrations")
    if integrations is not None and not isinstance(integrations, Mapping):
        line, col = doc.position(ipath)
        diagnostics.append(Diagnostic("E203", f"{_dotted(ipath)} must be a mapping of integration sections",
                                      doc.file, line, col, "sections: " + ", ".join(INTEGRATIONS)))
    elif integrations:
        models = section_models()
        for name, section in integrations.items():
            spath = (*ipath, name)
            if name not in models:
                line, col = doc.position(spath, key=True)
                diagnostics.append(Diagnostic(
                    "E201", f"unknown integration '{name}' in {_dotted(ipath)}", doc.file, line, col,
                    did_you_mean(str(name), INTEGRATIONS) or "known: " + ", ".join(INTEGRATIONS),
                ))
                continue
            if section is None:
                section = {}
            if not isinstance(section, Mapping):
                line, col = doc.position(spath)
                diagnostics.append(Diagnostic("E203", f"{_dotted(spath)} must be a mapping", doc.file, line, col))
                continue
            model = models[name]
            cleaned = _normalise(section, model, spath, (), doc, diagnostics, secrets)
            try:
                model.model_validate(cleaned)
            except ValidationError as exc:
                diagnostics.extend(translate(exc, model, _view(doc, cleaned), spath))
            sections[name] = cleaned
    if diagnostics:
        return None, sorted(_mask(diagnostics, secrets), key=sort_key)
    return OrchestratorSettings.model_validate({**core, "integrations": sections}), []


def settings_from_mapping(data: Mapping[str, Any], file: str = "<config>") -> OrchestratorSettings:
    """Settings from an already-parsed config mapping (no positions: diagnostics point at 1:1)."""
    settings, diagnostics = validate_document(SourceDocument(data, file, 0, 1))
    if settings is None:
        raise ConfigError(diagnostics)
    return settings


def load_config_text(text: str, file: str = "<config>") -> OrchestratorSettings:
    documents, diagnostics = load_documents(text, file)
    if diagnostics:
        raise ConfigError(diagnostics)
    if not documents:
        raise ConfigError([Diagnostic("E103", "config file holds no mapping", file, 1, 1,
                                      "start with 'orchestrator:' as in examples/orchestrator-config.yaml")])
    if len(documents) > 1:
        line = documents[1].line
        raise ConfigError([Diagnostic("E103", "a config file holds one YAML document", file, line, 1)])
    settings, diagnostics = validate_document(documents[0])
    if settings is None:
        raise ConfigError(diagnostics)
    return settings


def load_config_file(path: str | Path) -> OrchestratorSettings:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Diagnostic("E100", f"cannot read config file: {exc.strerror or exc}", file)]) from None
    return load_config_text(text, file)
