"""What a run remembers: one ``TaskRecord`` per node and the ``RunResult`` of the whole run.

These are the source for the expression context (``tasks.<id>.status/outputs/metadata``), the
CLI's summary table and JSON output, the artifacts and the hooks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TaskState = Literal["pending", "running", "completed", "failed", "skipped", "cached"]


@dataclass
class TaskRecord:
    id: str
    executor: str
    type: str
    group: str = "main"
    state: TaskState = "pending"
    reason: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    items: int | None = None
    allowed_failure: bool = False

    @property
    def finished_state(self) -> bool:
        return self.state in ("completed", "failed", "skipped", "cached")

    @property
    def succeeded(self) -> bool:
        return self.state in ("completed", "cached")

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def cost(self) -> float | None:
        if self.state == "cached":
            return 0.0
        value = self.metadata.get("cost")
        return float(value) if isinstance(value, int | float) else None

    def context(self) -> dict[str, Any]:
        """This task as expressions see it: tasks.<id>.{status, outputs, metadata, error}."""
        return {"status": self.state, "outputs": self.outputs, "metadata": {**self.metadata, "cached": self.state == "cached"},
                "error": self.error}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = self.duration
        data["cost"] = self.cost
        data["model"] = self.metadata.get("model")
        return data


@dataclass
class RunResult:
    run_id: str
    workflow: str
    state: Literal["completed", "failed"]
    outputs: dict[str, Any]
    tasks: dict[str, TaskRecord]
    error: str | None = None
    duration: float | None = None
    applied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    test_report: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "completed"

    @property
    def total_cost(self) -> float:
        return round(sum(r.cost or 0.0 for r in self.tasks.values()), 10)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "state": self.state,
            "error": self.error,
            "outputs": self.outputs,
            "duration": self.duration,
            "total_cost": self.total_cost,
            "applied": self.applied,
            "warnings": self.warnings,
            "test_report": self.test_report,
            "tasks": {i: r.to_json() for i, r in self.tasks.items()},
        }
