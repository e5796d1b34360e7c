"""Errors raised while running a task, and how the engine decides whether to retry them.

    TaskError                     root; `kind` names the error for `retryOn` and reports
    ├── ExecutorError             an executor's own failure; `retryable` and `retry_after` set by it
    ├── AssertionFailed           orchestrator:assert with a false condition (never retried)
    ├── TaskTimeout               the task ran longer than its `timeout` (retryable)
    ├── OutputTypeError           an output does not match its declared type (never retried)
    ├── InputRenderError          an input expression failed at run time (never retried)
    └── ExecutorNotAvailable      no body is registered for the executor (never retried)

Ecosystem errors (``ecosystem.errors.EcosystemError``: Forge rate limits, budget breaches...)
are not wrapped: they already carry ``is_retryable()`` and ``retry_after``, and ``retry_info``
reads both kinds alike.  Anything else an executor raises is treated as not retryable: retrying
a bug only hides it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ecosystem.errors import provider_hint


class TaskError(Exception):
    kind = "task_error"
    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def is_retryable(self) -> bool:
        return self.retryable

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.retry_after, self.__dict__))


def _rebuild(cls: type[TaskError], message: str, retry_after: float | None, state: dict[str, Any]) -> TaskError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ExecutorError(TaskError):
    kind = "executor_error"

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None, kind: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retryable = retryable
        if kind:
            self.kind = kind


class AssertionFailed(TaskError):
    kind = "assertion_failed"


class TaskTimeout(TaskError):
    kind = "timeout"
    retryable = True


class OutputTypeError(TaskError):
    kind = "output_type"


class InputRenderError(TaskError):
    kind = "input_error"


class ExecutorNotAvailable(TaskError):
    kind = "executor_not_available"


def retry_info(error: BaseException) -> tuple[bool, float | None, str]:
    """(retryable, the wait the provider asked for in seconds or None, kind) for any error an
    executor raised.  A stand-in wait (Forge's default for a 429 without ``Retry-After``) is not
    a hint: the task's own backoff applies (``ecosystem.errors.provider_hint``)."""
    checker = getattr(error, "is_retryable", None)
    retryable = bool(checker()) if callable(checker) else False
    kind = getattr(error, "kind", None) or getattr(error, "type", None) or type(error).__name__
    return retryable, provider_hint(error), str(kind)


def redacted(error: BaseException, redact: Callable[[str], str]) -> BaseException:
    """``error`` with every secret masked in its message (and in the calls it records), as a copy
    of the same type, so retries and error kinds still see what they expect; the original when
    there was nothing to mask."""
    text = str(error)
    masked = redact(text)
    calls = getattr(error, "calls", None)
    if masked == text and not calls:
        return error
    clone = copy.copy(error)
    clone.args = (masked,)
    if isinstance(getattr(clone, "message", None), str):
        clone.message = redact(clone.message)  # type: ignore[attr-defined]
    if calls:
        clone.calls = [_redacted_call(call, redact) for call in calls]  # type: ignore[attr-defined]
    clone.__traceback__ = error.__traceback__
    clone.__cause__ = clone.__context__ = None
    clone.__suppress_context__ = True
    return clone


def _redacted_call(call: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(getattr(call, "error", None), str):
        call = copy.copy(call)
        call.error = redact(call.error)
    return call
