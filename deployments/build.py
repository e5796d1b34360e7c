"""Workflow files -> deployment specs -> ``prefect.yaml``.  No Prefect API calls here.

Every workflow becomes one deployment of the generic flow ``llm-workflow``:

* name: the workflow's ``metadata.name`` (so ``prefect deployment run llm-workflow/<name>``);
* entrypoint: ``flows/workflow.py:run_workflow`` (the same for every workflow);
* parameters: ``workflow`` (the file, relative to the project root when it lives in it, so a
  worker started in any checkout of the project finds it; absolute otherwise), ``inputs`` (the
  defaults from ``spec.schedule.inputs``) and ``config`` when one was given;
* schedule: ``spec.schedule`` (cron with its timezone, or an interval), unless ``--cron`` or
  ``--interval`` overrides it.

``collect`` compiles every file first and raises ``DeployError`` with the compiler's diagnostics
(all files, all problems) before anything is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compiler.diagnostics import Diagnostic

FLOW_NAME = "llm-workflow"
ENTRYPOINT = "flows/workflow.py:run_workflow"
DEFAULT_POOL = "llm-orchestrator"


def project_root() -> Path:
    """The checkout holding ``flows/`` and ``deployments/`` (the directory deployments run in)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "flows" / "workflow.py").is_file():
        raise RuntimeError(f"cannot locate the project root: no flows/workflow.py under {root}")
    return root


def project_path(path: str | Path, root: Path | None = None) -> str:
    """``path`` relative to the project root (POSIX) if it is inside it, else absolute."""
    root = root or project_root()
    resolved = Path(path).expanduser().resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


