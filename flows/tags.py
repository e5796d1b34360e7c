"""Tags: which task runs carry them, and how a run is found by workflow.

Prefect's task engine asks the API for a tag-concurrency lease
(``POST /v2/concurrency_limits/increment-with-lease`` with names ``tag:<tag>``) before every task
run that carries any tag, whether or not a limit exists for it (Prefect 3.9,
``task_engine.py`` and ``concurrency/services.py``: the requests of one tag set queue through one
service; a "no limit" answer is remembered for 5 s).  On a SQLite-backed server that request is a
write that fails with ``database is locked`` under load; the server answers 503 and the client
sleeps about 2 s before it asks again, so trivial tasks took 2 s at random.  So a task run
carries a tag only where Prefect acts on it, and a run is made findable by workflow through
flow-run tags, which cost one request per run.

``concurrency.task_tags`` (config key) chooses which task runs carry their
``[executor namespace, type]`` tags:

* ``auto`` (default; ``true`` means the same): the run reads the server's ``tag:`` concurrency
  limits once, and a task run carries those of its tags that have one.  So
  ``prefect concurrency-limit create llm-forge 5`` still bounds LLM calls across flows (for runs
  started after it exists), and without limits no task run asks for a lease.
* ``always``: every task run carries both tags (one lease request per task run, as before).
* ``never`` (``false``): no task run carries tags; tag limits do not apply to this run.

If the limits cannot be read, ``auto`` carries every tag (as ``always``) and logs why: a limit
that an operator set must not be skipped because a read failed.

Flow runs get ``workflow:<name>`` and one ``<key>:<value>`` per ``metadata.labels`` entry, added
to the tags they already have (a deployment's), so the UI's tag filter finds every run of a
workflow.  Flow-run tags are not inherited by task runs (only a ``prefect.tags`` context is), so
they cost no leases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from tasks.state import TaskTags

logger = logging.getLogger("llm_orchestrator.tags")

TAG_LIMIT_PREFIX = "tag:"
_PAGE = 200  # the API's default page size for concurrency limits


async def read_tag_limits(client: Any) -> frozenset[str]:
    """The tags that have a ``tag:`` concurrency limit on the server (what
    ``prefect concurrency-limit create TAG N`` makes): one request unless there are more than 200
    global limits."""
    tags: set[str] = set()
    offset = 0
    while True:
        limits = await client.read_global_concurrency_limits(limit=_PAGE, offset=offset)
        tags.update(limit.name[len(TAG_LIMIT_PREFIX):] for limit in limits if limit.name.startswith(TAG_LIMIT_PREFIX))
        if len(limits) < _PAGE:
            return frozenset(tags)
        offset += _PAGE


async def task_tags_for_run(mode: str, *, client: Any = None) -> TaskTags:
    """The run's ``TaskTags`` for config mode ``mode``; ``auto`` reads the limits (see module doc)."""
    if mode != "auto":
        return TaskTags(mode)
    try:
        if client is not None:
            return TaskTags("auto", await read_tag_limits(client))
        from prefect.client.orchestration import get_client

        async with get_client() as own:  # inside a flow run: the run's client
            return TaskTags("auto", await read_tag_limits(own))
    except Exception as exc:  # carry every tag rather than skip a limit an operator set
        logger.warning("could not read Prefect's tag concurrency limits (%s: %s); task runs carry their tags",
                       type(exc).__name__, exc)
        return TaskTags("always")


def flow_run_tags(plan: Any, existing: Iterable[str] = ()) -> list[str]:
    """``existing`` plus ``workflow:<name>`` and ``<key>:<value>`` per label, in that order, once each."""
    labels = plan.workflow.metadata.labels or {}
    wanted = [*existing, f"workflow:{plan.name}", *(f"{key}:{value}" for key, value in labels.items())]
    return list(dict.fromkeys(wanted))


async def tag_flow_run(run_id: str, plan: Any) -> None:
    """Add the workflow's run tags (``flow_run_tags``) to flow run ``run_id``; a run without a
    flow run ("local") has nothing to tag.  Failures are logged, never raised."""
    if run_id == "local":
        return
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    current = context.flow_run if context is not None and context.flow_run is not None else None
    tags = flow_run_tags(plan, current.tags if current is not None else ())
    try:
        async with get_client() as client:
            await client.update_flow_run(UUID(run_id), tags=tags)
    except Exception as exc:  # findability is not worth failing a run for
        logger.warning("could not tag flow run %s with %s: %s", run_id, tags, exc)
        return
    if current is not None:
        current.tags = tags
