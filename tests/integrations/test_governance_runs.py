"""Governance in real workflow runs (Prefect test harness, offline Forge, SQLite and PostgreSQL).

What a user relies on: concurrent tasks - in one run or in several processes - never spend past a
budget and the refused ones never reach the provider; a killed process loses no audit record and
its unsettled reservation stays spent, charged to its own run; policies deny, redact and ask a person before the provider sees a prompt;
the seed's governed example runs and its budget_alert branch fires; the audit CLI reads it all.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from ecosystem.governance import BudgetExceeded, EmbeddedGovernance, GovernanceSettings
from ecosystem.store import Store, head_revision, upgrade
from ecosystem.store import testing as store_testing
from ecosystem.store.models import AuditEventRow, BudgetReservationRow, CostRecordRow, nanos_to_usd
from flows.workflow import LocalRun, local_run
from tasks.hooks import Hook
from tests.flows.helpers import run, workflow

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "governed-llm-workflow.yaml"
MODEL_POLICY = ROOT / "examples" / "policies" / "model-policy.yaml"


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated scratch schema (fails, never skips, under CI when PostgreSQL is down)."""
    url = store_testing.test_postgres_url()
    problem = store_testing.postgres_reachable(url)
    if problem is not None:
        message = f"PostgreSQL not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with store_testing.scratch_schema(url, prefix="llmo_govrun") as scoped:
        upgrade(scoped)
        yield scoped


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/governance.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/governance.db"


class OfflineCalls:
    """Every call that reached the offline provider, with the prompt it saw."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    @property
    def count(self) -> int:
        return len(self.prompts)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> OfflineCalls:
    from ecosystem.forge.providers.offline import OfflineProvider

    calls = OfflineCalls()
    original = OfflineProvider.infer

    async def counting(self: Any, request: Any, model: str) -> Any:
        calls.prompts.append("\n".join(m.content for m in request.conversation()))
        return await original(self, request, model)

    monkeypatch.setattr(OfflineProvider, "infer", counting)
    return calls


class Failures(Hook):
    """An extra hook that keeps the error of every failed task run."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, BaseException]] = []

    async def task_failed(self, ctx: Any, error: BaseException) -> None:
        self.errors.append((ctx.task_id if ctx.index is None else f"{ctx.task_id}[{ctx.index}]", error))

    def of(self, kind: type[BaseException]) -> list[str]:
        return sorted(label for label, error in self.errors if isinstance(error, kind))


@pytest.fixture
def failures() -> Iterator[Failures]:
    hook = Failures()
    with local_run(LocalRun(hooks=[hook])):
        yield hook


def config(url: str, *, offline_cost: float | None = 0.10, latency: float = 0.0, **governance: Any) -> dict[str, Any]:
    forge: dict[str, Any] = {"offline": True, "offline_latency": latency}
    if offline_cost is not None:
        forge["offline_cost"] = offline_cost
    return {"storage": {"url": url}, "offline": True,
            "integrations": {"llm-forge": forge, "llm-governance-core": governance}}


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fan_out(wf: str, items: int, *, budget: str | None = "1.00") -> dict[str, Any]:
    doc = workflow("""
    - id: fan
      type: llm
      executor: llm-forge:claude-api
      forEach: ${{ workflow.inputs.items }}
      continueOnError: true
      inputs:
        prompt: "Summarise item ${{ item }}"
        config: {max_tokens: 50}
""", name=wf, inputs="  inputs:\n    - {name: items, type: array, required: true}",
        extra=f"  concurrency:\n    maxParallelTasks: {items}")
    if budget:
        doc["metadata"]["annotations"] = {"governance.budget-limit-usd": budget}
    return doc


def llm_doc(wf: str, prompt: str, *, annotations: dict[str, str] | None = None, model: str | None = None,
            extra_inputs: str = "") -> dict[str, Any]:
    doc = workflow("""
    - id: ask
      type: llm
      executor: llm-forge:claude-api
      inputs:
        prompt: PROMPT
""", name=wf, inputs=extra_inputs)
    doc["spec"]["tasks"][0]["inputs"]["prompt"] = prompt
    if model:
        doc["spec"]["tasks"][0]["inputs"]["config"] = {"model": model}
    doc["metadata"]["annotations"] = {"governance.enforce-policies": "true", **(annotations or {})}
    return doc


