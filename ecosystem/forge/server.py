"""``create_forge_app``: any ``Forge`` (normally ``EmbeddedForge``) served on the /v1 HTTP contract.

Built on ``ecosystem.service.create_app``, which turns raised ``ForgeError``s into the shared error
shape (with ``Retry-After``) and validates the bearer token when one is configured.  Forge keeps
no store, so ``GET /readyz`` answers as soon as the app does.  The app does not own ``forge``:
whoever built it closes it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import FastAPI, Path

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
from ecosystem.models import Identifier
from ecosystem.service import create_app, readiness_of

ERRORS = {
    400: "The provider rejected the request.",
    401: "Missing or invalid bearer token, or the provider refused Forge's API key.",
    404: "Unknown model, provider or tool.",
    422: "The request breaks the contract, a tool refused its inputs, or the provider filtered the content.",
    429: "Rate limited or out of quota; `Retry-After` says when to try again.",
    502: "The provider answered something malformed.",
    504: "The provider did not answer in time.",
}


def create_forge_app(forge: Forge, token: str | None = None) -> FastAPI:
    app = create_app("LLM-Forge", token=token, ready=readiness_of(forge), errors=ERRORS)

    @app.post("/v1/inference", response_model=ForgeInferenceResponse)
    async def inference(request: ForgeInferenceRequest) -> ForgeInferenceResponse:
        return await forge.infer(request)

    @app.post("/v1/embeddings", response_model=EmbeddingResponse)
    async def embeddings(request: EmbeddingRequest) -> EmbeddingResponse:
        return await forge.embed(request)

    @app.post("/v1/tools/{name}", response_model=ToolResult)
    async def run_tool(name: Annotated[Identifier, Path()], body: ToolRequest) -> ToolResult:
        started = time.perf_counter()
        outputs: dict[str, Any] = await forge.run_tool(name, dict(body.inputs))
        return ToolResult(name=name, outputs=outputs, latency=time.perf_counter() - started)

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        return ModelList(models=await forge.list_models())

    return app
