"""Prefect Blocks for every integration config: ``ForgeConfig``, ``TestBenchConfig``,
``AutoOptimizerConfig``, ``GovernanceConfig`` and the ``OrchestratorConfig`` that ties them together.

Decisions:

* **A block holds what the user set, not the defaults.**  Integration fields default to ``None``
  ("unset: the ecosystem default applies", given in each description) and ``section()`` returns
  only the set ones.  Runs read presence: an ``llm-governance-core`` section that sets
  ``enforce_policies`` or ``cost_limits`` turns the Governance hook on, an ``llm-auto-optimizer``
  section turns metric collection on, an unset Forge ``endpoint`` lets ``LLM_FORGE_ENDPOINT``
  fill in.  Filling the defaults in would change what a run does.  ``to_settings()`` gives the
  full ecosystem settings, defaults included.
* **Nested blocks by reference.**  ``OrchestratorConfig`` has one field per integration, typed
  with that integration's block class.  When the nested blocks are saved first
  (``config apply`` saves ``<name>-forge`` ... then ``<name>``), Prefect stores the parent with
  ``$ref`` block-document references.  The UI shows a block picker, editing ``default-forge``
  changes what ``OrchestratorConfig.load("default")`` returns, and ``.load`` hydrates the whole
  tree in one call.  An unsaved nested block is embedded in the parent's document, and that
  works too.  A field left ``None`` means the section is absent.
* **Secrets the server can mask.**  Prefect's API obfuscates a secret by its path in the
  document.  A ``SecretStr`` inside a ``dict[str, Model]`` has no fixed path, so the server would
  return it in clear text.  So secrets inside mappings are ``SecretDict`` (every value masked):
  ``api_keys``, and the OpenAI-compatible endpoints' keys and headers (``endpoint_api_keys``,
  ``endpoint_headers``).  ``endpoints`` keeps only the non-secret part.  Database URLs can hold
  passwords, so they are ``SecretStr`` too.
* No ``_logo_url``/``_documentation_url``: the project publishes neither, and a made-up URL would
  show as a broken image in the UI.
"""

from __future__ import annotations

from abc import ABC
from typing import Annotated, Any, ClassVar, Literal

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import BaseModel, BeforeValidator, Field, SecretStr, model_validator

from blocks.settings import GOVERNANCE_RUN_KEYS, TaskTagsMode
from compiler.diagnostics import did_you_mean
from compiler.durations import parse_duration
from ecosystem.forge.config import (
    ModelPrice,
    OfflineFailure,
    OfflineModel,
    RateLimit,
    RetryPolicy,
)
from ecosystem.governance.models import AuditLevel, CostLimits, PolicyOptions
from ecosystem.testbench.models import EmbeddingSettings, JudgeSettings


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


# Seconds; "60s", "5m", "1h30m" are accepted as in orchestrator-config.yaml.
Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]

_PREFECT_KEYS = {"block_type_slug"}  # Prefect adds this to nested block data


def _reveal(value: Any) -> Any:
    """Plain values out of SecretStr/SecretDict, recursively (for building settings)."""
    if isinstance(value, SecretStr | SecretDict):
        return _reveal(value.get_secret_value())
    if isinstance(value, BaseModel):
        return _reveal(value.model_dump(exclude_none=True))
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _reject_unknown(cls: type[Block], data: Any) -> Any:
    """Prefect's Block accepts any extra field; a typo in a config must be an error instead."""
    if isinstance(data, dict):
        known = set(cls.model_fields)
        unknown = [k for k in data if k not in known and k not in _PREFECT_KEYS and not str(k).startswith("_")]
        if unknown:
            hints = [did_you_mean(str(k), known) for k in unknown]
            detail = "; ".join(f"'{k}'" + (f" ({h})" if h else "") for k, h in zip(unknown, hints, strict=True))
            raise ValueError(f"unknown field(s) for {cls.__name__}: {detail}")
    return data


