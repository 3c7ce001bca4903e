"""The chat state machine (HD-1 … HD-8): sending, taking, overtaking, finishing, reopening.

Every change locks the conversation row first (`FOR UPDATE` on PostgreSQL; SQLite transactions
are serialised already), so the status/owner check and the new `seq` are decided by one writer
at a time: of agents racing for a chat exactly one takes it, and seq never gaps or repeats.

Sending is what the service does most, so a change reads all it decides on in that one locking
statement, decides in memory, and writes with statements built once at import.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, false, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.attachments import service as attachments_service
from relaydesk.audit.service import record
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.events import queue_change
from relaydesk.chat.models import (
    ChatSession,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.chat.views import detailed_view, message_view, message_views
from relaydesk.clock import now
from relaydesk.db import InsertUnlessDuplicate, uuid7
from relaydesk.engagements import deliveries
from relaydesk.engagements.models import Engagement
from relaydesk.engagements.schemas import EngagementSend
from relaydesk.errors import Conflict, NotFound, PermissionDenied
from relaydesk.tenancy import service as tenancy
from relaydesk.tenancy.models import Channel, EndUser, Follow, Partner, PartnerStatus
from relaydesk.webhooks.models import WebhookEndpoint

# The sender's name on lines relaydesk itself writes (the owner timer's).
SYSTEM_NAME = "relaydesk"


def readable_conversations(principal: Principal) -> Select[tuple[Conversation]]:
    """Conversations the principal may read: their partner's for its staff, their own for an
    end user. Tenant staff read no chats."""
    statement = select(Conversation).where(Conversation.tenant_id == principal.tenant_id)
    if isinstance(principal, EndUserPrincipal):
        return statement.where(Conversation.end_user_id == principal.id)
    if principal.partner_id is None:
        return statement.where(false())
    return statement.where(Conversation.partner_id == principal.partner_id)


async def get_conversation(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    statement = readable_conversations(principal).where(Conversation.id == conversation_id)
    conversation = await session.scalar(statement)
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


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
_LOCK_FOR_END_USER = (
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
_LOCK_FOR_TIMER = _locking(_conversation.c.id == sa.bindparam("conversation_id")).add_columns(
    select(_partner.c.owner_timer_minutes)
    .where(_partner.c.id == _conversation.c.partner_id)
    .scalar_subquery()
    .label("owner_timer_minutes")
)
_SAVE = update(_conversation).where(_conversation.c.id == sa.bindparam("conversation_id"))
_insert_sent = InsertUnlessDuplicate(_message, "conversation_id", "sender_id", "client_message_id")
_insert_conversation = InsertUnlessDuplicate(_conversation, "channel_id", "end_user_id")


def _person(id_: uuid.UUID | None, name: str | None) -> schemas.Person | None:
    return schemas.Person(id=id_, name=name) if id_ is not None and name is not None else None


@dataclass
class _Locked:
    """A conversation under its row lock as this change leaves it; written back by `_write`."""

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
    def of(cls, row: sa.Row[Any]) -> "_Locked":
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


async def _locked_row(
    session: AsyncSession,
    statement: Select[Any],
    sender: Principal,
    client_message_id: str | None,
    **scope: uuid.UUID | None,
) -> sa.Row[Any] | None:
    parameters = {"tenant_id": sender.tenant_id, "sender_id": sender.id}
    parameters |= {"client_message_id": client_message_id, **scope}
    return (await session.execute(statement, parameters)).one_or_none()


async def _lock_by_id(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    client_message_id: str | None = None,
) -> _Locked:
    row = await _locked_row(
        session,
        _LOCK_BY_ID,
        staff,
        client_message_id,
        conversation_id=conversation_id,
        partner_id=staff.partner_id,
    )
    if row is None:
        raise NotFound("No such conversation.")
    return _Locked.of(row)


def _next_message(
    locked: _Locked,
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


def _sent(locked: _Locked, sender: Principal, data: schemas.MessageCreate) -> Message:
    sender_type = SenderType.AGENT if isinstance(sender, StaffPrincipal) else SenderType.END_USER
    return _next_message(
        locked,
        kind=MessageKind.ATTACHMENT if data.attachment_ids else MessageKind.TEXT,
        sender_type=sender_type,
        sender=sender,
        body=data.body,
        client_message_id=data.client_message_id,
    )


async def _sent_view(
    session: AsyncSession,
    locked: _Locked,
    sender: Principal,
    sent: Message,
    data: schemas.MessageCreate,
) -> schemas.Message:
    """The stored message as the API shows it, its attachments bound to it first (HD-11)."""
    if not data.attachment_ids:
        return message_view(sent)
    attachments = await attachments_service.bind_to_message(
        session,
        sender,
        data.attachment_ids,
        message_id=sent.id,
        conversation_id=locked.id,
        partner_id=locked.partner_id,
        end_user_id=locked.end_user_id,
    )
    return message_view(sent, attachments)


def _activity_line(
    locked: _Locked,
    actor: Principal | None,
    action: str,
    body: str,
    previous_owner: schemas.Person | None = None,
) -> Message:
    """A take, overtake, finish, reopen or return as a line in the thread."""
    return _next_message(
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


async def _write(
    session: AsyncSession,
    locked: _Locked,
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
    session: AsyncSession, locked: _Locked, actor: Principal | None, line: Message
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
        await _open_session(session, locked)
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


async def _open_session(session: AsyncSession, locked: _Locked) -> None:
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


async def _earlier(
    session: AsyncSession, locked: _Locked, sender: Principal, client_message_id: str
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


async def _start_conversation(
    session: AsyncSession, channel: Channel, end_user: EndUserPrincipal
) -> _Locked | None:
    """A new conversation with its first chat session, or None if a concurrent first message
    created it a moment ago."""
    at = now()
    locked = _Locked(
        id=uuid7(),
        tenant_id=end_user.tenant_id,
        partner_id=channel.partner_id,
        channel_id=channel.id,
        end_user_id=end_user.id,
        status=ConversationStatus.UNANSWERED,
        owner=None,
        finished_by=None,
        last_seq=0,
        last_end_user_seq=0,
        waiting_since=None,
        last_message_at=at,
        opened_at=at,
        created_at=at,
        end_user=schemas.EndUserSummary(
            id=end_user.id, name=end_user.name, external_id=end_user.external_id
        ),
    )
    values = {
        "id": locked.id,
        "tenant_id": locked.tenant_id,
        "partner_id": locked.partner_id,
        "channel_id": locked.channel_id,
        "end_user_id": locked.end_user_id,
        "status": locked.status,
        "last_seq": 0,
        "last_message_at": at,
        "opened_at": at,
        "created_at": at,
    }
    if not await _insert_conversation(session, values):
        return None
    await _open_session(session, locked)
    return locked


async def send_end_user_message(
    session: AsyncSession,
    end_user: EndUserPrincipal,
    channel_id: uuid.UUID,
    data: schemas.MessageCreate,
) -> tuple[schemas.Message, bool]:
    """The end user's message into their conversation with a channel, started or reopened as
    needed (HD-2, HD-7). Returns the message and whether it is new (False for a retry)."""
    row = await _locked_row(
        session,
        _LOCK_FOR_END_USER,
        end_user,
        data.client_message_id,
        channel_id=channel_id,
        end_user_id=end_user.id,
    )
    if row is None:
        # The first message: no conversation to lock yet.
        channel, following = await tenancy.channel_for_end_user(session, end_user, channel_id)
        chat_enabled, locked = channel.chat_enabled, None
    elif not row.partner_active:
        raise NotFound("No such channel.")
    else:
        locked, chat_enabled, following = _Locked.of(row), row.chat_enabled, row.following
        if locked.replayed:
            return await _earlier(session, locked, end_user, data.client_message_id), False
    if not chat_enabled:
        raise PermissionDenied("This channel's chat is switched off.", code="chat_disabled")
    if not following:
        raise PermissionDenied("Follow the channel to chat with it.", code="not_follower")

    if locked is None:
        locked = await _start_conversation(session, channel, end_user)
        if locked is None:
            # Another first message won the race; go again, now with its conversation.
            return await send_end_user_message(session, end_user, channel_id, data)
    lines = [_reopen(locked, end_user)] if locked.status == ConversationStatus.FINISHED else []
    sent = _sent(locked, end_user, data)
    if not await _write(session, locked, end_user, sent, lines):
        return await _earlier(session, locked, end_user, data.client_message_id), False
    view = await _sent_view(session, locked, end_user, sent, data)
    await _announce(session, locked, [*map(message_view, lines), view], status_changed=bool(lines))
    return view, True


def _reopen(locked: _Locked, end_user: EndUserPrincipal) -> Message:
    """Back to unanswered with no owner, in a new chat session (HD-7)."""
    locked.status = ConversationStatus.UNANSWERED
    locked.owner = locked.finished_by = None
    locked.opened_at = now()
    return _activity_line(locked, end_user, "reopened", f"{end_user.name} reopened the chat")


def _take(locked: _Locked, staff: StaffPrincipal, *, take_over: bool) -> list[Message]:
    """Makes `staff` the owner before they write (HD-4, HD-5); the activity line it adds."""
    previous_owner = locked.owner
    if locked.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished.", code="conversation_finished")
    if locked.status == ConversationStatus.ACTIVE:
        assert previous_owner is not None
        if previous_owner.id == staff.id:
            return []
        if not take_over:
            raise Conflict(
                f"This chat is handled by {previous_owner.name}. Take it over?",
                code="conversation_taken",
                extra={"owner": previous_owner.model_dump(mode="json")},
            )
        line = _activity_line(
            locked,
            staff,
            "taken_over",
            f"{staff.name} took the chat over from {previous_owner.name}",
            previous_owner,
        )
    else:
        line = _activity_line(locked, staff, "taken", f"{staff.name} took the chat")
    locked.status = ConversationStatus.ACTIVE
    locked.owner = schemas.Person(id=staff.id, name=staff.name)
    return [line]


# What an agent sends, composed under the lock: the message to store (its seq taken), and
# once stored, how the API shows it (after storing what belongs to it).
_Compose = Callable[[_Locked], Awaitable[Message]]
_Complete = Callable[[_Locked, Message], Awaitable[schemas.Message]]


async def _send_as_agent(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    client_message_id: str,
    take_over: bool,
    compose: _Compose,
    complete: _Complete,
) -> tuple[schemas.Message, bool]:
    """The path every agent's send takes: lock, replay check, take, write, announce."""
    locked = await _lock_by_id(session, staff, conversation_id, client_message_id)
    if locked.replayed:
        return await _earlier(session, locked, staff, client_message_id), False
    lines = _take(locked, staff, take_over=take_over)
    sent = await compose(locked)
    if not await _write(session, locked, staff, sent, lines):
        return await _earlier(session, locked, staff, client_message_id), False
    view = await complete(locked, sent)
    await _announce(session, locked, [*map(message_view, lines), view], status_changed=bool(lines))
    return view, True


