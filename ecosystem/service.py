"""What every ecosystem HTTP service shares: the error shape, bearer auth, probes and a server.

Each system's ``server.py`` builds its routes on ``create_app``; the errors its embedded
implementation raises become ``{"error": {...}}`` bodies with the right status and a
``Retry-After`` header, so ``client.ServiceClient`` can turn them back into the same exceptions.

Decisions:

* **Every answer is the contract's JSON.**  Request validation is 422 (400 when the body is not
  JSON at all), and one ASGI guard turns any exception nothing else handled into a 500 in the
  error shape.  The guard logs the exception's type, an error id and its stack frames, never
  its message: a driver's message can carry a SQL parameter or a URL with a secret in it.
* **Auth is one guard in front of everything but the probes.**  The bearer scheme is matched
  case-insensitively (RFC 9110 section 11.1); the token is compared in constant time.
  ``GET /healthz`` (the process answers) and ``GET /readyz`` (its store answers a trivial
  query) need no token, so a load balancer can probe without the secret; they reveal nothing.
* **The OpenAPI document says all of it**: each ``/v1`` operation lists the error responses it
  can give in the shared shape, and the bearer scheme when a token is configured, so a fuzzer
  (tests/ecosystem/test_service_fuzz.py) can check every answer against it.
* **Servers bind 127.0.0.1**, and ``serve`` refuses a non-loopback address without a token
  unless told ``allow_unauthenticated=True`` (the CLI's ``--insecure-no-auth``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import secrets
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecosystem.errors import EcosystemError, InsecureBinding, ServiceUnavailable
from ecosystem.models import describe_errors

DEFAULT_HOST = "127.0.0.1"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
OPEN_PATHS = frozenset({HEALTH_PATH, READY_PATH})
READY_TIMEOUT_S = 5.0
MAX_BODY_BYTES = 32 * 1024 * 1024

logger = logging.getLogger("ecosystem.service")


class ErrorDetail(BaseModel):
    type: str = Field(description="Stable machine-readable kind, e.g. `invalid_request`, `budget_exceeded`.")
    message: str
    retry_after: float | None = Field(description="Seconds to wait before retrying; null when not retryable.")
    details: dict[str, Any] | None = Field(default=None, description="Structured fields of some errors.")


class ErrorBody(BaseModel):
    """The one error shape of every ecosystem service."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok", "ready"]


# Statuses every /v1 operation may answer with, besides its own (``create_app(errors=...)``).
COMMON_ERRORS: dict[int, str] = {
    400: "The body is not JSON.",
    401: "Missing or invalid bearer token (when the service requires one).",
    404: "Unknown route or resource.",
    413: "The body is larger than the service accepts.",
    422: "The request breaks the contract: a missing field, a wrong type or a value out of bounds.",
    429: "Rate limited; `Retry-After` says when to try again.",
    500: "Unexpected failure; the server log has the error id.",
    503: "A dependency (the store, a provider) is unavailable; retryable.",
}


def _body(error_type: str, message: str) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message, "retry_after": None}}


def error_response(error: EcosystemError) -> JSONResponse:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(error.retry_after)))
    return JSONResponse(error.to_body(), status_code=error.status, headers=headers)


