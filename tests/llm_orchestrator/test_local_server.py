"""The temporary Prefect server of `llm-orchestrator run` and `make demo` (llm_orchestrator.local_server):
it starts and serves, is always stopped, and a start that takes too long ends with a clear message
and no process left behind.  Real processes throughout; the slow start is a real server process
made slow by a ``sitecustomize`` that sleeps before Prefect loads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from llm_orchestrator.local_server import local_server

ROOT = Path(__file__).resolve().parents[2]


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().split()[2]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PREFECT_HOME": str(tmp_path / f"home-{uuid.uuid4().hex}"), "LLM_ORCHESTRATOR_HOME": str(tmp_path / "data"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    env.update(extra)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_demo_with_a_server_too_slow_to_start_says_so_and_leaves_no_process(tmp_path: Path) -> None:
    slow = tmp_path / "slow"
    slow.mkdir()
    # Only the server process has PREFECT__SERVER_EPHEMERAL: it sleeps instead of starting.
    (slow / "sitecustomize.py").write_text(
        "import os, time\nif os.environ.get('PREFECT__SERVER_EPHEMERAL') == '1':\n    time.sleep(600)\n")
    env = isolated_env(tmp_path, PYTHONPATH=f"{slow}{os.pathsep}{ROOT}", LLM_ORCHESTRATOR_SERVER_STARTUP_TIMEOUT="3")
    marker = env["PREFECT_HOME"]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "llm_orchestrator.demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, output
    assert "did not answer within 3 s" in output and "it has been stopped" in output
    assert "LLM_ORCHESTRATOR_SERVER_STARTUP_TIMEOUT" in output and "prefect server start" in output
    assert "export PREFECT_API_URL=" in output
    assert "Traceback" not in output
    assert time.monotonic() - started < 240  # well before the server would have woken up
    assert processes_with(marker) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_command_takes_its_temporary_server_with_it(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, PYTHONPATH=str(ROOT))
    marker = env["PREFECT_HOME"]
    script = ("from llm_orchestrator.local_server import local_server\n"
              "import time\nwith local_server(print) as url:\n    print('ready', url, flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout is not None
        for line in holder.stdout:
            if line.startswith("ready "):
                url = line.split()[1]
                break
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert len(processes_with(marker)) == 2  # the command and its server
        holder.kill()  # SIGKILL: no exit handler runs; the server goes with its parent
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(marker) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()


def test_nothing_is_started_when_an_api_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    notes: list[str] = []
    with local_server(notes.append) as url:
        assert url == "http://127.0.0.1:9/api"
    assert notes == []


def test_a_write_that_meets_another_writer_waits_for_it_instead_of_failing(tmp_path: Path) -> None:
    """SQLite fails a DEFERRED write transaction at once when another writer commits while it
    waits ("database is locked": Prefect answers 503 and its client sleeps 2 s); the temporary
    server opens its write transactions IMMEDIATE, so the request waits and succeeds."""
    import sqlite3
    import threading

    home = tmp_path / "home"
    script = ("from llm_orchestrator.local_server import local_server\n"
              "import time\nwith local_server(print) as url:\n    print('ready', url, flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], env=isolated_env(tmp_path, PREFECT_HOME=str(home),
                              PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout is not None
        url = next(line.split()[1] for line in holder.stdout if line.startswith("ready "))
        with httpx.Client(base_url=url, timeout=60) as api:
            flow_id = api.post("/flows/", json={"name": "contended"}).json()["id"]
            database = sqlite3.connect(home / "prefect.db", timeout=60, isolation_level=None)
            database.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
            statuses: list[int] = []
            for _ in range(3):
                database.execute("BEGIN IMMEDIATE")
                database.execute("INSERT INTO probe VALUES (1)")  # another writer holds the lock...
                request = threading.Thread(target=lambda: statuses.append(
                    api.post("/flow_runs/", json={"flow_id": flow_id, "name": f"r{uuid.uuid4().hex[:6]}"}).status_code))
                request.start()
                time.sleep(1.0)
                database.execute("COMMIT")  # ...and commits while the request waits
                request.join(60)
            database.close()
        assert statuses == [201, 201, 201]
    finally:
        holder.terminate()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