async def send_agent_message(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    data: schemas.AgentMessageCreate,
) -> tuple[schemas.Message, bool]:
    """An agent's reply, taking or (with `take_over`) overtaking the chat first. Returns the
    message and whether it is new (False for a retry)."""

    async def compose(locked: _Locked) -> Message:
        return _sent(locked, staff, data)

    async def complete(locked: _Locked, sent: Message) -> schemas.Message:
        return await _sent_view(session, locked, staff, sent, data)

    return await _send_as_agent(
        session, staff, conversation_id, data.client_message_id, data.take_over, compose, complete
    )


async def send_engagement(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    data: EngagementSend,
) -> tuple[schemas.Message, bool]:
    """An engagement posted into the chat as a card and given to its end user (HD-12), taking
    the chat as a reply does; 409 `engagement_not_available` if the end user can't have it."""
    delivery_id = uuid7()
    engagement: Engagement | None = None

    async def compose(locked: _Locked) -> Message:
        nonlocal engagement
        engagement = await deliveries.lock_available(
            session,
            staff,
            data.engagement_id,
            channel_id=locked.channel_id,
            end_user_id=locked.end_user_id,
        )
        return _next_message(
            locked,
            kind=MessageKind.ENGAGEMENT,
            sender_type=SenderType.AGENT,
            sender=staff,
            body=engagement.title,
            client_message_id=data.client_message_id,
            engagement=deliveries.card(engagement, delivery_id),
        )

    async def complete(locked: _Locked, sent: Message) -> schemas.Message:
        assert engagement is not None
        await deliveries.record_delivery(
            session,
            staff,
            engagement,
            delivery_id=delivery_id,
            end_user_id=locked.end_user_id,
            conversation_id=locked.id,
            message_id=sent.id,
            at=sent.created_at,
        )
        return message_view(sent)

    return await _send_as_agent(
        session, staff, conversation_id, data.client_message_id, data.take_over, compose, complete
    )


