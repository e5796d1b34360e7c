"""``create_testbench_app``: any ``TestBench`` (normally the embedded one) served on ``/v1``.

Routes are the contract of DESIGN.md section 7: ``POST /v1/evaluate`` and ``POST /v1/reports``,
plus ``GET /v1/metrics`` listing the registry (what a remote caller can ask for).  Errors take
the shared ``{"error": {...}}`` shape through ``ecosystem.service.create_app``.  Test-Bench keeps
no store of its own, so ``GET /readyz`` answers as soon as the app does.  The app does not own
``bench``: whoever created it closes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ecosystem.service import create_app, readiness_of
from ecosystem.testbench.metrics import METRICS
from ecosystem.testbench.models import (
    EvaluationRequest,
    EvaluationResponse,
    GenerateReportRequest,
    TestReport,
)
from ecosystem.testbench.protocol import TestBench

ERRORS = {
    400: "The body is not JSON, or metrics cannot run on it: unknown metric, missing ground truth or options.",
    502: "The LLM judge answered something that is not a verdict.",
}


def create_testbench_app(bench: TestBench, token: str | None = None) -> FastAPI:
    app = create_app("llm-test-bench", token=token, ready=readiness_of(bench), errors=ERRORS)

    @app.post("/v1/evaluate", response_model=EvaluationResponse)
    async def evaluate(request: EvaluationRequest) -> EvaluationResponse:
        return await bench.evaluate(request)

    @app.post("/v1/reports", response_model=TestReport)
    async def reports(request: GenerateReportRequest) -> TestReport:
        return await bench.generate_report(request)

    @app.get("/v1/metrics")
    async def metrics() -> dict[str, Any]:
        return {
            "metrics": [
                {
                    "name": s.name, "family": s.family, "description": s.description,
                    "default_threshold": s.default_threshold, "needs_ground_truth": s.needs_ground_truth,
                    "needs_prompt": s.needs_prompt, "judge": s.judge,
                }
                for s in METRICS.values()
            ]
        }

    return app