class _ConfigBlock(Block, ABC):
    """Shared behaviour: unknown fields are errors (Prefect's Block allows extras) and
    ``section()``/``to_settings()`` convert the block into the config file's form and back."""

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any) -> Any:
        return _reject_unknown(cls, data)

    @classmethod
    def settings_model(cls) -> Any:
        """The ecosystem settings model this block builds."""
        raise NotImplementedError

    def section(self) -> dict[str, Any]:
        """The fields that are set, as the config file's mapping (secrets as ``SecretStr``)."""
        out: dict[str, Any] = {}
        targets = self.settings_model().model_fields
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr) and name in targets and "Secret" not in repr(targets[name].annotation):
                out[name] = value.get_secret_value()  # secret here, a plain str in the ecosystem (URLs)
            elif isinstance(value, SecretDict):
                out[name] = {
                    k: SecretStr(v) if isinstance(v, str) else v for k, v in value.get_secret_value().items()
                }
            elif isinstance(value, BaseModel):
                out[name] = value.model_dump(exclude_none=True)
            elif isinstance(value, dict):
                out[name] = {
                    k: v.model_dump(exclude_none=True) if isinstance(v, BaseModel) else v for k, v in value.items()
                }
            else:
                out[name] = value
        return out

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> Any:
        """The block for a validated config section (the ecosystem settings' own field names)."""
        return cls(**{k: v for k, v in section.items() if v is not None})

    def to_settings(self) -> Any:
        """The ecosystem settings (defaults filled in, secrets as ``SecretStr``)."""
        return self.settings_model().model_validate(_reveal(self.section()))


class ForgeEndpoint(BaseModel):
    """The non-secret part of a named OpenAI-compatible endpoint (vLLM, Ollama, LiteLLM proxy)."""

    base_url: str = Field(description="Including the API prefix, e.g. http://localhost:11434/v1.")
    default_model: str | None = Field(default=None, description="Model used when a task names none.")
    embedding_model: str | None = Field(default=None, description="Model used for embeddings when a request names none.")


