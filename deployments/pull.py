"""The pull step of every deployment: run from the worker's own project directory.

A deployment made from local storage would record the deploying machine's checkout as an
absolute path (``set_working_directory: /home/alice/llm-orchestrator``), which a worker on any
other machine does not have.  Instead every deployment's pull step is
``deployments.pull.project_directory``: the flow-run process, on whichever machine its worker
runs, changes into

1. ``$LLM_ORCHESTRATOR_PROJECT_DIR`` when the worker sets it (a checkout or a copy of the
   project's workflow files anywhere on that machine), else
2. the project this package is installed from (``make install`` installs it editable, so that is
   the checkout the worker was started from).

The workflow file and ``--config`` are recorded relative to that directory, so the same
deployment runs wherever a worker has the project.  Prefect imports the step by name on the
worker, which has llm-orchestrator installed anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR_ENV = "LLM_ORCHESTRATOR_PROJECT_DIR"
STEP = "deployments.pull.project_directory"


class ProjectDirectoryError(RuntimeError):
    """The worker's project directory is missing or lacks the deployment's entrypoint."""


def resolve_project_directory() -> Path:
    """The directory deployments run in on this machine (see the module docstring)."""
    configured = os.environ.get(PROJECT_DIR_ENV)
    if configured:
        directory = Path(configured).expanduser().resolve()
        if not directory.is_dir():
            raise ProjectDirectoryError(f"{PROJECT_DIR_ENV}={configured} is not a directory on this worker")
        return directory
    return project_root()


def project_root() -> Path:
    """The project this package is installed from: the checkout holding ``flows/`` and
    ``deployments/`` (where ``llm-orchestrator deploy`` records paths relative to)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "flows" / "workflow.py").is_file():
        raise ProjectDirectoryError(f"cannot locate the project root: no flows/workflow.py under {root}")
    return root


def project_directory() -> dict[str, str]:
    """Prefect pull step: change into the project directory; its outputs name the directory."""
    directory = resolve_project_directory()
    os.chdir(directory)
    return {"directory": str(directory)}


def pull_steps() -> list[dict[str, dict[str, str]]]:
    """The ``pull`` section of every deployment (``prefect.yaml`` and the API alike)."""
    return [{STEP: {}}]
