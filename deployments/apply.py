"""Deployment specs -> Prefect: ``RunnerDeployment`` objects, applied to a work pool or served.

Every deployment is ``flows/workflow.py:run_workflow`` with the parameter schema of its own
workflow's inputs (``deployments.schema``, enforced by the server before a run is created) and
the pull step ``deployments.pull.project_directory``, which runs the flow from the worker's own
project directory rather than from the path of the machine that deployed it.  ``serve`` runs
them from this checkout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from prefect.runner.storage import LocalStorage

from deployments.build import ENTRYPOINT, WorkflowDeployment, project_root
from deployments.pull import pull_steps

logger = logging.getLogger("llm_orchestrator.deploy")


def runner_deployment(item: WorkflowDeployment, pool: str | None = None) -> Any:
    """The ``RunnerDeployment`` of one workflow (work pool ``pool``, or none for ``serve``)."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.utilities.callables import ParameterSchema

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
        enforce_parameter_schema=True,
    )
    # The same entrypoint for every workflow, relative to the project directory, whatever the cwd now.
    deployment.entrypoint = ENTRYPOINT
    deployment._parameter_openapi_schema = ParameterSchema.model_validate(item.parameter_schema)
    deployment.storage = ProjectStorage(str(root))
    deployment._path = str(root)
    return deployment


class ProjectStorage(LocalStorage):
    """This checkout for ``serve``; for workers, the pull step of ``deployments.pull``."""

    def to_pull_step(self) -> dict[str, Any]:
        (step,) = pull_steps()
        return step


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
