"""Configuration: the seed's orchestrator-config.yaml as settings, and Prefect Blocks that store it.

``settings`` parses the config file format into plain pydantic settings that the ecosystem
packages accept (and resolves where a run's config comes from); ``configs`` holds the Block
classes, exported here so that ``prefect block register -m blocks`` registers them.  They are
imported lazily: ``from blocks.settings import ...`` must not pay for importing Prefect.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AutoOptimizerConfig", "ForgeConfig", "GovernanceConfig", "OrchestratorConfig", "TestBenchConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from blocks import configs

        return getattr(configs, name)
    raise AttributeError(f"module 'blocks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
