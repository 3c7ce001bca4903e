"""CSV downloads: streamed row by row, UTF-8 with a header, and safe to open in a spreadsheet."""

import asyncio
import csv
import io
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from relaydesk.db import Database

# Text starting with these is run as a formula by spreadsheets (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows read per transaction while streaming: memory stays flat however long the file.
BATCH_SIZE = 1000
CHUNK_LINES = 250


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula, prefixed with ' so it stays text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


class _Lines:
    """Turns rows into CSV text one line at a time."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def __call__(self, cells: Sequence[object]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([safe_cell(cell) for cell in cells])
        return self._buffer.getvalue()


# The byte-order mark makes spreadsheet programs read the file as UTF-8.
_BOM = "\ufeff"


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    line = _Lines()
    yield _BOM + line(header)
    for row in rows:
        yield line(row)


async def _async_csv_chunks(
    header: Sequence[str], rows: AsyncIterable[Sequence[object]]
) -> AsyncIterator[str]:
    """CSV text a few hundred lines at a time: one send per chunk, not per line."""
    line = _Lines()
    chunk = [_BOM + line(header)]
    async for row in rows:
        chunk.append(line(row))
        if len(chunk) >= CHUNK_LINES:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def csv_download(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]] | AsyncIterable[Sequence[object]],
) -> StreamingResponse:
    lines = (
        _async_csv_chunks(header, rows)
        if isinstance(rows, AsyncIterable)
        else csv_lines(header, rows)
    )
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def rows_in_batches(
    database: Database,
    statement: Select[Any],
    id_column: InstrumentedAttribute[Any],
    completed: Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]] | None = None,
) -> AsyncIterator[Any]:
    """Every row of `statement` (whose first column is the entity) in id order, read a
    batch per short transaction; `completed` may turn each batch into fuller rows with a
    few more reads in that transaction.

    A download outlives the request's session, and one long read would hold a transaction
    (and on SQLite the database) for as long as the client takes to receive the file.
    """
    after = None
    while True:
        batch = statement.order_by(id_column).limit(BATCH_SIZE)
        if after is not None:
            batch = batch.where(id_column > after)
        async with database.transaction() as session:
            rows = list((await session.execute(batch)).all())
            if rows:
                after = getattr(rows[-1][0], id_column.key)
            output = await completed(session, rows) if completed and rows else rows
        for row in output:
            yield row
        if len(rows) < BATCH_SIZE:
            return
        # Other requests get their turn between batches (on SQLite the reads run on the loop).
        await asyncio.sleep(0)
