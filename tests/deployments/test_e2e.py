"""End to end on a real Prefect server backed by PostgreSQL, with a process work pool and worker.

`llm-orchestrator deploy` two examples -> `prefect worker start` -> `prefect deployment run
... --watch` for both at once -> both Completed, read back through the Prefect client; each
deployment's parameter schema has a field per workflow input and the server refuses bad inputs
before a run exists (without enforcement the flow fails them with the CLI's message); a name
given to a run survives; `spec.schedule` shows in the server, whether deployed by us or by
`prefect deploy --all` from the generated prefect.yaml.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from deployments.build import ENTRYPOINT, collect, project_root, write_prefect_yaml
from deployments.testing import BIN, Server, cli, worker
from llm_orchestrator.cli_deploy import standalone_app
from tests.deployments.workflows import scheduled, write

ROOT = project_root()
POOL = "e2e-pool"
RUNS = {
    "batch-summaries": {"documents": ["The capital of France is Paris.", "Invoices are due in 30 days."]},
    "support-triage": {"ticket": "The production API is down for every customer"},
}


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def module_api(server: Server, storage: Path) -> Iterator[Server]:
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_LOCAL_STORAGE_PATH: storage}):
        yield server


@pytest.fixture(scope="module")
def deployed(module_api: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = tmp_path_factory.mktemp("deploy") / "prefect.yaml"
    result = CliRunner().invoke(standalone_app(), [
        "deploy", str(ROOT / "examples" / "batch-summaries.yaml"), str(ROOT / "examples" / "support-triage.yaml"),
        "--pool", POOL, "--config", str(ROOT / "examples" / "demo-config.yaml"), "--prefect-file", str(target)])
    assert result.exit_code == 0, result.output
    return {"output": result.output, "prefect_yaml": target}


@pytest.fixture(scope="module")
def running_worker(deployed: dict[str, Any], module_api: Server, storage: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("worker-home")
    env = {"LLM_ORCHESTRATOR_OFFLINE": "1", "LLM_ORCHESTRATOR_HOME": str(home),
           "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true", "PREFECT_LOCAL_STORAGE_PATH": str(storage)}
    with worker(module_api, POOL, limit=4, env=env, name="e2e-worker"):
        yield


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _run(server: Server, name: str, inputs: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "prefect"), "deployment", "run", f"llm-workflow/{name}", "-p", f"inputs={json.dumps(inputs)}",
         "--watch", "--watch-timeout", "150"],
        env=server.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def _finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"prefect deployment run did not finish in {timeout}s:\n{output[-3000:]}")
    return process.returncode, output


def _flow_run_id(output: str) -> UUID:
    line = next(line for line in output.splitlines() if "UUID:" in line)
    return UUID(line.split("UUID:")[1].strip())


def test_deploy_makes_one_deployment_per_workflow_in_a_process_pool(deployed: dict[str, Any], module_api: Server) -> None:
    with _client() as client:
        pool = client.read_work_pool(POOL)
        assert pool.type == "process"
        for name in RUNS:
            deployment = client.read_deployment_by_name(f"llm-workflow/{name}")
            assert deployment.entrypoint == ENTRYPOINT
            assert deployment.work_pool_name == POOL
            assert deployment.parameters == {"workflow": f"examples/{name}.yaml",
                                             "config": "examples/demo-config.yaml"}
            assert deployment.pull_steps == [{"deployments.pull.project_directory": {}}]  # no path of this machine
    assert "prefect worker start --pool e2e-pool" in deployed["output"]


def test_both_examples_run_with_prefect_deployment_run_on_a_process_worker(running_worker: None, module_api: Server) -> None:
    processes = {name: _run(module_api, name, inputs) for name, inputs in RUNS.items()}  # both at once
    finished = {name: _finish(process) for name, process in processes.items()}
    for name, (code, output) in finished.items():
        assert code == 0, f"{name}:\n{output[-3000:]}"
        assert "Flow run finished successfully in 'Completed'" in output
    with _client() as client:
        for name, (_, output) in finished.items():
            flow_run = client.read_flow_run(_flow_run_id(output))
            assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
            assert flow_run.parameters["inputs"] == RUNS[name]
            result = flow_run.state.result()
            assert result["state"] == "completed" and result["workflow"] == name
            assert all(t["state"] in ("completed", "skipped") for t in result["tasks"].values())
            if name == "batch-summaries":
                assert len(result["outputs"]["summaries"]) == 2
                assert "offline" in json.dumps(result["outputs"]).lower() or result["outputs"]["summaries"][0]
            _check_cost_artifact(client, flow_run.id, result)


def _check_cost_artifact(client: Any, flow_run_id: UUID, result: dict[str, Any]) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    by_key = {a.key: a for a in artifacts if a.key}
    cost_key = f"{result['workflow']}-cost"
    assert cost_key in by_key, sorted(by_key)
    data = by_key[cost_key].data
    rows = json.loads(data) if isinstance(data, str) else data
    costed = {tid: t for tid, t in result["tasks"].items()
              if t.get("cost") is not None or int(((t.get("metadata") or {}).get("usage") or {}).get("total_tokens") or 0) > 0}
    assert {row["task"] for row in rows} == set(costed)
    for row in rows:
        assert float(row["cost_usd"]) == pytest.approx(costed[row["task"]]["cost"], abs=1e-6)  # 6 decimals
        assert row["model"] == costed[row["task"]].get("model")


def test_each_deployment_has_a_form_field_per_workflow_input(deployed: dict[str, Any], module_api: Server) -> None:
    """The Run form of both Prefect UIs is drawn from this schema: one field per input."""
    with _client() as client:
        triage = client.read_deployment_by_name("llm-workflow/support-triage").parameter_openapi_schema
        batch = client.read_deployment_by_name("llm-workflow/batch-summaries").parameter_openapi_schema
    inputs = triage["properties"]["inputs"]
    assert inputs["type"] == "object" and inputs["additionalProperties"] is False
    assert inputs["required"] == ["ticket"] and triage["required"] == ["inputs"]
    ticket, tier = inputs["properties"]["ticket"], inputs["properties"]["customer_tier"]
    assert ticket["type"] == "string" and ticket["description"] and "default" not in ticket
    assert tier["type"] == "string" and tier["enum"] == ["standard", "premium"] and tier["default"] == "standard"
    assert tier["description"] and (ticket["position"], tier["position"]) == (0, 1)
    documents = batch["properties"]["inputs"]["properties"]
    assert documents["documents"]["type"] == "array" and documents["documents"]["description"] == "The texts to summarise."
    assert documents["style"]["enum"] == ["bullet points", "one sentence", "headline"]
    assert documents["make_digest"]["type"] == "boolean"
    # operator settings: shown read-only, with the deployed value as the only one allowed
    for schema, name in ((triage, "support-triage"), (batch, "batch-summaries")):
        workflow = schema["properties"]["workflow"]
        assert workflow["readOnly"] is True and workflow["enum"] == [f"examples/{name}.yaml"]
        assert schema["properties"]["config"]["readOnly"] is True


@pytest.mark.parametrize("inputs, reason", [
    ({"ticket": "The API is down", "customer_tier": "gold"}, "'gold' is not one of ['standard', 'premium']"),
    ({"customer_tier": "premium"}, "'ticket' is a required property"),
    ({"ticket": 42}, "42 is not of type 'string'"),
    ({"ticket": "x", "tikcet": "y"}, "Additional properties are not allowed ('tikcet' was unexpected)"),
])
def test_a_run_with_bad_inputs_is_refused_before_it_exists(deployed: dict[str, Any], module_api: Server,
                                                           inputs: dict[str, Any], reason: str) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with _client() as client:
        deployment = client.read_deployment_by_name("llm-workflow/support-triage")
        before = len(client.read_flow_runs())
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(deployment.id, parameters={"inputs": inputs})
        assert refused.value.response.status_code == 409
        assert reason in refused.value.response.json()["detail"]
        result = cli(module_api, "deployment", "run", "llm-workflow/support-triage", "-p", f"inputs={json.dumps(inputs)}")
        assert result.returncode == 1 and reason in " ".join((result.stdout + result.stderr).split())
        assert len(client.read_flow_runs()) == before  # no run was created


def test_the_workflow_file_cannot_be_swapped_from_the_run_form(deployed: dict[str, Any], module_api: Server) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with _client() as client:
        deployment = client.read_deployment_by_name("llm-workflow/support-triage")
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(deployment.id, parameters={
                "workflow": "examples/batch-summaries.yaml", "inputs": {"ticket": "x"}})
    assert refused.value.response.status_code == 409 and "workflow" in refused.value.response.json()["detail"]


def test_without_schema_enforcement_bad_inputs_fail_the_run_with_the_input_error_message(
        running_worker: None, module_api: Server) -> None:
    from compiler.compile import compile_file
    from compiler.inputs import InputError, resolve_inputs
    from flows.workflow import one_line

    bad = {"ticket": 42, "customer_tier": "gold"}
    with pytest.raises(InputError) as expected:  # what `llm-orchestrator run` prints for the same inputs
        resolve_inputs(compile_file(ROOT / "examples" / "support-triage.yaml").plan, bad)
    with _client() as client:
        deployment = client.read_deployment_by_name("llm-workflow/support-triage")
        response = client.request("POST", "/deployments/{id}/create_flow_run", path_params={"id": deployment.id},
                                  json={"parameters": {"inputs": bad}, "enforce_parameter_schema": False})
        flow_run_id = UUID(response.json()["id"])
    code, output = _finish(subprocess.Popen(
        [str(BIN / "prefect"), "flow-run", "watch", str(flow_run_id), "--timeout", "150"], env=module_api.env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL))
    with _client() as client:
        flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_failed(), output[-3000:]
    # one line (no literal \n in Prefect's log of the final state), every problem in it
    assert flow_run.state.message == one_line(expected.value) and "\n" not in flow_run.state.message
    assert "customer_tier" in flow_run.state.message and "ticket" in flow_run.state.message
    assert "Traceback" not in flow_run.state.message


def test_a_name_given_to_a_run_survives(running_worker: None, module_api: Server) -> None:
    process = subprocess.Popen(
        [str(BIN / "prefect"), "deployment", "run", "llm-workflow/support-triage", "-p",
         f"inputs={json.dumps(RUNS['support-triage'])}", "--flow-run-name", "ticket-4711-refund",
         "--watch", "--watch-timeout", "150"],
        env=module_api.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    code, output = _finish(process)
    assert code == 0, output[-3000:]
    with _client() as client:
        flow_run = client.read_flow_run(_flow_run_id(output))
    assert flow_run.name == "ticket-4711-refund"


def test_spec_schedule_shows_in_the_server(module_api: Server, tmp_path: Path) -> None:
    import asyncio

    from deployments.apply import apply_all

    cron_file = write(tmp_path, "cron.yaml", scheduled("scheduled-cron"))
    interval_file = write(tmp_path, "interval.yaml", scheduled("scheduled-interval", "interval: 15m"))
    asyncio.run(apply_all(collect([cron_file, interval_file]), POOL))
    with _client() as client:
        cron = client.read_deployment_by_name("llm-workflow/scheduled-cron")
        (schedule,) = cron.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == ("30 6 * * 1-5", "Europe/Paris", True)
        assert cron.parameters["inputs"] == {"topic": "markets"}
        every = client.read_deployment_by_name("llm-workflow/scheduled-interval")
        (schedule,) = every.schedules
        # (Prefect's server keeps an interval's anchor in UTC; the spacing is what an interval means.)
        assert schedule.schedule.interval.total_seconds() == 900 and schedule.active


def test_prefect_deploy_all_accepts_the_generated_prefect_yaml(module_api: Server, tmp_path: Path) -> None:
    items = collect([write(tmp_path, "yaml.yaml", scheduled("from-prefect-yaml", 'cron: "15 7 * * *"\n    timezone: America/New_York'))])
    target = write_prefect_yaml(items, POOL, tmp_path / "prefect.yaml")
    result = cli(module_api, "--no-prompt", "deploy", "--all", "--prefect-file", str(target), cwd=ROOT, timeout=150)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with _client() as client:
        deployment = client.read_deployment_by_name("llm-workflow/from-prefect-yaml")
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("15 7 * * *", "America/New_York")
    assert deployment.entrypoint == ENTRYPOINT and deployment.work_pool_name == POOL
    assert deployment.parameters == {"workflow": str((tmp_path / "yaml.yaml").resolve()), "inputs": {"topic": "markets"}}
