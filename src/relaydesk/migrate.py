"""Bringing a database to the newest schema with the project's Alembic revisions."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from relaydesk.chat.search import SEARCH_INDEXES, SEARCH_TABLES

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    return Config(PROJECT_ROOT / "alembic.ini")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrades the engine's database to head, in one transaction."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """Schema comparison leaves out the full-text search objects the models do not describe."""
    if type_ == "table":
        return not (name or "").startswith(SEARCH_TABLES)
    return not (type_ == "index" and name in SEARCH_INDEXES)
