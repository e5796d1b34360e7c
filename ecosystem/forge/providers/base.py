"""What every HTTP provider adapter shares: one pooled ``httpx.AsyncClient`` and error mapping.

An adapter translates a ``ForgeInferenceRequest`` into its provider's wire format and the answer
back into a ``ForgeInferenceResponse`` (without cost or latency: ``EmbeddedForge`` adds those, as
it knows the price table and the retries).  Every foreign failure becomes a ``ForgeError`` here,
with ``raise ... from exc``: httpx timeouts -> ``ForgeTimeout``, refused or dropped connections
-> ``ForgeServiceUnavailable``, bodies that are not the provider's JSON -> ``ForgeMalformedResponse``.
Status codes map to the tree first and the provider's own error type refines them.  Provider
messages pass through ``redact`` because some echo (part of) the key they rejected.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeError,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeRateLimited,
    ForgeServiceUnavailable,
    ForgeTimeout,
    ModelNotFound,
)
from ecosystem.forge.models import ForgeInferenceRequest, ForgeInferenceResponse

MAX_MESSAGE = 500


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI), else ``retry-after`` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "**********")
    return text[:MAX_MESSAGE]


def status_error(status: int) -> type[ForgeError]:
    """The error class an HTTP status means before the provider's own error type refines it."""
    if status in (401, 403):
        return ForgeAuthenticationFailed
    if status == 404:
        return ModelNotFound
    if status in (408, 504):
        return ForgeTimeout
    if status == 429:
        return ForgeRateLimited
    if status >= 500:
        return ForgeServiceUnavailable
    if status >= 400:
        return ForgeInvalidRequest
    return ForgeError


class HttpProvider:
    """Base adapter: subclasses set ``name`` and implement ``infer`` and ``error_from``."""

    name: ClassVar[str] = "provider"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
        max_connections: int = 100,
        label: str | None = None,
    ) -> None:
        self.label = label or self.name
        self._api_key = api_key
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={**self.auth_headers(api_key), **(headers or {})},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def auth_headers(self, api_key: SecretStr | None) -> dict[str, str]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def infer(self, request: ForgeInferenceRequest, model: str) -> ForgeInferenceResponse:
        raise NotImplementedError

    def error_from(self, response: httpx.Response, body: Any) -> ForgeError:
        raise NotImplementedError

    def redact(self, text: str) -> str:
        secrets = [self._api_key.get_secret_value()] if self._api_key else []
        return redact(text, secrets)

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.send_json("POST", path, json=body)

    async def send_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """``method path`` (``kwargs`` as httpx takes them) answered with a JSON object, or a ForgeError."""
        response = await self.send(method, path, **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise ForgeMalformedResponse(
                f"{self.label} answered HTTP {response.status_code} with a body that is not JSON "
                f"({len(response.content)} bytes, content-type {response.headers.get('content-type')!r})"
            ) from exc
        if not isinstance(data, dict):
            raise ForgeMalformedResponse(f"{self.label} answered with JSON that is not an object")
        return data

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method path`` on the provider; transport failures and error statuses become ForgeErrors."""
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ForgeTimeout(
                f"{self.label} did not answer within the timeout ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            # Refused connections and connections dropped mid-response alike: the service is not there.
            raise ForgeServiceUnavailable(
                f"{self.label} unreachable or dropped the connection: {type(exc).__name__}: {self.redact(str(exc))}"
            ) from exc
        if response.status_code >= 400:
            try:
                error_body: Any = response.json()
            except ValueError:
                error_body = None
            raise self.error_from(response, error_body)
        return response

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on this provider's host (only there may its key be sent)."""
        target, base = httpx.URL(url), self._client.base_url
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)

    def fallback_error(self, response: httpx.Response, message: str | None = None) -> ForgeError:
        cls = status_error(response.status_code)
        text = message or f"HTTP {response.status_code} {response.reason_phrase}".strip()
        return cls(f"{self.label}: {self.redact(text)}", retry_after=parse_retry_after(response.headers))


def malformed(label: str, exc: Exception) -> ForgeMalformedResponse:
    return ForgeMalformedResponse(
        f"{label} answered without the expected fields ({type(exc).__name__}: {exc})"
    )


def as_vector(value: Any) -> list[float]:
    """An embedding from a provider's answer: a non-empty list of finite numbers."""
    if not isinstance(value, list) or not value:
        raise TypeError("an embedding is not a non-empty list")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        raise TypeError("an embedding holds something that is not a number")
    return [float(x) for x in value]


def as_int(value: Any) -> int:
    """A token count that may be missing or null in the provider's answer."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"token count {value!r} is not a number")
    return int(value)
