"""``HttpAutoOptimizerClient``: the ``AutoOptimizer`` protocol over the ``/v1`` HTTP contract.

``POST /v1/metrics`` with a ``SubmitMetricsRequest`` -> ``{"accepted": n}``;
``GET /v1/recommendations/{workflow}?include_task_level=true`` -> ``Recommendations``.
The recommendation cache lives in the service (the embedded implementation behind it), so every
client of one service shares it.  Failures are the shared ``EcosystemError`` tree: a 503 or a
closed port is ``ServiceUnavailable`` (retryable), which ``MetricBuffer`` absorbs.  Arguments
outside the models' bounds are ``InvalidRequest`` before anything is sent, as embedded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from ecosystem.client import ServiceClient
from ecosystem.errors import ServiceProtocolError
from ecosystem.models import revalidated, validated
from ecosystem.optimizer.errors import OptimizerError
from ecosystem.optimizer.models import (
    AutoOptimizerSettings,
    Recommendations,
    RecommendationsQuery,
    SubmitMetricsRequest,
    SubmitMetricsResponse,
)


class HttpAutoOptimizerClient(ServiceClient):
    error_base = OptimizerError
    service_name = "auto-optimizer"

    @classmethod
    def from_settings(
        cls, settings: AutoOptimizerSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> HttpAutoOptimizerClient:
        if not settings.endpoint:
            raise OptimizerError("HttpAutoOptimizerClient needs settings.endpoint")
        token = settings.token.get_secret_value() if settings.token else None
        return cls(settings.endpoint, token=token, timeout=settings.timeout, transport=transport)

    def _parse(self, model: Any, data: Any, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ServiceProtocolError(
                f"{self.service_name} answered {what} with a body outside the contract: {exc}"
            ) from exc

    async def submit_metrics(self, request: SubmitMetricsRequest) -> int:
        request = revalidated(request)
        data = await self.request("POST", "/v1/metrics", json=request.model_dump(mode="json"))
        return int(self._parse(SubmitMetricsResponse, data, "metrics").accepted)

    async def get_recommendations(self, workflow_id: str, include_task_level: bool = True) -> Recommendations:
        validated(RecommendationsQuery, {"workflow_id": workflow_id, "include_task_level": include_task_level})
        path = f"/v1/recommendations/{quote(workflow_id, safe='')}"
        data = await self.request("GET", path, params={"include_task_level": str(include_task_level).lower()})
        return self._parse(Recommendations, data, "recommendations")  # type: ignore[no-any-return]
