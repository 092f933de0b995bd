"""The Alembic migrations build exactly the schema the models describe, on both databases.

A model changed without a migration would work in tests that create tables from the models and
fail on a real database brought up with ``otklik db upgrade``; this catches it.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage.database import Database
from storage.models import Base


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with database.engine.connect() as connection:
        found = await connection.run_sync(differences)

    assert found == [], "write a migration for these model changes (see README, Storage)"
