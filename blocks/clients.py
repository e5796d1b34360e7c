"""From orchestrator settings to the four systems' settings and clients: the one way there.

``resolve_systems(settings)`` turns ``OrchestratorSettings`` into each system's own settings
with the same rules for all four:

* **offline** (``--offline``, ``offline: true``, ``LLM_ORCHESTRATOR_OFFLINE=1``) means no network
  for any system: Forge serves every call from the offline provider, and the remote endpoints of
  Forge, Test-Bench, the Auto-Optimizer and Governance are ignored in favour of their embedded
  backends; Test-Bench's provider embeddings give way to the local model or the lexical proxy;
* **one store**: a system without a ``storage_url`` of its own uses ``orchestrator.storage.url``
  (SQLite in the user data dir when neither is set);
* **Governance's run keys** (``approval_timeout``, ``approval_poll_interval``, and whether the
  section turns policies on) are taken out of its section once, into ``GovernanceRunOptions``;
* **the environment** fills what the config leaves unset: API keys (``ANTHROPIC_API_KEY`` ...) and
  ``LLM_FORGE_ENDPOINT`` (``ForgeSettings.from_env``);
* **every secret** the result holds (API keys, service tokens, database passwords in URLs, the
  webhook URL, any ``SecretStr`` in any section) is collected once into ``secrets``, which every
  redaction (logs, errors, state messages, artifacts, the audit log) uses.

``Clients`` builds each client on first use from those settings, opens one ``Store`` per URL
that the systems of a run share, runs blocking work on a pool of ``worker_threads``, and closes
everything at the end.  The CLI, the Python API, the flow, Dask workers and the blocks'
``get_client()`` all come through here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from blocks.settings import GOVERNANCE_RUN_KEYS, ConfigError, OrchestratorSettings
from compiler.diagnostics import Diagnostic
from ecosystem.redaction import Redactor

if TYPE_CHECKING:
    from ecosystem.forge import Forge, ForgeSettings
    from ecosystem.governance import Governance, GovernanceSettings
    from ecosystem.optimizer import AutoOptimizer, AutoOptimizerSettings
    from ecosystem.store import Store
    from ecosystem.testbench import TestBench, TestBenchSettings

logger = logging.getLogger("llm_orchestrator")
T = TypeVar("T")

DEFAULT_APPROVAL_TIMEOUT = 3600.0
DEFAULT_APPROVAL_POLL = 5.0


@dataclass(frozen=True)
class GovernanceRunOptions:
    """What the run side reads from the ``llm-governance-core`` section besides
    ``GovernanceSettings``: whether the operator turned policies on, and approval timing."""

    enforce_policies: bool = False
    approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT
    approval_poll_interval: float = DEFAULT_APPROVAL_POLL
    budgets_configured: bool = False


@dataclass(frozen=True)
class SystemSettings:
    """Each system's settings for one run, resolved once (see the module docstring)."""

    orchestrator: OrchestratorSettings
    forge: ForgeSettings
    testbench: TestBenchSettings
    optimizer: AutoOptimizerSettings
    governance: GovernanceSettings
    governance_run: GovernanceRunOptions
    secrets: frozenset[str]

    @property
    def offline(self) -> bool:
        return self.orchestrator.offline

    @property
    def store_url(self) -> str | None:
        return self.orchestrator.storage.url


def _build(model: type[T], data: Mapping[str, Any], section: str) -> T:
    try:
        return model.model_validate(dict(data))  # type: ignore[attr-defined, no-any-return]
    except ValidationError as exc:
        raise ConfigError([
            Diagnostic("C202", f"integrations.{section}.{'.'.join(map(str, e['loc']))}: {e['msg']}", "<config>")
            for e in exc.errors(include_url=False)
        ]) from None


