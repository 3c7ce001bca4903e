"""A chat's transcript as text or a printable page, and the Finished list as CSV (HD-21).

Both stream: the request checks access and reads the little the head needs, then the body is
read a batch per short transaction (as `exports.rows_in_batches` does), so a thread of any
length never sits in memory and no transaction stays open while a slow client downloads.
"""

import asyncio
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import StreamingResponse
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk import exports
from relaydesk.analytics.service import partner_zone
from relaydesk.attachments.schemas import Attachment
from relaydesk.attachments.service import attachments_of_messages
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.chat import search
from relaydesk.chat.inbox import InboxQuery, matching_conversations
from relaydesk.chat.models import ChatSession, Conversation, Message, MessageKind, SenderType
from relaydesk.chat.service import get_conversation
from relaydesk.clock import now
from relaydesk.db import Database
from relaydesk.tenancy.models import Channel, EndUser
from relaydesk.web.templating import templates

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SIDE_LABELS = {
    SenderType.END_USER: "end user",
    SenderType.AGENT: "agent",
    SenderType.SYSTEM: "system",
}
HTML_TEMPLATE = "chat/transcript.html"


@dataclass(frozen=True)
class TranscriptHead:
    """What a transcript says before its messages; read while the request checks access."""

    conversation_id: uuid.UUID
    channel_name: str
    end_user_name: str
    end_user_external_id: str
    zone: ZoneInfo
    generated_at: datetime

    def local(self, at: datetime) -> str:
        """A moment as the partner's agents read it, in the partner's time zone."""
        return at.astimezone(self.zone).strftime(TIME_FORMAT)

    def filename(self, extension: str) -> str:
        """A safe ASCII file name: the end user's name and the day, `chat-jane-doe-2026-11-21`."""
        day = self.generated_at.astimezone(self.zone).date().isoformat()
        return f"chat-{slug(self.end_user_name)}-{day}.{extension}"


def slug(name: str) -> str:
    """Lowercase ASCII words joined by dashes (accents dropped), or `end-user` if none remain."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return words[:60].rstrip("-") or "end-user"


@dataclass(frozen=True)
class Entry:
    """One message as a transcript shows it."""

    at: datetime
    kind: MessageKind
    side: SenderType
    sender_name: str
    body: str
    attachments: Sequence[Attachment]
    # An engagement card as `[Coupon] Title`.
    card: str | None

    @property
    def side_label(self) -> str:
        return SIDE_LABELS[self.side]

    @property
    def is_activity(self) -> bool:
        return self.kind == MessageKind.ACTIVITY


async def transcript_head(
    session: AsyncSession, staff: StaffPrincipal, conversation_id: uuid.UUID
) -> TranscriptHead:
    """The head of a chat's transcript; 404 for a chat the agent may not read."""
    conversation = await get_conversation(session, staff, conversation_id)
    channel_name, end_user_name, external_id = (
        await session.execute(
            select(Channel.name, EndUser.name, EndUser.external_id)
            .join(Conversation, Conversation.channel_id == Channel.id)
            .join(EndUser, EndUser.id == Conversation.end_user_id)
            .where(Conversation.id == conversation.id)
        )
    ).one()
    return TranscriptHead(
        conversation_id=conversation.id,
        channel_name=channel_name,
        end_user_name=end_user_name,
        end_user_external_id=external_id,
        zone=await partner_zone(session, staff),
        generated_at=now(),
    )


def _card(engagement: dict[str, Any]) -> str:
    return f"[{TYPE_LABELS[EngagementType(engagement['type'])]}] {engagement['title']}"


async def _entries_of(session: AsyncSession, rows: list[Any]) -> list[Entry]:
    messages: list[Message] = [message for (message,) in rows]
    files = await attachments_of_messages(
        session, [message.id for message in messages if message.kind == MessageKind.ATTACHMENT]
    )
    return [
        Entry(
            at=message.created_at,
            kind=message.kind,
            side=message.sender_type,
            sender_name=message.sender_name,
            body=message.body,
            attachments=files.get(message.id, ()),
            card=_card(message.engagement) if message.engagement else None,
        )
        for message in messages
    ]


def _entries(database: Database, conversation_id: uuid.UUID) -> AsyncIterator[Entry]:
    """Every message of the conversation in seq order, a batch per transaction."""
    statement = select(Message).where(Message.conversation_id == conversation_id)
    return exports.rows_in_batches(database, statement, Message.seq, _entries_of)


