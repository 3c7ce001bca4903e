"""Reading chats: the agents' inbox with filters, counts and search (HD-8, HD-9), an end user's
conversations, and a thread's messages page by page (HD-10)."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat import schemas, search
from relaydesk.chat.models import Conversation, ConversationRead, ConversationStatus, Message
from relaydesk.chat.service import get_conversation, readable_conversations
from relaydesk.chat.views import detailed_views, message_views, with_details
from relaydesk.db import InsertUnlessDuplicate
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.pagination import decode_text_cursor, encode_text_cursor
from relaydesk.realtime import topics
from relaydesk.realtime.events import queue_event

_FILTERS = {
    schemas.InboxFilter.UNANSWERED: ConversationStatus.UNANSWERED,
    schemas.InboxFilter.ACTIVE: ConversationStatus.ACTIVE,
    schemas.InboxFilter.FINISHED: ConversationStatus.FINISHED,
}


@dataclass(frozen=True)
class InboxQuery:
    filter: schemas.InboxFilter = schemas.InboxFilter.ALL
    channel_id: uuid.UUID | None = None
    q: str = ""


def _activity_cursor(conversation: Conversation) -> str:
    return encode_text_cursor(conversation.last_message_at.isoformat(), str(conversation.id))


def _after_activity_cursor(statement: Select, cursor: str) -> Select:
    """Conversations older in activity than the cursor's (newest activity first)."""
    try:
        last_message_at_text, id_text = decode_text_cursor(cursor)
        last_message_at, conversation_id = (
            datetime.fromisoformat(last_message_at_text),
            uuid.UUID(id_text),
        )
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc
    return statement.where(
        (Conversation.last_message_at < last_message_at)
        | ((Conversation.last_message_at == last_message_at) & (Conversation.id < conversation_id))
    )


def _filtered(staff: StaffPrincipal, query: InboxQuery) -> Select[tuple[Conversation]]:
    statement = readable_conversations(staff)
    if query.filter == schemas.InboxFilter.MINE:
        statement = statement.where(
            Conversation.status == ConversationStatus.ACTIVE, Conversation.owner_id == staff.id
        )
    elif query.filter in _FILTERS:
        statement = statement.where(Conversation.status == _FILTERS[query.filter])
    if query.channel_id is not None:
        statement = statement.where(Conversation.channel_id == query.channel_id)
    return statement


async def list_conversations(
    session: AsyncSession,
    staff: StaffPrincipal,
    query: InboxQuery,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.Conversation], str | None]:
    """The inbox, newest activity first; with `q`, only matches, each with its snippet."""
    terms = search.search_terms(query.q)
    if query.q.strip() and not terms:
        return [], None
    statement = matching_conversations(session, staff, query, terms)
    return await _page(session, staff, statement, limit, cursor, terms)


def matching_conversations(
    session: AsyncSession, staff: StaffPrincipal, query: InboxQuery, terms: list[str]
) -> Select[tuple[Conversation]]:
    """The conversations of the query's filter and channel, narrowed to the search terms'
    matches (end users or message text): the inbox's list and the Finished export alike."""
    statement = _filtered(staff, query)
    if terms:
        statement = statement.where(
            Conversation.end_user_id.in_(search.matching_end_users(session, terms))
            | Conversation.id.in_(search.matching_messages(session, terms))
        )
    return statement


