"""The conversation under its row lock, and a change written back: the machinery every chat
change in `chat/service.py` goes through.

Every change locks the conversation row first (`FOR UPDATE` on PostgreSQL; SQLite transactions
are serialised already). Sending is what the service does most, so a change reads all it
decides on in that one locking statement, decides in memory on `Locked`, and writes with
statements built once at import.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.models import (
    ChatSession,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.chat.views import detailed_view, message_views
from relaydesk.clock import now
from relaydesk.db import InsertUnlessDuplicate, uuid7
from relaydesk.errors import NotFound
from relaydesk.tenancy.models import Channel, EndUser, Follow, Partner, PartnerStatus
from relaydesk.webhooks.models import WebhookEndpoint

# The sender's name on lines relaydesk itself writes (the owner timer's).
SYSTEM_NAME = "relaydesk"


# The send path's statements name tables, not mapped classes: results come back as plain rows,
# without the ORM's per-execution loading work.
_conversation = Conversation.__table__
_message = Message.__table__
_chat_session = ChatSession.__table__
_staff = StaffUser.__table__
_end_user = EndUser.__table__
_channel = Channel.__table__
_partner = Partner.__table__
_follow = Follow.__table__
_webhook_endpoint = WebhookEndpoint.__table__


def _name_of(staff_id: sa.ColumnElement[uuid.UUID | None]) -> sa.ScalarSelect[str]:
    return select(_staff.c.name).where(_staff.c.id == staff_id).scalar_subquery()


def _locking(*scope: sa.ColumnElement[bool]) -> Select[Any]:
    """The one statement every change starts with: the conversation under its row lock, with
    its end user, the names of its owner and finisher, and whether the sender already sent a
    message with this client_message_id.

    The names and the earlier message are subqueries, not joins: when the statement had to
    wait for the lock, PostgreSQL evaluates them again for the row as it is now (joined rows
    would stay as they were when the statement began). Rows committed while it waited stay
    invisible to it, so a retry racing its original is caught by the message's unique key
    instead (`_insert_sent`).
    """
    earlier = (
        select(_message.c.id)
        .where(
            _message.c.conversation_id == _conversation.c.id,
            _message.c.sender_id == sa.bindparam("sender_id"),
            _message.c.client_message_id == sa.bindparam("client_message_id"),
        )
        .exists()
    )
    # Whether the partner has an active webhook endpoint: most have none, and then the change
    # needs no statement of its own for webhooks.
    webhooks = (
        select(_webhook_endpoint.c.id)
        .where(
            _webhook_endpoint.c.partner_id == _conversation.c.partner_id,
            _webhook_endpoint.c.active,
        )
        .exists()
    )
    return (
        select(
            _conversation,
            _end_user.c.name.label("end_user_name"),
            _end_user.c.external_id.label("end_user_external_id"),
            _name_of(_conversation.c.owner_id).label("owner_name"),
            _name_of(_conversation.c.finished_by_id).label("finisher_name"),
            earlier.label("replayed"),
            webhooks.label("has_webhooks"),
        )
        .join(_end_user, _end_user.c.id == _conversation.c.end_user_id)
        .where(*scope)
        .with_for_update(of=_conversation)
    )


# Staff reach their partner's conversations, an end user their own (as readable_conversations).
_LOCK_BY_ID = _locking(
    _conversation.c.id == sa.bindparam("conversation_id"),
    _conversation.c.tenant_id == sa.bindparam("tenant_id"),
    _conversation.c.partner_id == sa.bindparam("partner_id"),
)
LOCK_FOR_END_USER = (
    _locking(
        _conversation.c.channel_id == sa.bindparam("channel_id"),
        _conversation.c.tenant_id == sa.bindparam("tenant_id"),
        _conversation.c.end_user_id == sa.bindparam("end_user_id"),
    )
    .add_columns(
        _channel.c.chat_enabled,
        (_partner.c.status == PartnerStatus.ACTIVE).label("partner_active"),
        select(_follow.c.channel_id)
        .where(
            _follow.c.channel_id == _conversation.c.channel_id,
            _follow.c.end_user_id == _conversation.c.end_user_id,
        )
        .exists()
        .label("following"),
    )
    .join(_channel, _channel.c.id == _conversation.c.channel_id)
    .join(_partner, _partner.c.id == _channel.c.partner_id)
)
# The owner timer's lock: the conversation as any change sees it, with its partner's timer.
LOCK_FOR_TIMER = _locking(_conversation.c.id == sa.bindparam("conversation_id")).add_columns(
    select(_partner.c.owner_timer_minutes)
    .where(_partner.c.id == _conversation.c.partner_id)
    .scalar_subquery()
    .label("owner_timer_minutes")
)
_SAVE = update(_conversation).where(_conversation.c.id == sa.bindparam("conversation_id"))
_insert_sent = InsertUnlessDuplicate(_message, "conversation_id", "sender_id", "client_message_id")
insert_conversation = InsertUnlessDuplicate(_conversation, "channel_id", "end_user_id")


def _person(id_: uuid.UUID | None, name: str | None) -> schemas.Person | None:
    return schemas.Person(id=id_, name=name) if id_ is not None and name is not None else None


@dataclass
class Locked:
    """A conversation under its row lock as the change leaves it; `write_change` stores it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    channel_id: uuid.UUID
    end_user_id: uuid.UUID
    status: ConversationStatus
    owner: schemas.Person | None
    finished_by: schemas.Person | None
    last_seq: int
    last_end_user_seq: int
    waiting_since: datetime | None
    last_message_at: datetime
    opened_at: datetime
    created_at: datetime
    end_user: schemas.EndUserSummary
    # The sender sent a message with this client_message_id before: this is a retry.
    replayed: bool = False
    # The partner has an active webhook endpoint (or may have: a new conversation's lock
    # statement did not run, so the webhooks' own read decides).
    has_webhooks: bool = True

    @classmethod
    def of(cls, row: sa.Row[Any]) -> "Locked":
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            partner_id=row.partner_id,
            channel_id=row.channel_id,
            end_user_id=row.end_user_id,
            status=row.status,
            owner=_person(row.owner_id, row.owner_name),
            finished_by=_person(row.finished_by_id, row.finisher_name),
            last_seq=row.last_seq,
            last_end_user_seq=row.last_end_user_seq,
            waiting_since=row.waiting_since,
            last_message_at=row.last_message_at,
            opened_at=row.opened_at,
            created_at=row.created_at,
            end_user=schemas.EndUserSummary(
                id=row.end_user_id, name=row.end_user_name, external_id=row.end_user_external_id
            ),
            replayed=row.replayed,
            has_webhooks=row.has_webhooks,
        )

    def view(self, last_message: schemas.Message) -> schemas.Conversation:
        return detailed_view(self, self.end_user, self.owner, self.finished_by, last_message)


