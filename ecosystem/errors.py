"""Root of every error the ecosystem raises, and its one JSON shape on the wire.

    EcosystemError                 type, status, retryable, retry_after
    ├── ServiceUnauthorized        401: bearer token missing or wrong
    ├── ServiceNotFound            404: unknown route or resource
    ├── ServiceUnavailable         503 (retryable)
    ├── ServiceTimeout             504 (retryable)
    ├── ServiceProtocolError       the remote answered something that is not our contract
    ├── InvalidRequest             422: a request the contract refuses (out of bounds, wrong type)
    ├── InsecureBinding            a server asked to listen beyond loopback without authentication
    └── (per system) ForgeError, GovernanceError, TestBenchError, OptimizerError

Every error crosses HTTP as ``{"error": {"type", "message", "retry_after"}}`` with its status, and
comes back out of a client as the same class (``error_class_for`` looks the type up), so code
that handles an embedded error handles a remote one identically.
"""

from __future__ import annotations

from typing import Any, ClassVar


class EcosystemError(Exception):
    """Base class: a machine-readable ``type``, an HTTP ``status`` and retry information."""

    type: ClassVar[str] = "ecosystem_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def is_retryable(self) -> bool:
        return self.retryable

    def to_body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, "retry_after": self.retry_after}}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps errors picklable across Prefect task boundaries despite the keyword-only argument.
        return (_rebuild, (type(self), self.message, self.retry_after))


def provider_hint(error: BaseException) -> float | None:
    """The wait the service itself asked for (``Retry-After``), or None.  A default that stands in
    for a hint the provider never gave (a 429 without ``Retry-After``: ``hinted`` is False) is
    not the provider's and is not returned: the caller's own backoff applies instead."""
    hint: object = getattr(error, "retry_after", None)
    seconds = getattr(hint, "total_seconds", None)
    if callable(seconds):
        hint = seconds()
    if not isinstance(hint, int | float) or isinstance(hint, bool):
        return None
    return None if getattr(error, "hinted", True) is False else float(hint)


def _rebuild(cls: type[EcosystemError], message: str, retry_after: float | None) -> EcosystemError:
    error = cls.__new__(cls)
    EcosystemError.__init__(error, message, retry_after=retry_after)
    return error


class ServiceUnauthorized(EcosystemError):
    type = "unauthorized"
    status = 401


class ServiceNotFound(EcosystemError):
    type = "not_found"
    status = 404


class ServiceUnavailable(EcosystemError):
    type = "service_unavailable"
    status = 503
    retryable = True


class ServiceTimeout(EcosystemError):
    type = "timeout"
    status = 504
    retryable = True


class ServiceProtocolError(EcosystemError):
    type = "protocol_error"
    status = 502


class InvalidRequest(EcosystemError):
    """The request breaks the contract's bounds or types: the caller's to fix, never retried.

    Raised by the embedded implementations for the input a server answers with 422, so a caller
    handles the same class whichever backend it holds.
    """

    type = "invalid_request"
    status = 422


class InsecureBinding(EcosystemError):
    """``serve`` refused to expose a service without a bearer token on a non-loopback address."""

    type = "insecure_binding"


def _all_subclasses(cls: type[EcosystemError]) -> list[type[EcosystemError]]:
    found: list[type[EcosystemError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_class_for(error_type: str, base: type[EcosystemError] = EcosystemError) -> type[EcosystemError]:
    """The most specific class below ``base`` whose ``type`` is ``error_type`` (``base`` if none)."""
    for cls in _all_subclasses(base):
        if cls.type == error_type and cls.__dict__.get("type") == error_type:
            return cls
    return base