def store_query(url: str, statement: Any) -> list[Any]:
    with Store.open(url) as store, store.session(readonly=True) as session:
        return list(session.execute(statement))


def settled(url: str, run_id: str) -> tuple[int, float]:
    rows = store_query(url, select(func.count(), func.coalesce(func.sum(CostRecordRow.cost_nanos), 0))
                       .where(CostRecordRow.run_id == run_id))
    count, nanos = rows[0]
    return int(count), nanos_to_usd(int(nanos))


def audit_kinds(url: str, **where: Any) -> list[str]:
    statement = select(AuditEventRow.kind).order_by(AuditEventRow.id)
    for column, value in where.items():
        statement = statement.where(getattr(AuditEventRow, column) == value)
    return [row[0] for row in store_query(url, statement)]


# -- budgets under concurrency -------------------------------------------------------------------


async def test_concurrent_fan_out_never_overspends_the_run_budget(
    store_url: str, provider: OfflineCalls, failures: Failures
) -> None:
    wf = name("fan")
    state, data = await run(fan_out(wf, 50), {"items": list(range(50))}, config(store_url))
    run_id = data["run_id"]
    fan = data["tasks"]["fan"]
    paid = [c for c in fan["metadata"]["item_costs"] if c is not None]

    count, total = settled(store_url, run_id)
    assert (count, total) == (10, 1.0)  # exactly the budget, never a cent more
    assert provider.count == 10 == len(paid)  # only items holding a reservation reached the provider
    assert paid == [0.10] * 10
    refused = failures.of(BudgetExceeded)
    assert len(refused) == 40 and len(failures.errors) == 40
    assert "BudgetExceeded" in fan["error"] and f"run {run_id}" in fan["error"]
    kinds = audit_kinds(store_url, run_id=run_id)
    assert kinds.count("reservation") == 10
    assert kinds.count("settlement") == 10
    assert kinds.count("budget_breach") == 40
    active = store_query(store_url, select(func.count()).select_from(BudgetReservationRow)
                         .where(BudgetReservationRow.run_id == run_id, BudgetReservationRow.status == "active"))
    assert active[0][0] == 0
    # The >= 90% warning, once; whether the first settlement sees 90% or 100% depends on timing.
    assert any("budget 'run" in w and re.search(r"at (9\d|100)%", w) for w in data["warnings"])
    assert len([w for w in data["warnings"] if "budget 'run" in w]) == 1


