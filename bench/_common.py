"""What the process benches share: the Prefect servers they run against, and measuring a child process.

Not a bench itself (``make bench`` skips ``bench/_*.py``).  Servers:

* ``temporary_server()``: the SQLite-backed temporary server ``llm-orchestrator run`` starts
  (``llm_orchestrator.local_server``), on a database of its own in a fresh ``PREFECT_HOME`` so
  other processes on the machine do not share its SQLite lock;
* ``postgres_server()``: ``prefect server start`` on a fresh PostgreSQL database
  (``deployments.testing``), or None with the reason when PostgreSQL is not reachable.

``measure(argv, env)`` runs one process and returns its wall time, CPU time (user + system, its
children included) and peak RSS, read with ``os.wait4`` for that process alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Measured:
    wall: float
    cpu: float
    rss_mib: float
    stdout: str


def measure(argv: list[str], env: Mapping[str, str], timeout: float = 900, cwd: Path | str = ROOT) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=dict(env), stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise SystemExit(f"timed out after {timeout:.0f}s: {' '.join(argv)}")
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"exit {process.returncode}: {' '.join(argv)}\n{text[-2000:]}\n{errors[-3000:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text)


def client_env(api_url: str, home: Path, **extra: str) -> dict[str, str]:
    # Measured processes read the bytecode caches a user's second run reads: with
    # PYTHONDONTWRITEBYTECODE (set in some shells and CI images) every process compiles our
    # modules from source again (pip compiled Prefect's at install), 0.1-0.2 CPU-s a start that
    # a hand-written script never pays.  The warm-up runs write the caches.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home / "client"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "ERROR", "LLM_ORCHESTRATOR_HOME": str(home / "data"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))})
    env.update(extra)
    return env


@contextlib.contextmanager
def temporary_server() -> Iterator[str]:
    """A temporary SQLite-backed Prefect server (as ``llm-orchestrator run`` starts one) with a
    database of its own; yields its API URL."""
    home = tempfile.mkdtemp(prefix="llmo-bench-server-")
    saved = {k: os.environ.get(k) for k in ("PREFECT_HOME", "PREFECT_API_URL")}
    os.environ["PREFECT_HOME"] = home
    os.environ.pop("PREFECT_API_URL", None)
    if "prefect.context" in sys.modules:  # Prefect read its settings at import: have it read them again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    from llm_orchestrator.local_server import local_server

    try:
        with local_server(lambda note: None) as url:
            yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """``prefect server start`` on PostgreSQL; yields its API URL, or None when PostgreSQL is not reachable."""
    from deployments.testing import pg_available, prefect_server

    reason = pg_available()
    if reason is not None:
        print(f"PostgreSQL server skipped: {reason}", file=sys.stderr)
        yield None
        return
    with prefect_server() as server:
        yield server.api_url


def best(values: list[float]) -> float:
    return min(values)
