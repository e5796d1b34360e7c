"""`llm-orchestrator ecosystem serve`: each system answers on its /v1 contract, with bearer auth."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from ecosystem.service import free_port


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[tuple[str, str]]:
    system = request.param
    port = free_port()
    env = {**os.environ, "LLMO_TEST_TOKEN": "t0ken-for-tests", "LLM_ORCHESTRATOR_OFFLINE": "1",
           "LLM_ORCHESTRATOR_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_orchestrator", "ecosystem", "serve", system, "--port", str(port), "--token-env", "LLMO_TEST_TOKEN"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/docs", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {process.stderr.read().decode() if process.stderr else ''}") from None
                time.sleep(0.2)
        yield system, base
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


CALLS = {
    "forge": ("POST", "/v1/inference", {"prompt": "hello", "model": "claude-haiku-4-5"}),
    "test-bench": ("POST", "/v1/evaluate", {"task_id": "t", "response": "Paris", "ground_truth": "Paris", "metrics": ["exact_match"]}),
    "auto-optimizer": ("GET", "/v1/recommendations/some-workflow", None),
    "governance": ("POST", "/v1/budgets/check", {"run_id": "r1", "run_limit": 1.0}),
}


@pytest.mark.parametrize("served", list(CALLS), indirect=True)
def test_each_system_serves_its_contract_behind_a_bearer_token(served: tuple[str, str]) -> None:
    system, base = served
    method, path, body = CALLS[system]
    denied = httpx.request(method, base + path, json=body, timeout=30)
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "unauthorized"
    allowed = httpx.request(method, base + path, json=body, headers={"Authorization": "Bearer t0ken-for-tests"}, timeout=30)
    assert allowed.status_code == 200, allowed.text
    if system == "forge":
        assert allowed.json()["model"] == "offline:claude-haiku-4-5"


def test_unknown_system_and_missing_token_variable_are_usage_errors() -> None:
    from typer.testing import CliRunner

    from llm_orchestrator.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["ecosystem", "serve", "forgery"]).exit_code == 2
    assert runner.invoke(app, ["ecosystem", "serve", "forge", "--token-env", "LLMO_NOT_SET_ANYWHERE"]).exit_code == 2
