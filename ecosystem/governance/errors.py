"""Errors Governance raises, embedded or over HTTP.

    EcosystemError
    └── GovernanceError            governance_error (500)
        ├── PolicyViolation        403: a policy denied the task; names the policy and the reason
        ├── ApprovalDenied         403: a person refused a require_approval decision
        ├── BudgetExceeded         402: the spend would pass a budget; names budget, limit, spent, reserved,
        │                          and the cause (spent, in_flight, wait_timeout)
        ├── ReservationNotFound    404: settle/release of an unknown or released reservation
        ├── PolicyNotFound         404: a request names a policy that is not loaded
        └── InvalidPolicy          400: a rule file is wrong; carries every problem with line/column

``BudgetExceeded`` is **402 Payment Required**, not 409: the request is well-formed and not in
conflict with a concurrent edit (retrying will not help until money is freed), and 402 is the
status API gateways already use for "out of credit".  Structured fields travel in the error
body's ``details`` so ``HttpGovernanceClient`` rebuilds the same exception with the same fields.
"""

from __future__ import annotations

from typing import Any

from ecosystem.errors import EcosystemError


class GovernanceError(EcosystemError):
    type = "governance_error"
    status = 500

    def details(self) -> dict[str, Any]:
        """Structured fields beyond the message (sent on the wire, used to rebuild the error)."""
        return {}

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        details = self.details()
        if details:
            body["error"]["details"] = details
        return body

    @classmethod
    def from_wire(cls, message: str, details: dict[str, Any], retry_after: float | None) -> GovernanceError:
        return cls(message, retry_after=retry_after)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details(), self.retry_after))


def _rebuild(
    cls: type[GovernanceError], message: str, details: dict[str, Any], retry_after: float | None
) -> GovernanceError:
    return cls.from_wire(message, details, retry_after)


class PolicyViolation(GovernanceError):
    type = "policy_violation"
    status = 403

    def __init__(
        self,
        message: str | None = None,
        *,
        policy: str = "",
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or f"policy '{policy}' denied the task: {reason}", retry_after=retry_after)
        self.policy = policy
        self.reason = reason

    def details(self) -> dict[str, Any]:
        return {"policy": self.policy, "reason": self.reason}

    @classmethod
    def from_wire(cls, message: str, details: dict[str, Any], retry_after: float | None) -> GovernanceError:
        return cls(
            message,
            policy=str(details.get("policy", "")),
            reason=str(details.get("reason", "")),
            retry_after=retry_after,
        )


class ApprovalDenied(GovernanceError):
    type = "approval_denied"
    status = 403

    def __init__(
        self,
        message: str | None = None,
        *,
        policy: str = "",
        approver: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        who = f" by {approver}" if approver else ""
        super().__init__(message or f"approval for policy '{policy}' was denied{who}", retry_after=retry_after)
        self.policy = policy
        self.approver = approver

    def details(self) -> dict[str, Any]:
        return {"policy": self.policy, "approver": self.approver}

    @classmethod
    def from_wire(cls, message: str, details: dict[str, Any], retry_after: float | None) -> GovernanceError:
        approver = details.get("approver")
        return cls(
            message,
            policy=str(details.get("policy", "")),
            approver=str(approver) if approver is not None else None,
            retry_after=retry_after,
        )


class BudgetExceeded(GovernanceError):
    """A reservation or cost does not fit a budget.

    ``cause`` says whether waiting could ever help: ``spent`` - the committed spend plus the
    request passes the limit (refused at once); ``in_flight`` - only reservations in flight fill
    the budget and the caller asked not to wait; ``wait_timeout`` - they did not settle within the
    wait.  ``waited`` is how many seconds the reservation waited before the refusal.
    """

    type = "budget_exceeded"
    status = 402
    CAUSES = ("spent", "in_flight", "wait_timeout")

    def __init__(
        self,
        message: str | None = None,
        *,
        budget: str = "",
        limit: float = 0.0,
        spent: float = 0.0,
        reserved: float = 0.0,
        requested: float = 0.0,
        cause: str = "spent",
        waited: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        amounts = (
            f"limit ${limit:.6f}, spent ${spent:.6f}, reserved ${reserved:.6f}, requested ${requested:.6f}"
        )
        if message is None:
            if cause == "wait_timeout":
                message = (
                    f"budget '{budget}' is full of reservations in flight that did not settle within "
                    f"{waited:g}s: {amounts}"
                )
            elif cause == "in_flight":
                message = f"budget '{budget}' is full of reservations in flight (not waiting): {amounts}"
            else:
                message = f"budget '{budget}' exceeded: {amounts}"
        super().__init__(message, retry_after=retry_after)
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.requested = requested
        self.cause = cause if cause in self.CAUSES else "spent"
        self.waited = waited

    def details(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "limit": self.limit,
            "spent": self.spent,
            "reserved": self.reserved,
            "requested": self.requested,
            "cause": self.cause,
            "waited": self.waited,
        }

    @classmethod
    def from_wire(cls, message: str, details: dict[str, Any], retry_after: float | None) -> GovernanceError:
        def num(key: str) -> float:
            value = details.get(key, 0.0)
            return float(value) if isinstance(value, int | float) else 0.0

        return cls(
            message,
            budget=str(details.get("budget", "")),
            limit=num("limit"),
            spent=num("spent"),
            reserved=num("reserved"),
            requested=num("requested"),
            cause=str(details.get("cause", "spent")),
            waited=num("waited"),
            retry_after=retry_after,
        )


class ReservationNotFound(GovernanceError):
    type = "reservation_not_found"
    status = 404


class PolicyNotFound(GovernanceError):
    type = "policy_not_found"
    status = 404


class PolicyProblem:
    """One problem in a policy file, rendered like a compiler diagnostic."""

    __slots__ = ("code", "column", "file", "hint", "line", "message")

    def __init__(
        self,
        code: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        file: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint
        self.file = file

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "file": self.file,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyProblem:
        def opt_int(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) else None

        def opt_str(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        return cls(
            str(data.get("code", "")),
            str(data.get("message", "")),
            opt_int("line"),
            opt_int("column"),
            opt_str("hint"),
            opt_str("file"),
        )

    def __str__(self) -> str:
        where = self.file or "<policies>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.code} {self.message}{hint}"

    def __repr__(self) -> str:
        return f"PolicyProblem({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyProblem) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(str(self))


class InvalidPolicy(GovernanceError):
    type = "invalid_policy"
    status = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: list[PolicyProblem] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.problems = list(problems or [])
        if message is None:
            count = len(self.problems)
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            message = f"{count} problem{'s' if count != 1 else ''} in policy rules:\n{lines}"
        super().__init__(message, retry_after=retry_after)

    def details(self) -> dict[str, Any]:
        return {"problems": [problem.as_dict() for problem in self.problems]}

    @classmethod
    def from_wire(cls, message: str, details: dict[str, Any], retry_after: float | None) -> GovernanceError:
        raw = details.get("problems")
        problems = [PolicyProblem.from_dict(p) for p in raw if isinstance(p, dict)] if isinstance(raw, list) else []
        return cls(message, problems=problems, retry_after=retry_after)
