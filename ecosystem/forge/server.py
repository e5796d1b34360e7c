"""``create_forge_app``: any ``Forge`` (normally ``EmbeddedForge``) served on the /v1 HTTP contract.

Built on ``ecosystem.service.create_app``, which turns raised ``ForgeError``s into the shared error
shape (with ``Retry-After``) and validates the bearer token when one is configured.  The app does
not own ``forge``: whoever built it closes it.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from ecosystem.forge.models import (
    EmbeddingRequest,
    EmbeddingResponse,
    ForgeInferenceRequest,
    ForgeInferenceResponse,
    ModelList,
    ToolRequest,
    ToolResult,
)
from ecosystem.forge.protocol import Forge
from ecosystem.service import create_app


def create_forge_app(forge: Forge, token: str | None = None) -> FastAPI:
    app = create_app("LLM-Forge", token=token)

    @app.post("/v1/inference", response_model=ForgeInferenceResponse)
    async def inference(request: ForgeInferenceRequest) -> ForgeInferenceResponse:
        return await forge.infer(request)

    @app.post("/v1/embeddings", response_model=EmbeddingResponse)
    async def embeddings(request: EmbeddingRequest) -> EmbeddingResponse:
        return await forge.embed(request)

    @app.post("/v1/tools/{name}", response_model=ToolResult)
    async def run_tool(name: str, body: ToolRequest) -> ToolResult:
        started = time.perf_counter()
        outputs: dict[str, Any] = await forge.run_tool(name, dict(body.inputs))
        return ToolResult(name=name, outputs=outputs, latency=time.perf_counter() - started)

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        return ModelList(models=await forge.list_models())

    return app
