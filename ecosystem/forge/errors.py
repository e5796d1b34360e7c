"""Every error Forge raises: the seed's ``ForgeError`` enum as a class tree below ``EcosystemError``.

    EcosystemError
    └── ForgeError                    type, status, retryable, falls_back, retry_after
        ├── ForgeRateLimited          429 rate limit (retryable; falls back; the seed's RateLimitExceeded)
        ├── ForgeQuotaExhausted       429 insufficient_quota: billing, not time, fixes it (not retryable)
        ├── ForgeAuthenticationFailed 401/403: missing, wrong or unauthorised API key
        ├── ModelNotFound             404: unknown model or provider (falls back)
        ├── ForgeTimeout              504: the provider did not answer in time (retryable; falls back)
        ├── ForgeServiceUnavailable   503/5xx, Anthropic 529 overloaded, dropped connections (retryable; falls back)
        ├── ForgeInvalidRequest       400: the provider rejected the request's content (also an
        │                             ``InvalidRequest``, raised too for a request outside Forge's bounds)
        ├── ForgeContentFiltered      the provider's safety system blocked the prompt or the answer (falls back)
        ├── ForgeMalformedResponse    truncated, non-JSON or incomplete provider answers
        ├── ForgeSchemaViolation      422: the answer does not match the response schema, names the JSON path
        ├── ForgeBatchFailed          a provider batch that failed as a whole (its input was refused)
        ├── ForgeBatchExpired         a batch item the provider did not answer within the batch's window
        ├── ForgeBatchCancelled       a batch item that was cancelled before it ran
        ├── PriceFileError            a prices file that cannot be read or imported
        ├── ToolNotFound              404: no tool of that name
        └── ToolError                 a tool failed or was called with bad inputs

Retryability is a property of the class, as in the seed's ``is_retryable``.  So is ``falls_back``:
whether *another model* may cure the failure, which is what a caller walking an ordered list of
models asks (``may_fall_back(error)`` answers it for any exception).  A rate limit that survived its
retries, an unavailable or slow provider, a model the provider does not know and a safety filter
are each specific to one model or provider; a bad key, a bad request, an exhausted quota or a
malformed answer are not cured by asking elsewhere and should surface.  ``retry_after`` is
per instance: what the provider asked for (``Retry-After``, ``retry-after-ms``, Gemini's
``RetryInfo``).  A rate limit without a hint falls back to the seed's 60 s, and remembers that it
was a fallback (``hinted``) so the embedded retry loop uses its own shorter backoff instead.
The types are stable strings: they cross HTTP in the shared error shape and are what a
workflow's ``retryOn`` names.
"""

from __future__ import annotations

from typing import ClassVar

from ecosystem.errors import EcosystemError, InvalidRequest


class ForgeError(EcosystemError):
    type: ClassVar[str] = "forge_error"
    status: ClassVar[int] = 500
    falls_back: ClassVar[bool] = False
    # False only for a rate limit whose retry_after is the seed's default rather than the provider's.
    hinted: bool = True


class ForgeRateLimited(ForgeError):
    type = "rate_limit_exceeded"
    status = 429
    falls_back = True
    retryable = True
    default_retry_after: ClassVar[float] = 60.0

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.hinted = retry_after is not None
        super().__init__(
            message, retry_after=self.default_retry_after if retry_after is None else retry_after
        )


class ForgeQuotaExhausted(ForgeError):
    type = "quota_exhausted"
    status = 429


class ForgeAuthenticationFailed(ForgeError):
    type = "authentication_failed"
    status = 401


class ModelNotFound(ForgeError):
    type = "model_not_found"
    status = 404
    falls_back = True


class ForgeTimeout(ForgeError):
    type = "timeout"
    status = 504
    falls_back = True
    retryable = True


class ForgeServiceUnavailable(ForgeError):
    type = "service_unavailable"
    status = 503
    falls_back = True
    retryable = True


class ForgeInvalidRequest(ForgeError, InvalidRequest):
    type = "invalid_request"
    status = 400


class ForgeContentFiltered(ForgeError):
    type = "content_filtered"
    status = 422
    falls_back = True


class ForgeMalformedResponse(ForgeError):
    type = "malformed_response"
    status = 502


class ForgeSchemaViolation(ForgeError):
    """The answer is not the JSON the request's ``response_schema`` asks for; the message names the path."""

    type = "schema_violation"
    status = 422


class ForgeBatchFailed(ForgeError):
    """A provider batch failed as a whole (OpenAI ``failed``, Gemini ``BATCH_STATE_FAILED``)."""

    type = "batch_failed"
    status = 502


class ForgeBatchExpired(ForgeError):
    """A batch item was not answered before the batch's completion window ended (not billed)."""

    type = "batch_expired"
    status = 504


class ForgeBatchCancelled(ForgeError):
    """A batch item was cancelled before it ran (not billed)."""

    type = "batch_cancelled"
    status = 409


class PriceFileError(ForgeError):
    """A prices file (LiteLLM's format, or the user's prices file) that cannot be read or used."""

    type = "price_file_error"
    status = 400


class ToolNotFound(ForgeError):
    type = "tool_not_found"
    status = 404


class ToolError(ForgeError):
    type = "tool_error"
    status = 422


def may_fall_back(error: BaseException) -> bool:
    """True when asking another model may cure ``error`` (a fallback loop moves on; else it stops)."""
    return isinstance(error, ForgeError) and error.falls_back


__all__ = [
    "ForgeAuthenticationFailed",
    "ForgeBatchCancelled",
    "ForgeBatchExpired",
    "ForgeBatchFailed",
    "ForgeContentFiltered",
    "ForgeError",
    "ForgeInvalidRequest",
    "ForgeMalformedResponse",
    "ForgeQuotaExhausted",
    "ForgeRateLimited",
    "ForgeSchemaViolation",
    "ForgeServiceUnavailable",
    "ForgeTimeout",
    "ModelNotFound",
    "PriceFileError",
    "ToolError",
    "ToolNotFound",
    "may_fall_back",
]
