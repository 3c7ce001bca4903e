"""The migrations build exactly the schema the models describe, on every backend."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from relaydesk.db import Database
from relaydesk.migrate import include_object
from relaydesk.models import Base


class TestMigrations:
    # SQLite can't reflect expression indexes (lower(title)); the comparison skips them there.
    @pytest.mark.filterwarnings("ignore:.*expression-based index")
    async def test_migrated_schema_matches_models(self, database: Database) -> None:
        def differences(connection):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include_object}
            )
            return compare_metadata(context, Base.metadata)

        async with database.engine.connect() as connection:
            assert await connection.run_sync(differences) == []

    async def test_every_model_table_exists(self, database: Database) -> None:
        async with database.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(Base.metadata.tables) <= tables
