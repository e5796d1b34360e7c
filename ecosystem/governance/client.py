"""``HttpGovernanceClient``: the ``Governance`` protocol over the ``/v1`` HTTP contract.

Arguments are checked against the request models before anything is sent, raising
``InvalidRequest`` as the embedded implementation does (and as a 422 from the server becomes).

Errors come back as the same ``GovernanceError`` subclasses with their structured fields (the
server puts them in the error body's ``details``), so ``except BudgetExceeded as e: e.budget``
works the same against a remote service as embedded.

A reservation that has to wait for room in a budget waits **on the server**, inside one
``POST /v1/budgets/reserve``: settlements reach the service, so the service wakes its waiters the
moment one commits, where a polling client would add a round trip and up to a poll interval per
try.  The client sends how long it is willing to wait (its ``reservation_wait``; the server
never waits longer than its own); the client's read timeout is its ``timeout`` plus that wait, so
it cannot give up on a reservation the server is about to grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import TypeAdapter

from ecosystem.client import ServiceClient
from ecosystem.errors import EcosystemError, ServiceProtocolError
from ecosystem.governance.errors import GovernanceError
from ecosystem.governance.models import (
    DEFAULT_RESERVATION_WAIT,
    ApprovalRecord,
    AuditEvent,
    AuditQuery,
    BudgetCheckRequest,
    BudgetStatus,
    CostRecord,
    GovernanceSettings,
    PolicyDecision,
    PolicyEvaluationRequest,
    RecordedCost,
    RecordedCostRequest,
    ReleaseRequest,
    Reservation,
    ReserveRequest,
    SettleRequest,
    UnsettledQuery,
    UnsettledReservation,
)
from ecosystem.models import revalidated, validated

_STATUSES = TypeAdapter(list[BudgetStatus])
_EVENTS = TypeAdapter(list[AuditEvent])
_UNSETTLED = TypeAdapter(list[UnsettledReservation])


class HttpGovernanceClient(ServiceClient):
    error_base = GovernanceError
    service_name = "governance"

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        reservation_wait: float = DEFAULT_RESERVATION_WAIT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, timeout=timeout, transport=transport)
        self.reservation_wait = reservation_wait
        # Only a reservation can take longer than ``timeout`` (it may wait up to reservation_wait
        # on the server), and it only ever does so while reading the answer.
        self._client.timeout = httpx.Timeout(timeout, read=timeout + reservation_wait)

    @classmethod
    def from_settings(
        cls, settings: GovernanceSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> HttpGovernanceClient:
        if not settings.endpoint:
            raise GovernanceError("HttpGovernanceClient needs settings.endpoint")
        token = settings.token.get_secret_value() if settings.token else None
        return cls(
            settings.endpoint, token=token, timeout=settings.timeout, reservation_wait=settings.reservation_wait,
            transport=transport,
        )

    def _error_from(self, response: httpx.Response) -> EcosystemError:
        error = super()._error_from(response)
        if isinstance(error, GovernanceError):
            try:
                details = response.json()["error"].get("details") or {}
            except (ValueError, KeyError, TypeError, AttributeError):
                details = {}
            if isinstance(details, dict):
                return type(error).from_wire(error.message, details, error.retry_after)
        return error

    async def _post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, json=body)

    @staticmethod
    def _parse(model: Any, data: Any, what: str) -> Any:
        try:
            return model.validate_python(data) if isinstance(model, TypeAdapter) else model.model_validate(data)
        except ValueError as exc:
            raise ServiceProtocolError(f"governance answered {what} with a body outside the contract: {exc}") from exc

    async def evaluate_policies(self, request: PolicyEvaluationRequest) -> PolicyDecision:
        data = await self._post("/v1/policies/evaluate", revalidated(request).model_dump(mode="json"))
        return self._parse(PolicyDecision, data, "policies/evaluate")  # type: ignore[no-any-return]

    async def record_cost(self, record: CostRecord) -> CostRecord:
        data = await self._post("/v1/costs", revalidated(record).model_dump(mode="json"))
        return self._parse(CostRecord, data, "costs")  # type: ignore[no-any-return]

    async def check_budget(
        self, *, organization_id: str | None = None, run_id: str | None = None, run_limit: float | None = None
    ) -> list[BudgetStatus]:
        body = validated(
            BudgetCheckRequest, {"organization_id": organization_id, "run_id": run_id, "run_limit": run_limit}
        )
        data = await self._post("/v1/budgets/check", body.model_dump(mode="json"))
        return self._parse(_STATUSES, data, "budgets/check")  # type: ignore[no-any-return]

    async def reserve(
        self,
        *,
        run_id: str,
        workflow: str,
        task_id: str,
        amount: float,
        organization_id: str | None = None,
        run_limit: float | None = None,
        wait: float | None = None,
        ttl: float | None = None,
    ) -> Reservation:
        patience = self.reservation_wait if wait is None else min(max(0.0, wait), self.reservation_wait)
        body = validated(ReserveRequest, {
            "run_id": run_id, "workflow": workflow, "task_id": task_id, "organization_id": organization_id,
            "amount": amount, "run_limit": run_limit, "wait": patience, "ttl": ttl,
        })
        data = await self._post("/v1/budgets/reserve", body.model_dump(mode="json"))
        return self._parse(Reservation, data, "budgets/reserve")  # type: ignore[no-any-return]

    async def settle(
        self, reservation_id: str, actual_cost: float, cost_record: CostRecord | None = None
    ) -> CostRecord:
        body = validated(SettleRequest, {
            "reservation_id": reservation_id, "actual_cost": actual_cost,
            "cost_record": cost_record.model_dump() if cost_record is not None else None,
        })
        data = await self._post("/v1/budgets/settle", body.model_dump(mode="json"))
        return self._parse(CostRecord, data, "budgets/settle")  # type: ignore[no-any-return]

    async def release(self, reservation_id: str) -> Reservation:
        body = validated(ReleaseRequest, {"reservation_id": reservation_id})
        data = await self._post("/v1/budgets/release", body.model_dump(mode="json"))
        return self._parse(Reservation, data, "budgets/release")  # type: ignore[no-any-return]

    async def record_approval(self, approval: ApprovalRecord) -> None:
        await self._post("/v1/approvals", revalidated(approval).model_dump(mode="json"))

    async def audit(self, query: AuditQuery) -> list[AuditEvent]:
        query = revalidated(query)
        params: dict[str, Any] = {"limit": query.limit}
        for key in ("workflow", "run_id", "kind"):
            value = getattr(query, key)
            if value is not None:
                params[key] = value
        if query.since is not None:
            params["since"] = query.since.isoformat() if isinstance(query.since, datetime) else query.since
        data = await self.request("GET", "/v1/audit", params=params)
        return self._parse(_EVENTS, data, "audit")  # type: ignore[no-any-return]

    async def unsettled(self, query: UnsettledQuery) -> list[UnsettledReservation]:
        params: dict[str, Any] = {"limit": query.limit}
        for key in ("workflow", "run_id"):
            value = getattr(query, key)
            if value is not None:
                params[key] = value
        if query.since is not None:
            params["since"] = query.since.isoformat()
        data = await self.request("GET", "/v1/budgets/unsettled", params=params)
        return self._parse(_UNSETTLED, data, "budgets/unsettled")  # type: ignore[no-any-return]

    async def recorded_cost(self, run_id: str, task_ids: Sequence[str]) -> float | None:
        body = RecordedCostRequest(run_id=run_id, task_ids=list(task_ids))
        data = await self._post("/v1/costs/recorded", body.model_dump(mode="json"))
        parsed: RecordedCost = self._parse(RecordedCost, data, "costs/recorded")
        return parsed.cost_usd
