"""The SQLite driver runs on the event loop's thread, so it must never wait inside SQLite: a lock
held by another process is waited for with asyncio sleeps, and the loop keeps serving."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from relaydesk import sqlite_driver
from relaydesk.db import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE note (body TEXT NOT NULL)"))
    yield database
    await database.dispose()


@pytest.fixture
def other_writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection, holding the database's one writer slot."""
    connection = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    yield connection
    connection.close()


async def _write_note(database: Database, body: str) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": body})


async def _notes(database: Database) -> list[str]:
    async with database.transaction() as session:
        return list((await session.scalars(text("SELECT body FROM note"))).all())


async def test_a_held_lock_is_waited_for_while_the_loop_keeps_running(
    database: Database, other_writer: sqlite3.Connection
) -> None:
    writing = asyncio.create_task(_write_note(database, "after the other writer"))
    loop = asyncio.get_running_loop()
    longest_gap, last = 0.0, loop.time()
    for _ in range(20):
        await asyncio.sleep(0.01)
        longest_gap, last = max(longest_gap, loop.time() - last), loop.time()
    # Waiting inside SQLite would hold the loop for the whole busy timeout (seconds).
    assert longest_gap < 0.5
    assert not writing.done()

    other_writer.commit()
    await asyncio.wait_for(writing, timeout=5)
    assert await _notes(database) == ["after the other writer"]


async def test_a_lock_held_too_long_fails_the_transaction(
    database: Database, other_writer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "LOCK_TIMEOUT_SECONDS", 0.05)
    with pytest.raises(sqlalchemy.exc.OperationalError, match="database is locked"):
        await _write_note(database, "never stored")

    other_writer.rollback()
    assert await _notes(database) == []


async def test_connections_enforce_foreign_keys_in_wal_mode(database: Database) -> None:
    async with database.transaction() as session:
        pragmas = [
            (await session.execute(text(f"PRAGMA {name}"))).scalar_one()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        ]
    assert pragmas == ["wal", 1, 0]
