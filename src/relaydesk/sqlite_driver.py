"""SQLite for the async engine, called on the event loop's own thread.

aiosqlite hands every call to a thread of its own and back: a cursor, an execute, a fetch and
a close are four round trips through the event loop for one statement, and the database's one
writer slot stays taken across all of them while the loop is busy elsewhere. SQLite on a local
file answers a statement in microseconds, so this driver calls `sqlite3` directly: a statement
holds the loop only while SQLite works on it.

SQLite is told never to wait for a lock itself (that would stop the loop). When another process
holds the writer slot, the statement is tried again after an asyncio sleep, for up to
`LOCK_TIMEOUT_SECONDS` in all. SQLAlchemy's aiosqlite dialect drives these objects through the
same interface aiosqlite offers (`async_creator`), so nothing above the engine changes.
"""

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self, TypeVar

T = TypeVar("T")

LOCK_TIMEOUT_SECONDS = 30.0
_FIRST_RETRY_SECONDS = 0.001
_LONGEST_RETRY_SECONDS = 0.05

PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    "synchronous=NORMAL",
    "busy_timeout=0",
)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


async def _unless_busy(attempt: Callable[[], T]) -> T:
    """`attempt()`, tried again after growing sleeps while another process holds the lock."""
    deadline = None  # set at the first busy answer: the usual first attempt reads no clock
    delay = _FIRST_RETRY_SECONDS
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            deadline = deadline or time.monotonic() + LOCK_TIMEOUT_SECONDS
            if time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, _LONGEST_RETRY_SECONDS)


class Cursor:
    """An `aiosqlite.Cursor` look-alike whose coroutines finish without suspending."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Self:
        await _unless_busy(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Self:
        rows = list(rows)  # a generator could not be replayed after a busy attempt
        await _unless_busy(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class Connection:
    """An `aiosqlite.Connection` look-alike over one `sqlite3` connection.

    Transactions are explicit (`isolation_level=None`): the engine issues `BEGIN IMMEDIATE`.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        # The name aiosqlite uses: SQLAlchemy's adapter reads it to tell a closed connection.
        self._connection: sqlite3.Connection | None = connection

    @property
    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self._connection

    def cursor(self) -> Cursor:
        return Cursor(self._open.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._open.isolation_level

    async def commit(self) -> None:
        await _unless_busy(self._open.commit)

    async def rollback(self) -> None:
        self._open.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def connect(database: str) -> Connection:
    """A connection with relaydesk's pragmas: WAL, enforced foreign keys, no fsync per commit."""
    # Any thread may close it: the pool does so from the garbage collector's.
    connection = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        await _unless_busy(lambda pragma=pragma: connection.execute(f"PRAGMA {pragma}"))
    return Connection(connection)