def _spawn(job: dict[str, Any], tmp_path: Path, tag: str) -> subprocess.Popen[str]:
    from prefect.settings import get_current_settings

    path = tmp_path / f"job-{tag}.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.governance_workers", str(path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _result(process: subprocess.Popen[str], timeout: float = 80) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"worker printed no result (exit {process.returncode}):\n{err[-3000:]}"
    return dict(json.loads(lines[-1][len("RESULT "):]))


async def test_two_processes_share_the_daily_budget(store_url: str, tmp_path: Path) -> None:
    org = name("org")
    cfg = config(store_url, cost_limits={"daily": 1.0}, organization_id=org)
    go, workers = tmp_path / "go", []
    for tag in ("a", "b"):
        job = {"workflow": fan_out(name(f"daily-{tag}"), 15, budget=None), "inputs": {"items": list(range(15))},
               "config": cfg, "go_file": str(go), "ready_file": str(tmp_path / f"ready-{tag}")}
        workers.append(_spawn(job, tmp_path, tag))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{t}").exists() for t in ("a", "b")) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    go.write_text("go", encoding="utf-8")
    results = [await asyncio.to_thread(_result, w) for w in workers]

    total_calls = sum(r["calls"] for r in results)
    recorded = [settled(store_url, r["run_id"]) for r in results]
    assert total_calls == 10  # the daily budget holds exactly ten $0.10 calls, across both processes
    assert sum(count for count, _ in recorded) == 10
    assert round(sum(amount for _, amount in recorded), 9) == 1.0
    for result, (count, _) in zip(results, recorded, strict=True):
        assert result["calls"] == count  # each process called the provider once per settled item
        assert len([c for c in result["item_costs"]["fan"] if c is not None]) == count


async def test_killed_task_process_reservation_is_counted_as_spent_by_its_run(sqlite_url: str, tmp_path: Path) -> None:
    wf = name("crash")
    doc = llm_doc(wf, "Write a long essay about rivers", annotations={"governance.budget-limit-usd": "1.00"})
    cfg = config(sqlite_url, offline_cost=0.25, latency=60, enforce_policies=True, reservation_ttl=1.5)
    worker = _spawn({"workflow": doc, "config": cfg}, tmp_path, "crash")
    try:
        deadline = time.monotonic() + 60
        reservations: list[Any] = []
        while time.monotonic() < deadline and not reservations:
            await asyncio.sleep(0.2)
            if Path(sqlite_url.removeprefix("sqlite:///")).exists():
                try:
                    reservations = store_query(sqlite_url, select(BudgetReservationRow.run_id, BudgetReservationRow.reservation_id)
                                               .where(BudgetReservationRow.workflow_id == wf))
                except Exception:  # the worker may still be creating the schema
                    reservations = []
        assert reservations, "the worker never reserved"
        before = audit_kinds(sqlite_url, workflow_id=wf)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
    run_id, reservation_id = reservations[0]
    assert worker.returncode == -signal.SIGKILL
    assert settled(sqlite_url, run_id) == (0, 0.0)  # the call never finished: nothing was spent
    assert before == ["policy_decision", "reservation"]
    assert audit_kinds(sqlite_url, workflow_id=wf)[: len(before)] == before  # nothing written is lost

    await asyncio.sleep(1.6)  # past the reservation's ttl: the provider may have billed, so it is spent
    gov = EmbeddedGovernance(GovernanceSettings(storage_url=sqlite_url, reservation_wait=0))
    try:
        (status,) = await gov.check_budget(run_id=run_id, run_limit=1.0)
        assert status.reserved == 0 and status.current == 0.25 and status.remaining == 0.75
        with pytest.raises(BudgetExceeded) as refused:  # the killed call's money is not available again
            await gov.reserve(run_id=run_id, workflow=wf, task_id="ask", amount=1.0, run_limit=1.0)
        assert refused.value.cause == "spent"
        again = await gov.reserve(run_id=run_id, workflow=wf, task_id="ask", amount=0.75, run_limit=1.0)
        await gov.release(again.id)
    finally:
        await gov.aclose()
    kinds = audit_kinds(sqlite_url, workflow_id=wf)
    assert "reservation_unsettled" in kinds and "settlement" not in kinds
    assert audit_kinds(sqlite_url, run_id=run_id).count("reservation_unsettled") == 1  # the killed run's
    statuses = store_query(sqlite_url, select(BudgetReservationRow.status)
                           .where(BudgetReservationRow.reservation_id == reservation_id))
    assert {row[0] for row in statuses} == {"unsettled"}


# -- policies ------------------------------------------------------------------------------------


async def test_pii_in_a_prompt_is_denied_before_the_provider_sees_it(sqlite_url: str, provider: OfflineCalls) -> None:
    wf = name("pii")
    doc = llm_doc(wf, "Write to jane.doe@example.com about ${{ workflow.inputs.topic }}",
                  extra_inputs="  inputs:\n    - {name: topic, type: string, required: true}")
    state, data = await run(doc, {"topic": "the invoice"}, config(sqlite_url, enforce_policies=True))
    assert state.is_failed()
    ask = data["tasks"]["ask"]
    assert ask["state"] == "failed"
    assert "PolicyViolation" in ask["error"] and "data-privacy" in ask["error"] and "email" in ask["error"]
    assert "jane.doe" not in ask["error"]
    assert provider.count == 0
    kinds = audit_kinds(sqlite_url, run_id=data["run_id"])
    assert "reservation" not in kinds  # refused in the flow, before the task run reserved anything
    decisions = store_query(sqlite_url, select(AuditEventRow.task_id, AuditEventRow.decision, AuditEventRow.policy)
                            .where(AuditEventRow.run_id == data["run_id"], AuditEventRow.kind == "policy_decision"))
    assert ("ask", "deny", "data-privacy") in decisions


async def test_pii_is_redacted_before_the_provider_sees_it(sqlite_url: str, provider: OfflineCalls) -> None:
    wf = name("redact")
    doc = llm_doc(wf, "Call me on +44 20 7946 0958 or mail jane.doe@example.com, then summarise")
    cfg = config(sqlite_url, enforce_policies=True, policy_options={"data_privacy": {"action": "redact"}})
    state, data = await run(doc, {}, cfg)
    assert state.is_completed(), data.get("error")
    assert provider.count == 1
    (seen,) = provider.prompts
    assert "jane.doe@example.com" not in seen and "[REDACTED:email]" in seen
    assert "then summarise" in seen
    assert "jane.doe" not in data["tasks"]["ask"]["outputs"]["response"]  # the echo shows what was sent
    assert settled(sqlite_url, data["run_id"]) == (1, 0.10)


async def test_unsafe_content_is_denied(sqlite_url: str, provider: OfflineCalls) -> None:
    doc = llm_doc(name("unsafe"), "Explain how to murder the neighbour quietly")
    state, data = await run(doc, {}, config(sqlite_url, enforce_policies=True))
    assert state.is_failed()
    assert "PolicyViolation" in data["tasks"]["ask"]["error"] and "content-safety" in data["tasks"]["ask"]["error"]
    assert provider.count == 0


async def test_unsafe_workflow_inputs_fail_the_run_before_any_task(sqlite_url: str, provider: OfflineCalls) -> None:
    doc = llm_doc(name("inputs"), "${{ workflow.inputs.topic }}",
                  extra_inputs="  inputs:\n    - {name: topic, type: string, required: true}")
    state, data = await run(doc, {"topic": "I will kill you"}, config(sqlite_url, enforce_policies=True))
    assert state.is_failed()
    assert "PolicyViolation" in data["error"] and "content-safety" in data["error"]
    assert data["tasks"]["ask"]["state"] != "completed" and data["tasks"]["ask"]["attempts"] == 0
    assert provider.count == 0


async def test_rule_file_from_config_denies_a_model(sqlite_url: str, provider: OfflineCalls) -> None:
    doc = llm_doc(name("rules"), "Hello there", model="claude-opus-4-1")
    cfg = config(sqlite_url, enforce_policies=True, policy_files=[str(MODEL_POLICY)])
    state, data = await run(doc, {}, cfg)
    assert state.is_failed()
    assert "no-opus-models" in data["error"] and "PolicyViolation" in data["error"]
    assert provider.count == 0
    # the same workflow on an allowed model runs
    state, data = await run(llm_doc(name("rules"), "Hello there", model="claude-sonnet-4-5"), {}, cfg)
    assert state.is_completed(), data.get("error")
    assert provider.count == 1


async def _answer_when_paused(workflow_name: str, answer: dict[str, Any] | None, seen: list[str]) -> None:
    """Wait for the run of ``workflow_name`` to pause, then resume it with ``answer`` (None: never)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.flow_runs import resume_flow_run

    async with get_client() as client:
        for _ in range(300):
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=workflow_name))
            )
            paused = [r for r in runs if r.state is not None and r.state.is_paused()]
            if paused:
                seen.append(str(paused[0].id))
                if answer is not None:
                    await asyncio.sleep(0.3)
                    await resume_flow_run(paused[0].id, run_input=answer)
                return
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [({"decision": "approve", "reason": "looks fine"}, "approved"),
     ({"decision": "reject", "reason": "not this customer"}, "rejected"),
     (None, "timeout")],
)
async def test_require_approval_pauses_the_run_until_a_person_answers(
    sqlite_url: str, provider: OfflineCalls, answer: dict[str, Any] | None, outcome: str
) -> None:
    wf = name("approve")
    doc = llm_doc(wf, "Draft a reply to jane.doe@example.com")
    cfg = config(sqlite_url, enforce_policies=True, approver="privacy-officer",
                 policy_options={"data_privacy": {"action": "require_approval"}},
                 approval_timeout="3s", approval_poll_interval=1)
    seen: list[str] = []
    answering = asyncio.create_task(_answer_when_paused(wf, answer, seen))
    state, data = await run(doc, {}, cfg)
    await answering
    assert seen, "the run never paused"
    approvals = store_query(sqlite_url, select(AuditEventRow.decision, AuditEventRow.reason, AuditEventRow.details)
                            .where(AuditEventRow.workflow_id == wf, AuditEventRow.kind == "approval"))
    assert len(approvals) == 1
    decision, reason, details = approvals[0]
    assert details["approver"] == "privacy-officer"
    if outcome == "approved":
        assert state.is_completed(), data.get("error")
        assert provider.count == 1 and decision == "approved" and reason == "looks fine"
        assert settled(sqlite_url, data["run_id"]) == (1, 0.10)
    else:
        assert state.is_failed()
        assert provider.count == 0 and decision == "denied"
        error = data["tasks"]["ask"]["error"]
        assert "ApprovalDenied" in error and "data-privacy" in error
        assert ("timed out" in error) if outcome == "timeout" else ("not this customer" in error)
        assert data["run_id"] == seen[0]  # the flow's own final state and record, not Prefect's "never resumed"


async def test_an_approval_needs_an_explicit_decision(sqlite_url: str, provider: OfflineCalls) -> None:
    """Resume -> Submit without choosing approve or reject is refused; the run stays paused."""
    from prefect.flow_runs import resume_flow_run

    wf = name("explicit")
    doc = llm_doc(wf, "Draft a reply to jane.doe@example.com")
    cfg = config(sqlite_url, enforce_policies=True, policy_options={"data_privacy": {"action": "require_approval"}},
                 approval_timeout="60s", approval_poll_interval=1)
    seen: list[str] = []
    refusals: list[str] = []

    async def answer() -> None:
        await _answer_when_paused(wf, None, seen)
        try:
            await resume_flow_run(seen[0], run_input={"reason": "no choice made"})
        except RuntimeError as exc:
            refusals.append(str(exc))
        await resume_flow_run(seen[0], run_input={"decision": "approve", "reason": "ok"})

    answering = asyncio.create_task(answer())
    state, data = await run(doc, {}, cfg)
    await answering
    assert refusals and "decision" in refusals[0]
    assert state.is_completed(), data.get("error")
    assert provider.count == 1


async def test_the_shipped_example_asks_for_an_approval(sqlite_url: str, provider: OfflineCalls) -> None:
    """examples/legal-review.yaml with examples/policies/approval-config.yaml pauses for a person."""
    import yaml

    cfg = yaml.safe_load((ROOT / "examples" / "policies" / "approval-config.yaml").read_text(encoding="utf-8"))
    cfg["orchestrator"]["storage"] = {"url": sqlite_url}
    gov = cfg["orchestrator"]["integrations"]["llm-governance-core"]
    gov["approval_poll_interval"] = 1
    gov["policy_files"] = [str(ROOT / p) for p in gov["policy_files"]]
    seen: list[str] = []
    answering = asyncio.create_task(_answer_when_paused("legal-review", {"decision": "approve", "reason": "ok"}, seen))
    state, data = await run(str(ROOT / "examples" / "legal-review.yaml"), {}, cfg)  # type: ignore[arg-type]
    await answering
    assert seen, "the example never paused for an approval"
    assert state.is_completed(), data.get("error")
    assert provider.count == 1
    approvals = store_query(sqlite_url, select(AuditEventRow.decision, AuditEventRow.details)
                            .where(AuditEventRow.workflow_id == "legal-review", AuditEventRow.kind == "approval"))
    assert [a[0] for a in approvals] == ["approved"] and approvals[0][1]["approver"] == "legal-team"


async def test_one_approval_covers_the_same_text_across_checks(sqlite_url: str, provider: OfflineCalls) -> None:
    """The seed's prompt passes three checks (inputs, policy_check, the llm task): a person is asked once."""
    doc = seed()
    wf = doc["metadata"]["name"]
    cfg = config(sqlite_url, offline_cost=None, enforce_policies=True,
                 policy_options={"data_privacy": {"action": "require_approval"}}, approval_poll_interval=1)
    seen: list[str] = []
    answering = asyncio.create_task(_answer_when_paused(wf, {"decision": "approve", "reason": "customer consented"}, seen))
    state, data = await run(doc, {"prompt": "Reply to jane.doe@example.com about her order"}, cfg)
    await answering
    assert state.is_completed(), data.get("error")
    assert data["tasks"]["policy_check"]["outputs"]["decision"] == "require_approval"
    assert provider.count == 1
    approvals = store_query(sqlite_url, select(AuditEventRow.decision)
                            .where(AuditEventRow.workflow_id == wf, AuditEventRow.kind == "approval"))
    assert [a[0] for a in approvals] == ["approved"]


@pytest.mark.parametrize("approve", [True, False])
async def test_policy_enforcer_task_pauses_for_approval(sqlite_url: str, approve: bool) -> None:
    wf = name("enforcer")
    doc = workflow("""
    - id: policy_check
      type: policy
      executor: llm-governance:policy-enforcer
      inputs:
        policies: [data-privacy]
        context: {prompt: "Send the contract to jane.doe@example.com"}
""", name=wf)
    cfg = config(sqlite_url, policy_options={"data_privacy": {"action": "require_approval"}}, approval_poll_interval=1)
    seen: list[str] = []
    answering = asyncio.create_task(_answer_when_paused(wf, {"decision": "approve" if approve else "reject", "reason": "checked"}, seen))
    state, data = await run(doc, {}, cfg)
    await answering
    assert seen
    check = data["tasks"]["policy_check"]
    if approve:
        assert state.is_completed(), data.get("error")
        assert check["outputs"]["decision"] == "require_approval" and check["outputs"]["allowed"] is True
        assert check["outputs"]["violations"][0]["policy"] == "data-privacy"
        assert check["outputs"]["violations"][0]["findings"] == ["email"]
    else:
        assert state.is_failed() and "ApprovalDenied" in check["error"]


# -- the seed's governed example -----------------------------------------------------------------


def seed(budget: str | None = None) -> dict[str, Any]:
    doc = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    doc["metadata"]["name"] = name("governed-llm-workflow")
    if budget is not None:
        doc["metadata"]["annotations"]["governance.budget-limit-usd"] = budget
    return doc


async def test_seed_example_runs_offline_and_tracks_cost_once(sqlite_url: str, provider: OfflineCalls) -> None:
    doc = seed()
    state, data = await run(doc, {"prompt": "Summarise the quarterly report in three bullet points"},
                            config(sqlite_url, offline_cost=None))
    assert state.is_completed(), data.get("error")
    tasks = data["tasks"]
    assert tasks["policy_check"]["outputs"]["decision"] == "allow"
    assert tasks["track_cost"]["outputs"]["within_budget"] is True
    assert tasks["budget_alert"]["state"] == "skipped"
    assert data["outputs"]["total_cost"] > 0  # priced at claude-sonnet-4-5 list prices
    assert provider.count == 1
    # one ledger entry for the llm call (offline: $0), none added by the tracker (no double count)
    rows = store_query(sqlite_url, select(CostRecordRow.task_id).where(CostRecordRow.run_id == data["run_id"]))
    assert [r[0] for r in rows] == ["llm_inference"]
    budget = tasks["llm_inference"]["metadata"]["budget"]
    assert budget[0]["kind"] == "run" and budget[0]["limit"] == 10.0
    assert tasks["llm_inference"]["metadata"]["policy"].startswith("allow (")
    # The run summary artifact shows the policy decisions and the budget.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        artifacts = await client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[data["run_id"]])))
    summary = next(a.data for a in artifacts if a.key and a.key.endswith("-summary"))
    assert "## Policy decisions" in summary and "`policy_check`: allow" in summary and "`llm_inference`: allow (" in summary
    assert "## Budgets" in summary


async def test_seed_example_takes_the_budget_alert_branch_when_the_budget_is_exceeded(
    sqlite_url: str, provider: OfflineCalls
) -> None:
    doc = seed(budget="0.0001")
    state, data = await run(doc, {"prompt": "Summarise the quarterly report in three bullet points"},
                            config(sqlite_url, offline_cost=None))
    assert state.is_completed(), data.get("error")
    tracked = data["tasks"]["track_cost"]["outputs"]
    assert tracked["cost"] > 0.0001 and tracked["within_budget"] is False
    assert tracked["budget_remaining"] == 0 and tracked["budget_utilization"] > 1
    assert data["tasks"]["budget_alert"]["state"] == "completed"
    assert data["tasks"]["budget_alert"]["outputs"]["severity"] == "high"


async def test_cost_tracker_records_a_cost_nobody_recorded(sqlite_url: str) -> None:
    doc = workflow("""
    - id: track
      type: policy
      executor: llm-governance:cost-tracker
      inputs:
        usage: {prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000}
        model: claude-sonnet-4-5-20250929
""", name=name("tracker"))
    doc["metadata"]["annotations"] = {"governance.budget-limit-usd": "0.01"}
    state, data = await run(doc, {}, config(sqlite_url))
    assert state.is_completed(), data.get("error")
    out = data["tasks"]["track"]["outputs"]
    assert out["cost"] == pytest.approx(0.018)  # 1000 x $3/M + 1000 x $15/M
    assert out["within_budget"] is False and out["budget_utilization"] == pytest.approx(1.8)
    assert settled(sqlite_url, data["run_id"]) == (1, 0.018)
    assert data["tasks"]["track"]["cost"] is None  # not counted twice in the run summary


def test_seed_example_runs_from_the_command_line_offline(tmp_path: Path) -> None:
    from prefect.settings import get_current_settings

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"orchestrator": {"storage": {"url": f"sqlite:///{tmp_path}/cli.db"}}}))
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    done = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator", "run", str(SEED), "-i", "prompt=Say hello to the team",
         "--offline", "-c", str(cfg), "--output", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=80,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["state"] == "completed"
    assert result["outputs"]["response"] == "Say hello to the team"
    assert result["tasks"]["budget_alert"]["state"] == "skipped"


