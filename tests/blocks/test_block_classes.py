"""The Block classes without a server: they mirror the ecosystem settings, follow Prefect's block
conventions (descriptions, docstring with a .load example, secrets as SecretStr/SecretDict) and
build settings and clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from blocks import (
    AutoOptimizerConfig,
    ForgeConfig,
    GovernanceConfig,
    OrchestratorConfig,
    TestBenchConfig,
)
from blocks.settings import OrchestratorSettings
from ecosystem.forge import EmbeddedForge, ForgeSettings, HttpForgeClient
from ecosystem.governance import GovernanceSettings
from ecosystem.optimizer import AutoOptimizerSettings
from ecosystem.testbench import TestBenchSettings

PAIRS = [
    (ForgeConfig, ForgeSettings, {"endpoint_api_keys", "endpoint_headers"}),
    (TestBenchConfig, TestBenchSettings, set()),
    (AutoOptimizerConfig, AutoOptimizerSettings, set()),
    (GovernanceConfig, GovernanceSettings, {"approval_timeout", "approval_poll_interval"}),
]
ALL = (ForgeConfig, TestBenchConfig, AutoOptimizerConfig, GovernanceConfig, OrchestratorConfig)


@pytest.mark.parametrize(("block", "settings", "extra"), PAIRS)
def test_each_block_has_every_field_of_its_ecosystem_settings(block: Any, settings: Any, extra: set[str]) -> None:
    assert set(block.model_fields) == set(settings.model_fields) | extra
    assert block().to_settings() == settings()  # unset block fields = the ecosystem's defaults


def test_orchestrator_defaults_are_the_settings_defaults() -> None:
    assert OrchestratorConfig().to_settings() == OrchestratorSettings()


@pytest.mark.parametrize("block", ALL)
def test_block_conventions(block: Any) -> None:
    assert f'{block.__name__}.load("' in (block.__doc__ or "")
    assert ".load(" in block.get_code_example() and block.get_description()
    assert block.get_block_type_slug().startswith("llm-")
    missing = [name for name, field in block.model_fields.items() if not field.description]
    assert missing == []
    secret_words = ("token", "key", "password", "webhook", "storage_url", "headers")
    for name, field in block.model_fields.items():
        if any(word in name for word in secret_words):
            assert "Secret" in repr(field.annotation), f"{block.__name__}.{name} must be a secret type"


def test_secret_fields_reach_the_block_schema_for_the_ui() -> None:
    secret = OrchestratorConfig.model_json_schema()["secret_fields"]
    assert {"storage_url", "webhook_url", "forge.api_keys.*", "forge.endpoint_api_keys.*", "forge.endpoint_headers.*",
            "forge.token", "test_bench.token", "test_bench.embeddings.api_key", "auto_optimizer.storage_url",
            "governance.token", "governance.storage_url"} <= set(secret)


def test_unknown_fields_are_errors_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="'timout' \\(did you mean 'timeout'\\?\\)"):
        ForgeConfig(timout=3)
    with pytest.raises(ValidationError, match="did you mean 'max_parallel_tasks'"):
        OrchestratorConfig(max_paralel_tasks=3)


def test_durations_and_sections_round_trip() -> None:
    forge = ForgeConfig(timeout="1m", offline=True, api_keys={"openai": "sk-o"})
    assert forge.timeout == 60.0
    assert forge.section() == {"timeout": 60.0, "offline": True, "api_keys": {"openai": SecretStr("sk-o")}}
    assert ForgeConfig.from_section(forge.section()) == forge
    gov = GovernanceConfig(approval_timeout="2h", enforce_policies=False)
    assert gov.to_settings() == GovernanceSettings(enforce_policies=False)  # run keys are not Governance's
    assert gov.section() == {"enforce_policies": False, "approval_timeout": 7200.0}


def test_get_client_builds_the_backend_the_settings_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    embedded = ForgeConfig(offline=True).get_client()
    remote = ForgeConfig(endpoint="http://forge.internal:8080", token="t").get_client()
    try:
        assert isinstance(embedded, EmbeddedForge) and isinstance(remote, HttpForgeClient)
    finally:
        asyncio.run(embedded.aclose())
        asyncio.run(remote.aclose())
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    config = OrchestratorConfig(forge=ForgeConfig(offline=True))
    forge = config.get_client("forge")  # as a run builds it: the environment fills unset keys
    try:
        assert isinstance(forge, EmbeddedForge)
        assert forge.settings.api_keys["anthropic"].get_secret_value() == "sk-from-env"
    finally:
        asyncio.run(forge.aclose())
    with pytest.raises(ValueError, match="did you mean 'governance'"):
        config.get_client("governence")