class DeployError(Exception):
    """Workflows that cannot be deployed; ``diagnostics`` in compiler format."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str | None = None
    interval: float | None = None  # seconds
    timezone: str = "UTC"
    active: bool = True

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cron": self.cron} if self.cron else {"interval": self.interval}
        out["timezone"] = self.timezone
        out["active"] = self.active
        return out

    def to_prefect(self) -> Any:
        """A ``DeploymentScheduleCreate`` for ``RunnerDeployment``."""
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo

        from prefect.client.schemas.actions import DeploymentScheduleCreate
        from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

        if self.cron:
            schedule: Any = CronSchedule(cron=self.cron, timezone=self.timezone)
        else:
            # The timezone of an interval schedule is its anchor's (DST-aware spacing).
            anchor = datetime.now(ZoneInfo(self.timezone)).replace(microsecond=0)
            schedule = IntervalSchedule(interval=timedelta(seconds=float(self.interval or 0)), anchor_date=anchor,
                                        timezone=self.timezone)
        return DeploymentScheduleCreate(schedule=schedule, active=self.active)


@dataclass
class WorkflowDeployment:
    name: str
    file: str  # as recorded in the deployment's parameters
    source: str  # as given on the command line
    inputs: dict[str, Any] = field(default_factory=dict)
    config: str | None = None
    schedule: ScheduleSpec | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    required_inputs: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{FLOW_NAME}/{self.name}"

    @property
    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"workflow": self.file, "inputs": dict(self.inputs)}
        if self.config is not None:
            params["config"] = self.config
        return params


def _check_cron(expr: str, file: str) -> Diagnostic | None:
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        validate_cron_string(expr)
    except ValueError as exc:
        return Diagnostic("E310", f"schedule: invalid cron expression '{expr}' ({exc})", file,
                          hint="five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * 1-5'")
    return None


def _check_timezone(name: str, file: str) -> Diagnostic | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return Diagnostic("E311", f"schedule: unknown timezone '{name}'", file, hint="an IANA name such as 'UTC' or 'Europe/Paris'")
    return None


def collect(
    files: Sequence[str | Path],
    *,
    cron: str | None = None,
    interval: float | None = None,
    config: str | Path | None = None,
    settings: Any = None,
) -> list[WorkflowDeployment]:
    """Compile ``files`` and describe their deployments; raise ``DeployError`` on any problem."""
    from blocks.resolve import resolve_settings
    from compiler.compile import compile_file
    from compiler.inputs import InputError, resolve_inputs

    if cron is not None and interval is not None:
        raise DeployError([Diagnostic("E312", "use either --cron or --interval, not both", "<command line>")])
    if interval is not None and interval <= 0:
        raise DeployError([Diagnostic("E312", f"--interval must be a positive number of seconds, got {interval:g}", "<command line>")])
    settings = settings if settings is not None else resolve_settings(config)  # ConfigError propagates
    options = settings.compile_options()
    root = project_root()
    problems: list[Diagnostic] = []
    found: list[WorkflowDeployment] = []
    if cron is not None and (d := _check_cron(cron, "<command line>")):
        problems.append(d)
    for file in files:
        label = str(file)
        result = compile_file(file, options)
        if not result.ok:
            problems.extend(result.diagnostics)
            continue
        if len(result.plans) != 1:
            problems.append(Diagnostic("E103", f"expected exactly one workflow document, found {len(result.plans)}", label))
            continue
        plan = result.plans[0]
        document = plan.workflow
        spec_schedule = document.spec.schedule
        schedule: ScheduleSpec | None = None
        timezone = spec_schedule.timezone if spec_schedule else "UTC"
        if cron is not None:
            schedule = ScheduleSpec(cron=cron, timezone=timezone)
        elif interval is not None:
            schedule = ScheduleSpec(interval=float(interval), timezone=timezone)
        elif spec_schedule is not None:
            schedule = ScheduleSpec(cron=spec_schedule.cron, interval=spec_schedule.interval,
                                    timezone=spec_schedule.timezone, active=spec_schedule.active)
        if schedule is not None:
            if schedule.cron and cron is None and (d := _check_cron(schedule.cron, label)):
                problems.append(d)
            if d := _check_timezone(schedule.timezone, label):
                problems.append(d)
            if schedule.interval is not None and schedule.interval <= 0:
                problems.append(Diagnostic("E312", "schedule: interval must be positive", label))
        inputs = dict(spec_schedule.inputs) if spec_schedule else {}
        if schedule is not None and schedule.active:
            # Scheduled runs get exactly these inputs: they must be valid on their own.
            try:
                resolve_inputs(plan, inputs)
            except InputError as exc:
                for problem in exc.problems:
                    problems.append(Diagnostic("E313", f"spec.schedule.inputs: {problem}", label,
                                               hint="scheduled runs use spec.schedule.inputs as their inputs"))
        metadata = document.metadata
        tags = ["llm-orchestrator", *(f"{k}:{v}" for k, v in sorted((metadata.labels or {}).items()))]
        found.append(WorkflowDeployment(
            name=plan.name,
            file=project_path(file, root),
            source=label,
            inputs=inputs,
            config=project_path(config, root) if config is not None else None,
            schedule=schedule,
            description=metadata.description,
            version=str(metadata.version) if metadata.version is not None else None,
            tags=tags,
            required_inputs=[i.name for i in document.spec.inputs if i.required and i.default is None],
        ))
    seen: dict[str, str] = {}
    for item in found:
        if item.name in seen:
            problems.append(Diagnostic("E314", f"workflow name '{item.name}' is also used by {seen[item.name]}; "
                                       "deployment names must be unique", item.source))
        seen.setdefault(item.name, item.source)
    if problems:
        raise DeployError(problems)
    return found


def prefect_yaml(deployments: Iterable[WorkflowDeployment], pool: str) -> dict[str, Any]:
    """The ``prefect.yaml`` document ``prefect deploy --all`` accepts for these deployments.

    No ``pull`` section: ``prefect deploy`` then records the directory it runs in (run it from
    the project root), which is where the entrypoint and the workflow paths are relative to.
    """
    from prefect import __version__ as prefect_version

    entries = []
    for item in deployments:
        entry: dict[str, Any] = {"name": item.name}
        if item.version:
            entry["version"] = item.version
        if item.description:
            entry["description"] = item.description
        entry["tags"] = list(item.tags)
        entry["entrypoint"] = ENTRYPOINT
        entry["parameters"] = item.parameters
        entry["work_pool"] = {"name": pool, "work_queue_name": None, "job_variables": {}}
        entry["schedules"] = [item.schedule.to_yaml()] if item.schedule else []
        entries.append(entry)
    return {"name": "llm-orchestrator", "prefect-version": prefect_version, "deployments": entries}


HEADER = """\
# Generated by `llm-orchestrator deploy`: one deployment of the generic flow `llm-workflow` per
# workflow file. Apply with `prefect deploy --all` run from the project root (the directory
# holding flows/); the workflow paths and the entrypoint are relative to it. Re-generate rather
# than edit: `llm-orchestrator deploy FILE... --pool NAME` (or --prefect-file PATH --no-apply).
"""


def render_prefect_yaml(deployments: Iterable[WorkflowDeployment], pool: str) -> str:
    return HEADER + yaml.safe_dump(prefect_yaml(deployments, pool), sort_keys=False, default_flow_style=False)


def write_prefect_yaml(deployments: Iterable[WorkflowDeployment], pool: str, path: str | Path) -> Path:
    target = Path(path)
    target.write_text(render_prefect_yaml(deployments, pool), encoding="utf-8")
    return target


def load_with_prefect(path: str | Path) -> list[dict[str, Any]]:
    """Load ``path`` with Prefect's own ``prefect.yaml`` loader (strict) and build each schedule.

    Raises ``ValueError`` when Prefect would skip the file or a deployment in it.
    """
    from prefect.cli.deploy._config import _merge_with_default_deploy_config
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: not a mapping")
    model = PrefectYamlModel.model_validate(raw)  # raises pydantic.ValidationError
    configs = []
    for item in model.deployments:
        config = _merge_with_default_deploy_config(item.model_dump(exclude_unset=True, mode="json"))
        config["_schedules"] = [_schedule_config_to_deployment_schedule(s) for s in config.get("schedules") or []]
        configs.append(config)
    return configs
