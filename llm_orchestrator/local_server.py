"""A temporary Prefect server for the runs of one command, started and always stopped by us.

Without ``PREFECT_API_URL`` (or a profile's API URL), Prefect starts a temporary server itself
(``SubprocessASGIServer``).  On a loaded machine that failed three ways: it waits 20 s
(``server.ephemeral.startup_timeout_seconds``) and gives up with "Timed out while attempting
to connect to ephemeral Prefect API server"; it picks a random port in 8000-8999, checks it is
free and lets the server bind it later, so servers started at the same time collide
("address already in use"); and a start that timed out leaves its process running, because only
the last one it started is stopped at exit.

``local_server()`` starts the same application Prefect would (``create_app`` in ephemeral mode,
no UI, the same SQLite database in ``PREFECT_HOME``) with these differences:

* the listening socket is bound here, on a port the kernel picks, and handed to the server
  process, so no other process can take the port between the choice and the bind;
* the start-up deadline is sized for a busy machine (``DEFAULT_STARTUP_TIMEOUT``; set
  ``LLM_ORCHESTRATOR_SERVER_STARTUP_TIMEOUT`` in seconds, or Prefect's setting if larger), with a
  note while it waits and, when it cannot start, one message that says what happened, shows the
  server's last log lines and how to use a long-lived server instead;
* its SQLite write transactions wait for the database lock instead of failing with 503 (after
  which Prefect's client waited 2 s before asking again): ``llm_orchestrator.prefect_app``;
* the process is stopped when the block exits (terminate, then kill), runs in its own session
  (Ctrl-C stops the run first, then us stopping the server), and on Linux dies with its parent
  even if the parent is killed (``PR_SET_PDEATHSIG``), so no temporary server is left behind.

When an API is configured nothing is started.  One server serves every run of the block, so
``make demo`` starts one for all its examples.
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
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

DEFAULT_STARTUP_TIMEOUT = 180.0
STARTUP_TIMEOUT_ENV = "LLM_ORCHESTRATOR_SERVER_STARTUP_TIMEOUT"
NOTE_AFTER = 10.0  # seconds of waiting before saying why
LONG_LIVED_HINT = ("For a server that outlives the run (faster starts, history in the Prefect UI), start one once:\n"
                   "    prefect server start                              # in another terminal\n"
                   "    export PREFECT_API_URL=http://127.0.0.1:4200/api")

# The server process.  On Linux it first asks for SIGTERM when its parent dies (and exits if the
# parent is already gone), so it never outlives the command, even one killed with SIGKILL.  Then
# it serves Prefect's API app (writes that wait for SQLite's lock) on the inherited listening
# socket, whose family it reads from the descriptor (uvicorn's --fd option assumes a Unix socket).
_SERVE = (
    "import os, signal, socket, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "    if os.getppid() != int(sys.argv[2]):\n"
    "        sys.exit(0)\n"
    "import uvicorn\n"
    "sock = socket.socket(fileno=int(sys.argv[1]))\n"
    "config = uvicorn.Config('llm_orchestrator.prefect_app:create_app', factory=True, log_level='error', lifespan='on')\n"
    "uvicorn.Server(config).run(sockets=[sock])\n"
)


class ServerStartError(RuntimeError):
    """The temporary server did not start; the message says why and what to do instead."""


def configured_api_url() -> str | None:
    """The Prefect API runs would use without us: the environment's, else the active profile's."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def startup_timeout() -> float:
    raw = os.environ.get(STARTUP_TIMEOUT_ENV)
    if raw:
        try:
            return max(1.0, float(raw))
        except ValueError:
            raise ServerStartError(f"{STARTUP_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    from prefect.settings import get_current_settings

    return max(DEFAULT_STARTUP_TIMEOUT, float(get_current_settings().server.ephemeral.startup_timeout_seconds))


def _load() -> str:
    try:
        one = os.getloadavg()[0]
    except OSError:
        return ""
    return f"; load average {one:.1f} on {os.cpu_count() or '?'} CPUs"


class LocalServer:
    """One temporary server process; ``start`` returns at once, ``wait_ready`` waits for it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.api_url = ""
        handle, path = tempfile.mkstemp(prefix="llmo-prefect-server-", suffix=".log")
        os.close(handle)
        self.log = Path(path)
        self.started = 0.0

    def start(self) -> None:
        from prefect.settings import get_current_settings

        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            port = listener.getsockname()[1]
            env = {
                **get_current_settings().to_environment_variables(exclude_unset=True),  # the profile's settings too
                **os.environ,  # the environment as it is now wins over what Prefect read at import
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            env.pop("PREFECT_API_URL", None)
            with self.log.open("wb") as sink:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _SERVE, str(listener.fileno()), str(os.getpid())], env=env,
                    stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),),
                    start_new_session=True,
                )
        finally:
            listener.close()  # the server holds its own copy
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.started = time.monotonic()

    def wait_ready(self, timeout: float, say: Callable[[str], None]) -> None:
        """Return once ``/api/health`` answers; else stop the server and raise ServerStartError."""
        assert self.process is not None
        deadline = self.started + timeout
        noted = False
        with httpx.Client(timeout=5) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise ServerStartError(self._failure(f"exited with code {code} while starting"))
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not accepting yet, or too busy to answer within 5 s
                waited = time.monotonic() - self.started
                if time.monotonic() > deadline:
                    raise ServerStartError(self._failure(f"did not answer within {timeout:.0f} s{_load()}"))
                if not noted and waited > NOTE_AFTER:
                    noted = True
                    say(f"note: still starting the temporary Prefect server ({waited:.0f} s{_load()}); "
                        f"waiting up to {timeout:.0f} s ({STARTUP_TIMEOUT_ENV} changes this)")
                time.sleep(0.2)

    def _failure(self, what: str) -> str:
        self.stop()
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:]) if self.log.exists() else ""
        message = f"the temporary Prefect server at {self.api_url} {what}; it has been stopped."
        if tail.strip():
            message += "\nIts last log lines:\n" + tail
        if "did not answer" in what:
            message += f"\nOn a busy machine, raise {STARTUP_TIMEOUT_ENV} (seconds)."
        return message + "\n" + LONG_LIVED_HINT

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        elif process is not None:
            process.wait()
        with contextlib.suppress(OSError):
            self.log.unlink()


def _use_api(url: str | None) -> None:
    """Point this process's Prefect settings at ``url`` (None: back to unset)."""
    if url is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = url
    if "prefect.context" in sys.modules:  # Prefect reads its settings once; have it read them again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def _drain_prefect_workers(timeout: float = 10) -> None:
    """Send the logs and events Prefect still holds while the server is there to take them (as
    Prefect's test harness does before it stops its server); else they fail at exit."""
    if "prefect.logging.handlers" in sys.modules:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=timeout)
    if "prefect.events.worker" in sys.modules:
        import logging

        from prefect.events.worker import EventsWorker

        quiet = logging.getLogger("EventsWorker")  # "Still processing items": expected while draining
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            EventsWorker.drain_all(timeout=timeout)
        finally:
            quiet.setLevel(level)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def local_server(say: Callable[[str], None] = _stderr) -> Iterator[str]:
    """Yield the Prefect API URL to use: the configured one, else a temporary server's, which is
    stopped when the block exits.  Raises ServerStartError (server stopped) when it cannot start.
    Enter it from the main thread: the server's parent-death signal follows the starting thread."""
    configured = configured_api_url()
    if configured:
        yield configured
        return
    say("note: PREFECT_API_URL is not set, so a temporary Prefect server runs for this command and stops "
        "when it ends (run history stays in the local database).\n" + LONG_LIVED_HINT)
    server = LocalServer()
    try:
        server.start()
        server.wait_ready(startup_timeout(), say)
        _use_api(server.api_url)
        try:
            yield server.api_url
        finally:
            _drain_prefect_workers()
            _use_api(None)
    finally:
        server.stop()
