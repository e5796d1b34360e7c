"""The README's commands run as written.

Every line of a ```sh block that starts with ``llm-orchestrator`` is run from the project root
(offline, with a scratch data directory, against the Prefect test harness), its ``*`` globs
expanded as a shell would and a ``> file`` redirection captured; it must exit 0, or the code a
trailing ``# exit N`` comment states.  Plain blocks are synopses: each subcommand they name
must exist (its ``--help`` exits 0).
"""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```([a-z]*)\n(.*?)^```", README, flags=re.S | re.M)


def _commands(kind: str) -> list[str]:
    return [line.strip() for lang, body in BLOCKS if lang == kind for line in body.splitlines()
            if line.strip().startswith("llm-orchestrator ")]


RUNNABLE = _commands("sh")
SYNOPSES = _commands("")


def test_the_readme_has_runnable_blocks() -> None:
    assert len(RUNNABLE) >= 6, RUNNABLE


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("line", RUNNABLE)
def test_each_runnable_command_works_as_written(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LLM_ORCHESTRATOR_HOME", str(tmp_path))
    monkeypatch.setenv("LLM_ORCHESTRATOR_OFFLINE", "1")
    expected = int(m.group(1)) if (m := re.search(r"#\s*exit (\d+)", line)) else 0
    words = shlex.split(line, comments=True)[1:]
    redirect = None
    if ">" in words:
        at = words.index(">")
        redirect, words = words[at + 1], words[:at]
    args: list[str] = []
    for word in words:
        args.extend(sorted(glob.glob(word)) if "*" in word else [word])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == expected, f"{line}\n{result.output[-3000:]}"
    assert "Traceback" not in result.output
    if redirect is not None:
        assert result.stdout.strip(), f"{line}: nothing to write to {redirect}"


@pytest.mark.parametrize("line", SYNOPSES)
def test_each_synopsis_names_a_real_subcommand(line: str) -> None:
    words = shlex.split(line, comments=True)[1:]
    command = [w for w in words[:2] if re.fullmatch(r"[a-z-]+", w) and w not in ("apply", "show")][:1]
    if line.split()[1] in ("config", "db", "ecosystem"):
        command = words[:2]
    for part in command[0].split("|") if command else []:
        result = CliRunner().invoke(app, [part, "--help"] if len(command) == 1 else [*command, "--help"])
        assert result.exit_code == 0, f"{line}: {result.output[-2000:]}"
