"""Workflow files -> deployment specs -> ``prefect.yaml``.  No Prefect API calls here.

Every workflow becomes one deployment of the generic flow ``llm-workflow``:

* name: the workflow's ``metadata.name`` (so ``prefect deployment run llm-workflow/<name>``);
* entrypoint: ``flows/workflow.py:run_workflow`` (the same for every workflow);
* parameters: ``workflow`` (the file, relative to the project root when it lives in it, so a
  worker started in any checkout of the project finds it; absolute otherwise), ``inputs`` when
  some are given at deploy time (``spec.schedule.inputs``, then ``deploy --input k=v``) and
  ``config`` when one was given;
* parameter schema: one form field per declared input (``deployments.schema``);
* schedule: ``spec.schedule`` (cron with its timezone, or an interval), unless ``--cron`` or
  ``--interval`` overrides it.

``collect`` compiles every file first and raises ``DeployError`` with the compiler's diagnostics
(all files, all problems) before anything is created.  A config file among the files (a shell
glob such as ``examples/*.yaml`` catches them) is skipped with a note, not compiled as a workflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compiler.diagnostics import Diagnostic
from compiler.document import WorkflowInput
from deployments.pull import project_root, pull_steps

__all__ = ["DEFAULT_POOL", "ENTRYPOINT", "FLOW_NAME", "DeployError", "ScheduleSpec", "WorkflowDeployment", "collect",
           "project_path", "project_root", "render_prefect_yaml", "write_prefect_yaml"]

FLOW_NAME = "llm-workflow"
ENTRYPOINT = "flows/workflow.py:run_workflow"
DEFAULT_POOL = "llm-orchestrator"


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
    input_specs: list[WorkflowInput] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{FLOW_NAME}/{self.name}"

    @property
    def parameters(self) -> dict[str, Any]:
        """The deployment's parameters.  ``inputs`` only when deploy-time inputs were given: the
        declared defaults stay the workflow file's (read at run time, so editing a default needs
        no redeploy); the Run form shows them from the parameter schema."""
        params: dict[str, Any] = {"workflow": self.file}
        if self.inputs:
            params["inputs"] = dict(self.inputs)
        if self.config is not None:
            params["config"] = self.config
        return params

    @property
    def parameter_schema(self) -> dict[str, Any]:
        from deployments.schema import parameter_schema

        return parameter_schema(self.input_specs, self.parameters)

    def sample_inputs(self) -> dict[str, Any]:
        from deployments.schema import sample_inputs

        return sample_inputs(self.input_specs, self.inputs)


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
    inputs: Sequence[str] = (),
    skipped: list[str] | None = None,
) -> list[WorkflowDeployment]:
    """Compile ``files`` and describe their deployments; raise ``DeployError`` on any problem.

    ``inputs`` are ``name=value`` assignments (``deploy --input``) over ``spec.schedule.inputs``,
    typed by each workflow's declarations; config files among ``files`` are appended to
    ``skipped`` (when given) instead of being deployed."""
    from blocks.resolve import resolve_settings
    from compiler.compile import compile_file
    from compiler.inputs import InputError, coerce_assignments, parse_assignment, resolve_inputs
    from compiler.source import is_config_file

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
    for text in inputs:
        try:
            parse_assignment(text)
        except InputError as exc:
            problems.extend(Diagnostic("E315", f"--input: {p}", "<command line>", hint="--input name=value")
                            for p in exc.problems)
    for file in files:
        label = str(file)
        if is_config_file(file):
            if skipped is not None:
                skipped.append(label)
            continue
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
        given = dict(spec_schedule.inputs) if spec_schedule else {}
        try:
            given.update(coerce_assignments(plan, list(inputs)))
        except InputError:
            pass  # reported once above
        if schedule is not None and schedule.active:
            # Scheduled runs get exactly these inputs: they must be valid on their own.
            try:
                resolve_inputs(plan, given)
            except InputError as exc:
                for problem in exc.problems:
                    where = "spec.schedule.inputs with --input" if inputs else "spec.schedule.inputs"
                    problems.append(Diagnostic("E313", f"{where}: {problem}", label,
                                               hint="give them in spec.schedule.inputs or with deploy --input name=value"))
        elif inputs:
            try:
                resolve_inputs(plan, given)
            except InputError as exc:
                for problem in exc.problems:
                    if not problem.startswith("missing required input"):  # a run may still give those
                        problems.append(Diagnostic("E315", f"--input: {problem}", label))
        metadata = document.metadata
        tags = ["llm-orchestrator", *(f"{k}:{v}" for k, v in sorted((metadata.labels or {}).items()))]
        found.append(WorkflowDeployment(
            name=plan.name,
            file=project_path(file, root),
            source=label,
            inputs=given,
            config=project_path(config, root) if config is not None else None,
            schedule=schedule,
            description=metadata.description,
            version=str(metadata.version) if metadata.version is not None else None,
            tags=tags,
            required_inputs=[i.name for i in document.spec.inputs if i.required and i.default is None],
            input_specs=list(document.spec.inputs),
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

    Its ``pull`` section is ``deployments.pull.project_directory`` (the worker's own project
    directory), as for deployments made by ``llm-orchestrator deploy``.  ``prefect deploy``
    derives each parameter schema from the flow's signature (a generic ``inputs`` object);
    ``llm-orchestrator deploy`` gives every deployment a form built from its workflow's inputs.
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
    return {"name": "llm-orchestrator", "prefect-version": prefect_version, "pull": pull_steps(), "deployments": entries}


HEADER = """\
# Generated by `llm-orchestrator deploy`: one deployment of the generic flow `llm-workflow` per
# workflow file. Apply with `prefect deploy --all` run from the project root (the directory
# holding flows/); the workflow paths and the entrypoint are relative to it, and each run's pull
# step changes into the worker's own project directory ($LLM_ORCHESTRATOR_PROJECT_DIR, else the
# checkout llm-orchestrator is installed from). Re-generate rather
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
