"""orchestrator-config.yaml -> settings: the seed's file, and diagnostics for bad files at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.clients import resolve_systems
from blocks.settings import ConfigError, load_config_file, load_config_text, settings_from_mapping

SEED = Path(__file__).resolve().parents[2] / "examples" / "orchestrator-config.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "cfg.yaml")
    return [d.render() for d in info.value.diagnostics]


def test_the_seed_config_file_gives_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LLM_FORGE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_config_file(SEED)
    assert settings.storage.type == "postgresql"
    assert settings.storage.url == "postgresql://localhost/orchestrator"
    assert (settings.concurrency.worker_threads, settings.concurrency.max_parallel_tasks) == (8, 20)
    systems = resolve_systems(settings)
    forge = systems.forge
    assert forge.endpoint == "http://llm-forge:8080" and forge.timeout == 60.0
    assert (forge.retry_policy.max_attempts, forge.retry_policy.backoff_multiplier) == (3, 2.0)
    bench = systems.testbench
    assert bench.endpoint == "http://test-bench:8081" and bench.auto_evaluate is True
    assert bench.default_metrics == ["semantic_similarity", "factual_consistency"]
    opt = systems.optimizer
    assert (opt.endpoint, opt.batch_size, opt.flush_interval, opt.auto_apply_recommendations) == (
        "http://auto-optimizer:8082", 100, 30.0, True)
    assert opt.storage_url == "postgresql://localhost/orchestrator"  # shared storage
    gov = systems.governance
    assert (gov.endpoint, gov.enforce_policies, gov.audit_level.value) == ("http://governance:8083", True, "full")
    assert (gov.cost_limits.daily, gov.cost_limits.monthly) == (1000.0, 25000.0)


def test_unknown_keys_are_reported_at_their_position_with_did_you_mean() -> None:
    found = problems(
        "orchestrator:\n"
        "  storag:\n"
        "    type: sqlite\n"
        "  integrations:\n"
        "    llm-forge:\n"
        "      retry_policy:\n"
        "        max_attemps: 3\n"
        "    llm-test-bnch: {}\n"
        "    llm-governance-core:\n"
        "      enforce_policy: true\n"
    )
    assert found == [
        "cfg.yaml:2:3: E201 unknown field 'storag' in orchestrator\n    hint: did you mean 'storage'?",
        "cfg.yaml:7:9: E201 unknown field 'max_attemps' in orchestrator.integrations.llm-forge.retry_policy\n"
        "    hint: did you mean 'max_attempts'?",
        "cfg.yaml:8:5: E201 unknown integration 'llm-test-bnch' in orchestrator.integrations\n"
        "    hint: did you mean 'llm-test-bench'?",
        "cfg.yaml:10:7: E201 unknown field 'enforce_policy' in orchestrator.integrations.llm-governance-core\n"
        "    hint: did you mean 'enforce_policies'?",
    ]


def test_wrong_types_and_bad_durations_are_positioned() -> None:
    found = problems(
        "orchestrator:\n"
        "  concurrency:\n"
        "    max_parallel_tasks: lots\n"
        "  integrations:\n"
        "    llm-auto-optimizer:\n"
        "      flush_interval: 30 seconds\n"
        "      batch_size: [1]\n"
        "    llm-governance-core:\n"
        "      cost_limits: {daily: -5}\n"
    )
    assert found[0].startswith("cfg.yaml:3:25: E203 invalid value 'lots' for orchestrator.concurrency.max_parallel_tasks")
    assert found[1] == ("cfg.yaml:6:23: E203 invalid duration '30 seconds' for "
                        "orchestrator.integrations.llm-auto-optimizer.flush_interval\n"
                        "    hint: use seconds or a number with a unit: 250ms, 30s, 5m, 1h, 1h30m, 2d")
    assert found[2].startswith("cfg.yaml:7:19: E203 invalid value [1] for orchestrator.integrations.llm-auto-optimizer.batch_size")
    assert found[3].startswith("cfg.yaml:9:28: E203 invalid value -5 for "
                               "orchestrator.integrations.llm-governance-core.cost_limits.daily: input should be greater than 0")
    assert len(found) == 4


def test_durations_use_the_workflow_rules_and_run_keys_are_accepted() -> None:
    settings = load_config_text(
        "orchestrator:\n  integrations:\n    llm-forge: {timeout: 1m30s, retry_policy: {max_delay: 250ms}}\n"
        "    llm-governance-core: {approval_timeout: 2h, reservation_ttl: 15m}\n", "cfg.yaml")
    assert settings.integration("llm-forge") == {"timeout": 90.0, "retry_policy": {"max_delay": 0.25}}
    assert settings.integration("llm-governance-core") == {"approval_timeout": 7200.0, "reservation_ttl": 900.0}


def test_a_duration_named_key_inside_free_text_is_not_parsed() -> None:
    # offline_responses maps prompt substrings to text; a key called "timeout" is just text
    settings = load_config_text(
        "orchestrator:\n  integrations:\n    llm-forge:\n      offline_responses: {timeout: 'try later'}\n", "c.yaml")
    assert settings.integration("llm-forge")["offline_responses"] == {"timeout": "try later"}


def test_diagnostics_never_echo_a_secret() -> None:
    found = problems(
        "orchestrator:\n  integrations:\n    llm-forge:\n      api_keys: {anthropic: 987654321}\n"
        "      token: [sk-secret-token]\n")
    text = "\n".join(found)
    assert "987654321" not in text and "sk-secret-token" not in text
    assert "cfg.yaml:4:29: E203 invalid value ********** for orchestrator.integrations.llm-forge.api_keys.anthropic" in text


def test_document_level_problems() -> None:
    assert problems("orchestrator: {}\nextras: 1\n") == [
        "cfg.yaml:2:1: E201 unknown field 'extras' in document\n"
        "    hint: the config file has one top-level key, 'orchestrator'"]
    assert problems("- a\n- b\n")[0].startswith("cfg.yaml:1:1: E103 config file holds no mapping")
    assert problems("orchestrator:\n  offline: true\n  offline: false\n")[0].startswith(
        "cfg.yaml:3:3: E102 duplicate key 'offline'")
    assert problems("orchestrator: [\n")[0].startswith("cfg.yaml:2:1: E101 YAML syntax error")
    assert problems("orchestrator:\n  integrations: [llm-forge]\n")[0].startswith(
        "cfg.yaml:2:17: E203 orchestrator.integrations must be a mapping")


def test_an_unreadable_file_is_E100(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / "missing.yaml")
    assert [d.code for d in info.value.diagnostics] == ["E100"]


def test_mappings_without_positions_still_validate() -> None:
    assert settings_from_mapping({"concurrency": {"max_parallel_tasks": 3}}).concurrency.max_parallel_tasks == 3
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"orchestrator": {"integrations": {"llm-forge": {"timout": 3}}}})
    assert "did you mean 'timeout'?" in str(info.value)
