"""Auto-Optimizer: per-task performance metrics in, recommendations with evidence out.

    from ecosystem.optimizer import AutoOptimizerSettings, build_optimizer, build_buffer
    optimizer = build_optimizer(AutoOptimizerSettings())        # embedded unless endpoint is set
    buffer = build_buffer(optimizer, settings)                  # batches, retries, spools
    await buffer.add(PerformanceMetric(...))                    # after each task
    await buffer.aclose(); await optimizer.aclose()
    recs = await optimizer.get_recommendations("my-workflow")  # before the next run

The engine applies ``recs.items`` to its compiled plan (never to the user's file); each
recommendation model documents how (see ``ecosystem.optimizer.models``).  The FastAPI app is in
``ecosystem.optimizer.server`` (imported on demand: it pulls FastAPI).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecosystem._lazy import lazy_exports

if TYPE_CHECKING:
    from ecosystem.optimizer.analysis import AnalysisConfig, analyze
    from ecosystem.optimizer.buffer import MetricBuffer, MetricSink, default_spool_dir
    from ecosystem.optimizer.client import HttpAutoOptimizerClient
    from ecosystem.optimizer.embedded import EmbeddedAutoOptimizer
    from ecosystem.optimizer.errors import MetricsNotDelivered, OptimizerError, OptimizerUnavailable
    from ecosystem.optimizer.models import (
        AnalysisNote,
        AutoOptimizerSettings,
        Caching,
        ImpactEstimate,
        ImprovementEstimate,
        ModelSwitch,
        Parallelization,
        ParameterTuning,
        PerformanceMetric,
        Recommendation,
        Recommendations,
        RecommendationType,
        SubmitMetricsRequest,
        SubmitMetricsResponse,
    )
    from ecosystem.optimizer.protocol import AutoOptimizer
    from ecosystem.optimizer.resources import ResourceSampler, ResourceUsage
    from ecosystem.store import Store

_EXPORTS: dict[str, tuple[str, ...]] = {
    "analysis": ("AnalysisConfig", "analyze"),
    "buffer": ("MetricBuffer", "MetricSink", "default_spool_dir"),
    "client": ("HttpAutoOptimizerClient",),
    "embedded": ("EmbeddedAutoOptimizer",),
    "errors": ("MetricsNotDelivered", "OptimizerError", "OptimizerUnavailable"),
    "models": ("AnalysisNote", "AutoOptimizerSettings", "Caching", "ImpactEstimate", "ImprovementEstimate", "ModelSwitch", "Parallelization", "ParameterTuning", "PerformanceMetric", "Recommendation", "Recommendations", "RecommendationType", "SubmitMetricsRequest", "SubmitMetricsResponse"),
    "protocol": ("AutoOptimizer",),
    "resources": ("ResourceSampler", "ResourceUsage"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def build_optimizer(settings: AutoOptimizerSettings, store: Store | None = None) -> AutoOptimizer:
    """The remote client when ``settings.endpoint`` is set, else ``EmbeddedAutoOptimizer``."""
    from ecosystem.optimizer.client import HttpAutoOptimizerClient
    from ecosystem.optimizer.embedded import EmbeddedAutoOptimizer

    if settings.endpoint:
        return HttpAutoOptimizerClient.from_settings(settings)
    return EmbeddedAutoOptimizer(settings, store)


def build_buffer(sink: MetricSink, settings: AutoOptimizerSettings) -> MetricBuffer:
    """A ``MetricBuffer`` configured from ``settings`` (batch size, interval, spool dir)."""
    from ecosystem.optimizer.buffer import MetricBuffer

    return MetricBuffer(
        sink,
        settings.batch_size,
        settings.flush_interval,
        spool_dir=Path(settings.spool_dir) if settings.spool_dir else None,
        max_failures=settings.max_failed_flushes,
    )


def input_hash(inputs: dict[str, Any], exclude: tuple[str, ...] = ("config",)) -> str:
    """sha256 of a task's evaluated inputs as canonical JSON, without the model-call ``config``.

    The config (model, temperature, max_tokens) is recorded in its own metric fields; leaving it
    out is what lets the analysis pair one input answered by two models.
    """
    kept = {k: v for k, v in inputs.items() if k not in exclude}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = [
    "AnalysisConfig",
    "AnalysisNote",
    "AutoOptimizer",
    "AutoOptimizerSettings",
    "Caching",
    "EmbeddedAutoOptimizer",
    "HttpAutoOptimizerClient",
    "ImpactEstimate",
    "ImprovementEstimate",
    "MetricBuffer",
    "MetricSink",
    "MetricsNotDelivered",
    "ModelSwitch",
    "OptimizerError",
    "OptimizerUnavailable",
    "Parallelization",
    "ParameterTuning",
    "PerformanceMetric",
    "Recommendation",
    "RecommendationType",
    "Recommendations",
    "ResourceSampler",
    "ResourceUsage",
    "SubmitMetricsRequest",
    "SubmitMetricsResponse",
    "analyze",
    "build_buffer",
    "build_optimizer",
    "default_spool_dir",
    "input_hash",
]