async def locked_row(
    session: AsyncSession,
    statement: Select[Any],
    sender: Principal,
    client_message_id: str | None,
    **scope: uuid.UUID | None,
) -> sa.Row[Any] | None:
    parameters = {"tenant_id": sender.tenant_id, "sender_id": sender.id}
    parameters |= {"client_message_id": client_message_id, **scope}
    return (await session.execute(statement, parameters)).one_or_none()


async def lock_by_id(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    client_message_id: str | None = None,
) -> Locked:
    row = await locked_row(
        session,
        _LOCK_BY_ID,
        staff,
        client_message_id,
        conversation_id=conversation_id,
        partner_id=staff.partner_id,
    )
    if row is None:
        raise NotFound("No such conversation.")
    return Locked.of(row)


def next_message(
    locked: Locked,
    *,
    kind: MessageKind,
    sender_type: SenderType,
    sender: Principal | None,
    body: str,
    client_message_id: str | None = None,
    activity: dict[str, object] | None = None,
    engagement: dict[str, Any] | None = None,
) -> Message:
    """The conversation's next message (not stored yet); its seq is taken under the lock.
    `sender` None is relaydesk itself (the owner timer)."""
    at = now()
    locked.last_seq += 1
    locked.last_message_at = at
    if sender_type == SenderType.END_USER:
        locked.last_end_user_seq = locked.last_seq
        locked.waiting_since = locked.waiting_since or at
    elif sender_type == SenderType.AGENT:
        locked.waiting_since = None
    return Message(
        id=uuid7(),
        tenant_id=locked.tenant_id,
        partner_id=locked.partner_id,
        conversation_id=locked.id,
        seq=locked.last_seq,
        kind=kind,
        sender_type=sender_type,
        sender_id=sender.id if sender else None,
        sender_name=sender.name if sender else SYSTEM_NAME,
        body=body,
        client_message_id=client_message_id,
        activity=activity,
        engagement=engagement,
        created_at=at,
    )


