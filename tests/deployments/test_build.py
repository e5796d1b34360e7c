"""Workflow files -> deployment specs and prefect.yaml; invalid workflows rejected up front."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deployments.build import (
    ENTRYPOINT,
    FLOW_NAME,
    DeployError,
    collect,
    load_with_prefect,
    project_root,
    write_prefect_yaml,
)
from llm_orchestrator.cli_deploy import standalone_app
from tests.deployments.workflows import BROKEN, fan_out, scheduled, write

ROOT = project_root()
EXAMPLES = [ROOT / "examples" / "batch-summaries.yaml", ROOT / "examples" / "support-triage.yaml"]


def test_one_deployment_per_workflow_named_after_metadata_with_the_generic_entrypoint() -> None:
    items = collect(EXAMPLES, config=ROOT / "examples" / "demo-config.yaml")
    assert [i.full_name for i in items] == [f"{FLOW_NAME}/batch-summaries", f"{FLOW_NAME}/support-triage"]
    # paths relative to the project root, so a worker in any checkout of the project finds them
    assert items[0].parameters == {"workflow": "examples/batch-summaries.yaml",
                                   "config": "examples/demo-config.yaml"}
    assert items[1].required_inputs == ["ticket"]
    assert all(i.schedule is None for i in items)


def test_spec_schedule_becomes_the_schedule_and_its_inputs_the_default_inputs(tmp_path: Path) -> None:
    (item,) = collect([write(tmp_path, "wf.yaml", scheduled())])
    assert item.schedule is not None
    assert (item.schedule.cron, item.schedule.timezone, item.schedule.active) == ("30 6 * * 1-5", "Europe/Paris", True)
    assert item.parameters == {"workflow": str((tmp_path / "wf.yaml").resolve()), "inputs": {"topic": "markets"}}
    assert item.version == "2.1.0" and "team:research" in item.tags
    (interval,) = collect([write(tmp_path, "iv.yaml", scheduled("every-15m", "interval: 15m"))])
    assert interval.schedule is not None and interval.schedule.interval == 900.0 and interval.schedule.cron is None


def test_cron_and_interval_options_override_spec_schedule_keeping_its_timezone(tmp_path: Path) -> None:
    path = write(tmp_path, "wf.yaml", scheduled())
    (cron,) = collect([path], cron="0 12 * * *")
    assert cron.schedule is not None and (cron.schedule.cron, cron.schedule.timezone) == ("0 12 * * *", "Europe/Paris")
    (every,) = collect([path], interval=60)
    assert every.schedule is not None and (every.schedule.interval, every.schedule.cron) == (60.0, None)
    with pytest.raises(DeployError, match="either --cron or --interval"):
        collect([path], cron="* * * * *", interval=60)
    with pytest.raises(DeployError, match="E310.*invalid cron expression '0 25 \\* \\* \\*'"):
        collect([path], cron="0 25 * * *")


@pytest.mark.parametrize(("schedule", "inputs", "code", "text"), [
    ('cron: "61 * * * *"', "topic: x", "E203", "invalid cron '61 * * * *'"),  # the compiler's own checks
    ('cron: "0 9 * * *"\n    timezone: Mars/Olympus', "topic: x", "E203", "unknown time zone 'Mars/Olympus'"),
    ('cron: "0 9 * * *"', "", "E313", "spec.schedule.inputs: missing required input 'topic'"),
])
def test_bad_schedules_are_diagnosed_with_file_and_code(tmp_path: Path, schedule: str, inputs: str, code: str, text: str) -> None:
    path = write(tmp_path, "wf.yaml", scheduled(schedule=schedule, inputs=inputs))
    with pytest.raises(DeployError) as caught:
        collect([path])
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == code and text in diagnostic.message and diagnostic.file == str(path)


def test_all_files_are_checked_and_every_problem_reported(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", fan_out())
    broken = write(tmp_path, "broken.yaml", BROKEN)
    duplicate = write(tmp_path, "dup.yaml", fan_out())
    with pytest.raises(DeployError) as caught:
        collect([good, broken, duplicate])
    rendered = str(caught.value)
    assert f"{broken}:8:" in rendered and "no task 'nope'" in rendered
    assert "workflow name 'fan-out' is also used by" in rendered


def test_invalid_workflow_is_rejected_by_the_cli_before_anything_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[str] = []
    import deployments.apply as apply_module

    monkeypatch.setattr(apply_module, "apply_all", lambda *a, **k: called.append("apply"))
    monkeypatch.setattr(apply_module, "ensure_process_pool", lambda *a, **k: called.append("pool"))
    target = tmp_path / "prefect.yaml"
    result = CliRunner().invoke(standalone_app(), ["deploy", str(write(tmp_path, "good.yaml", fan_out())),
                                                   str(write(tmp_path, "broken.yaml", BROKEN)), "--prefect-file", str(target)])
    assert result.exit_code == 1, result.output
    assert "E403" in result.output and "no task 'nope'" in result.output and "nothing deployed" in result.output
    assert not target.exists() and called == []
    missing = CliRunner().invoke(standalone_app(), ["deploy", str(tmp_path / "nope.yaml"), "--prefect-file", str(target)])
    assert missing.exit_code == 2 and "E100" in missing.output and "Traceback" not in missing.output


def test_prefect_yaml_loads_with_prefects_own_loader(tmp_path: Path) -> None:
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from rich.console import Console

    items = collect([*EXAMPLES, write(tmp_path, "s.yaml", scheduled()), write(tmp_path, "i.yaml", scheduled("every", "interval: 90"))])
    path = write_prefect_yaml(items, "llm-pool", tmp_path / "prefect.yaml")
    configs = load_with_prefect(path)  # strict: raises on anything Prefect would skip
    assert [c["name"] for c in configs] == ["batch-summaries", "support-triage", "nightly-digest", "every"]
    assert {c["entrypoint"] for c in configs} == {ENTRYPOINT}
    assert {c["work_pool"]["name"] for c in configs} == {"llm-pool"}
    cron = configs[2]["_schedules"][0]["schedule"]
    assert isinstance(cron, CronSchedule) and (cron.cron, cron.timezone) == ("30 6 * * 1-5", "Europe/Paris")
    every = configs[3]["_schedules"][0]["schedule"]
    assert isinstance(every, IntervalSchedule) and every.interval.total_seconds() == 90
    assert configs[2]["parameters"]["inputs"] == {"topic": "markets"}
    # the loader `prefect deploy` itself uses accepts it without a warning
    console_output = io.StringIO()
    loaded, actions = _load_deploy_configs_and_actions(path, console=Console(file=console_output))
    assert len(loaded) == 4 and console_output.getvalue() == ""
    assert actions["pull"] == [{"deployments.pull.project_directory": {}}]  # the worker's project, not this path


def test_example_prefect_yaml_is_current() -> None:
    """deployments/prefect.yaml.example is what `deploy` generates for the examples."""
    from deployments.build import render_prefect_yaml

    example = ROOT / "deployments" / "prefect.yaml.example"
    items = collect(EXAMPLES, config=ROOT / "examples" / "demo-config.yaml")
    expected = yaml.safe_load(render_prefect_yaml(items, "llm-orchestrator"))
    actual = yaml.safe_load(example.read_text(encoding="utf-8"))
    actual.pop("prefect-version"), expected.pop("prefect-version")
    assert actual == expected
