"""Live progress for ``llm-orchestrator run``: a status line on a terminal, plain lines otherwise.

It is a hook (see ``tasks.hooks``) that only the CLI process adds, so a flow run started by a
deployment or worker is not affected.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from tasks.base import ExecutorContext
from tasks.hooks import Hook
from tasks.state import TaskRecord, WorkflowRun

_ICONS = {"completed": "[green]✓[/green]", "cached": "[cyan]↺[/cyan]", "failed": "[red]✗[/red]", "skipped": "[dim]-[/dim]"}


class ProgressHook(Hook):
    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.running: set[str] = set()
        self.started = time.monotonic()
        self.live = console.is_terminal
        self._status: Any = None

    def __enter__(self) -> ProgressHook:
        if self.live:
            self._status = self.console.status(self._line())
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        running = ", ".join(sorted(self.running)[:5]) + (" ..." if len(self.running) > 5 else "")
        return f"{self.done}/{self.total} done, {len(self.running)} running{': ' + running if running else ''} ({elapsed:.1f}s)"

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(self._line())

    async def before_task(self, ctx: ExecutorContext, inputs: dict[str, Any]) -> None:
        self.running.add(ctx.task_id if ctx.index is None else f"{ctx.task_id}[{ctx.index}]")
        if not self.live and ctx.attempt == 1 and ctx.index in (None, 0):
            self.console.print(f"  started  {ctx.task_id}", markup=False)
        self._refresh()
        return None

    async def task_finished(self, run: WorkflowRun, record: TaskRecord) -> None:
        self.done += 1
        self.running = {r for r in self.running if r != record.id and not r.startswith(record.id + "[")}
        duration = f" {record.duration:.2f}s" if record.duration is not None else ""
        reason = f" ({record.reason})" if record.reason and record.state != "completed" else ""
        icon = _ICONS.get(record.state, "") if self.live else record.state.ljust(9)
        self.console.print(f"  {icon} {record.id}{duration}{reason}", markup=self.live, highlight=False)
        self._refresh()
