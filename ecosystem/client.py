"""Base for every ecosystem HTTP client: one pooled ``httpx.AsyncClient``, errors mapped back.

The transport is the seam: pass ``transport=`` to point a client at anything (tests use real
servers on loopback).  A response in the shared error shape becomes the matching
``EcosystemError`` subclass below the client's ``error_base``; anything else that is not our
contract becomes ``ServiceProtocolError``.  Network failures become ``ServiceUnavailable`` or
``ServiceTimeout``, both retryable.
"""

from __future__ import annotations

from typing import Any

import httpx

from ecosystem.errors import (
    EcosystemError,
    ServiceProtocolError,
    ServiceTimeout,
    ServiceUnavailable,
    error_class_for,
)


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class ServiceClient:
    """An async JSON client for one ecosystem service."""

    error_base: type[EcosystemError] = EcosystemError
    service_name: str = "ecosystem service"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        try:
            response = await self._client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise ServiceTimeout(f"{self.service_name} did not answer {method} {path} in time") from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"{self.service_name} unreachable at {self._client.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise self._error_from(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceProtocolError(
                f"{self.service_name} answered {method} {path} with a body that is not JSON"
            ) from exc

    def _error_from(self, response: httpx.Response) -> EcosystemError:
        header_hint = parse_retry_after(response.headers.get("retry-after"))
        try:
            body = response.json()
            error = body["error"]
            error_type, message = str(error["type"]), str(error["message"])
            retry_after = error.get("retry_after")
        except (ValueError, KeyError, TypeError):
            if response.status_code == 503:
                return ServiceUnavailable(f"{self.service_name} unavailable (HTTP 503)", retry_after=header_hint)
            if response.status_code == 504:
                return ServiceTimeout(f"{self.service_name} timed out (HTTP 504)", retry_after=header_hint)
            return ServiceProtocolError(
                f"{self.service_name} answered HTTP {response.status_code} outside the error contract"
            )
        cls = error_class_for(error_type, self.error_base)
        if cls is self.error_base and error_type != self.error_base.type:
            cls = error_class_for(error_type, EcosystemError)
        hint = float(retry_after) if isinstance(retry_after, int | float) else header_hint
        return cls(message, retry_after=hint)