async def conversation_detail(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> schemas.Conversation:
    statement = readable_conversations(principal).where(Conversation.id == conversation_id)
    row = (await session.execute(with_details(statement, principal))).one_or_none()
    if row is None:
        raise NotFound("No such conversation.")
    return (await detailed_views(session, [row]))[0]


async def end_user_conversations(
    session: AsyncSession,
    end_user: EndUserPrincipal,
    channel_id: uuid.UUID | None,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[schemas.Conversation], str | None]:
    statement = readable_conversations(end_user)
    if channel_id is not None:
        statement = statement.where(Conversation.channel_id == channel_id)
    return await _page(session, end_user, statement, limit, cursor, [])


async def _page(
    session: AsyncSession,
    reader: Principal,
    statement: Select[tuple[Conversation]],
    limit: int,
    cursor: str | None,
    terms: list[str],
) -> tuple[list[schemas.Conversation], str | None]:
    if cursor:
        statement = _after_activity_cursor(statement, cursor)
    statement = with_details(statement, reader).order_by(
        Conversation.last_message_at.desc(), Conversation.id.desc()
    )
    rows = (await session.execute(statement.limit(limit + 1))).all()
    next_cursor = _activity_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    rows = rows[:limit]
    snippets = await search.snippets(session, [row[0].id for row in rows], terms) if terms else None
    return await detailed_views(session, rows, snippets), next_cursor


async def inbox_counts(
    session: AsyncSession, staff: StaffPrincipal, channel_id: uuid.UUID | None = None
) -> schemas.InboxCounts:
    """How many conversations each filter holds, and how many of them the agent has unread
    messages in, in one query."""
    status = Conversation.status
    filters = [
        (status == ConversationStatus.ACTIVE) & (Conversation.owner_id == staff.id),
        status == ConversationStatus.UNANSWERED,
        status == ConversationStatus.ACTIVE,
        status == ConversationStatus.FINISHED,
    ]
    unread = Conversation.last_end_user_seq > func.coalesce(ConversationRead.last_read_seq, 0)
    statement = (
        _filtered(staff, InboxQuery(channel_id=channel_id))
        .with_only_columns(
            *(func.count().filter(condition) for condition in filters),
            *(func.count().filter(condition & unread) for condition in filters),
        )
        .outerjoin_from(
            Conversation,
            ConversationRead,
            (ConversationRead.conversation_id == Conversation.id)
            & (ConversationRead.reader_id == staff.id),
        )
    )
    counts = (await session.execute(statement)).one()
    names = ("mine", "unanswered", "active", "finished")
    return schemas.InboxCounts(
        **dict(zip(names, counts[:4], strict=True)),
        unread=schemas.FilterCounts(**dict(zip(names, counts[4:], strict=True))),
    )


@dataclass(frozen=True)
class ThreadQuery:
    after_seq: int | None = None
    before_seq: int | None = None
    limit: int = 50
    cursor: str | None = None


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    query: ThreadQuery,
) -> tuple[list[schemas.Message], str | None]:
    """Messages in seq order: after `after_seq`, else the latest page (before `before_seq`).

    The next cursor continues in the same direction: newer pages after `after_seq`, older
    pages otherwise.
    """
    await get_conversation(session, principal, conversation_id)
    after_seq, before_seq, limit = query.after_seq, query.before_seq, query.limit
    if query.cursor:
        direction, _, seq_text = decode_text_cursor(query.cursor)[0].partition(":")
        if direction not in ("after", "before") or not seq_text.isdigit():
            raise InvalidInput("The cursor is not valid.")
        after_seq, before_seq = (
            (int(seq_text), None) if direction == "after" else (None, int(seq_text))
        )
    statement = select(Message).where(Message.conversation_id == conversation_id)
    if after_seq is not None:
        statement = statement.where(Message.seq > after_seq)
        if before_seq is not None:
            statement = statement.where(Message.seq < before_seq)
        messages = list(await session.scalars(statement.order_by(Message.seq).limit(limit + 1)))
        more = len(messages) > limit
        messages = messages[:limit]
        next_cursor = encode_text_cursor(f"after:{messages[-1].seq}") if more else None
    else:
        if before_seq is not None:
            statement = statement.where(Message.seq < before_seq)
        messages = list(
            await session.scalars(statement.order_by(Message.seq.desc()).limit(limit + 1))
        )
        more = len(messages) > limit
        messages = messages[:limit][::-1]
        next_cursor = encode_text_cursor(f"before:{messages[0].seq}") if more else None
    return await message_views(session, messages), next_cursor


_insert_mark = InsertUnlessDuplicate(ConversationRead.__table__, "conversation_id", "reader_id")


async def mark_read(
    session: AsyncSession, reader: Principal, conversation_id: uuid.UUID, seq: int | None
) -> None:
    """Moves the reader's read mark forward to `seq` (or the newest message), never back; an
    agent's other consoles hear of it."""
    conversation = await get_conversation(session, reader, conversation_id)
    up_to = conversation.last_seq if seq is None else min(seq, conversation.last_seq)
    if up_to == 0:
        return
    # One conditional statement each, so two requests at once can't move the mark back.
    mark = {"conversation_id": conversation.id, "reader_id": reader.id}
    if not await _insert_mark(session, {**mark, "last_read_seq": up_to}):
        moved = await session.execute(
            update(ConversationRead)
            .where(
                ConversationRead.conversation_id == conversation.id,
                ConversationRead.reader_id == reader.id,
                ConversationRead.last_read_seq < up_to,
            )
            .values(last_read_seq=up_to)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            return
    if isinstance(reader, StaffPrincipal):
        moved = schemas.ReadMarkMoved(conversation_id=conversation.id, last_read_seq=up_to)
        queue_event(session, (topics.staff(reader.id),), "conversation.read", moved)
