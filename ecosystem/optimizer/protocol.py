"""``AutoOptimizer``: what the flow sees - one async Protocol, served embedded or over HTTP.

``EmbeddedAutoOptimizer`` and ``HttpAutoOptimizerClient`` both implement it and pass the same
contract suite.  The engine submits metrics through a ``MetricBuffer`` wrapped around either one
(the buffer only needs ``submit_metrics``), and asks for recommendations before a run.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ecosystem.optimizer.models import Recommendations, SubmitMetricsRequest


@runtime_checkable
class AutoOptimizer(Protocol):
    async def submit_metrics(self, request: SubmitMetricsRequest) -> int:
        """Store the metrics; returns how many were new (re-submitted ids are ignored)."""
        ...

    async def get_recommendations(self, workflow_id: str, include_task_level: bool = True) -> Recommendations:
        """Advice from the workflow's history (a name, workflow_id or run_id); cached for 300 s.

        ``include_task_level=False`` leaves out per-task advice (model, parameters, caching) and
        returns only workflow-level advice (parallelization).
        """
        ...

    async def aclose(self) -> None: ...