def _forge(settings: OrchestratorSettings) -> ForgeSettings:
    from ecosystem.forge import ForgeSettings

    data = settings.integration("llm-forge")
    env = ForgeSettings.from_env()
    keys = {**env.api_keys, **(data.pop("api_keys", None) or {})}
    data["base_urls"] = {**env.base_urls, **(data.get("base_urls") or {})}  # the config file wins over the env
    data.setdefault("endpoint", env.endpoint)
    if settings.offline:
        data["offline"] = True
        data["endpoint"] = None
    return _build(ForgeSettings, {**data, "api_keys": keys}, "llm-forge")


def _testbench(settings: OrchestratorSettings) -> TestBenchSettings:
    from ecosystem.testbench import TestBenchSettings

    data = settings.integration("llm-test-bench")
    if settings.offline:
        data.update(endpoint=None, embeddings=None)
        if data.get("similarity_backend") == "provider":
            data["similarity_backend"] = "auto"
    return _build(TestBenchSettings, data, "llm-test-bench")


def _optimizer(settings: OrchestratorSettings) -> AutoOptimizerSettings:
    from ecosystem.optimizer import AutoOptimizerSettings

    data = settings.integration("llm-auto-optimizer")
    if settings.storage.url and not data.get("storage_url"):
        data["storage_url"] = settings.storage.url
    if settings.offline:
        data["endpoint"] = None
    return _build(AutoOptimizerSettings, data, "llm-auto-optimizer")


def _governance(settings: OrchestratorSettings) -> tuple[GovernanceSettings, GovernanceRunOptions]:
    from compiler.durations import parse_duration
    from ecosystem.governance import GovernanceSettings

    section = settings.integration("llm-governance-core")
    run_keys = {key: section.pop(key) for key in GOVERNANCE_RUN_KEYS if key in section}
    if settings.storage.url and not section.get("storage_url"):
        section["storage_url"] = settings.storage.url
    if settings.offline:
        section["endpoint"] = None
    timeout = run_keys.get("approval_timeout")
    poll = run_keys.get("approval_poll_interval")
    options = GovernanceRunOptions(
        enforce_policies=section.get("enforce_policies") is True,
        approval_timeout=DEFAULT_APPROVAL_TIMEOUT if timeout is None else parse_duration(timeout),
        approval_poll_interval=max(0.1, DEFAULT_APPROVAL_POLL if poll is None else parse_duration(poll)),
        budgets_configured=bool(section.get("cost_limits")),
    )
    return _build(GovernanceSettings, section, "llm-governance-core"), options


def secrets_of(*values: Any) -> frozenset[str]:
    """Every secret in ``values``: ``SecretStr`` anywhere inside (pydantic models, mappings,
    lists), and the passwords of database URLs.  One collector, so no kind of secret is
    forgotten by one caller and remembered by another."""
    found: set[str] = set()

    def visit(value: Any, depth: int = 0) -> None:
        if depth > 12 or value is None:
            return
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.add(secret)
                password = _url_password(secret)
                if password:
                    found.add(password)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                item = getattr(value, name, None)
                if name in ("url", "storage_url") and isinstance(item, str):
                    password = _url_password(item)
                    if password:
                        found.add(password)
                visit(item, depth + 1)
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                visit(item, depth + 1)

    for value in values:
        visit(value)
    return frozenset(s for s in found if len(s) >= 4)


def _url_password(url: str) -> str | None:
    if "@" not in url or "://" not in url:
        return None
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password or None
    except Exception:  # noqa: BLE001 - not a database URL
        return None


def resolve_systems(settings: OrchestratorSettings) -> SystemSettings:
    """Each system's settings for a run; raises ``ConfigError`` for a section that does not fit."""
    forge = _forge(settings)
    testbench = _testbench(settings)
    optimizer = _optimizer(settings)
    governance, governance_run = _governance(settings)
    secrets = secrets_of(settings, forge, testbench, optimizer, governance)
    return SystemSettings(settings, forge, testbench, optimizer, governance, governance_run, secrets)


