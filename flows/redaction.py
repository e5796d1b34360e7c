"""Secrets never reach a log line: a logging filter that masks every secret of the runs in flight.

Runs register their secrets (``blocks.clients.SystemSettings.secrets``) for as long as they go
on; the filter sits on every handler (Prefect's console and API handlers, ours, the user's) and
rewrites each record's message and formatted traceback with ``ecosystem.redaction``.  Secrets
are kept per process, not per run context: a log call from a worker thread has no run context,
and masking one run's secret in another run's logs costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator

from ecosystem.redaction import Redactor

_LOCK = threading.Lock()
_ACTIVE: Counter[str] = Counter()
_REDACTOR = Redactor()


class SecretsFilter(logging.Filter):
    """Masks the secrets of every run in flight in a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = _REDACTOR
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not format: leave it be
            return True
        masked = redactor.redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redactor.redact(text)
        elif record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        return True


FILTER = SecretsFilter("llm-orchestrator-secrets")


def _install() -> None:
    """Put the filter on every handler that exists now (idempotent)."""
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if FILTER not in handler.filters:
                handler.addFilter(FILTER)


@contextlib.contextmanager
def masking(secrets: Iterable[str]) -> Iterator[None]:
    """While the block runs, log records anywhere in the process have ``secrets`` masked."""
    global _REDACTOR
    found = [s for s in secrets if s]
    with _LOCK:
        _ACTIVE.update(found)
        _REDACTOR = Redactor(_ACTIVE)
    _install()
    try:
        yield
    finally:
        with _LOCK:
            _ACTIVE.subtract(found)
            for secret in [s for s, n in _ACTIVE.items() if n <= 0]:
                del _ACTIVE[secret]
            _REDACTOR = Redactor(_ACTIVE)
