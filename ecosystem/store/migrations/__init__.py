"""Alembic migrations of the store; ``script_location`` is this package, no alembic.ini needed."""