class ForgeConfig(_ConfigBlock):
    """Configuration of LLM-Forge (the config file's `integrations.llm-forge`): where inference
    runs (embedded adapters, or a remote Forge at `endpoint`), provider API keys, retries, rate
    limits, prices and the offline provider.  Unset fields take Forge's defaults; provider keys
    not set here come from `ANTHROPIC_API_KEY`, `OPENAI_API_KEY` and `GEMINI_API_KEY` at run time.

    Example:
        ```python
        from blocks import ForgeConfig

        forge = ForgeConfig.load("default-forge")
        settings = forge.to_settings()   # ecosystem.forge.ForgeSettings
        client = forge.get_client()      # embedded Forge, or the HTTP client when endpoint is set
        ```
    """

    _block_type_name = "LLM Forge Config"
    _block_type_slug = "llm-forge-config"

    endpoint: str | None = Field(default=None, description="URL of a remote Forge service; unset: Forge runs embedded.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote Forge service.")
    api_keys: SecretDict | None = Field(
        default=None, description="Provider API keys by provider name: anthropic, openai, gemini."
    )
    default_models: dict[str, str] | None = Field(
        default=None, description="Default model per provider (merged over the built-in defaults)."
    )
    default_provider: str | None = Field(default=None, description="Provider used when a task names none (default anthropic).")
    timeout: Seconds | None = Field(default=None, description="Seconds per provider call (default 60; '60s' accepted).")
    retry_policy: RetryPolicy | None = Field(
        default=None, description="Retries of rate-limited/unavailable provider calls (default 3 attempts, x2 backoff)."
    )
    base_urls: dict[str, str] | None = Field(
        default=None, description="Base URL per provider, overriding the public APIs (proxies, test servers)."
    )
    endpoints: dict[str, ForgeEndpoint] | None = Field(
        default=None, description="Named OpenAI-compatible endpoints; their keys and headers are in the secret fields below."
    )
    endpoint_api_keys: SecretDict | None = Field(
        default=None, description="API key per named endpoint (endpoint name -> key)."
    )
    endpoint_headers: SecretDict | None = Field(
        default=None, description="Extra HTTP headers per named endpoint (endpoint name -> {header: value})."
    )
    rate_limits: dict[str, RateLimit] | None = Field(
        default=None, description="Client-side rate limits per provider or endpoint name."
    )
    prices: dict[str, ModelPrice] | None = Field(
        default=None, description="USD per million tokens by model, added to or overriding the bundled price table."
    )
    model_aliases: dict[str, str] | None = Field(
        default=None, description="A gateway's model alias -> the priced model it stands for (e.g. a LiteLLM proxy's names)."
    )
    max_connections: int | None = Field(default=None, ge=1, description="Connection pool size per provider (default 100).")
    offline: bool | None = Field(default=None, description="Serve every call from the offline provider (no network).")
    offline_responses: dict[str, str] | None = Field(
        default=None, description="Offline provider: prompt substring or model -> canned response (else echo)."
    )
    offline_failures: dict[str, OfflineFailure] | None = Field(
        default=None, description="Offline provider: prompt substring -> scripted failure (for retry demos)."
    )
    offline_latency: Seconds | None = Field(default=None, description="Offline provider: seconds per call (default 0).")
    offline_cost: float | None = Field(default=None, ge=0, description="Offline provider: reported USD per call.")
    offline_models: dict[str, OfflineModel] | None = Field(
        default=None, description="Offline provider: per-model latency and cost."
    )
    offline_batch_delay: Seconds | None = Field(
        default=None, description="Offline provider: seconds an offline batch takes before its results are ready.")
    offline_batch_discount: float | None = Field(
        default=None, ge=0, le=1, description="Offline provider: a batch item's cost as a share of a call's (default 0.5).")
    batch_poll_interval: Seconds | None = Field(
        default=None, description="Longest wait between two status polls of a provider batch (default 60 s).")
    batch_max_requests: int | None = Field(
        default=None, ge=1, description="Requests per provider batch at most; more are split (default: the provider's limit).")
    http_tool_allowed_hosts: list[str] | None = Field(
        default=None, description="Hosts the http-request tool may call ('*.example.com' allowed)."
    )

    @classmethod
    def settings_model(cls) -> Any:
        from ecosystem.forge import ForgeSettings

        return ForgeSettings

    def section(self) -> dict[str, Any]:
        out = super().section()
        keys = out.pop("endpoint_api_keys", {})
        headers = out.pop("endpoint_headers", {})
        if out.get("endpoints"):
            merged: dict[str, Any] = {}
            for name, endpoint in out["endpoints"].items():
                entry = dict(endpoint)
                if name in keys:
                    entry["api_key"] = keys[name]
                if name in headers:
                    entry["headers"] = _reveal(headers[name])
                merged[name] = entry
            out["endpoints"] = merged
        return out

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> ForgeConfig:
        data = {k: v for k, v in section.items() if v is not None}
        endpoints = data.pop("endpoints", None)
        if endpoints is not None:
            plain: dict[str, Any] = {}
            keys: dict[str, Any] = {}
            headers: dict[str, Any] = {}
            for name, entry in endpoints.items():
                entry = dict(entry)
                if entry.get("api_key") is not None:
                    keys[name] = _reveal(entry["api_key"])
                if entry.get("headers"):
                    headers[name] = dict(entry["headers"])
                plain[name] = {k: v for k, v in entry.items() if k in ForgeEndpoint.model_fields and v is not None}
            data["endpoints"] = plain
            if keys:
                data["endpoint_api_keys"] = keys
            if headers:
                data["endpoint_headers"] = headers
        if "api_keys" in data:
            data["api_keys"] = _reveal(data["api_keys"])
        return cls(**data)

    def get_client(self, transport: Any = None) -> Any:
        """The Forge these settings describe, built as a run builds it (``blocks.clients``)."""
        return _clients("llm-forge", self, transport).forge


