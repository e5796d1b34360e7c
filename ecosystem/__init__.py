"""The four ecosystem systems (Forge, Test-Bench, Auto-Optimizer, Governance) and their store.

Each system lives in its own subpackage with the same shape: request/response models (the
seed's structs as pydantic models), a ``Protocol``, an embedded implementation, an ``httpx``
client for a remote service and a FastAPI app serving the embedded implementation on the same
``/v1`` contract.  This package never imports Prefect, ``blocks`` or ``compiler``: it takes plain
pydantic settings so it can be used as a library or run as services on its own.
"""
