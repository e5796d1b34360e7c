"""Reading the saved ``OrchestratorConfig`` block: the document first, the Block classes only if it exists.

Defining Prefect Block classes is not free: Prefect registers each subclass under a key computed
from its JSON schema, which for ``blocks.configs`` (five blocks and the ecosystem settings models
they hold) costs about 0.6 CPU-s per process.  Most runs have no saved block, so the document is
read by its type slug and name with a plain API request, and ``blocks.configs`` is imported only
to turn a document that exists into settings.  A missing document raises Prefect's
``ObjectNotFound``, which ``blocks.resolve`` treats as "no saved config".
"""

from __future__ import annotations

from typing import Any

BLOCK_TYPE_SLUG = "llm-orchestrator-config"  # OrchestratorConfig._block_type_slug (a test holds them equal)


def _settings(document: Any) -> Any:
    from blocks.configs import OrchestratorConfig

    # What Block.load does with the document it reads (Prefect 3.9, blocks/core.py).
    return OrchestratorConfig._load_from_block_document(document).to_settings()


def read_saved_config(name: str) -> Any:
    """The saved block ``name`` as ``OrchestratorSettings``; raises ``ObjectNotFound`` if absent."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name=name, block_type_slug=BLOCK_TYPE_SLUG)
    return _settings(document)


async def aread_saved_config(name: str) -> Any:
    """``read_saved_config`` for async callers (inside a flow run: with the run's client)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        document = await client.read_block_document_by_name(name=name, block_type_slug=BLOCK_TYPE_SLUG)
    return _settings(document)
