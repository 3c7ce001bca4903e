"""The chat state machine (HD-1 … HD-8, HD-20): sending, taking, overtaking, finishing,
reopening, and the owner timer's return.

Every change locks the conversation row first (`chat/locking.py`), so the status/owner check
and the new `seq` are decided by one writer at a time: of agents racing for a chat exactly one
takes it, and seq never gaps or repeats.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.attachments import service as attachments_service
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.events import queue_change
from relaydesk.chat.locking import (
    LOCK_FOR_END_USER,
    LOCK_FOR_TIMER,
    Locked,
    activity_line,
    earlier_message,
    insert_conversation,
    lock_by_id,
    locked_row,
    next_message,
    open_chat_session,
    write_change,
)
from relaydesk.chat.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.chat.views import message_view
from relaydesk.clock import now
from relaydesk.db import uuid7
from relaydesk.engagements import deliveries
from relaydesk.engagements.models import Engagement
from relaydesk.engagements.schemas import EngagementSend
from relaydesk.errors import Conflict, NotFound, PermissionDenied
from relaydesk.tenancy import service as tenancy
from relaydesk.tenancy.models import Channel


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


def _sent(locked: Locked, sender: Principal, data: schemas.MessageCreate) -> Message:
    sender_type = SenderType.AGENT if isinstance(sender, StaffPrincipal) else SenderType.END_USER
    return next_message(
        locked,
        kind=MessageKind.ATTACHMENT if data.attachment_ids else MessageKind.TEXT,
        sender_type=sender_type,
        sender=sender,
        body=data.body,
        client_message_id=data.client_message_id,
    )


async def _sent_view(
    session: AsyncSession,
    locked: Locked,
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


async def _start_conversation(
    session: AsyncSession, channel: Channel, end_user: EndUserPrincipal
) -> Locked | None:
    """A new conversation with its first chat session, or None if a concurrent first message
    created it a moment ago."""
    at = now()
    locked = Locked(
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
    if not await insert_conversation(session, values):
        return None
    await open_chat_session(session, locked)
    return locked


async def send_end_user_message(
    session: AsyncSession,
    end_user: EndUserPrincipal,
    channel_id: uuid.UUID,
    data: schemas.MessageCreate,
) -> tuple[schemas.Message, bool]:
    """The end user's message into their conversation with a channel, started or reopened as
    needed (HD-2, HD-7). Returns the message and whether it is new (False for a retry)."""
    row = await locked_row(
        session,
        LOCK_FOR_END_USER,
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
        locked, chat_enabled, following = Locked.of(row), row.chat_enabled, row.following
        if locked.replayed:
            return await earlier_message(session, locked, end_user, data.client_message_id), False
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
    if not await write_change(session, locked, end_user, sent, lines):
        return await earlier_message(session, locked, end_user, data.client_message_id), False
    view = await _sent_view(session, locked, end_user, sent, data)
    await _announce(session, locked, [*map(message_view, lines), view], status_changed=bool(lines))
    return view, True


def _reopen(locked: Locked, end_user: EndUserPrincipal) -> Message:
    """Back to unanswered with no owner, in a new chat session (HD-7)."""
    locked.status = ConversationStatus.UNANSWERED
    locked.owner = locked.finished_by = None
    locked.opened_at = now()
    return activity_line(locked, end_user, "reopened", f"{end_user.name} reopened the chat")


def _take(locked: Locked, staff: StaffPrincipal, *, take_over: bool) -> list[Message]:
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
        line = activity_line(
            locked,
            staff,
            "taken_over",
            f"{staff.name} took the chat over from {previous_owner.name}",
            previous_owner,
        )
    else:
        line = activity_line(locked, staff, "taken", f"{staff.name} took the chat")
    locked.status = ConversationStatus.ACTIVE
    locked.owner = schemas.Person(id=staff.id, name=staff.name)
    return [line]


# What an agent sends, composed under the lock: the message to store (its seq taken), and
# once stored, how the API shows it (after storing what belongs to it).
_Compose = Callable[[Locked], Awaitable[Message]]
_Complete = Callable[[Locked, Message], Awaitable[schemas.Message]]


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
    locked = await lock_by_id(session, staff, conversation_id, client_message_id)
    if locked.replayed:
        return await earlier_message(session, locked, staff, client_message_id), False
    lines = _take(locked, staff, take_over=take_over)
    sent = await compose(locked)
    if not await write_change(session, locked, staff, sent, lines):
        return await earlier_message(session, locked, staff, client_message_id), False
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

    async def compose(locked: Locked) -> Message:
        return _sent(locked, staff, data)

    async def complete(locked: Locked, sent: Message) -> schemas.Message:
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

    async def compose(locked: Locked) -> Message:
        nonlocal engagement
        engagement = await deliveries.lock_available(
            session,
            staff,
            data.engagement_id,
            channel_id=locked.channel_id,
            end_user_id=locked.end_user_id,
        )
        return next_message(
            locked,
            kind=MessageKind.ENGAGEMENT,
            sender_type=SenderType.AGENT,
            sender=staff,
            body=engagement.title,
            client_message_id=data.client_message_id,
            engagement=deliveries.card(engagement, delivery_id),
        )

    async def complete(locked: Locked, sent: Message) -> schemas.Message:
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
    locked = await lock_by_id(session, staff, conversation_id)
    if locked.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished already.", code="conversation_finished")
    line = activity_line(locked, staff, "finished", f"{staff.name} finished the chat")
    locked.status = ConversationStatus.FINISHED
    locked.finished_by = schemas.Person(id=staff.id, name=staff.name)
    # A finished chat waits for nobody; the end user's next message starts the wait afresh.
    locked.waiting_since = None
    await write_change(session, locked, staff, None, [line])
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
            LOCK_FOR_TIMER,
            {"conversation_id": conversation_id, "sender_id": None, "client_message_id": None},
        )
    ).one_or_none()
    if row is None or row.status != ConversationStatus.ACTIVE:
        return False
    minutes, waiting_since = row.owner_timer_minutes, row.waiting_since
    if minutes is None or waiting_since is None or waiting_since + timedelta(minutes=minutes) > at:
        return False
    locked = Locked.of(row)
    owner = locked.owner
    assert owner is not None
    line = activity_line(
        locked,
        None,
        "returned",
        f"{owner.name} did not answer for {minutes} min; the chat is back in Unanswered",
        owner,
    )
    locked.status = ConversationStatus.UNANSWERED
    locked.owner = None
    await write_change(session, locked, None, None, [line])
    await _announce(session, locked, [message_view(line)], status_changed=True)
    return True


async def _announce(
    session: AsyncSession,
    locked: Locked,
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