def activity_line(
    locked: Locked,
    actor: Principal | None,
    action: str,
    body: str,
    previous_owner: schemas.Person | None = None,
) -> Message:
    """A take, overtake, finish, reopen or return as a line in the thread."""
    return next_message(
        locked,
        kind=MessageKind.ACTIVITY,
        sender_type=SenderType.SYSTEM,
        sender=actor,
        body=body,
        activity={
            "action": action,
            "agent": (
                {"id": str(actor.id), "name": actor.name}
                if isinstance(actor, StaffPrincipal)
                else None
            ),
            "previous_owner": previous_owner.model_dump(mode="json") if previous_owner else None,
        },
    )


def _values(message: Message) -> dict[str, Any]:
    return {column.key: getattr(message, column.key) for column in _message.columns}


async def write_change(
    session: AsyncSession,
    locked: Locked,
    actor: Principal | None,
    sent: Message | None,
    lines: list[Message],
) -> bool:
    """Stores a change decided under the lock: the sender's message first, then the activity
    lines with their audit entries and chat-session changes, then the conversation.

    False, with nothing written, when the sender's message turns out to be a retry whose
    original committed while this one waited for the lock.
    """
    if sent is not None and not await _insert_sent(session, _values(sent)):
        return False
    for line in lines:
        await session.execute(insert(_message), _values(line))
        await _record(session, locked, actor, line)
    await session.execute(
        _SAVE,
        {
            "conversation_id": locked.id,
            "status": locked.status,
            "owner_id": locked.owner.id if locked.owner else None,
            "finished_by_id": locked.finished_by.id if locked.finished_by else None,
            "last_seq": locked.last_seq,
            "last_end_user_seq": locked.last_end_user_seq,
            "waiting_since": locked.waiting_since,
            "last_message_at": locked.last_message_at,
            "opened_at": locked.opened_at,
        },
    )
    return True


async def _record(
    session: AsyncSession, locked: Locked, actor: Principal | None, line: Message
) -> None:
    """An activity line's audit entry and what it means for the chat session (HD-15)."""
    assert line.activity is not None
    action, previous_owner = line.activity["action"], line.activity["previous_owner"]
    await record(
        session,
        actor,
        f"conversation.{action}",
        tenant_id=locked.tenant_id,
        partner_id=locked.partner_id,
        subject_type="conversation",
        subject_id=locked.id,
        data={"previous_owner_id": previous_owner["id"]} if previous_owner else None,
    )
    # The open chat session is the conversation's only one without finished_at.
    open_session = (_chat_session.c.conversation_id == locked.id) & (
        _chat_session.c.finished_at.is_(None)
    )
    if action == "reopened":
        await open_chat_session(session, locked)
    elif action == "taken":
        await session.execute(
            update(_chat_session)
            .where(open_session, _chat_session.c.first_response_at.is_(None))
            .values(
                first_response_at=line.created_at,
                first_responder_id=actor.id,
                agent_id=actor.id,
                response_seconds=(line.created_at - locked.opened_at).total_seconds(),
            )
        )
    elif action == "taken_over":
        await session.execute(update(_chat_session).where(open_session).values(agent_id=actor.id))
    elif action == "finished":
        first_response_at = await session.scalar(
            select(_chat_session.c.first_response_at).where(open_session)
        )
        await session.execute(
            update(_chat_session)
            .where(open_session)
            .values(
                finished_at=line.created_at,
                finished_by_id=actor.id,
                agent_id=locked.owner.id if locked.owner else actor.id,
                handling_seconds=(
                    (line.created_at - first_response_at).total_seconds()
                    if first_response_at
                    else None
                ),
            )
        )


async def open_chat_session(session: AsyncSession, locked: Locked) -> None:
    await session.execute(
        insert(_chat_session).values(
            id=uuid7(),
            tenant_id=locked.tenant_id,
            partner_id=locked.partner_id,
            channel_id=locked.channel_id,
            conversation_id=locked.id,
            opened_at=locked.opened_at,
        )
    )


async def earlier_message(
    session: AsyncSession, locked: Locked, sender: Principal, client_message_id: str
) -> schemas.Message:
    """The message a retried send first stored."""
    original = await session.scalar(
        select(Message).where(
            Message.conversation_id == locked.id,
            Message.sender_id == sender.id,
            Message.client_message_id == client_message_id,
        )
    )
    assert original is not None, "a retry's original exists"
    return (await message_views(session, [original]))[0]