# -- audit ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A config file and one governed run recorded in its store: (config, workflow, run id)."""
    directory = tmp_path_factory.mktemp("audit")
    url = f"sqlite:///{directory}/audit.db"
    cfg_path = directory / "config.yaml"
    cfg = config(url, enforce_policies=True)
    cfg_path.write_text(yaml.safe_dump({"orchestrator": cfg}), encoding="utf-8")
    wf = name("audited")
    doc = llm_doc(wf, "Tell me about lighthouses", annotations={"governance.budget-limit-usd": "1.00"},
                  model="claude-sonnet-4-5")

    async def go() -> Any:
        return await run(doc, {}, cfg)

    state, data = asyncio.run(go())
    assert state.is_completed(), data.get("error")
    return cfg_path, wf, data["run_id"]


def cli_app() -> Any:
    import typer

    from llm_orchestrator.cli_governance import audit, db_upgrade

    app = typer.Typer()
    app.command()(audit)
    db = typer.Typer()
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db")
    return app


def test_every_decision_reservation_and_settlement_is_in_the_audit_cli(audited: tuple[Path, str, str]) -> None:
    from typer.testing import CliRunner

    cfg, wf, run_id = audited
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["audit", "--workflow", wf, "--format", "json", "--since", "7d", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    kinds = [e["kind"] for e in events]
    assert kinds.count("policy_decision") == 2  # workflow-level (model) and the task's prompt
    assert kinds.count("reservation") == 1 and kinds.count("settlement") == 1
    assert all(e["workflow"] == wf and e["run_id"] == run_id for e in events)
    settlement = next(e for e in events if e["kind"] == "settlement")
    assert settlement["amount_usd"] == 0.10 and settlement["task_id"] == "ask"

    as_csv = runner.invoke(cli_app(), ["audit", "--workflow", wf, "--format", "csv", "-c", str(cfg)])
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0].startswith("timestamp,kind,workflow,run_id,task_id")
    assert len(lines) == 1 + len(events)

    table = runner.invoke(cli_app(), ["audit", "--workflow", wf, "--format", "table", "-c", str(cfg)])
    assert table.exit_code == 0, table.output
    assert "settlement" in table.stdout and f"{len(events)} event(s)" in table.stdout

    future = runner.invoke(cli_app(), ["audit", "--workflow", wf, "--since", "2999-01-01", "--format", "json", "-c", str(cfg)])
    assert future.exit_code == 0 and json.loads(future.stdout) == []
    other = runner.invoke(cli_app(), ["audit", "--workflow", "no-such-workflow", "--format", "json", "-c", str(cfg)])
    assert json.loads(other.stdout) == []