async def finish_conversation(
    session: AsyncSession, staff: StaffPrincipal, conversation_id: uuid.UUID
) -> None:
    """Closes the chat session (HD-6); the end user's next message reopens it."""
    locked = await _lock_by_id(session, staff, conversation_id)
    if locked.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished already.", code="conversation_finished")
    line = _activity_line(locked, staff, "finished", f"{staff.name} finished the chat")
    locked.status = ConversationStatus.FINISHED
    locked.finished_by = schemas.Person(id=staff.id, name=staff.name)
    # A finished chat waits for nobody; the end user's next message starts the wait afresh.
    locked.waiting_since = None
    await _write(session, locked, staff, None, [line])
    await _announce(session, locked, [message_view(line)], status_changed=True)


async def return_unattended(
    session: AsyncSession, conversation_id: uuid.UUID, at: datetime
) -> bool:
    """Gives an active chat back to Unanswered if its end user has waited the partner's
    owner timer for an answer at `at` (HD-20); False, changing nothing, if not (any more).

    Decided under the conversation's lock, like a reply: a reply that got there first has
    ended the wait, and one that comes after finds the chat unanswered and takes it.
    """
    row = (
        await session.execute(
            _LOCK_FOR_TIMER,
            {"conversation_id": conversation_id, "sender_id": None, "client_message_id": None},
        )
    ).one_or_none()
    if row is None or row.status != ConversationStatus.ACTIVE:
        return False
    minutes, waiting_since = row.owner_timer_minutes, row.waiting_since
    if minutes is None or waiting_since is None or waiting_since + timedelta(minutes=minutes) > at:
        return False
    locked = _Locked.of(row)
    owner = locked.owner
    assert owner is not None
    line = _activity_line(
        locked,
        None,
        "returned",
        f"{owner.name} did not answer for {minutes} min; the chat is back in Unanswered",
        owner,
    )
    locked.status = ConversationStatus.UNANSWERED
    locked.owner = None
    await _write(session, locked, None, None, [line])
    await _announce(session, locked, [message_view(line)], status_changed=True)
    return True


async def _announce(
    session: AsyncSession,
    locked: _Locked,
    messages: list[schemas.Message],
    *,
    status_changed: bool,
) -> None:
    """Queues the events of a change, sent once it commits (HD-16), and its webhooks (SU-5)."""
    view = locked.view(messages[-1])
    await queue_change(
        session,
        locked,
        messages,
        view,
        status_changed=status_changed,
        webhooks=locked.has_webhooks,
    )
