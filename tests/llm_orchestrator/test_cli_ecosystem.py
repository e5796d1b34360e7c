"""`llm-orchestrator ecosystem serve`: each system answers on its /v1 contract, with bearer auth."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ecosystem.service import free_port


@contextmanager
def running(args: list[str], tmp_path: object, port: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``llm-orchestrator ecosystem serve ARGS`` in a subprocess, once its /healthz answers."""
    env = {**os.environ, "LLMO_TEST_TOKEN": "t0ken-for-tests", "LLM_ORCHESTRATOR_OFFLINE": "1",
           "LLM_ORCHESTRATOR_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_orchestrator", "ecosystem", "serve", *args, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {process.stderr.read().decode() if process.stderr else ''}") from None
                time.sleep(0.2)
        yield process, base
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[tuple[str, str]]:
    system = request.param
    with running([system, "--token-env", "LLMO_TEST_TOKEN"], tmp_path, free_port()) as (_, base):
        yield system, base


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
    assert httpx.get(base + "/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(base + "/readyz", timeout=30).json() == {"status": "ready"}
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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_an_open_service_beyond_loopback_is_refused_before_anything_starts(host: str, tmp_path: object) -> None:
    from typer.testing import CliRunner

    from llm_orchestrator.cli import app

    result = CliRunner().invoke(
        app, ["ecosystem", "serve", "governance", "--host", host], env={"LLM_ORCHESTRATOR_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert f"refusing to listen on {host} without a bearer token" in result.output
    assert "--insecure-no-auth" in result.output and "Traceback" not in result.output
    assert not list(Path(str(tmp_path)).iterdir())  # no store was opened


def test_insecure_no_auth_serves_beyond_loopback_and_says_so(tmp_path: object) -> None:
    port = free_port()
    with running(["governance", "--host", "0.0.0.0", "--insecure-no-auth"], tmp_path, port) as (process, base):
        response = httpx.post(base + "/v1/budgets/check", json={"run_id": "r1"}, timeout=30)
        assert response.status_code == 200, response.text
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "WARNING: governance on 0.0.0.0 has no authentication" in stderr.decode()


def test_loopback_needs_no_token(tmp_path: object) -> None:
    with running(["test-bench", "--host", "localhost"], tmp_path, free_port()) as (_, base):
        assert httpx.get(base + "/v1/metrics", timeout=30).status_code == 200

