"""Where llm-orchestrator keeps its files: a module of its own so that reading a path (the user's
price table, the optimizer's spool) does not import SQLAlchemy, which only the store needs."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The user's data directory for llm-orchestrator (not created here)."""
    home = os.environ.get("LLM_ORCHESTRATOR_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "llm-orchestrator"