class TestBenchConfig(_ConfigBlock):
    """Configuration of LLM-Test-Bench (the config file's `integrations.llm-test-bench`):
    embedded or remote evaluation, auto-evaluation of llm tasks, default metrics, thresholds
    and the similarity backend.  Unset fields take Test-Bench's defaults.

    Example:
        ```python
        from blocks import TestBenchConfig

        bench = TestBenchConfig.load("default-test-bench")
        client = bench.get_client()
        ```
    """

    __test__ = False  # not a pytest test class despite the name

    _block_type_name = "LLM Test-Bench Config"
    _block_type_slug = "llm-test-bench-config"

    endpoint: str | None = Field(default=None, description="URL of a remote Test-Bench service; unset: embedded.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote Test-Bench service.")
    timeout: Seconds | None = Field(default=None, description="HTTP timeout for the remote service, seconds (default 60).")
    auto_evaluate: bool | None = Field(default=None, description="Evaluate every llm task's response (default false).")
    default_metrics: list[str] | None = Field(
        default=None, description="Metrics used when a task names none (default semantic_similarity, factual_consistency)."
    )
    ground_truth_source: str | None = Field(default=None, description="Where reference answers come from, if anywhere.")
    thresholds: dict[str, float] | None = Field(default=None, description="Pass threshold per metric, overriding the defaults.")
    similarity_backend: Literal["auto", "local", "provider", "lexical"] | None = Field(
        default=None, description="auto (default): local model if installed, else provider embeddings if set, else lexical."
    )
    embeddings: EmbeddingSettings | None = Field(
        default=None, description="An OpenAI-compatible /v1/embeddings endpoint for semantic similarity."
    )
    judge: JudgeSettings | None = Field(default=None, description="LLM-judge mode: the judging model and the metrics it scores.")

    @classmethod
    def settings_model(cls) -> Any:
        from ecosystem.testbench import TestBenchSettings

        return TestBenchSettings

    def get_client(self, judge: Any = None, transport: Any = None) -> Any:
        """The Test-Bench these settings describe; ``judge`` (an async prompt -> text callable)
        replaces the configured judge model, which otherwise asks through a Forge built alike."""
        if judge is None:
            return _clients("llm-test-bench", self, transport).testbench
        from ecosystem.testbench import build_testbench

        return build_testbench(_clients("llm-test-bench", self, transport).systems.testbench, judge=judge,
                               transport=transport)


class AutoOptimizerConfig(_ConfigBlock):
    """Configuration of LLM-Auto-Optimizer (the config file's `integrations.llm-auto-optimizer`):
    metric batching, recommendation thresholds, and whether recommendations are applied to the
    next run.  A saved section turns metric collection on for every run.

    Example:
        ```python
        from blocks import AutoOptimizerConfig

        optimizer = AutoOptimizerConfig.load("default-auto-optimizer")
        client = optimizer.get_client()
        ```
    """

    _block_type_name = "LLM Auto-Optimizer Config"
    _block_type_slug = "llm-auto-optimizer-config"

    endpoint: str | None = Field(default=None, description="URL of a remote Auto-Optimizer service; unset: embedded.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote Auto-Optimizer service.")
    timeout: Seconds | None = Field(default=None, description="HTTP timeout for the remote service, seconds (default 30).")
    batch_size: int | None = Field(default=None, ge=1, description="Metrics per submission (default 100).")
    flush_interval: Seconds | None = Field(default=None, description="Seconds between background flushes (default 30; '30s' accepted).")
    auto_apply_recommendations: bool | None = Field(
        default=None, description="Apply recommendations to the next run's plan (default false)."
    )
    recommendation_cache_ttl: Seconds | None = Field(default=None, description="Seconds a computed recommendation is reused (default 300).")
    min_samples: int | None = Field(default=None, ge=2, description="Samples per arm before any statistical advice (default 5).")
    quality_margin: float | None = Field(default=None, ge=0, description="Largest quality loss a cheaper model may show (default 0.02).")
    min_saving_ratio: float | None = Field(default=None, gt=0, lt=1, description="Smallest cost saving worth a switch (default 0.2).")
    min_speedup: float | None = Field(default=None, ge=1, description="Smallest critical-path speedup worth a change (default 1.1).")
    min_repeat_rate: float | None = Field(default=None, gt=0, le=1, description="Input repeat rate that makes caching pay (default 0.3).")
    max_failed_flushes: int | None = Field(default=None, ge=1, description="Failed flushes before metrics go to the spool (default 3).")
    spool_dir: str | None = Field(default=None, description="Directory for unsent metrics (JSONL); the data dir when unset.")
    storage_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the metric store (may hold a password); orchestrator storage or SQLite when unset."
    )
    history_limit: int | None = Field(default=None, ge=10, description="Newest metrics read per workflow (default 20000).")
    bootstrap_resamples: int | None = Field(default=None, ge=100, description="Bootstrap resamples for confidence intervals (default 2000).")
    random_seed: int | None = Field(default=None, description="Seed of the bootstrap (default 0, reproducible advice).")

    @classmethod
    def settings_model(cls) -> Any:
        from ecosystem.optimizer import AutoOptimizerSettings

        return AutoOptimizerSettings

    def get_client(self) -> Any:
        """The Auto-Optimizer these settings describe, built as a run builds it (``blocks.clients``)."""
        return _clients("llm-auto-optimizer", self).optimizer


