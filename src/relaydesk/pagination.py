"""Keyset pagination: `?limit=&cursor=` in, `{items, next_cursor}` out."""

import base64
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from relaydesk.errors import InvalidInput


class PageParams(BaseModel):
    limit: int
    after_id: uuid.UUID | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
) -> PageParams:
    return PageParams(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc


def encode_cursor(last_id: uuid.UUID) -> str:
    return _encode(last_id.bytes)


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=_decode(cursor))
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc


def encode_text_cursor(*parts: str) -> str:
    """An opaque cursor for orders other than by id (activity time and id, seq)."""
    return _encode("|".join(parts).encode())


def decode_text_cursor(cursor: str) -> list[str]:
    try:
        return _decode(cursor).decode().split("|")
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    id_column: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
    *,
    newest_first: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """Rows in id order (creation order, ids being UUIDv7; newest first if asked) after the
    cursor, and the next cursor."""
    if params.after_id is not None:
        beyond = id_column < params.after_id if newest_first else id_column > params.after_id
        statement = statement.where(beyond)
    order = id_column.desc() if newest_first else id_column
    rows = (await session.execute(statement.order_by(order).limit(params.limit + 1))).all()
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    return rows, encode_cursor(_row_id(rows[-1], id_column))


def _row_id(row: Any, id_column: InstrumentedAttribute[uuid.UUID]) -> uuid.UUID:
    entity = row[0]
    return getattr(entity, id_column.key)
