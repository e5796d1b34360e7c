"""The Block classes against a real Prefect API: registration, ``config apply`` / ``config show``
through typer, every value back from the server, secrets masked everywhere a person can look."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from prefect import flow
from typer.testing import CliRunner

from blocks import (
    AutoOptimizerConfig,
    ForgeConfig,
    GovernanceConfig,
    OrchestratorConfig,
    TestBenchConfig,
)
from blocks.clients import resolve_systems
from blocks.settings import load_config_file
from ecosystem.forge.config import RetryPolicy
from ecosystem.governance import AuditLevel
from ecosystem.governance.models import CostLimits
from llm_orchestrator.cli_config import config_apply, config_show

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "orchestrator-config.yaml"
API_KEY = "sk-ant-test-0123456789abcdef"
ENV_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LLM_FORGE_ENDPOINT",
            "LLM_ORCHESTRATOR_CONFIG", "LLM_ORCHESTRATOR_OFFLINE")
BLOCK_CLASSES = (ForgeConfig, TestBenchConfig, AutoOptimizerConfig, GovernanceConfig, OrchestratorConfig)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_KEYS:
        monkeypatch.delenv(name, raising=False)


def cli() -> typer.Typer:
    app = typer.Typer()
    config = typer.Typer()
    config.command("apply")(config_apply)
    config.command("show")(config_show)
    app.add_typer(config, name="config")
    return app


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli(), list(args))


def seed_with_key(tmp_path: Path) -> Path:
    text = SEED.read_text(encoding="utf-8").replace(
        "      timeout: 60s\n", f"      timeout: 60s\n      api_keys:\n        anthropic: {API_KEY}\n")
    assert API_KEY in text
    path = tmp_path / "orchestrator-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def unset_fields(block: Any, set_fields: set[str]) -> dict[str, Any]:
    return {name: getattr(block, name) for name in type(block).model_fields if name not in set_fields
            and getattr(block, name) is not None}


def test_prefect_block_register_dash_m_blocks_registers_all_five() -> None:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    prefect = Path(sys.executable).with_name("prefect")
    done = subprocess.run([str(prefect), "block", "register", "-m", "blocks"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully registered 5 blocks" in done.stdout
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for cls in BLOCK_CLASSES:
            block_type = client.read_block_type_by_slug(cls.get_block_type_slug())
            assert block_type.description and ".load(" in (block_type.code_example or "")


def test_apply_saves_the_seed_config_and_every_value_loads_back(tmp_path: Path) -> None:
    result = invoke("config", "apply", str(seed_with_key(tmp_path)), "--name", "seed-test")
    assert result.exit_code == 0, result.output
    assert "saved llm-forge-config/seed-test-forge" in result.output
    assert "saved llm-orchestrator-config/seed-test" in result.output
    assert API_KEY not in result.output

    config = OrchestratorConfig.load("seed-test")
    assert config.storage_type == "postgresql"
    assert config.storage_url is not None and config.storage_url.get_secret_value() == "postgresql://localhost/orchestrator"
    assert (config.worker_threads, config.max_parallel_tasks) == (8, 20)
    assert (config.webhook_url, config.env_allowlist, config.offline, config.task_runner) == (None, [], False, "default")

    forge = config.forge
    assert isinstance(forge, ForgeConfig)
    assert forge.endpoint == "http://llm-forge:8080"
    assert forge.timeout == 60.0
    assert forge.retry_policy == RetryPolicy(max_attempts=3, backoff_multiplier=2.0)
    assert forge.api_keys is not None and forge.api_keys.get_secret_value() == {"anthropic": API_KEY}
    assert unset_fields(forge, {"endpoint", "timeout", "retry_policy", "api_keys"}) == {}

    bench = config.test_bench
    assert isinstance(bench, TestBenchConfig)
    assert (bench.endpoint, bench.auto_evaluate) == ("http://test-bench:8081", True)
    assert bench.default_metrics == ["semantic_similarity", "factual_consistency"]
    assert unset_fields(bench, {"endpoint", "auto_evaluate", "default_metrics"}) == {}

    opt = config.auto_optimizer
    assert isinstance(opt, AutoOptimizerConfig)
    assert (opt.endpoint, opt.batch_size, opt.flush_interval, opt.auto_apply_recommendations) == (
        "http://auto-optimizer:8082", 100, 30.0, True)
    assert unset_fields(opt, {"endpoint", "batch_size", "flush_interval", "auto_apply_recommendations"}) == {}

    gov = config.governance
    assert isinstance(gov, GovernanceConfig)
    assert (gov.endpoint, gov.enforce_policies, gov.audit_level) == ("http://governance:8083", True, AuditLevel.FULL)
    assert gov.cost_limits == CostLimits(daily=1000.0, monthly=25000.0)
    assert unset_fields(gov, {"endpoint", "enforce_policies", "cost_limits", "audit_level"}) == {}

    # the integration blocks are their own documents (the parent references them)
    assert ForgeConfig.load("seed-test-forge").api_keys.get_secret_value() == {"anthropic": API_KEY}
    assert GovernanceConfig.load("seed-test-governance").cost_limits == CostLimits(daily=1000.0, monthly=25000.0)

    # and a run gets exactly what the file gives
    from_block, from_file = config.to_settings(), load_config_file(seed_with_key(tmp_path))
    assert from_block.storage == from_file.storage and from_block.concurrency == from_file.concurrency
    assert set(from_block.integrations) == set(from_file.integrations)
    block_systems, file_systems = resolve_systems(from_block), resolve_systems(from_file)
    for system in ("forge", "testbench", "optimizer", "governance", "governance_run", "secrets"):
        assert getattr(block_systems, system) == getattr(file_systems, system)
    assert block_systems.forge.api_keys["anthropic"].get_secret_value() == API_KEY


def test_secrets_are_masked_in_repr_show_and_the_api_document(tmp_path: Path) -> None:
    path = seed_with_key(tmp_path)
    text = path.read_text().replace("url: postgresql://localhost/orchestrator",
                                    "url: postgresql://app:hunter2-pw@db.internal/orchestrator")
    text = text.replace("      audit_level: full\n", "      audit_level: full\n      token: gov-token-xyz\n")
    text = text.replace("  concurrency:\n", "  notifications:\n    webhook_url: https://hooks.example/T0/B0/webhook-secret\n"
                        "  concurrency:\n")
    path.write_text(text)
    secrets = (API_KEY, "hunter2-pw", "gov-token-xyz", "webhook-secret")
    assert invoke("config", "apply", str(path), "--name", "masked").exit_code == 0

    config = OrchestratorConfig.load("masked")
    shown = repr(config) + str(config) + repr(config.forge) + repr(config.to_settings())
    assert not any(s in shown for s in secrets)
    assert "SecretDict('**********')" in repr(config.forge)

    for fmt in ("yaml", "json"):
        result = invoke("config", "show", "--name", "masked", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert not any(s in result.output for s in secrets), result.output
        data = yaml.safe_load(result.output) if fmt == "yaml" else json.loads(result.output)
        orchestrator = data["orchestrator"]
        assert data["source"] == "block 'masked'"
        assert orchestrator["storage"]["url"] == "postgresql://app:***@db.internal/orchestrator"
        assert orchestrator["notifications"]["webhook_url"] == "**********"
        forge = orchestrator["integrations"]["llm-forge"]
        assert forge["api_keys"] == {"anthropic": "**********"}
        assert forge["endpoint"] == "http://llm-forge:8080" and forge["timeout"] == 60.0
        assert orchestrator["integrations"]["llm-governance-core"]["token"] == "**********"

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        forge_doc = client.read_block_document_by_name("masked-forge", "llm-forge-config", include_secrets=False)
        assert forge_doc.data["api_keys"] == {"anthropic": "********"}
        assert forge_doc.data["endpoint"] == "http://llm-forge:8080"
        parent = client.read_block_document_by_name("masked", "llm-orchestrator-config", include_secrets=False)
        assert set(parent.block_document_references) == {"forge", "test_bench", "auto_optimizer", "governance"}
        assert parent.data["storage_url"] == "********" and parent.data["webhook_url"] == "********"
        assert parent.data["forge"]["api_keys"] == {"anthropic": "********"}
        assert parent.data["governance"]["token"] == "********"
        assert not any(s in json.dumps(parent.data) + json.dumps(forge_doc.data) for s in secrets)
        with_secrets = client.read_block_document_by_name("masked-forge", "llm-forge-config", include_secrets=True)
        assert with_secrets.data["api_keys"] == {"anthropic": API_KEY}  # stored, only hidden


def test_endpoint_keys_and_headers_are_secret_in_the_api_but_reach_forge() -> None:
    forge = ForgeConfig.from_section({"endpoints": {"vllm": {
        "base_url": "http://gpu:8000/v1", "api_key": "vllm-key-123", "headers": {"X-Gateway": "gw-secret-456"},
        "default_model": "llama"}}})
    forge.save("endpoint-secrets", overwrite=True)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        doc = client.read_block_document_by_name("endpoint-secrets", "llm-forge-config", include_secrets=False)
    assert "vllm-key-123" not in json.dumps(doc.data) and "gw-secret-456" not in json.dumps(doc.data)
    assert doc.data["endpoints"] == {"vllm": {"base_url": "http://gpu:8000/v1", "default_model": "llama", "embedding_model": None}}
    endpoint = ForgeConfig.load("endpoint-secrets").to_settings().endpoints["vllm"]
    assert endpoint.api_key.get_secret_value() == "vllm-key-123"
    assert endpoint.headers == {"X-Gateway": "gw-secret-456"} and endpoint.default_model == "llama"


def test_resolution_order_file_then_block_then_env_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blocks.resolve import resolve_settings, resolve_settings_with_source

    def config(key: str, parallel: int) -> Path:
        path = tmp_path / f"{key}.yaml"
        path.write_text(f"orchestrator:\n  concurrency: {{max_parallel_tasks: {parallel}}}\n"
                        f"  integrations:\n    llm-forge: {{api_keys: {{anthropic: {key}}}}}\n")
        return path

    def forge_key(settings: Any) -> str | None:
        key = resolve_systems(settings).forge.api_keys.get("anthropic")
        return key.get_secret_value() if key else None

    file, block_file, env_file = config("from-file", 3), config("from-block", 5), config("from-env-file", 7)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    assert invoke("config", "apply", str(block_file)).exit_code == 0  # saved as 'default'
    try:
        settings = resolve_settings(file)
        assert (settings.concurrency.max_parallel_tasks, forge_key(settings)) == (3, "from-file")
        settings, source = resolve_settings_with_source(None)
        assert (settings.concurrency.max_parallel_tasks, forge_key(settings), source) == (5, "from-block", "block 'default'")
        monkeypatch.setenv("LLM_ORCHESTRATOR_CONFIG", str(env_file))
        assert resolve_settings(None).concurrency.max_parallel_tasks == 5  # the block beats the env's file
        assert asyncio.run(_source_inside_a_flow()) == (5, "block 'default'")  # what run_workflow sees
    finally:
        OrchestratorConfig.delete("default")
        for suffix in ("forge",):
            ForgeConfig.delete(f"default-{suffix}")
    settings = resolve_settings(None)
    assert (settings.concurrency.max_parallel_tasks, forge_key(settings)) == (7, "from-env-file")
    monkeypatch.delenv("LLM_ORCHESTRATOR_CONFIG")
    settings, source = resolve_settings_with_source(None)
    assert (settings.concurrency.max_parallel_tasks, forge_key(settings), source) == (20, "from-env", "defaults")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert forge_key(resolve_settings(None)) is None


def test_run_workflow_without_a_config_runs_on_the_saved_block(tmp_path: Path) -> None:
    from flows.workflow import run_workflow
    from tests.flows.helpers import probe, register, workflow

    register()
    probe.reset()
    path = tmp_path / "serial.yaml"
    path.write_text("orchestrator:\n  concurrency: {max_parallel_tasks: 1}\n")
    assert invoke("config", "apply", str(path)).exit_code == 0
    doc = workflow("\n".join(f"    - {{id: t{i}, executor: test:work, inputs: {{sleep: 0.05}}}}" for i in range(3)))
    try:
        state = asyncio.run(run_workflow(doc, {}, None, return_state=True))
    finally:
        OrchestratorConfig.delete("default")
    assert state.is_completed()
    assert probe.max_active == 1  # the block's limit, not the default of 20
    probe.reset()
    assert asyncio.run(run_workflow(doc, {}, None, return_state=True)).is_completed()
    assert probe.max_active == 3  # block deleted: defaults again


@flow(persist_result=False)
async def _source_inside_a_flow() -> tuple[int, str]:
    from blocks.resolve import resolve_settings_with_source

    settings, source = resolve_settings_with_source(None)  # sync, inside the flow's event loop
    return settings.concurrency.max_parallel_tasks, source


def test_without_a_prefect_api_no_block_is_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from blocks import resolve as settings_module

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("looked up a block without a configured API")

    monkeypatch.setattr("blocks.saved.read_saved_config", boom)
    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert settings_module.prefect_api_url() is None
        assert settings_module.resolve_settings_with_source(None)[1] == "defaults"
        result = invoke("config", "apply", str(SEED), "--name", "nowhere")
    assert result.exit_code == 2 and "no Prefect API configured" in result.output


def test_apply_reports_bad_files_and_names_without_saving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("orchestrator:\n  integrations:\n    llm-forge:\n      timeout: soon\n")
    result = invoke("config", "apply", str(bad), "--name", "never-saved")
    assert result.exit_code == 1
    assert f"{bad}:4:16: E203 invalid duration 'soon' for orchestrator.integrations.llm-forge.timeout" in result.output
    assert invoke("config", "apply", str(tmp_path / "missing.yaml")).exit_code == 2
    result = invoke("config", "apply", str(SEED), "--name", "Bad_Name")
    assert result.exit_code == 2 and "invalid block name 'Bad_Name'" in result.output
    result = invoke("config", "show", "--name", "never-saved")
    assert result.exit_code == 1 and "no saved OrchestratorConfig block named 'never-saved'" in result.output


def test_reapply_updates_the_referenced_blocks(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("orchestrator:\n  integrations:\n    llm-forge: {timeout: 10s}\n")
    assert invoke("config", "apply", str(path), "--name", "again").exit_code == 0
    path.write_text("orchestrator:\n  integrations:\n    llm-forge: {timeout: 20s}\n    llm-test-bench: {}\n")
    assert invoke("config", "apply", str(path), "--name", "again").exit_code == 0
    config = OrchestratorConfig.load("again")
    assert config.forge is not None and config.forge.timeout == 20.0
    assert config.test_bench is not None and config.governance is None
    assert set(config.to_settings().integrations) == {"llm-forge", "llm-test-bench"}