class Clients:
    """The clients of one run (or of one CLI command), built on first use; see the module
    docstring.  ``aclose`` closes them and the stores they share."""

    def __init__(self, systems: SystemSettings | OrchestratorSettings, *, transport: Any = None,
                 share_store: bool = True) -> None:
        self.systems = systems if isinstance(systems, SystemSettings) else resolve_systems(systems)
        self.settings = self.systems.orchestrator
        self._transport = transport
        # False for a single client handed to a caller (a block's get_client): it owns its store.
        self._share_store = share_store
        self._stores: dict[str | None, Store] = {}
        self._built: dict[str, Any] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.warned: set[str] = set()

    # -- secrets and warnings -----------------------------------------------------------------
    @property
    def secrets(self) -> frozenset[str]:
        return self.systems.secrets

    @functools.cached_property
    def redactor(self) -> Redactor:
        """Masks every secret of this configuration (``ecosystem.redaction``)."""
        return Redactor(self.systems.secrets)

    def warn_once(self, key: str, message: str, log: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> None:
        if key not in self.warned:
            self.warned.add(key)
            (log or logger).warning(message)

    # -- blocking work ----------------------------------------------------------------------------
    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the run's pool of ``concurrency.worker_threads`` threads."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.settings.concurrency.worker_threads, thread_name_prefix="llmo-worker")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    # -- clients ----------------------------------------------------------------------------------
    def store(self, url: str | None = None) -> Store:
        """The run's store at ``url`` (default: ``orchestrator.storage.url``), one per URL."""
        from ecosystem.store import Store

        key = url if url is not None else self.systems.store_url
        if key not in self._stores:
            self._stores[key] = Store.open(key)
        return self._stores[key]

    def _once(self, name: str, build: Callable[[], T]) -> T:
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]  # type: ignore[no-any-return]

    @property
    def forge(self) -> Forge:
        from ecosystem.forge import build_forge

        return self._once("forge", lambda: build_forge(self.systems.forge, transport=self._transport))

    @property
    def testbench(self) -> TestBench:
        from ecosystem.testbench import build_testbench

        def build() -> TestBench:
            settings = self.systems.testbench
            judge = forge_judge(self, settings.judge.model) if settings.judge is not None else None
            return build_testbench(settings, judge=judge, transport=self._transport)

        return self._once("testbench", build)

    @property
    def optimizer(self) -> AutoOptimizer:
        from ecosystem.optimizer import build_optimizer

        def build() -> AutoOptimizer:
            settings = self.systems.optimizer
            shared = self._share_store and not settings.endpoint
            return build_optimizer(settings, self.store(settings.storage_url) if shared else None)

        return self._once("optimizer", build)

    @property
    def governance(self) -> Governance:
        from ecosystem.governance import build_governance

        def build() -> Governance:
            settings = self.systems.governance
            shared = self._share_store and not settings.endpoint
            return build_governance(settings, self.store(settings.storage_url) if shared else None)

        return self._once("governance", build)

    def built(self, name: str) -> bool:
        return name in self._built

    async def aclose(self) -> None:
        for name, client in list(self._built.items()):
            try:
                closer = getattr(client, "aclose", None)
                if closer is not None:
                    await closer()
            except Exception:
                logger.exception("closing %s failed", name)
        self._built.clear()
        stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            try:
                store.close()
            except Exception:
                logger.exception("closing the store failed")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def forge_judge(clients: Clients, model: str) -> Any:
    """A Test-Bench ``Judge`` (async prompt -> text) that asks ``model`` through the run's Forge,
    so offline runs judge offline and a judge model is routed, limited and priced like any other."""

    async def judge(prompt: str) -> str:
        from ecosystem.forge import ForgeInferenceRequest

        response = await clients.forge.infer(ForgeInferenceRequest(
            prompt=prompt, model=model, temperature=0.0, max_tokens=512, metadata={"purpose": "test-bench-judge"},
        ))
        return str(response.text)

    judge.model = model  # type: ignore[attr-defined]
    return judge
