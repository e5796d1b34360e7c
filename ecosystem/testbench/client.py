"""``HttpTestBenchClient``: the ``TestBench`` Protocol over HTTP (``POST /v1/evaluate``, ``/v1/reports``).

A thin ``ServiceClient``: the request model is sent as JSON, the answer validated back into the
same response model (a body outside the contract becomes ``ServiceProtocolError``), and error
bodies become the same ``TestBenchError`` subclasses the embedded backend raises.  A request
outside the models' bounds is ``InvalidRequest`` before anything is sent, as embedded.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ecosystem.client import ServiceClient
from ecosystem.errors import ServiceProtocolError
from ecosystem.models import revalidated
from ecosystem.testbench.errors import TestBenchError
from ecosystem.testbench.models import (
    EvaluationRequest,
    EvaluationResponse,
    GenerateReportRequest,
    TestReport,
)

_M = TypeVar("_M", bound=BaseModel)


class HttpTestBenchClient(ServiceClient):
    """Client of a remote Test-Bench service (``llm-orchestrator ecosystem serve testbench``)."""

    error_base = TestBenchError
    service_name = "Test-Bench"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, transport=transport)

    async def _post(self, path: str, body: BaseModel, model: type[_M]) -> _M:
        data: Any = await self.request("POST", path, json=body.model_dump(mode="json"))
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ServiceProtocolError(
                f"{self.service_name} answered POST {path} with a body that is not a {model.__name__}"
            ) from exc

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResponse:
        return await self._post("/v1/evaluate", revalidated(request), EvaluationResponse)

    async def generate_report(self, request: GenerateReportRequest) -> TestReport:
        return await self._post("/v1/reports", revalidated(request), TestReport)
