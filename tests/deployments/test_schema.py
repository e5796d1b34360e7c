"""The deployment's parameter schema, built from the workflow's declared inputs (no server)."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from deployments.build import collect, project_root
from deployments.schema import sample_inputs

ROOT = project_root()


def _triage() -> object:
    (item,) = collect([ROOT / "examples" / "support-triage.yaml"], config=ROOT / "examples" / "demo-config.yaml")
    return item


def test_one_property_per_input_with_type_enum_default_description_and_order() -> None:
    schema = _triage().parameter_schema  # type: ignore[attr-defined]
    inputs = schema["properties"]["inputs"]
    assert list(inputs["properties"]) == ["ticket", "customer_tier"]
    assert inputs["properties"]["customer_tier"] == {
        "title": "customer_tier", "position": 1, "type": "string", "enum": ["standard", "premium"],
        "default": "standard",
        "description": "Premium customers' tickets are always escalated; others only when urgent."}
    assert inputs["required"] == ["ticket"] and schema["required"] == ["inputs"]
    assert inputs["default"] == {"customer_tier": "standard"}  # what the Run form starts with


def test_the_schema_accepts_good_inputs_and_refuses_bad_ones_as_the_server_does() -> None:
    from prefect.utilities.schema_tools.validation import ValidationError, validate

    item = _triage()
    schema = item.parameter_schema  # type: ignore[attr-defined]
    good = {**item.parameters, "inputs": {"ticket": "The API is down"}}  # type: ignore[attr-defined]
    validate(good, schema, raise_on_error=True)
    for bad in ({"ticket": "x", "customer_tier": "gold"}, {}, {"ticket": 1}, {"ticket": "x", "extra": 1}):
        try:
            validate({**item.parameters, "inputs": bad}, schema, raise_on_error=True)  # type: ignore[attr-defined]
        except ValidationError:
            continue
        raise AssertionError(f"accepted {bad}")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_deploy_time_inputs_become_the_forms_defaults_and_the_runs_inputs(tmp_path: Path) -> None:
    (item,) = collect([ROOT / "examples" / "support-triage.yaml"], inputs=["customer_tier=premium"])
    assert item.parameters["inputs"] == {"customer_tier": "premium"}
    assert item.parameter_schema["properties"]["inputs"]["properties"]["customer_tier"]["default"] == "premium"
    assert item.sample_inputs() == {"customer_tier": "premium", "ticket": "..."}


def test_sample_inputs_have_the_declared_types() -> None:
    (item,) = collect([ROOT / "examples" / "batch-summaries.yaml"])
    assert sample_inputs(item.input_specs) == {"documents": []}  # an array, not "..."


def test_a_cron_schedule_takes_its_required_inputs_from_the_command_line(tmp_path: Path) -> None:
    from deployments.build import DeployError

    triage = ROOT / "examples" / "support-triage.yaml"
    try:
        collect([triage], cron="0 9 * * 1-5")
    except DeployError as exc:
        (problem,) = exc.diagnostics
        assert problem.code == "E313" and "ticket" in problem.message and "--input" in (problem.hint or "")
    else:
        raise AssertionError("a scheduled deployment without its required input was accepted")
    (item,) = collect([triage], cron="0 9 * * 1-5", inputs=["ticket=daily check", "customer_tier=premium"])
    assert item.parameters["inputs"] == {"ticket": "daily check", "customer_tier": "premium"}
    try:
        collect([triage], inputs=["customer_tier=gold"])
    except DeployError as exc:
        assert [d.code for d in exc.diagnostics] == ["E315"] and "gold" in exc.diagnostics[0].message
    else:
        raise AssertionError("an --input outside the enum was accepted")
