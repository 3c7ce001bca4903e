"""Canned responses (HD-14): a partner's ordered categories of pre-set answers, found by agents
while they chat and filled in for the conversation they are inserted into.

Names, titles and shortcuts are checked before writing, case-insensitively; the database's
unique keys catch what a concurrent request wrote in between, and the check, run again, turns
that into the same 409.
"""

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, delete, false, func, literal, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import StaffPrincipal
from relaydesk.canned import schemas
from relaydesk.canned.models import CannedCategory, CannedResponse
from relaydesk.chat.service import get_conversation
from relaydesk.errors import Conflict, InvalidInput, NotFound
from relaydesk.pagination import decode_text_cursor, encode_text_cursor
from relaydesk.tenancy import service as tenancy

CATEGORY_EXISTS = "canned_category_exists"
TITLE_TAKEN = "canned_title_taken"
SHORTCODE_TAKEN = "canned_shortcode_taken"

# Only these are filled in; any other {{…}} stays as written. Response text is never
# evaluated as a template.
_PLACEHOLDER = re.compile(r"\{\{\s*(end_user\.name|agent\.name|channel\.name)\s*\}\}")


def readable_categories(staff: StaffPrincipal) -> Select[tuple[CannedCategory]]:
    """The categories of the staff member's partner; tenant staff have none."""
    statement = select(CannedCategory).where(CannedCategory.tenant_id == staff.tenant_id)
    if staff.partner_id is None:
        return statement.where(false())
    return statement.where(CannedCategory.partner_id == staff.partner_id)


def readable_responses(staff: StaffPrincipal) -> Select[tuple[CannedResponse]]:
    """The responses of the staff member's partner; tenant staff have none."""
    statement = select(CannedResponse).where(CannedResponse.tenant_id == staff.tenant_id)
    if staff.partner_id is None:
        return statement.where(false())
    return statement.where(CannedResponse.partner_id == staff.partner_id)


# --- Categories ------------------------------------------------------------------------------


def _response_count() -> sa.ScalarSelect[int]:
    return (
        select(func.count())
        .where(CannedResponse.category_id == CannedCategory.id)
        .correlate(CannedCategory)
        .scalar_subquery()
    )


def _category_view(category: CannedCategory, response_count: int) -> schemas.CannedCategory:
    return schemas.CannedCategory(
        id=category.id,
        name=category.name,
        position=category.position,
        response_count=response_count,
        created_at=category.created_at,
    )


_CATEGORY_ORDER = (CannedCategory.position, CannedCategory.id)


