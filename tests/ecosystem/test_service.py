"""What every service shares (ecosystem/service.py), over real HTTP on loopback, for all four systems."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from service_apps import SYSTEMS, service_apps  # type: ignore[import-not-found]
from sqlalchemy import create_engine

from ecosystem.errors import InsecureBinding
from ecosystem.governance import EmbeddedGovernance, GovernanceSettings
from ecosystem.governance.server import create_governance_app
from ecosystem.service import check_binding, create_app, is_loopback, serve, serve_in_thread
from ecosystem.store import Store

TOKEN = "service-token-4242"
ERROR_KEYS = {"type", "message", "retry_after"}


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with service_apps(tmp_path_factory.mktemp("services"), TOKEN) as apps:
        with (
            serve_in_thread(apps["forge"]) as forge,
            serve_in_thread(apps["test-bench"]) as testbench,
            serve_in_thread(apps["auto-optimizer"]) as optimizer,
            serve_in_thread(apps["governance"]) as governance,
        ):
            yield dict(zip(SYSTEMS, (forge, testbench, optimizer, governance), strict=True))


def _error(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and ERROR_KEYS <= set(body["error"]), body
    assert body["error"]["type"] == error_type
    return str(body["error"]["message"])


@pytest.mark.parametrize("system", SYSTEMS)
def test_probes_answer_without_a_token_and_nothing_else_does(urls: dict[str, str], system: str) -> None:
    base = urls[system]
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
    denied = httpx.get(f"{base}/openapi.json")
    _error(denied, 401, "unauthorized")
    assert denied.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_matched_case_insensitively(urls: dict[str, str], scheme: str) -> None:
    response = httpx.post(
        f"{urls['governance']}/v1/budgets/check", json={"run_id": "r-case"},
        headers={"Authorization": f"{scheme} {TOKEN}"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "header", ["", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"Token {TOKEN}", f"{TOKEN}"]
)
def test_anything_but_the_token_is_refused_without_saying_what_was_wrong(urls: dict[str, str], header: str) -> None:
    response = httpx.post(
        f"{urls['governance']}/v1/budgets/check", json={"run_id": "r-case"}, headers={"Authorization": header}
    )
    message = _error(response, 401, "unauthorized")
    assert TOKEN not in message and TOKEN not in response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/budgets/reserve", {"run_id": "r", "workflow": "w", "task_id": "t", "amount": 1e20}, "amount"),
        ("/v1/costs", {"task_id": "t", "workflow_id": "w", "cost_usd": 1e20}, "cost_usd"),
        ("/v1/costs", {"task_id": "t", "workflow_id": "w", "cost_usd": 1, "total_tokens": 2**40}, "total_tokens"),
        ("/v1/budgets/check", {"run_id": "r" * 201}, "run_id"),
    ],
)
def test_values_the_store_cannot_hold_are_a_422_in_the_error_shape(
    urls: dict[str, str], path: str, body: dict[str, object], field: str
) -> None:
    response = httpx.post(f"{urls['governance']}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert f"body.{field}:" in _error(response, 422, "invalid_request")


def test_a_body_that_is_not_json_is_a_400_and_an_oversized_one_a_413(urls: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    _error(httpx.post(f"{urls['governance']}/v1/costs", content=b"{", headers=auth), 400, "invalid_request")
    huge = b'{"task_id": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    _error(httpx.post(f"{urls['governance']}/v1/costs", content=huge, headers=auth), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        yield from (huge[i : i + 1024 * 1024] for i in range(0, len(huge), 1024 * 1024))

    _error(httpx.post(f"{urls['governance']}/v1/costs", content=chunks(), headers=auth), 413, "request_too_large")


def test_readyz_is_503_in_the_error_shape_when_the_store_cannot_be_reached(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path}/missing/dir/governance.db"
    store = Store(unreachable, create_engine(unreachable))
    app = create_governance_app(EmbeddedGovernance(GovernanceSettings(), store), token=TOKEN)
    with serve_in_thread(app) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        message = _error(httpx.get(f"{base}/readyz"), 503, "service_unavailable")
    assert "store" in message and "missing" not in message
    store.close()


def test_an_unhandled_error_is_a_json_500_and_its_message_stays_out_of_body_and_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app("broken", token=TOKEN)

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("postgresql://admin:hunter2@db/prod refused")

    with serve_in_thread(app) as base, caplog.at_level(logging.ERROR, logger="ecosystem.service"):
        response = httpx.get(f"{base}/v1/boom", headers={"Authorization": f"Bearer {TOKEN}"})
    message = _error(response, 500, "internal_error")
    assert "hunter2" not in response.text and "hunter2" not in caplog.text
    error_id = message.split("error id ")[1].split(";")[0]
    assert error_id in caplog.text and "builtins.RuntimeError" in caplog.text and "GET /v1/boom" in caplog.text


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_openapi_document_declares_the_probes_the_errors_and_the_bearer_scheme(
    tmp_path: Path, system: str
) -> None:
    with service_apps(tmp_path, TOKEN) as apps:
        document = apps[system].openapi()
    assert document["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation
                continue
            assert operation["security"] == [{"bearerAuth": []}]
            for status in ("401", "404", "422", "429", "500", "503"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == error_ref, (path, status)
    assert document["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False),
     ("", False)],
)
def test_loopback_is_127_0_0_0_8_ipv6_loopback_and_localhost(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_a_token_or_an_explicit_opt_out() -> None:
    check_binding("127.0.0.1", authenticated=False)
    check_binding("0.0.0.0", authenticated=True)
    check_binding("0.0.0.0", authenticated=False, allow_unauthenticated=True)
    with pytest.raises(InsecureBinding, match="refusing to listen on 0.0.0.0 without a bearer token"):
        check_binding("0.0.0.0", authenticated=False)
    # serve() applies the same rule before it binds anything.
    with pytest.raises(InsecureBinding):
        serve(FastAPI(), host="0.0.0.0", port=1)