def test_audit_cli_rejects_bad_input_without_a_traceback(audited: tuple[Path, str, str]) -> None:
    from typer.testing import CliRunner

    cfg, wf, _ = audited
    runner = CliRunner()
    bad_since = runner.invoke(cli_app(), ["audit", "--since", "last tuesday", "-c", str(cfg)])
    assert bad_since.exit_code == 2 and "invalid --since" in bad_since.output and "Traceback" not in bad_since.output
    bad_format = runner.invoke(cli_app(), ["audit", "--format", "xml", "-c", str(cfg)])
    assert bad_format.exit_code == 2 and "unknown --format" in bad_format.output


def test_db_upgrade_migrates_and_prints_the_revision(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    url = f"sqlite:///{tmp_path}/fresh.db"
    result = CliRunner().invoke(cli_app(), ["db", "upgrade", "--url", url])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.stdout
    from ecosystem.store import current_revision

    assert current_revision(url) == head_revision()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"orchestrator": {"storage": {"url": f"sqlite:///{tmp_path}/other.db"}}}))
    via_config = CliRunner().invoke(cli_app(), ["db", "upgrade", "-c", str(cfg)])
    assert via_config.exit_code == 0 and head_revision() in via_config.stdout
    broken = CliRunner().invoke(cli_app(), ["db", "upgrade", "--url", "nosuchdb://x/y"])
    assert broken.exit_code == 1 and "Traceback" not in broken.output