class GovernanceConfig(_ConfigBlock):
    """Configuration of LLM-Governance-Core (the config file's `integrations.llm-governance-core`):
    policy enforcement, cost limits (daily, monthly, per run), audit level, policy files and
    options, and how long a run waits for a person's approval.

    Example:
        ```python
        from blocks import GovernanceConfig

        governance = GovernanceConfig.load("default-governance")
        client = governance.get_client()   # embedded on the SQL store, or the HTTP client
        ```
    """

    _block_type_name = "LLM Governance Config"
    _block_type_slug = "llm-governance-config"

    endpoint: str | None = Field(default=None, description="URL of a remote Governance service; unset: embedded.")
    token: SecretStr | None = Field(default=None, description="Bearer token for the remote Governance service.")
    enforce_policies: bool | None = Field(
        default=None, description="Enforce policies on every run (unset: only workflows annotated governance.enforce-policies)."
    )
    cost_limits: CostLimits | None = Field(
        default=None, description="Budgets in USD: daily, monthly and the default per-run limit."
    )
    audit_level: AuditLevel | None = Field(default=None, description="none, basic or full (default full).")
    storage_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the ledger (may hold a password); orchestrator storage or SQLite when unset."
    )
    organization_id: str | None = Field(default=None, description="Organisation the budgets belong to (default 'default').")
    policy_files: list[str] | None = Field(default=None, description="YAML rule files to load.")
    policy_options: PolicyOptions | None = Field(
        default=None, description="Options of the built-in policies (content safety, data privacy, cost limit, model allowlist)."
    )
    reservation_ttl: Seconds | None = Field(
        default=None, description="Seconds before an unsettled reservation counts as spent (default 900).")
    reservation_wait: Seconds | None = Field(
        default=None, description="Seconds a call waits for reservations in flight to settle before a full budget refuses it (default 30).")
    approver: str | None = Field(default=None, description="Default approver for require_approval decisions.")
    timeout: Seconds | None = Field(default=None, description="HTTP timeout for the remote service, seconds (default 30).")
    approval_timeout: Seconds | None = Field(
        default=None, description="Seconds a paused run waits for a person's approval (default 3600)."
    )
    approval_poll_interval: Seconds | None = Field(
        default=None, description="Seconds between checks of an approval (default 5)."
    )

    _RUN_KEYS: ClassVar[tuple[str, ...]] = GOVERNANCE_RUN_KEYS

    @classmethod
    def settings_model(cls) -> Any:
        from ecosystem.governance import GovernanceSettings

        return GovernanceSettings

    def to_settings(self) -> Any:
        section = {k: v for k, v in self.section().items() if k not in self._RUN_KEYS}
        return self.settings_model().model_validate(_reveal(section))

    def get_client(self) -> Any:
        """The Governance these settings describe, built as a run builds it (``blocks.clients``)."""
        return _clients("llm-governance-core", self).governance


# config file section name -> (OrchestratorConfig field, block class, block name suffix)
INTEGRATION_BLOCKS: dict[str, tuple[str, type[_ConfigBlock], str]] = {
    "llm-forge": ("forge", ForgeConfig, "forge"),
    "llm-test-bench": ("test_bench", TestBenchConfig, "test-bench"),
    "llm-auto-optimizer": ("auto_optimizer", AutoOptimizerConfig, "auto-optimizer"),
    "llm-governance-core": ("governance", GovernanceConfig, "governance"),
}