async def _chunks(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """A few hundred pieces per send rather than one send each."""
    chunk: list[str] = []
    async for piece in pieces:
        chunk.append(piece)
        if len(chunk) >= exports.CHUNK_LINES:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _text_head(head: TranscriptHead) -> str:
    return (
        "Chat transcript\n"
        f"Channel: {head.channel_name}\n"
        f"End user: {head.end_user_name} (ID {head.end_user_external_id})\n"
        f"Time zone: {head.zone.key}\n"
        f"Generated: {head.local(head.generated_at)}\n\n"
    )


def _text_entry(head: TranscriptHead, entry: Entry) -> str:
    """A message as `[time] Name (side): text`, further lines indented; an activity as a
    separator line, so each chat session stands apart."""
    at = head.local(entry.at)
    if entry.is_activity:
        return f"\n----- {at} · {entry.body} -----\n\n"
    lines = [entry.card] if entry.card else entry.body.splitlines()
    lines += [f"[File] {attachment.filename}" for attachment in entry.attachments]
    first, *rest = lines or [""]
    return f"[{at}] {entry.sender_name} ({entry.side_label}): {first}\n" + "".join(
        f"    {line}\n" for line in rest
    )


async def _text(database: Database, head: TranscriptHead) -> AsyncIterator[str]:
    yield _text_head(head)
    async for entry in _entries(database, head.conversation_id):
        yield _text_entry(head, entry)


async def _html(database: Database, head: TranscriptHead) -> AsyncIterator[str]:
    # The template's macros escape every name and text, as its pages do.
    page = templates.get_template(HTML_TEMPLATE).module
    yield page.head(head)  # type: ignore[attr-defined]
    async for entry in _entries(database, head.conversation_id):
        yield page.entry(head, entry)  # type: ignore[attr-defined]
    yield page.foot()  # type: ignore[attr-defined]


def _transcript_response(
    body: AsyncIterator[str], media_type: str, disposition: str
) -> StreamingResponse:
    return StreamingResponse(
        _chunks(body),
        media_type=media_type,
        # A chat holds personal data: not to be shown again from the cache after signing out.
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def text_transcript(database: Database, head: TranscriptHead) -> StreamingResponse:
    """The whole conversation as a plain-text download."""
    return _transcript_response(
        _text(database, head),
        "text/plain; charset=utf-8",
        f'attachment; filename="{head.filename("txt")}"',
    )


def html_transcript(database: Database, head: TranscriptHead) -> StreamingResponse:
    """The whole conversation as a page to read or print."""
    return _transcript_response(
        _html(database, head),
        "text/html; charset=utf-8",
        f'inline; filename="{head.filename("html")}"',
    )


EXPORT_HEADER: Sequence[str] = (
    "Channel",
    "End user",
    "End user ID",
    "Agents",
    "Opened at",
    "First response at",
    "Finished at",
    "Response time (s)",
    "Handling time (s)",
)


def _finished_sessions(
    session: AsyncSession, staff: StaffPrincipal, channel_id: uuid.UUID | None, terms: list[str]
) -> Select[Any]:
    """Finished sessions of the conversations the inbox shows for this channel and search,
    newest finish first, with the names a row shows."""
    conversations = matching_conversations(session, staff, InboxQuery(channel_id=channel_id), terms)
    return (
        select(ChatSession, Channel.name, EndUser.name, EndUser.external_id, StaffUser.name)
        .join(Conversation, Conversation.id == ChatSession.conversation_id)
        .join(Channel, Channel.id == ChatSession.channel_id)
        .join(EndUser, EndUser.id == Conversation.end_user_id)
        .outerjoin(StaffUser, StaffUser.id == ChatSession.finished_by_id)
        .where(
            # The partner's own sessions by finish time come off ix_chat_session_finished.
            ChatSession.partner_id == staff.partner_id,
            ChatSession.finished_at.is_not(None),
            ChatSession.conversation_id.in_(conversations.with_only_columns(Conversation.id)),
        )
        .order_by(ChatSession.finished_at.desc(), ChatSession.id.desc())
    )


async def _agents_by_session(
    session: AsyncSession, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The agents who wrote in each session, in the order they first wrote."""
    if not session_ids:
        return {}
    wrote_in_session = (
        (Message.conversation_id == ChatSession.conversation_id)
        & (Message.sender_type == SenderType.AGENT)
        # Agents write only between a session's opening and its finish.
        & Message.created_at.between(ChatSession.opened_at, ChatSession.finished_at)
    )
    statement = (
        select(ChatSession.id, StaffUser.name)
        .join(Message, wrote_in_session)
        .join(StaffUser, StaffUser.id == Message.sender_id)
        .where(ChatSession.id.in_(session_ids))
        .group_by(ChatSession.id, StaffUser.id, StaffUser.name)
        .order_by(ChatSession.id, func.min(Message.seq))
    )
    agents: dict[uuid.UUID, list[str]] = {}
    for session_id, name in await session.execute(statement):
        agents.setdefault(session_id, []).append(name)
    return agents


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _export_row(row: Any, agents: dict[uuid.UUID, list[str]]) -> Sequence[object]:
    chat_session, channel_name, end_user_name, external_id, finisher_name = row
    first_response_at = chat_session.first_response_at
    return (
        channel_name,
        end_user_name,
        external_id,
        # Nobody wrote: the chat was finished unanswered, by whoever finished it.
        "; ".join(agents.get(chat_session.id) or [finisher_name or ""]),
        chat_session.opened_at.isoformat(),
        first_response_at.isoformat() if first_response_at else None,
        chat_session.finished_at.isoformat(),
        _seconds(chat_session.response_seconds),
        _seconds(chat_session.handling_seconds),
    )


async def finished_session_rows(
    database: Database, staff: StaffPrincipal, *, channel_id: uuid.UUID | None, q: str
) -> AsyncIterator[Sequence[object]]:
    """One CSV row per finished chat session of the chats matching the inbox's channel and
    search, newest finish first, read a batch per short transaction.

    Newest first is no id order, so the batches are keyed on (finished_at, id) here rather
    than by `exports.rows_in_batches`.
    """
    terms = search.search_terms(q)
    if q.strip() and not terms:
        return
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with database.transaction() as session:
            statement = _finished_sessions(session, staff, channel_id, terms)
            if after is not None:
                finished_at, session_id = after
                statement = statement.where(
                    (ChatSession.finished_at < finished_at)
                    | ((ChatSession.finished_at == finished_at) & (ChatSession.id < session_id))
                )
            rows = list((await session.execute(statement.limit(exports.BATCH_SIZE))).all())
            agents = await _agents_by_session(session, [row[0].id for row in rows])
        for row in rows:
            yield _export_row(row, agents)
        if len(rows) < exports.BATCH_SIZE:
            return
        after = (rows[-1][0].finished_at, rows[-1][0].id)
        # Other requests get their turn between batches (on SQLite the reads run on the loop).
        await asyncio.sleep(0)
