"""Reading the saved config block without defining Block classes when there is none (blocks.saved)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from blocks.saved import BLOCK_TYPE_SLUG

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROOT = Path(__file__).resolve().parents[2]


def test_the_slug_read_is_the_orchestrator_config_blocks() -> None:
    from blocks.configs import OrchestratorConfig

    assert OrchestratorConfig.get_block_type_slug() == BLOCK_TYPE_SLUG


def test_settings_without_a_saved_block_define_no_block_classes() -> None:
    from prefect.settings import PREFECT_API_URL

    script = ("import sys\nfrom blocks.resolve import resolve_settings_with_source\n"
              "print(resolve_settings_with_source(None)[1], 'blocks.configs' in sys.modules)\n")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}
    env.pop("LLM_ORCHESTRATOR_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["defaults", "False"]  # the API was asked; no block, so no classes