def _plain_error(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(_body(error_type, message), status_code=status, headers=dict(headers or {}))


def _bearer_matches(header: str, token: str) -> bool:
    """``Authorization: <scheme> <credentials>`` with scheme ``bearer`` in any case, and the token."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(credentials.strip().encode(), token.encode())


class _Guard:
    """Pure ASGI middleware: bearer auth, the body-size limit, and the last-resort 500."""

    def __init__(self, app: ASGIApp, token: str | None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and scope.get("path") not in OPEN_PATHS:
            if not _bearer_matches(headers.get("authorization", ""), self.token):
                response = _plain_error(
                    401, "unauthorized", "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, receive, send)
            return

        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)
        except Exception as exc:
            if started:
                raise
            error_id = uuid.uuid4().hex[:12]
            _log_unhandled(exc, error_id, scope)
            response = _plain_error(
                500, "internal_error", f"unexpected server error (error id {error_id}; see the server log)"
            )
            await response(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _plain_error(413, "request_too_large", f"the body is larger than {self.max_body} bytes")
        await response(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` while a handler reads a body past the limit (a chunked upload has
    no Content-Length to refuse up front); FastAPI passes HTTP exceptions through untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


def _log_unhandled(exc: BaseException, error_id: str, scope: Scope) -> None:
    """Type, route and frames (file, line, function) of ``exc`` and its causes; never messages,
    source lines, arguments or locals."""
    chain: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 5:
        frames = "".join(
            f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n'
            for frame in traceback.extract_tb(current.__traceback__)
        )
        chain.append(f"{type(current).__module__}.{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    logger.error(
        "unhandled error %s in %s %s (message withheld; it may carry secrets):\n%s",
        error_id, scope.get("method"), scope.get("path"), "caused by ".join(chain),
    )


def create_app(
    title: str,
    *,
    token: str | None = None,
    version: str = "1",
    ready: Callable[[], None] | None = None,
    errors: Mapping[int, str] | None = None,
) -> FastAPI:
    """A FastAPI app with the shared error shape, the probes and, with ``token``, bearer auth.

    ``ready`` is a blocking check of the service's dependencies (normally ``Store.ping``) run by
    ``GET /readyz``; ``errors`` adds statuses this service's operations document besides
    ``COMMON_ERRORS`` (Governance's 402 and 403, Forge's 502 and 504...).
    """
    app = FastAPI(title=title, version=version)
    app.state.requires_token = bool(token)
    documented = {**COMMON_ERRORS, **(errors or {})}
    if not token and 401 not in (errors or {}):
        documented.pop(401)

    @app.exception_handler(EcosystemError)
    async def _ecosystem_error(_: Request, exc: EcosystemError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = list(exc.errors())
        if problems and all(p.get("type") == "json_invalid" for p in problems):
            return _plain_error(400, "invalid_request", "the body is not valid JSON")
        return _plain_error(422, "invalid_request", describe_errors(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {
            400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
            413: "request_too_large",
        }.get(exc.status_code, "http_error")
        return _plain_error(exc.status_code, kind, str(exc.detail), exc.headers)

    @app.get(HEALTH_PATH, tags=["probes"], summary="Liveness: the process answers (no token needed)")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        READY_PATH,
        tags=["probes"],
        summary="Readiness: the service's store answers a trivial query (no token needed)",
        response_model=Health,
        responses={503: {"model": ErrorBody, "description": "The store cannot be reached."}},
    )
    async def readyz() -> Any:
        if ready is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(ready), READY_TIMEOUT_S)
            except Exception as exc:
                logger.warning("%s not ready: %s", title, _describe_probe_failure(exc))
                return error_response(ServiceUnavailable("not ready: the service's store cannot be reached"))
        return Health(status="ready")

    app.add_middleware(_Guard, token=token)
    _document_errors(app, documented, bearer=bool(token))
    return app


def _describe_probe_failure(exc: BaseException) -> str:
    # Our own errors carry messages written to be shown (URLs with passwords hidden); others do not.
    if isinstance(exc, EcosystemError):
        return f"{type(exc).__name__}: {exc.message}"
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__


def _document_errors(app: FastAPI, documented: Mapping[int, str], *, bearer: bool) -> None:
    """Make ``app.openapi()`` list ``documented`` on every ``/v1`` operation (and bearer auth)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {})
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in sorted(documented.items()):
                    entry: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ref}}}
                    if status == 429:
                        entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": False}}
                    responses[str(status)] = entry
                if bearer:
                    operation["security"] = [{"bearerAuth": []}]
        for unused in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(unused, None)
        if bearer:
            components.setdefault("securitySchemes", {})["bearerAuth"] = {"type": "http", "scheme": "bearer"}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def readiness_of(implementation: object) -> Callable[[], None] | None:
    """The readiness check of an embedded implementation: its store's ``ping``, if it has a store."""
    from ecosystem.store import Store

    store = getattr(implementation, "store", None)
    return store.ping if isinstance(store, Store) else None


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1 (also IPv4-mapped); any other name or address is not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_binding(host: str, *, authenticated: bool, allow_unauthenticated: bool = False) -> None:
    """Raise ``InsecureBinding`` for a non-loopback ``host`` without a token, unless allowed."""
    if authenticated or allow_unauthenticated or is_loopback(host):
        return
    raise InsecureBinding(
        f"refusing to listen on {host} without a bearer token: anyone who can reach that address "
        "could use the service. Configure a token, bind 127.0.0.1, or say explicitly that you want "
        "an open service"
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(
    app: FastAPI,
    *,
    host: str = DEFAULT_HOST,
    port: int,
    log_level: str = "info",
    allow_unauthenticated: bool = False,
) -> None:
    """Run ``app`` in the foreground (the CLI's ``ecosystem serve``); see ``check_binding``."""
    check_binding(
        host,
        authenticated=bool(getattr(app.state, "requires_token", False)),
        allow_unauthenticated=allow_unauthenticated,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = DEFAULT_HOST, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on a real loopback socket from a background thread; yields the base URL.

    Used by contract tests and benchmarks: the client under test speaks real HTTP to it.
    """
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"server {app.title} did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


__all__ = [
    "COMMON_ERRORS",
    "DEFAULT_HOST",
    "ErrorBody",
    "check_binding",
    "create_app",
    "error_response",
    "free_port",
    "is_loopback",
    "readiness_of",
    "serve",
    "serve_in_thread",
]
