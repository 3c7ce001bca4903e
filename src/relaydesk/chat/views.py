"""Conversations and messages turned into what clients see, each list in one query."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from relaydesk.attachments.schemas import Attachment
from relaydesk.attachments.service import attachments_of_messages
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.models import (
    Conversation,
    ConversationRead,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.tenancy.models import EndUser

_Owner = aliased(StaffUser, name="owner")
_Finisher = aliased(StaffUser, name="finisher")
_LastMessage = aliased(Message, name="last_message")


def message_view(message: Message, attachments: Sequence[Attachment] = ()) -> schemas.Message:
    return schemas.Message(
        id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        kind=message.kind,
        sender=schemas.Sender(
            type=message.sender_type, id=message.sender_id, name=message.sender_name
        ),
        body=message.body,
        attachments=list(attachments),
        engagement=message.engagement,
        activity=message.activity,
        client_message_id=message.client_message_id,
        created_at=message.created_at,
    )


def _unread_count(reader: Principal | None) -> sa.ColumnElement[int | None]:
    """Messages from the other side after the reader's read mark (HD-19)."""
    if reader is None:
        return sa.null()
    read_up_to = (
        select(ConversationRead.last_read_seq)
        .where(
            ConversationRead.conversation_id == Conversation.id,
            ConversationRead.reader_id == reader.id,
        )
        .scalar_subquery()
    )
    other_side = SenderType.END_USER if isinstance(reader, StaffPrincipal) else SenderType.AGENT
    return (
        select(func.count())
        .where(
            Message.conversation_id == Conversation.id,
            Message.seq > func.coalesce(read_up_to, 0),
            Message.sender_type == other_side,
        )
        .correlate(Conversation)
        .scalar_subquery()
    )


def with_people(statement: Select[Any]) -> Select[Any]:
    """Adds the conversation's owner and finisher (staff users or None) to a query."""
    return (
        statement.add_columns(_Owner, _Finisher)
        .outerjoin(_Owner, _Owner.id == Conversation.owner_id)
        .outerjoin(_Finisher, _Finisher.id == Conversation.finished_by_id)
    )


def with_details(
    statement: Select[tuple[Conversation]], reader: Principal | None = None
) -> Select[Any]:
    """Adds the end user, owner, finisher, newest message and, for a reader, their unread
    count to a conversation query."""
    return (
        with_people(
            statement.add_columns(EndUser).join(EndUser, EndUser.id == Conversation.end_user_id)
        )
        .add_columns(_LastMessage, _unread_count(reader))
        .outerjoin(
            _LastMessage,
            (_LastMessage.conversation_id == Conversation.id)
            & (_LastMessage.seq == Conversation.last_seq),
        )
    )


def person(staff: StaffUser | None) -> schemas.Person | None:
    return schemas.Person(id=staff.id, name=staff.name) if staff else None


class ConversationFields(Protocol):
    """What views and events read of a conversation: a loaded row, or one being changed."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def partner_id(self) -> uuid.UUID: ...
    @property
    def channel_id(self) -> uuid.UUID: ...
    @property
    def end_user_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> ConversationStatus: ...
    @property
    def last_message_at(self) -> datetime: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def created_at(self) -> datetime: ...


def detailed_view(
    conversation: ConversationFields,
    end_user: schemas.EndUserSummary,
    owner: schemas.Person | None,
    finished_by: schemas.Person | None,
    last_message: schemas.Message | None,
    unread_count: int | None = None,
    snippet: str | None = None,
) -> schemas.Conversation:
    """A conversation as the API shows it."""
    return schemas.Conversation(
        id=conversation.id,
        channel_id=conversation.channel_id,
        end_user=end_user,
        status=conversation.status,
        owner=owner,
        finished_by=finished_by,
        last_message=last_message,
        last_message_at=conversation.last_message_at,
        opened_at=conversation.opened_at,
        created_at=conversation.created_at,
        unread_count=unread_count,
        snippet=snippet,
    )


async def message_views(
    session: AsyncSession, messages: Sequence[Message]
) -> list[schemas.Message]:
    """Messages as the API shows them, with their attachments (one query for all)."""
    with_files = [message.id for message in messages if message.kind == MessageKind.ATTACHMENT]
    attachments = await attachments_of_messages(session, with_files)
    return [message_view(message, attachments.get(message.id, ())) for message in messages]


async def detailed_views(
    session: AsyncSession, rows: Sequence[Any], snippets: dict[uuid.UUID, str] | None = None
) -> list[schemas.Conversation]:
    """Rows of `with_details` as the API shows them."""
    snippets = snippets or {}
    last_messages = [last for *_, last, _unread in rows if last is not None]
    last_views = {view.id: view for view in await message_views(session, last_messages)}
    return [
        detailed_view(
            conversation,
            schemas.EndUserSummary(
                id=end_user.id, name=end_user.name, external_id=end_user.external_id
            ),
            person(owner),
            person(finisher),
            last_views[last_message.id] if last_message else None,
            unread_count,
            snippets.get(conversation.id),
        )
        for conversation, end_user, owner, finisher, last_message, unread_count in rows
    ]
