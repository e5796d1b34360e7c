"""How a failed task is told: one line for an expected failure, a traceback only for a crash.

An assertion that does not hold, a budget refusal, a policy denial or a provider error after its
retries are outcomes of a workflow, not bugs: Prefect's task engine would log each with a full
traceback ("Task run failed with exception: ... Traceback ..."), in the terminal and in the UI.
``execute_node`` marks every error it re-raises with its one line (``mark``: task, error kind,
message, redacted with the run's secrets), and ``TaskFailureLog``, a filter on Prefect's
``prefect.task_runs`` logger, swaps that line in for Prefect's record, without the traceback:

    task quality_gate failed: assertion_failed: Quality score below threshold

Expected kinds are ``tasks.errors.TaskError`` and ``ecosystem.errors.EcosystemError`` (Forge,
Governance, Test-Bench, Optimizer).  Anything else is a crash of code (ours or an executor's):
its line says so, and the traceback follows as a separate record at DEBUG level
(``PREFECT_LOGGING_LEVEL=DEBUG`` shows it), as Prefect itself logs crash details.

The state stays Prefect's ``Failed`` with the exception as its data, so retries (the task's
``retry_condition_fn``), ``continueOnError`` and the scheduler's records are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ecosystem.errors import EcosystemError
from tasks.errors import TaskError, retry_info

_LINE = "_llmo_failure_line"
_PREFECT_FAILURE = "Task run failed with "
PREFECT_TASK_LOGGER = "prefect.task_runs"


def is_expected(error: BaseException) -> bool:
    """A failure a workflow can have (an assertion, a budget, a policy, a provider error)."""
    return isinstance(error, TaskError | EcosystemError)


def describe(label: str, error: BaseException) -> str:
    """``task <label> failed: <kind>: <message>`` (one line), or ``crashed`` for a bug."""
    message = " ".join(str(error).split()) or type(error).__name__
    if is_expected(error):
        return f"task {label} failed: {retry_info(error)[2]}: {message}"
    return f"task {label} crashed: {type(error).__name__}: {message} (traceback at DEBUG level)"


def mark(error: BaseException, label: str, redact: Callable[[str], str]) -> None:
    """Attach the line Prefect's failure log shows for ``error`` (see the module docstring)."""
    try:
        setattr(error, _LINE, redact(describe(label, error)))
    except AttributeError:  # an exception type with slots: Prefect's own line stays
        pass


def failure_line(error: BaseException | None) -> str | None:
    line = getattr(error, _LINE, None) if error is not None else None
    return line if isinstance(line, str) else None


class TaskFailureLog(logging.Filter):
    """Replaces Prefect's "Task run failed with exception" record of a marked error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(_PREFECT_FAILURE)):
            return True
        exc_info = record.exc_info
        error = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        if error is None and isinstance(record.args, tuple):  # the retry record passes it as an argument
            error = next((arg for arg in record.args if isinstance(arg, BaseException)), None)
        line = failure_line(error)
        if line is None:
            return True
        retrying = record.levelno < logging.ERROR  # "... - Retry 1/3 will start in 2s"
        if retrying:
            tail = record.getMessage().rsplit(" - ", 1)[-1]
            line = line.replace(" failed: ", " failed (will retry): ", 1) + f" - {tail}"
        if error is not None and not is_expected(error) and not retrying and isinstance(exc_info, tuple):
            _debug_traceback(record, exc_info)
        record.msg, record.args = line, ()
        record.exc_info, record.exc_text = None, None
        return True


def _debug_traceback(record: logging.LogRecord, exc_info: Any) -> None:
    extra = {k: getattr(record, k) for k in ("task_run_id", "flow_run_id", "task_run_name", "task_name",
                                             "flow_run_name", "flow_name") if hasattr(record, k)}
    logging.getLogger(record.name).debug("traceback of the crash above:", exc_info=exc_info, extra=extra)


_FILTER = TaskFailureLog()


def install() -> None:
    """Put the filter on Prefect's task-run logger (idempotent; survives Prefect's logging setup,
    which adds handlers and filters but never removes a logger's filters)."""
    target = logging.getLogger(PREFECT_TASK_LOGGER)
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)
