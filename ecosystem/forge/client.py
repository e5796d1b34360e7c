"""``HttpForgeClient``: the ``Forge`` Protocol over HTTP, for a remote Forge service.

Routes: ``POST /v1/inference``, ``POST /v1/embeddings`` (an ``EmbeddingRequest``, answer an
``EmbeddingResponse``), ``POST /v1/tools/{name}`` (body ``{"inputs": {...}}``, answer a
``ToolResult``) and ``GET /v1/models`` (``{"models": [...]}``).  Errors in the shared shape come
back as the same ``ForgeError`` classes the embedded Forge raises (``error_base = ForgeError``),
and the generic service failures of ``ServiceClient`` are translated into their Forge
equivalents, so a task's retry condition treats a remote Forge exactly like an embedded one.
A request outside the models' bounds is refused here, before sending, as embedded Forge refuses it
(JSON encoding would otherwise turn a NaN into a null the server accepts).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr, ValidationError

from ecosystem.client import ServiceClient
from ecosystem.errors import (
    EcosystemError,
    ServiceNotFound,
    ServiceProtocolError,
    ServiceTimeout,
    ServiceUnauthorized,
    ServiceUnavailable,
)
from ecosystem.forge.errors import (
    ForgeAuthenticationFailed,
    ForgeError,
    ForgeInvalidRequest,
    ForgeMalformedResponse,
    ForgeServiceUnavailable,
    ForgeTimeout,
)
from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    ModelInfo,
    ModelList,
    ToolRequest,
    ToolResult,
)
from ecosystem.models import revalidated, validated

_TRANSLATE: dict[type[EcosystemError], type[ForgeError]] = {
    ServiceTimeout: ForgeTimeout,
    ServiceUnavailable: ForgeServiceUnavailable,
    ServiceUnauthorized: ForgeAuthenticationFailed,
    ServiceProtocolError: ForgeMalformedResponse,
    ServiceNotFound: ForgeServiceUnavailable,
}


class HttpForgeClient(ServiceClient):
    error_base = ForgeError
    service_name = "Forge"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | SecretStr | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        super().__init__(base_url, token=secret, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"HttpForgeClient({str(self._client.base_url)!r})"

    async def __aenter__(self) -> HttpForgeClient:
        return self

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        try:
            return await super().request(method, path, json=json, params=params)
        except ForgeError:
            raise
        except EcosystemError as exc:
            cls = next((forge for generic, forge in _TRANSLATE.items() if isinstance(exc, generic)), None)
            if cls is None:
                raise
            raise cls(exc.message, retry_after=exc.retry_after) from exc

    async def infer(self, request: ForgeInferenceRequest) -> ForgeInferenceResponse:
        request = revalidated(request, error=ForgeInvalidRequest)
        data = await self.request("POST", "/v1/inference", json=request.model_dump(mode="json"))
        return _parse(ForgeInferenceResponse, data)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        data = await self.request("POST", "/v1/embeddings", json=request.model_dump(mode="json"))
        return _parse(EmbeddingResponse, data)

    async def run_tool(self, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        body = validated(ToolRequest, {"inputs": inputs}, error=ForgeInvalidRequest)
        data = await self.request("POST", f"/v1/tools/{quote(name, safe='')}", json=body.model_dump(mode="json"))
        return _parse(ToolResult, data).outputs

    async def list_models(self) -> list[ModelInfo]:
        return _parse(ModelList, await self.request("GET", "/v1/models")).models


_T = TypeVar("_T", ForgeInferenceResponse, EmbeddingResponse, ToolResult, ModelList)


def _parse(model: type[_T], data: Any) -> _T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ForgeMalformedResponse(
            f"Forge answered with a body that is not a {model.__name__}: {exc.error_count()} problem(s)"
        ) from exc
