"""Errors the Auto-Optimizer raises, embedded or over HTTP.

    EcosystemError
    └── OptimizerError             optimizer_error (500)
        ├── OptimizerUnavailable   503, retryable: the metric store cannot be reached
        └── MetricsNotDelivered    a closing ``MetricBuffer`` could neither submit nor spool its metrics

Metrics are advisory data, so the hot path never sees these: ``MetricBuffer`` swallows and
retries delivery failures and spools what it cannot send.  ``MetricsNotDelivered`` is the one
exception to that, raised only at close and only when the spool itself cannot be written,
because silently dropping measurements is worse than a loud shutdown.
"""

from __future__ import annotations

from ecosystem.errors import EcosystemError


class OptimizerError(EcosystemError):
    type = "optimizer_error"
    status = 500


class OptimizerUnavailable(OptimizerError):
    type = "optimizer_unavailable"
    status = 503
    retryable = True


class MetricsNotDelivered(OptimizerError):
    type = "metrics_not_delivered"
    status = 500
