"""A real Prefect server on PostgreSQL and process workers, for the tests and ``bench/scale.py``.

``prefect_server()`` creates a fresh database ``llmo_prefect_<random>``, starts
``prefect server start`` on 127.0.0.1 and a free port against it, waits for ``/api/health`` and,
on exit, stops the server (its whole process group) and drops the database.  ``worker()`` starts
``prefect worker start --pool NAME`` the same way.  Every process is bounded: startup has a
deadline, and exit always terminates then kills.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

PG_ADMIN_DSN = os.environ.get("LLMO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_available(dsn: str = PG_ADMIN_DSN) -> str | None:
    """None when PostgreSQL answers at ``dsn``, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'llm-orchestrator[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means unavailable
        return f"PostgreSQL unreachable at {dsn}: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def fresh_database(dsn: str = PG_ADMIN_DSN) -> Iterator[str]:
    """A new database (dropped afterwards); yields its name."""
    import psycopg

    name = f"llmo_prefect_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Server:
    api_url: str
    database_url: str
    home: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a process that talks to this server (CLI, worker)."""
        env = dict(os.environ)
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        env.update({
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home / "client"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        })
        env.update(extra)
        return env


@contextlib.contextmanager
def prefect_server(*, startup_timeout: float = 120, dsn: str = PG_ADMIN_DSN, ui: bool = False) -> Iterator[Server]:
    """``prefect server start`` on a fresh PostgreSQL database, stopped and dropped afterwards
    (with ``ui``: serving both Prefect UIs, the default one at ``/`` and the new one at ``/v2``)."""
    with fresh_database(dsn) as name, tempfile.TemporaryDirectory(prefix="llmo-prefect-server-") as tmp:
        home = Path(tmp)
        host_part = dsn.split("://", 1)[1].rsplit("/", 1)[0]
        database_url = f"postgresql+asyncpg://{host_part}/{name}"
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env.update({
            "PREFECT_HOME": str(home / "server"),
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_UI_API_URL": api_url,  # what the UIs in a browser call (default: port 4200)
            "PREFECT_LOGGING_LEVEL": "WARNING",
        })
        log = home / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"prefect server exited with {process.returncode}:\n{_tail(log)}")
                try:
                    if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prefect server not healthy after {startup_timeout:.0f}s:\n{_tail(log)}")
                time.sleep(0.5)
            yield Server(api_url=api_url, database_url=database_url, home=home, log=log)
        finally:
            _stop(process)


@contextlib.contextmanager
def worker(server: Server, pool: str, *, limit: int | None = None, env: Mapping[str, str] | None = None,
           name: str | None = None, startup_timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """``prefect worker start --pool POOL --type process`` until the block exits (then stopped)."""
    log = server.home / f"worker-{name or uuid.uuid4().hex[:6]}.log"
    args = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--type", "process"]
    if name:
        args += ["--name", name]
    if limit:
        args += ["--limit", str(limit)]
    worker_env = server.env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5",
                            PREFECT_WORKER_HEARTBEAT_SECONDS="5", PREFECT_LOGGING_LEVEL="INFO",
                            **dict(env or {}))
    with log.open("wb") as sink:
        process = subprocess.Popen(args, env=worker_env, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        while process.poll() is None and time.monotonic() < deadline:
            if "started" in _tail(log, 200).lower():
                break
            time.sleep(0.3)
        if process.poll() is not None:
            raise RuntimeError(f"prefect worker exited with {process.returncode}:\n{_tail(log)}")
        process.log = log  # type: ignore[attr-defined]
        yield process
    finally:
        _stop(process)


def cli(server: Server, *args: str, timeout: float = 120, env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``prefect`` CLI against ``server`` (bounded by ``timeout``)."""
    return subprocess.run([str(BIN / "prefect"), *args], env=server.env(**dict(env or {})), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
