"""The Auto-Optimizer HTTP service: any ``AutoOptimizer`` (normally embedded) on the ``/v1`` contract.

Routes: ``POST /v1/metrics`` (body ``SubmitMetricsRequest``, answer ``{"accepted": n}``) and
``GET /v1/recommendations/{workflow}?include_task_level=true`` (the name may contain ``/``).  Optimizer errors become the
shared error body with their status; a request outside the models' bounds is a 422, and
``GET /readyz`` asks the metric store (``create_app``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path

from ecosystem.models import Identifier
from ecosystem.optimizer.models import Recommendations, SubmitMetricsRequest, SubmitMetricsResponse
from ecosystem.optimizer.protocol import AutoOptimizer
from ecosystem.service import create_app, readiness_of


def create_optimizer_app(optimizer: AutoOptimizer, token: str | None = None) -> FastAPI:
    app = create_app("llm-orchestrator auto-optimizer", token=token, ready=readiness_of(optimizer))

    @app.post("/v1/metrics")
    async def submit_metrics(request: SubmitMetricsRequest) -> SubmitMetricsResponse:
        return SubmitMetricsResponse(accepted=await optimizer.submit_metrics(request))

    @app.get("/v1/recommendations/{workflow:path}")
    async def recommendations(
        workflow: Annotated[Identifier, Path()], include_task_level: bool = True
    ) -> Recommendations:
        return await optimizer.get_recommendations(workflow, include_task_level=include_task_level)

    return app
