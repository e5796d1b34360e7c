"""A run imports what it uses (issue 12): a workflow of built-ins, no LLM calls, loads neither
pandas (tables are plain records) nor SQLAlchemy and Alembic (nothing to record in the store).
Measured in a fresh process against the session's Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = """\
apiVersion: orchestrator.llm/v1
kind: Workflow
metadata: {name: lean}
spec:
  tasks:
    - id: pick
      executor: orchestrator:json
      inputs: {data: {a: 1}, pick: a}
"""


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_without_llm_calls_imports_neither_pandas_nor_the_store(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    path = tmp_path / "lean.yaml"
    path.write_text(WORKFLOW)
    script = ("import asyncio, sys\nfrom flows.workflow import run_workflow\n"
              f"state = asyncio.run(run_workflow({str(path)!r}, {{}}, None, return_state=True))\n"
              "print(state.is_completed(), sorted(m for m in ('pandas', 'sqlalchemy', 'alembic') if m in sys.modules))\n")
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT),
           "LLM_ORCHESTRATOR_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "True []"
