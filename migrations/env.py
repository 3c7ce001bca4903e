"""Alembic environment: migrates the connection it is handed, or the configured database."""

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from relaydesk.config import Settings
from relaydesk.db import create_engine
from relaydesk.migrate import include_object
from relaydesk.models import Base

config = context.config


def render_item(kind: str, obj: Any, _autogen_context: Any) -> str | bool:
    """Write plain column types, so revisions never depend on application code."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    if kind == "type" and isinstance(obj, sa.Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    return False


def configure_context(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
        include_object=include_object,
    )


def run_migrations(connection: Connection) -> None:
    configure_context(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_configured_database() -> None:
    engine = create_engine(Settings().database_url)
    async with engine.begin() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    asyncio.run(run_on_configured_database())