class OrchestratorConfig(Block):
    """The whole orchestrator-config.yaml as one Prefect block: storage, concurrency and the
    four integrations as nested blocks (Forge, Test-Bench, Auto-Optimizer, Governance).  Runs
    read the block named `default` when no `--config` file is given and a Prefect API is
    configured; `llm-orchestrator config apply orchestrator-config.yaml` saves it.

    Example:
        ```python
        from blocks import OrchestratorConfig

        config = OrchestratorConfig.load("default")
        settings = config.to_settings()          # blocks.settings.OrchestratorSettings
        forge = config.get_client("forge")       # also "test-bench", "auto-optimizer", "governance"
        ```
    """

    _block_type_name = "LLM Orchestrator Config"
    _block_type_slug = "llm-orchestrator-config"

    storage_type: str = Field(default="sqlite", description="Store kind: sqlite (embedded default) or postgresql.")
    storage_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL shared by Governance and the Auto-Optimizer (may hold a password)."
    )
    worker_threads: int = Field(default=8, ge=1, description="Worker threads for blocking work.")
    max_parallel_tasks: int = Field(default=20, ge=1, description="Tasks of one run that may run at once (a workflow may lower it).")
    task_tags: TaskTagsMode = Field(
        default="auto",
        description="Which task runs carry their [executor namespace, type] tags: auto (those with a Prefect tag "
                    "concurrency limit), always, or never.",
    )
    forge: ForgeConfig | None = Field(default=None, description="The llm-forge section; unset: embedded Forge with defaults.")
    test_bench: TestBenchConfig | None = Field(default=None, description="The llm-test-bench section; unset: embedded with defaults.")
    auto_optimizer: AutoOptimizerConfig | None = Field(
        default=None, description="The llm-auto-optimizer section; unset: metrics are collected only for workflows that ask."
    )
    governance: GovernanceConfig | None = Field(
        default=None, description="The llm-governance-core section; unset: governance only for annotated workflows."
    )
    webhook_url: SecretStr | None = Field(default=None, description="Slack-compatible webhook for notification:alert tasks.")
    env_allowlist: list[str] = Field(default_factory=list, description="Environment variables workflows may read as env.*.")
    offline: bool = Field(default=False, description="Serve every LLM call from the offline provider (no network).")
    task_runner: str = Field(default="default", description="Prefect task runner: default (threads) or dask.")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any) -> Any:
        return _reject_unknown(cls, data)

    def integrations(self) -> dict[str, _ConfigBlock]:
        """The configured integration blocks by config section name."""
        found: dict[str, _ConfigBlock] = {}
        for section, (field, _, _) in INTEGRATION_BLOCKS.items():
            block = getattr(self, field)
            if block is not None:
                found[section] = block
        return found

    def to_settings(self) -> Any:
        """``OrchestratorSettings`` (the form every run uses); secrets stay ``SecretStr``."""
        from blocks.settings import OrchestratorSettings

        return OrchestratorSettings.model_validate({
            "storage": {"type": self.storage_type, "url": _reveal(self.storage_url)},
            "concurrency": {"worker_threads": self.worker_threads, "max_parallel_tasks": self.max_parallel_tasks,
                            "task_tags": self.task_tags},
            "integrations": {name: block.section() for name, block in self.integrations().items()},
            "notifications": {"webhook_url": self.webhook_url},
            "env_allowlist": list(self.env_allowlist),
            "offline": self.offline,
            "task_runner": self.task_runner,
        })

    @classmethod
    def from_settings(cls, settings: Any) -> OrchestratorConfig:
        """The block tree for ``OrchestratorSettings`` (integration blocks not yet saved)."""
        nested = {
            field: block_class.from_section(settings.integration(section))
            for section, (field, block_class, _) in INTEGRATION_BLOCKS.items()
            if section in settings.integrations
        }
        return cls(
            storage_type=settings.storage.type,
            storage_url=settings.storage.url,
            worker_threads=settings.concurrency.worker_threads,
            max_parallel_tasks=settings.concurrency.max_parallel_tasks,
            task_tags=settings.concurrency.task_tags,
            webhook_url=settings.notifications.webhook_url,
            env_allowlist=list(settings.env_allowlist),
            offline=settings.offline,
            task_runner=settings.task_runner,
            **nested,
        )

    def get_client(self, system: str) -> Any:
        """A client for one integration, built as a run builds it (``blocks.clients.Clients``): the
        shared storage URL, offline and the environment's API keys applied the same way."""
        from blocks.clients import Clients

        systems = {"forge": "forge", "test-bench": "testbench", "auto-optimizer": "optimizer", "governance": "governance"}
        if system not in systems:
            hint = did_you_mean(system, systems)
            raise ValueError(f"unknown system {system!r}; use one of {', '.join(systems)}" + (f" ({hint})" if hint else ""))
        return getattr(Clients(self.to_settings()), systems[system])


def _clients(section: str, block: _ConfigBlock, transport: Any = None) -> Any:
    """``Clients`` for a config holding only this block's section (``blocks.clients``)."""
    from blocks.clients import Clients
    from blocks.settings import OrchestratorSettings

    settings = OrchestratorSettings.model_validate({"integrations": {section: block.section()}})
    return Clients(settings, transport=transport, share_store=False)
