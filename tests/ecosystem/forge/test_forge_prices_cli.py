"""``llm-orchestrator prices import FILE`` / ``prices show MODEL``: the user's prices file from LiteLLM's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecosystem.forge import EmbeddedForge, ForgeInferenceRequest, ForgeSettings, PriceTable, TokenUsage
from ecosystem.forge.prices import user_prices_path
from llm_orchestrator.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "litellm_prices.json"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLM_ORCHESTRATOR_HOME", str(tmp_path))
    return tmp_path


def test_import_writes_the_user_prices_file_that_forge_then_reads(home: Path) -> None:
    result = CliRunner().invoke(app, ["prices", "import", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    target = home / "prices.json"
    assert user_prices_path() == target
    assert "imported 5 models (4 chat, 1 embedding)" in result.output
    assert f"wrote {target}" in result.output
    assert "1 duplicate id" in result.output and "1 mode completion" in result.output
    written = json.loads(target.read_text())
    assert written["models"]["llama-3.1-8b-instruct"] == {"input": 0.1, "output": 0.2, "provider": "hosted_vllm"}
    table = PriceTable()
    assert table.origin["llama-3.1-8b-instruct"] == "user file"
    found = table.cost(TokenUsage(prompt_tokens=1_000_000, completion_tokens=1_000_000), "llama-3.1-8b-instruct")
    assert found == pytest.approx(0.3)


async def test_forge_prices_an_endpoint_model_from_the_imported_file(home: Path) -> None:
    assert CliRunner().invoke(app, ["prices", "import", str(FIXTURE)]).exit_code == 0
    settings = ForgeSettings(offline=True)
    async with EmbeddedForge(settings) as forge:
        response = await forge.infer(ForgeInferenceRequest(prompt="hello", model="llama-3.1-8b-instruct",
                                                            provider="offline"))
    assert response.metadata["list_price_cost"] is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [("{oops", "is not JSON"), ('{"a": {"mode": "image_generation"}}', "no chat or embedding model")],
)
def test_a_bad_file_is_a_one_line_error(home: Path, tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = CliRunner().invoke(app, ["prices", "import", str(bad)])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (home / "prices.json").exists()
    missing = CliRunner().invoke(app, ["prices", "import", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_show_prints_the_tiers(home: Path) -> None:
    result = CliRunner().invoke(app, ["prices", "show", "gemini-2.5-pro-001", "--prompt-tokens", "250000"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "gemini-2.5-pro" in out and "bundled" in out
    assert "standard, prompt > 200,000 *" in out and "$2.5" in out and "$15" in out
    assert "batch" in out and "$0.625" in out
    unknown = CliRunner().invoke(app, ["prices", "show", "mystery-model"])
    assert unknown.exit_code == 1 and "no price known" in unknown.output
