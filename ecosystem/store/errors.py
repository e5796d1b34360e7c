"""Errors the SQL store raises, under the ecosystem root.

    EcosystemError
    └── StoreError                 store_error (500)
        ├── StoreUnavailable       503, retryable: the database cannot be reached
        └── MigrationRequired      the schema is not at the head revision; run ``llm-orchestrator db upgrade``

Driver exceptions never leave the package raw: ``Store`` converts connection failures to
``StoreUnavailable`` at its boundary.
"""

from __future__ import annotations

from ecosystem.errors import EcosystemError


class StoreError(EcosystemError):
    type = "store_error"
    status = 500


class StoreUnavailable(StoreError):
    type = "store_unavailable"
    status = 503
    retryable = True


class MigrationRequired(StoreError):
    type = "migration_required"
    status = 503
