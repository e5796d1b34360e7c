"""Runs whose process died are marked Crashed: Prefect's zombie-run automation, installed by us.

Prefect 3.9 flow runs send a ``prefect.flow-run.heartbeat`` event every
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (180 by default, 30 at least) from a thread of the
flow-run process.  A process killed with SIGKILL (OOM killer, evicted container, lost machine)
sends nothing more and its run would stay Running forever.  The automation Prefect documents
("detect zombie flows") is a *proactive* trigger: for each flow run (``for_each``
``prefect.resource.id``) that sent a heartbeat, expect another heartbeat or a terminal state
event within ``within`` seconds; when none comes, ``change-flow-run-state`` to CRASHED with a
message saying why.  ``within`` is three heartbeat periods, so a run is crashed only after two
missed heartbeats (a busy event loop never delays them: they come from their own thread).

``ensure_crash_detection`` creates it, or updates it when the heartbeat period changed; it is
found by name, so running ``llm-orchestrator deploy`` again never duplicates it.  The ledger side
of a crash needs nothing from here: the killed run's reservations lapse into unsettled spend
after ``reservation_ttl`` (``ecosystem.governance.ledger``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from uuid import UUID

AUTOMATION_NAME = "llm-orchestrator: mark dead flow runs Crashed"
DEFAULT_HEARTBEAT = 180
MISSED_HEARTBEATS = 3
TERMINAL_EVENTS = ("prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                   "prefect.flow-run.Crashed")


def heartbeat_seconds() -> int:
    """The flow runs' heartbeat period as Prefect reads it (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``)."""
    from prefect.settings import get_current_settings

    value = get_current_settings().flows.heartbeat_frequency
    return int(value) if value else DEFAULT_HEARTBEAT


def crash_automation(heartbeat: int) -> object:
    """The automation (not yet saved) for flow runs that beat every ``heartbeat`` seconds."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    within = heartbeat * MISSED_HEARTBEATS
    return Automation(
        name=AUTOMATION_NAME,
        description=(f"A flow run that sent no heartbeat for {within}s (its process died) is marked Crashed. "
                     "Installed by `llm-orchestrator deploy`."),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *TERMINAL_EVENTS},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within),
        ),
        actions=[ChangeFlowRunState(
            name="Crashed", state=StateType.CRASHED, force=False,
            message=f"the flow run's process stopped sending heartbeats (none for {within}s): it died",
        )],
    )


async def ensure_crash_detection(heartbeat: int | None = None) -> tuple[UUID | None, str]:
    """Create or update the automation; (its id, "created" | "updated" | "unchanged")."""
    from prefect.automations import Automation
    from prefect.exceptions import ObjectNotFound

    wanted = crash_automation(heartbeat or heartbeat_seconds())
    assert isinstance(wanted, Automation)
    try:
        existing = await Automation.aread(name=AUTOMATION_NAME)
    except (ObjectNotFound, ValueError):
        existing = None
    if existing is None:
        created = await wanted.acreate()
        return created.id, "created"
    if existing.trigger == wanted.trigger and existing.actions == wanted.actions and existing.enabled:
        return existing.id, "unchanged"
    wanted.id = existing.id
    await wanted.aupdate()
    return existing.id, "updated"


def heartbeat_note() -> str | None:
    """A warning when heartbeats are turned off in this environment (the automation would never fire)."""
    raw = os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY") or os.environ.get("PREFECT_RUNNER_HEARTBEAT_FREQUENCY")
    if raw is not None and not raw.strip():
        return "PREFECT_FLOWS_HEARTBEAT_FREQUENCY is empty here: flow runs send no heartbeats, so none can be marked Crashed"
    return None
