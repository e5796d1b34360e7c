"""Deployment specs -> Prefect: ``RunnerDeployment`` objects, applied to a work pool or served.

Every deployment is ``flows/workflow.py:run_workflow`` from the project root as local storage,
so its pull step is ``set_working_directory`` to the checkout and a process worker (or
``serve``) runs the flow there, where the relative workflow path resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from deployments.build import ENTRYPOINT, WorkflowDeployment, project_root

logger = logging.getLogger("llm_orchestrator.deploy")


def runner_deployment(item: WorkflowDeployment, pool: str | None = None) -> Any:
    """The ``RunnerDeployment`` of one workflow (work pool ``pool``, or none for ``serve``)."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner.storage import LocalStorage

    from flows.workflow import run_workflow

    root = project_root()
    deployment = RunnerDeployment.from_flow(
        run_workflow,
        name=item.name,
        schedules=[item.schedule.to_prefect()] if item.schedule else None,
        parameters=item.parameters,
        description=item.description or f"llm-orchestrator workflow {item.file}",
        tags=list(item.tags),
        version=item.version,
        work_pool_name=pool,
    )
    # The same entrypoint for every workflow, relative to the checkout, whatever the cwd now.
    deployment.entrypoint = ENTRYPOINT
    deployment.storage = LocalStorage(str(root))
    deployment._path = str(root)
    return deployment


async def ensure_process_pool(name: str) -> bool:
    """Create work pool ``name`` (type process) unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    async with get_client() as client:
        try:
            await client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        try:
            await client.create_work_pool(WorkPoolCreate(
                name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template(),
            ))
        except ObjectAlreadyExists:  # created concurrently
            return False
        return True


async def apply_all(items: Sequence[WorkflowDeployment], pool: str, *, create_pool: bool = True) -> dict[str, UUID]:
    """Create or update one deployment per workflow in work pool ``pool``; name -> deployment id."""
    if create_pool:
        await ensure_process_pool(pool)
    ids: dict[str, UUID] = {}
    for item in items:
        deployment = runner_deployment(item, pool)
        ids[item.full_name] = await deployment.aapply()
    return ids


def serve_all(items: Sequence[WorkflowDeployment], *, limit: int | None = None) -> None:
    """Serve every deployment from this process (no work pool, no worker) until interrupted."""
    from prefect import serve

    serve(*(runner_deployment(item) for item in items), limit=limit)
