"""What every ecosystem HTTP service shares: the error shape, bearer auth and a loopback server.

Each system's ``server.py`` builds its routes on ``create_app``; the errors its embedded
implementation raises become ``{"error": {...}}`` bodies with the right status and a
``Retry-After`` header, so ``client.ServiceClient`` can turn them back into the same exceptions.
Servers bind 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecosystem.errors import EcosystemError

DEFAULT_HOST = "127.0.0.1"


def error_response(error: EcosystemError) -> JSONResponse:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(error.retry_after)))
    return JSONResponse(error.to_body(), status_code=error.status, headers=headers)


def _plain_error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": error_type, "message": message, "retry_after": None}}, status_code=status)


def create_app(title: str, *, token: str | None = None, version: str = "1") -> FastAPI:
    """A FastAPI app with the shared error shape and, when ``token`` is set, bearer authentication."""
    app = FastAPI(title=title, version=version)

    @app.exception_handler(EcosystemError)
    async def _ecosystem_error(_: Request, exc: EcosystemError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        return _plain_error(400, "invalid_request", problems or "invalid request body")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _plain_error(exc.status_code, kind, str(exc.detail))

    if token:
        expected = f"Bearer {token}"

        @app.middleware("http")
        async def _bearer(request: Request, call_next: Any) -> Any:
            supplied = request.headers.get("authorization", "")
            if not secrets.compare_digest(supplied.encode(), expected.encode()):
                return _plain_error(401, "unauthorized", "missing or invalid bearer token")
            return await call_next(request)

    return app


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(app: FastAPI, *, host: str = DEFAULT_HOST, port: int, log_level: str = "info") -> None:
    """Run ``app`` in the foreground (the CLI's ``ecosystem serve``)."""
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