async def list_categories(
    session: AsyncSession, staff: StaffPrincipal, *, limit: int, cursor: str | None
) -> tuple[list[schemas.CannedCategory], str | None]:
    """The partner's categories in their order, each with its number of responses."""
    statement = readable_categories(staff).add_columns(_response_count())
    if cursor:
        try:
            position_text, id_text = decode_text_cursor(cursor)
            after = (int(position_text), uuid.UUID(id_text))
        except ValueError as exc:
            raise InvalidInput("The cursor is not valid.") from exc
        statement = statement.where(tuple_(*_CATEGORY_ORDER) > tuple_(*after))
    rows = (await session.execute(statement.order_by(*_CATEGORY_ORDER).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_text_cursor(str(last.position), str(last.id))
    return [_category_view(category, count) for category, count in rows], next_cursor


async def category_view(
    session: AsyncSession, staff: StaffPrincipal, category_id: uuid.UUID
) -> schemas.CannedCategory:
    row = (
        await session.execute(
            readable_categories(staff)
            .add_columns(_response_count())
            .where(CannedCategory.id == category_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such category.")
    return _category_view(*row)


async def _ordered_categories(session: AsyncSession, staff: StaffPrincipal) -> list[CannedCategory]:
    """The partner's categories in order, read after locking the partner so that changes to
    the order take turns."""
    await tenancy.lock_partner(session, staff)
    return list(await session.scalars(readable_categories(staff).order_by(*_CATEGORY_ORDER)))


def _renumber(categories: list[CannedCategory]) -> None:
    """Positions 0, 1, 2 … in list order, whatever they were before."""
    for position, category in enumerate(categories):
        if category.position != position:
            category.position = position


def _placed(categories: list[CannedCategory], category: CannedCategory, position: int) -> None:
    """Puts `category` at `position` (past the end: last) and renumbers the rest."""
    if category in categories:
        categories.remove(category)
    categories.insert(min(position, len(categories)), category)
    _renumber(categories)


async def _check_category_name(
    session: AsyncSession, staff: StaffPrincipal, name: str, category_id: uuid.UUID | None = None
) -> None:
    names = await session.execute(
        readable_categories(staff).with_only_columns(CannedCategory.id, CannedCategory.name)
    )
    if any(other != category_id and taken.casefold() == name.casefold() for other, taken in names):
        raise Conflict(f"A category named “{name}” already exists.", code=CATEGORY_EXISTS)


@asynccontextmanager
async def _written(
    session: AsyncSession, check_again: Callable[[], Awaitable[None]]
) -> AsyncIterator[None]:
    """Writes the block's changes in a savepoint. A unique key a concurrent request took since
    the checks ran fails it; `check_again` now sees that request's row and raises the 409.
    Otherwise the row it refers to went away meanwhile."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        await check_again()
        raise NotFound("The category was deleted meanwhile.") from exc


def _partner_id(staff: StaffPrincipal) -> uuid.UUID:
    if staff.partner_id is None:
        raise NotFound("Canned responses belong to partners.")
    return staff.partner_id


async def create_category(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.CannedCategoryCreate
) -> schemas.CannedCategory:
    """A new category at `position` (the others move down), or last."""
    partner_id = _partner_id(staff)
    categories = await _ordered_categories(session, staff)
    await _check_category_name(session, staff, data.name)
    category = CannedCategory(
        tenant_id=staff.tenant_id, partner_id=partner_id, name=data.name, position=len(categories)
    )
    async with _written(session, lambda: _check_category_name(session, staff, data.name)):
        session.add(category)
        position = len(categories) if data.position is None else data.position
        _placed(categories, category, position)
    return _category_view(category, 0)


async def update_category(
    session: AsyncSession,
    staff: StaffPrincipal,
    category_id: uuid.UUID,
    data: schemas.CannedCategoryUpdate,
) -> schemas.CannedCategory:
    """Renames and/or moves a category; the others are renumbered to stay 0 … n-1."""
    categories = await _ordered_categories(session, staff)
    category = next((c for c in categories if c.id == category_id), None)
    if category is None:
        raise NotFound("No such category.")
    name = data.name or category.name
    await _check_category_name(session, staff, name, category_id)
    async with _written(session, lambda: _check_category_name(session, staff, name, category_id)):
        category.name = name
        _placed(categories, category, category.position if data.position is None else data.position)
    return await category_view(session, staff, category.id)


async def delete_category(
    session: AsyncSession, staff: StaffPrincipal, category_id: uuid.UUID
) -> None:
    """Deletes a category with all its responses; the ones after it move up."""
    categories = await _ordered_categories(session, staff)
    category = next((c for c in categories if c.id == category_id), None)
    if category is None:
        raise NotFound("No such category.")
    await session.execute(delete(CannedResponse).where(CannedResponse.category_id == category.id))
    await session.delete(category)
    categories.remove(category)
    _renumber(categories)


# --- Responses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseQuery:
    q: str = ""
    category_id: uuid.UUID | None = None


def _response_view(response: CannedResponse) -> schemas.CannedResponse:
    return schemas.CannedResponse.model_validate(response)


def _search_order(q: str) -> tuple[sa.ColumnElement[int], sa.ColumnElement[str]]:
    """Title and shortcut prefix matches first (0, the others 1), then by title."""
    rank: sa.ColumnElement[int] = (
        sa.case(
            (
                CannedResponse.title.istartswith(q, autoescape=True)
                | CannedResponse.shortcode.istartswith(q, autoescape=True),
                0,
            ),
            else_=1,
        )
        if q
        else literal(0)
    )
    return rank, func.lower(CannedResponse.title)


async def list_responses(
    session: AsyncSession,
    staff: StaffPrincipal,
    query: ResponseQuery,
    *,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[schemas.CannedResponse], str | None]:
    """Responses matching `q` in title, shortcut or text (any case), best matches first."""
    q = query.q.strip()
    statement = readable_responses(staff)
    if query.category_id is not None:
        statement = statement.where(CannedResponse.category_id == query.category_id)
    if q:
        statement = statement.where(
            CannedResponse.title.icontains(q, autoescape=True)
            | CannedResponse.shortcode.icontains(q, autoescape=True)
            | CannedResponse.body.icontains(q, autoescape=True)
        )
    rank, sort_title = _search_order(q)
    order = (rank, sort_title, CannedResponse.id)
    if cursor:
        statement = statement.where(tuple_(*order) > tuple_(*_decode_response_cursor(cursor)))
    statement = statement.add_columns(rank, sort_title).order_by(*order).limit(limit + 1)
    rows = (await session.execute(statement)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last, last_rank, last_title = rows[-1]
        next_cursor = encode_text_cursor(str(last_rank), str(last.id), last_title)
    return [_response_view(row[0]) for row in rows], next_cursor


def _decode_response_cursor(cursor: str) -> tuple[int, str, uuid.UUID]:
    try:
        # The title goes last: it may hold the separator itself.
        rank_text, id_text, *title_parts = decode_text_cursor(cursor)
        return int(rank_text), "|".join(title_parts), uuid.UUID(id_text)
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc


async def get_response(
    session: AsyncSession, staff: StaffPrincipal, response_id: uuid.UUID
) -> CannedResponse:
    response = await session.scalar(
        readable_responses(staff).where(CannedResponse.id == response_id)
    )
    if response is None:
        raise NotFound("No such canned response.")
    return response


async def _get_category(
    session: AsyncSession, staff: StaffPrincipal, category_id: uuid.UUID
) -> CannedCategory:
    category = await session.scalar(
        readable_categories(staff).where(CannedCategory.id == category_id)
    )
    if category is None:
        raise NotFound("No such category.")
    return category


async def _check_response_keys(
    session: AsyncSession,
    staff: StaffPrincipal,
    values: dict[str, Any],
    response_id: uuid.UUID | None = None,
) -> None:
    """The title is free in its category (any case), the shortcut in the partner."""
    others = readable_responses(staff)
    if response_id is not None:
        others = others.where(CannedResponse.id != response_id)
    titles = await session.scalars(
        others.with_only_columns(CannedResponse.title).where(
            CannedResponse.category_id == values["category_id"]
        )
    )
    title = values["title"]
    if any(taken.casefold() == title.casefold() for taken in titles):
        raise Conflict(f"This category already has a response titled “{title}”.", code=TITLE_TAKEN)
    shortcode = values["shortcode"]
    if shortcode and await session.scalar(
        others.with_only_columns(CannedResponse.id).where(CannedResponse.shortcode == shortcode)
    ):
        raise Conflict(
            f"The shortcut /{shortcode} belongs to another response.", code=SHORTCODE_TAKEN
        )


async def create_response(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.CannedResponseCreate
) -> schemas.CannedResponse:
    """A new response in one of the partner's categories."""
    category = await _get_category(session, staff, data.category_id)
    values = data.model_dump()
    await _check_response_keys(session, staff, values)
    response = CannedResponse(
        tenant_id=category.tenant_id, partner_id=category.partner_id, **values
    )
    async with _written(session, lambda: _check_response_keys(session, staff, values)):
        session.add(response)
    return _response_view(response)


async def update_response(
    session: AsyncSession,
    staff: StaffPrincipal,
    response_id: uuid.UUID,
    data: schemas.CannedResponseUpdate,
) -> schemas.CannedResponse:
    """Changes the fields sent; a new category must be one of the same partner's."""
    response = await get_response(session, staff, response_id)
    changes = data.model_dump(exclude_unset=True)
    if "category_id" in changes:
        await _get_category(session, staff, changes["category_id"])
    values = {
        field: changes.get(field, getattr(response, field))
        for field in ("category_id", "title", "body", "shortcode")
    }
    await _check_response_keys(session, staff, values, response.id)
    async with _written(session, lambda: _check_response_keys(session, staff, values, response_id)):
        for field, value in values.items():
            setattr(response, field, value)
    return _response_view(response)


async def delete_response(
    session: AsyncSession, staff: StaffPrincipal, response_id: uuid.UUID
) -> None:
    await session.delete(await get_response(session, staff, response_id))


async def all_categories(
    session: AsyncSession, staff: StaffPrincipal
) -> list[schemas.CannedCategory]:
    """Every category in order, each with its number of responses (settings page)."""
    rows = await session.execute(
        readable_categories(staff).add_columns(_response_count()).order_by(*_CATEGORY_ORDER)
    )
    return [_category_view(category, count) for category, count in rows]


async def categories_with_responses(
    session: AsyncSession, staff: StaffPrincipal
) -> list[tuple[schemas.CannedCategory, list[schemas.CannedResponse]]]:
    """Every category in order with its responses by title, in two queries (settings page)."""
    categories = await all_categories(session, staff)
    responses = await session.scalars(
        readable_responses(staff).order_by(func.lower(CannedResponse.title), CannedResponse.id)
    )
    by_category: dict[uuid.UUID, list[schemas.CannedResponse]] = {c.id: [] for c in categories}
    for response in responses:
        by_category[response.category_id].append(_response_view(response))
    return [(category, by_category[category.id]) for category in categories]


# --- Inserting into a chat -------------------------------------------------------------------


async def filled_text(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    response_id: uuid.UUID,
) -> str:
    """The response's text with the end user's, the calling agent's and the channel's names
    filled in for this conversation."""
    conversation = await get_conversation(session, staff, conversation_id)
    response = await get_response(session, staff, response_id)
    wanted = set(_PLACEHOLDER.findall(response.body))
    names = {"agent.name": staff.name}
    if "end_user.name" in wanted:
        names["end_user.name"] = await tenancy.end_user_name(
            session, staff, conversation.end_user_id
        )
    if "channel.name" in wanted:
        channel = await tenancy.get_channel(session, staff, conversation.channel_id)
        names["channel.name"] = channel.name
    # One pass: a filled-in name that looks like a placeholder stays as it is.
    return _PLACEHOLDER.sub(lambda match: names[match.group(1)], response.body)
