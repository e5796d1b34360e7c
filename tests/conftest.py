"""Session-wide test setup: an isolated Prefect home and one Prefect test harness per session.

Environment is set before Prefect is imported anywhere, so results, the harness database and
local storage live in a temporary directory and never touch the developer's ~/.prefect.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

_HOME = tempfile.mkdtemp(prefix="llmo-tests-")
os.environ["PREFECT_HOME"] = os.path.join(_HOME, "prefect")
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_HOME, "prefect", "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["LLM_ORCHESTRATOR_HOME"] = os.path.join(_HOME, "data")
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness (a temporary API server), entered once for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):  # generous: a loaded machine starts it slowly
        yield