# -- budgets that wait before they refuse (issue 16) ---------------------------------------------


async def _calls_under_budget(store_url: str, fake: Any, parallel: int, budget: float) -> tuple[int, float]:
    """(provider calls the fake server saw, USD the ledger holds) for a 30-item fan-out at
    ``maxParallelTasks: parallel`` against a run budget of ``budget`` USD."""
    before = len(fake.requests)
    doc = fan_out(name(f"wait-{parallel}"), parallel, budget=f"{budget:.9f}")
    doc["spec"]["tasks"][0]["inputs"]["config"] = {"model": "claude-haiku-4-5", "max_tokens": 50}
    settings = {"storage": {"url": store_url}, "integrations": {
        "llm-forge": {"api_keys": {"anthropic": "sk-ant-wait-test-0000"}, "base_urls": {"anthropic": fake.base_url},
                      "retry_policy": {"max_attempts": 1}},
        "llm-governance-core": {"reservation_wait": "30s"}}}
    state, data = await run(doc, {"items": list(range(30))}, settings)
    _, spent = settled(store_url, data["run_id"])
    return len(fake.requests) - before, spent


async def test_parallel_calls_complete_as_many_calls_as_sequential_ones_within_the_budget(store_url: str) -> None:
    """Reservations (the worst case: max_tokens at the output price) are several times the real
    cost.  With 20 calls in flight, a call that finds the budget full of reservations waits for
    them to settle instead of being refused, so it completes what one-at-a-time completes."""
    from tests.ecosystem.forge.fakes import FakeProvider

    with FakeProvider("anthropic") as fake:
        calls, spent = await _calls_under_budget(store_url, fake, 1, 1.0)  # what one call really costs
        per_call = spent / calls
        budget = per_call * 12  # about 3 reservations, 12 real calls
        sequential, sequential_spent = await _calls_under_budget(store_url, fake, 1, budget)
        concurrent, concurrent_spent = await _calls_under_budget(store_url, fake, 20, budget)
    figures = (f"budget {budget:.9f}: sequential {sequential} calls ({sequential_spent:.9f} spent), "
               f"concurrent {concurrent} calls ({concurrent_spent:.9f} spent)")
    print(figures)  # -s shows them
    assert 3 <= sequential < 30, figures
    assert concurrent >= 0.9 * sequential, figures
    assert sequential_spent <= budget + 1e-12 and concurrent_spent <= budget + 1e-12
