"""The Auto-Optimizer HTTP service: any ``AutoOptimizer`` (normally embedded) on the ``/v1`` contract.

Routes: ``POST /v1/metrics`` (body ``SubmitMetricsRequest``, answer ``{"accepted": n}``) and
``GET /v1/recommendations/{workflow}?include_task_level=true`` (the name may contain ``/``).  Optimizer errors become the
shared error body with their status; request validation errors are 400 with plain sentences
(``create_app``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ecosystem.optimizer.models import SubmitMetricsRequest, SubmitMetricsResponse
from ecosystem.optimizer.protocol import AutoOptimizer
from ecosystem.service import create_app


def create_optimizer_app(optimizer: AutoOptimizer, token: str | None = None) -> FastAPI:
    app = create_app("llm-orchestrator auto-optimizer", token=token)

    @app.post("/v1/metrics")
    async def submit_metrics(request: SubmitMetricsRequest) -> dict[str, Any]:
        accepted = await optimizer.submit_metrics(request)
        return SubmitMetricsResponse(accepted=accepted).model_dump(mode="json")

    @app.get("/v1/recommendations/{workflow:path}")
    async def recommendations(workflow: str, include_task_level: bool = True) -> dict[str, Any]:
        result = await optimizer.get_recommendations(workflow, include_task_level=include_task_level)
        return result.model_dump(mode="json")

    return app
