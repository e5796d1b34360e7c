"""The ``Forge`` Protocol: what tasks see, whether Forge is embedded or a remote service."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    ModelInfo,
)


@runtime_checkable
class Forge(Protocol):
    async def infer(self, request: ForgeInferenceRequest) -> ForgeInferenceResponse: ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse: ...

    async def run_tool(self, name: str, inputs: dict[str, Any]) -> dict[str, Any]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def aclose(self) -> None: ...
