"""Database engine, sessions and the declarative base shared by every domain."""

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator

from relaydesk import sqlite_driver
from relaydesk.clock import now
from relaydesk.realtime.events import take_pending_events

if TYPE_CHECKING:
    from relaydesk.realtime.bus import Bus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def uuid7() -> uuid.UUID:
    """A time-ordered, unguessable id (RFC 9562 version 7)."""
    unix_ms = time.time_ns() // 1_000_000
    rand_a = secrets.randbits(12)
    rand_b = secrets.randbits(62)
    return uuid.UUID(int=(unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def uuid7_in_sql(dialect: str, at: datetime) -> sa.ColumnElement[uuid.UUID]:
    """A new version 7 id for each row of an `INSERT … SELECT`, timed `at`, made by the
    database: rows written in bulk sort among the others by when they were made. The time is
    a bound parameter, so every batch sends the same statement (and reuses its plan)."""
    unix_ms = sa.literal(int(at.timestamp() * 1000), sa.BigInteger)
    func = sa.func
    if dialect == "postgresql":
        parts = [
            func.lpad(func.to_hex(unix_ms), 12, "0"),
            sa.literal("7"),
            func.substr(func.md5(sa.cast(func.random(), sa.Text)), 1, 3),
            func.to_hex(8 + sa.cast(func.floor(func.random() * 4), sa.Integer)),
            func.substr(func.md5(sa.cast(func.random(), sa.Text)), 1, 15),
        ]
        return sa.cast(_joined(parts), sa.Uuid)
    # SQLite keeps ids as 32 bare hex digits.
    parts = [
        func.printf("%012x", unix_ms),
        sa.literal("7"),
        func.substr(func.hex(func.randomblob(2)), 2, 3),
        func.substr("89ab", 1 + func.abs(func.random()) % 4, 1),
        func.substr(func.hex(func.randomblob(8)), 2, 15),
    ]
    return sa.type_coerce(func.lower(_joined(parts)), sa.Uuid)


def _joined(parts: list[sa.ColumnElement[Any]]) -> sa.ColumnElement[str]:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return joined


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: sa.Uuid, dict[str, Any]: sa.JSON}  # noqa: RUF012


Id = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid7)]
CreatedAt = Annotated[datetime, mapped_column(default=now)]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, **kwargs)
    database = make_url(url).database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, async_creator=lambda: sqlite_driver.connect(database), **kwargs
    )

    @event.listens_for(engine.sync_engine, "begin")
    def begin_immediate(connection: Any) -> None:
        """Transactions take the single writer slot up front instead of failing with
        "database is locked" when two readers both try to become the writer."""
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@asynccontextmanager
async def unique_or(session: AsyncSession, conflict: Exception) -> AsyncIterator[None]:
    """Adds what the block adds in a savepoint; if that breaks a unique constraint (a
    concurrent request made the same row since the caller checked), raises `conflict`."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise conflict from exc


class InsertUnlessDuplicate:
    """`INSERT … ON CONFLICT (unique columns) DO NOTHING`, built once for each backend.

    The database, not an earlier read, decides whether a row with the same unique values
    exists, so a concurrent insert of the same row is skipped rather than failing the
    transaction.
    """

    def __init__(self, table: sa.Table, *unique_columns: str) -> None:
        self._statements = {
            backend.dialect.name: backend.insert(table).on_conflict_do_nothing(
                index_elements=unique_columns
            )
            for backend in (sqlite, postgresql)
        }

    async def __call__(self, session: AsyncSession, values: dict[str, Any]) -> bool:
        """Whether the row went in (False: one with the same unique values exists)."""
        assert session.bind is not None
        statement = self._statements[session.bind.dialect.name]
        result = await session.execute(statement, values)
        return bool(result.rowcount)  # type: ignore[attr-defined]


class Database:
    """The engine and session factory of one process, and the bus its events go out on."""

    def __init__(self, url: str, bus: "Bus | None" = None) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.bus = bus
        # SQLite has one writer at a time, and a transaction waiting for it polls with growing
        # sleeps (up to 100 ms each). Queueing this process's transactions here instead hands
        # the database over the moment the previous one commits, in arrival order.
        self._turn = asyncio.Lock() if is_sqlite(url) else contextlib.nullcontext()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back if it raises.

        Events queued during the work are published after the commit, never before and never
        for work that was rolled back.
        """
        async with self.sessionmaker() as session:
            # The turn ends with the commit: handing the connection back to the pool is no
            # business of the next transaction's.
            async with self._turn:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    take_pending_events(session)
                    raise
            events = take_pending_events(session)
        if self.bus is not None:
            for event in events:
                await self.bus.publish(event.topics, event.frame)

    async def dispose(self) -> None:
        await self.engine.dispose()
