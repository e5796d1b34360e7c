"""The boundary the flow sees: ``TestBench``, whether it runs embedded or behind HTTP.

``tasks`` depends on this Protocol, never on ``EmbeddedTestBench`` or ``HttpTestBenchClient``;
``build_testbench`` picks the backend from settings.  Both raise the same ``TestBenchError``
classes, so callers handle a remote failure exactly as a local one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ecosystem.testbench.models import (
    EvaluationRequest,
    EvaluationResponse,
    GenerateReportRequest,
    TestReport,
)


@runtime_checkable
class TestBench(Protocol):
    async def evaluate(self, request: EvaluationRequest) -> EvaluationResponse: ...

    async def generate_report(self, request: GenerateReportRequest) -> TestReport: ...

    async def aclose(self) -> None: ...


TestBench.__test__ = False  # type: ignore[attr-defined]  # not a pytest test class despite the name
