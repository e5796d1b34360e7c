"""Browser check (``make e2e``): what a person sees of a deployed workflow in both Prefect UIs.

Starts ``prefect server start`` with its UI (a fresh PostgreSQL database, ``deployments.testing``),
deploys examples with ``llm-orchestrator deploy``, runs them on a process worker (offline
provider), then drives headless Chromium (Debian's ``chromium``; Playwright for Python, which
cannot download a browser here) through the default UI and the ``/v2`` UI:

* the run's page (a name given to the run kept, its one-line failure logs),
* its summary artifact (the task table, no Mermaid source),
* the deployment's Run form (a field per workflow input; the workflow file read-only),

saving a screenshot of each under ``e2e/screenshots/`` and checking the page text for what a
person must be able to read.  Exit 0 when every check holds, 1 otherwise (each failure named).
Not part of ``make test``: it needs Chromium and takes a minute or two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.testing import BIN, Server, pg_available, prefect_server, worker  # noqa: E402

SHOTS = ROOT / "e2e" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POOL = "e2e-browser"
TICKET = "The production API is down for every customer"
failures: list[str] = []


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


def run_cli(server: Server, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=server.env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def deployment_run(server: Server, name: str, inputs: dict[str, Any], *extra: str) -> str:
    """``prefect deployment run ... --watch``; the flow run's id."""
    result = run_cli(server, str(BIN / "prefect"), "deployment", "run", f"llm-workflow/{name}", "-p",
                     f"inputs={json.dumps(inputs)}", *extra, "--watch", "--watch-timeout", "180")
    line = next((line for line in result.stdout.splitlines() if "UUID:" in line), None)
    if line is None:
        raise SystemExit(f"prefect deployment run {name} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return line.split("UUID:")[1].strip()


def prepare(server: Server, home: Path) -> dict[str, Any]:
    """Deploy three examples, run two of them; the ids the pages need."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deploy = run_cli(server, str(BIN / "llm-orchestrator"), "deploy", "examples/support-triage.yaml",
                     "examples/batch-summaries.yaml", "examples/llm-with-evaluation.yaml", "--pool", POOL,
                     "--config", "examples/demo-config.yaml", "--prefect-file", str(home / "prefect.yaml"))
    if deploy.returncode != 0:
        raise SystemExit(f"deploy failed:\n{deploy.stdout}{deploy.stderr}")
    env = {"LLM_ORCHESTRATOR_OFFLINE": "1", "LLM_ORCHESTRATOR_HOME": str(home / "data"),
           "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true", "PREFECT_LOCAL_STORAGE_PATH": str(home / "results")}
    with worker(server, POOL, limit=2, env=env, name="browser-worker"):
        named = deployment_run(server, "support-triage", {"ticket": TICKET, "customer_tier": "premium"},
                               "--flow-run-name", "ticket-4711-refund")
        failed = deployment_run(server, "llm-with-evaluation", {
            "prompt": "What is the capital of France?", "expected_response": "Paris", "quality_threshold": 1.5})
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        with get_client(sync_client=True) as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(named)])))
            summary = next(a for a in artifacts if a.key == "support-triage-summary")
            cost = next(a for a in artifacts if a.key == "support-triage-cost")
            triage = client.read_deployment_by_name("llm-workflow/support-triage")
    return {"named": named, "failed": failed, "summary": str(summary.id), "cost": str(cost.id),
            "deployment": str(triage.id)}


def browse(base: str, ids: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    root = base.removesuffix("/api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for ui, prefix in (("default", ""), ("v2", "/v2")):
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(30_000)

                def shot(name: str, url: str, ready: str, *, full: bool = True,
                         then: Callable[[Any], None] | None = None, ui: str = ui, page: Any = page) -> str:
                    page.goto(url)
                    try:
                        page.get_by_text(ready, exact=False).first.wait_for(timeout=30_000)
                    except Exception as exc:  # noqa: BLE001 - a missing text is a failed check, not a crash
                        print(f"      ({ui} {name}: '{ready}' not seen: {type(exc).__name__})")
                    page.wait_for_timeout(1500)  # let late widgets (logs, graph) settle before the picture
                    if then is not None:
                        then(page)
                    page.screenshot(path=str(SHOTS / f"{ui}-{name}.png"), full_page=full)
                    return str(page.inner_text("body"))

                text = shot("run", f"{root}{prefix}/runs/flow-run/{ids['named']}", "ticket-4711-refund")
                check("ticket-4711-refund" in text, f"{ui}: the run keeps the name it was given")
                text = shot("failed-run", f"{root}{prefix}/runs/flow-run/{ids['failed']}", "quality_gate")
                check("task quality_gate failed: assertion_failed" in text and "Traceback" not in text,
                      f"{ui}: a failed quality gate is one log line, no traceback")
                text = shot("summary-artifact", f"{root}{prefix}/artifacts/artifact/{ids['summary']}", "In graph order")
                check("escalation_draft" in text and "flowchart" not in text and "<br/>" not in text,
                      f"{ui}: the summary artifact shows the task table, not Mermaid source")
                text = shot("cost-artifact", f"{root}{prefix}/artifacts/artifact/{ids['cost']}", "share")
                check("%" in text, f"{ui}: cost shares read as percentages")
                text = shot("run-form", f"{root}{prefix}/deployments/deployment/{ids['deployment']}/run", "customer_tier")
                check("ticket" in text and "customer_tier" in text, f"{ui}: the Run form has a field per workflow input")
                check("operator setting" in text, f"{ui}: the workflow file is marked as an operator setting")
                context.close()
        finally:
            browser.close()


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    reason = pg_available()
    if reason is not None:
        print(f"the browser check needs PostgreSQL for its Prefect server: {reason}")
        return 1
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)")
        return 1
    with tempfile.TemporaryDirectory(prefix="llmo-e2e-") as tmp, prefect_server(ui=True) as server:
        ids = prepare(server, Path(tmp))
        print(f"server {server.api_url}; runs {ids['named']} (named), {ids['failed']} (failed quality gate)")
        browse(server.api_url, ids)
    print(f"screenshots in {SHOTS.relative_to(ROOT)}/")
    print(f"{sum(1 for _ in SHOTS.glob('*.png'))} screenshots; {len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
