"""The chat state machine (HD-1 … HD-8): sending, taking, overtaking, finishing, reopening.

Every change locks the conversation row first (`FOR UPDATE` on PostgreSQL; SQLite transactions
are serialised already), so the status/owner check and the new `seq` are decided by one writer
at a time: of agents racing for a chat exactly one takes it, and seq never gaps or repeats.
"""

import uuid
from datetime import datetime

from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.events import queue_conversation_updated, queue_message_created
from relaydesk.chat.models import (
    ChatSession,
    Conversation,
    ConversationRead,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.chat.views import conversation_view, message_view
from relaydesk.clock import now
from relaydesk.errors import Conflict, NotFound, PermissionDenied
from relaydesk.tenancy import service as tenancy


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
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool = False
) -> Conversation:
    statement = readable_conversations(principal).where(Conversation.id == conversation_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    conversation = await session.scalar(statement)
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


async def _sent_before(
    session: AsyncSession, conversation: Conversation, sender_id: uuid.UUID, client_message_id: str
) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation.id,
            Message.sender_id == sender_id,
            Message.client_message_id == client_message_id,
        )
    )


async def _current_session(session: AsyncSession, conversation: Conversation) -> ChatSession:
    chat_session = await session.scalar(
        select(ChatSession)
        .where(ChatSession.conversation_id == conversation.id)
        .order_by(ChatSession.opened_at.desc(), ChatSession.id.desc())
        .limit(1)
    )
    assert chat_session is not None, "every conversation has a chat session"
    return chat_session


def _open_session(session: AsyncSession, conversation: Conversation, at: datetime) -> None:
    session.add(
        ChatSession(
            tenant_id=conversation.tenant_id,
            partner_id=conversation.partner_id,
            channel_id=conversation.channel_id,
            conversation_id=conversation.id,
            opened_at=at,
        )
    )


def _append(
    session: AsyncSession,
    conversation: Conversation,
    *,
    kind: MessageKind,
    sender_type: SenderType,
    sender: Principal,
    body: str,
    client_message_id: str | None = None,
    activity: dict[str, object] | None = None,
) -> Message:
    """The conversation's next message; its seq is taken under the conversation's lock."""
    at = now()
    conversation.last_seq += 1
    conversation.last_message_at = at
    message = Message(
        tenant_id=conversation.tenant_id,
        partner_id=conversation.partner_id,
        conversation_id=conversation.id,
        seq=conversation.last_seq,
        kind=kind,
        sender_type=sender_type,
        sender_id=sender.id,
        sender_name=sender.name,
        body=body,
        client_message_id=client_message_id,
        activity=activity,
        created_at=at,
    )
    session.add(message)
    return message


def _person(principal: Principal) -> dict[str, str]:
    return {"id": str(principal.id), "name": principal.name}


def _activity_line(
    session: AsyncSession,
    conversation: Conversation,
    actor: Principal,
    action: str,
    body: str,
    previous_owner: dict[str, str] | None = None,
) -> Message:
    return _append(
        session,
        conversation,
        kind=MessageKind.ACTIVITY,
        sender_type=SenderType.SYSTEM,
        sender=actor,
        body=body,
        activity={
            "action": action,
            "agent": _person(actor) if isinstance(actor, StaffPrincipal) else None,
            "previous_owner": previous_owner,
        },
    )


async def _locked_conversation_of(
    session: AsyncSession, channel_id: uuid.UUID, end_user: EndUserPrincipal
) -> Conversation | None:
    return await session.scalar(
        readable_conversations(end_user)
        .where(Conversation.channel_id == channel_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _start_conversation(
    session: AsyncSession, channel_id: uuid.UUID, partner_id: uuid.UUID, end_user: EndUserPrincipal
) -> Conversation | None:
    """A new conversation, or None if a concurrent first message created it a moment ago."""
    at = now()
    conversation = Conversation(
        tenant_id=end_user.tenant_id,
        partner_id=partner_id,
        channel_id=channel_id,
        end_user_id=end_user.id,
        status=ConversationStatus.UNANSWERED,
        last_message_at=at,
        opened_at=at,
    )
    try:
        async with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        return None
    _open_session(session, conversation, at)
    return conversation


async def send_end_user_message(
    session: AsyncSession,
    end_user: EndUserPrincipal,
    channel_id: uuid.UUID,
    data: schemas.MessageCreate,
) -> tuple[schemas.Message, bool]:
    """The end user's message into their conversation with a channel, started or reopened as
    needed (HD-2, HD-7). Returns the message and whether it is new (False for a retry)."""
    channel = await tenancy.followable_channel(session, end_user, channel_id)
    conversation = await _locked_conversation_of(session, channel.id, end_user)
    if conversation is not None and (
        original := await _sent_before(session, conversation, end_user.id, data.client_message_id)
    ):
        return message_view(original), False
    if not channel.chat_enabled:
        raise PermissionDenied("This channel's chat is switched off.", code="chat_disabled")
    if not await tenancy.is_following(session, end_user, channel.id):
        raise PermissionDenied("Follow the channel to chat with it.", code="not_follower")

    reopened = False
    if conversation is None:
        conversation = await _start_conversation(session, channel.id, channel.partner_id, end_user)
        if conversation is None:
            # Another first message won the race; go again, now with its conversation.
            return await send_end_user_message(session, end_user, channel_id, data)
    elif conversation.status == ConversationStatus.FINISHED:
        reopened = True
        conversation.status = ConversationStatus.UNANSWERED
        conversation.owner_id = conversation.finished_by_id = None
        conversation.opened_at = now()
        _open_session(session, conversation, conversation.opened_at)

    added = []
    if reopened:
        added.append(
            _activity_line(
                session, conversation, end_user, "reopened", f"{end_user.name} reopened the chat"
            )
        )
        await record(
            session,
            end_user,
            "conversation.reopened",
            tenant_id=conversation.tenant_id,
            partner_id=conversation.partner_id,
            subject_type="conversation",
            subject_id=conversation.id,
        )
    message = _append(
        session,
        conversation,
        kind=MessageKind.TEXT,
        sender_type=SenderType.END_USER,
        sender=end_user,
        body=data.body,
        client_message_id=data.client_message_id,
    )
    added.append(message)
    await _announce(session, conversation, added, status_changed=reopened)
    return message_view(message), True


async def _owner_name(session: AsyncSession, conversation: Conversation) -> str:
    return await session.scalar(select(StaffUser.name).where(StaffUser.id == conversation.owner_id))


async def _take(
    session: AsyncSession, conversation: Conversation, staff: StaffPrincipal, *, take_over: bool
) -> Message | None:
    """Makes `staff` the owner before they write (HD-4, HD-5); the activity line it adds."""
    if conversation.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished.", code="conversation_finished")
    if conversation.status == ConversationStatus.ACTIVE and conversation.owner_id == staff.id:
        return None
    previous_owner = None
    if conversation.status == ConversationStatus.ACTIVE:
        owner = {"id": str(conversation.owner_id), "name": await _owner_name(session, conversation)}
        if not take_over:
            raise Conflict(
                f"This chat is handled by {owner['name']}. Take it over?",
                code="conversation_taken",
                extra={"owner": owner},
            )
        previous_owner = owner
        line = _activity_line(
            session,
            conversation,
            staff,
            "taken_over",
            f"{staff.name} took the chat over from {owner['name']}",
            previous_owner,
        )
    else:
        line = _activity_line(session, conversation, staff, "taken", f"{staff.name} took the chat")
        chat_session = await _current_session(session, conversation)
        if chat_session.first_response_at is None:
            chat_session.first_response_at = line.created_at
            chat_session.first_responder_id = staff.id
    conversation.status = ConversationStatus.ACTIVE
    conversation.owner_id = staff.id
    await record(
        session,
        staff,
        "conversation.taken_over" if previous_owner else "conversation.taken",
        tenant_id=conversation.tenant_id,
        partner_id=conversation.partner_id,
        subject_type="conversation",
        subject_id=conversation.id,
        data={"previous_owner_id": previous_owner["id"]} if previous_owner else None,
    )
    return line


async def send_agent_message(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    data: schemas.AgentMessageCreate,
) -> tuple[schemas.Message, bool]:
    """An agent's reply, taking or (with `take_over`) overtaking the chat first. Returns the
    message and whether it is new (False for a retry)."""
    conversation = await get_conversation(session, staff, conversation_id, lock=True)
    if original := await _sent_before(session, conversation, staff.id, data.client_message_id):
        return message_view(original), False
    added = []
    if line := await _take(session, conversation, staff, take_over=data.take_over):
        added.append(line)
    message = _append(
        session,
        conversation,
        kind=MessageKind.TEXT,
        sender_type=SenderType.AGENT,
        sender=staff,
        body=data.body,
        client_message_id=data.client_message_id,
    )
    added.append(message)
    await _announce(session, conversation, added, status_changed=line is not None)
    return message_view(message), True


async def finish_conversation(
    session: AsyncSession, staff: StaffPrincipal, conversation_id: uuid.UUID
) -> None:
    """Closes the chat session (HD-6); the end user's next message reopens it."""
    conversation = await get_conversation(session, staff, conversation_id, lock=True)
    if conversation.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished already.", code="conversation_finished")
    line = _activity_line(
        session, conversation, staff, "finished", f"{staff.name} finished the chat"
    )
    conversation.status = ConversationStatus.FINISHED
    conversation.finished_by_id = staff.id
    chat_session = await _current_session(session, conversation)
    chat_session.finished_at = line.created_at
    chat_session.finished_by_id = staff.id
    await record(
        session,
        staff,
        "conversation.finished",
        tenant_id=conversation.tenant_id,
        partner_id=conversation.partner_id,
        subject_type="conversation",
        subject_id=conversation.id,
    )
    await _announce(session, conversation, [line], status_changed=True)


async def _announce(
    session: AsyncSession,
    conversation: Conversation,
    messages: list[Message],
    *,
    status_changed: bool,
) -> None:
    """Queues the events of a change, sent once it commits (HD-16)."""
    await session.flush()
    view = await conversation_view(session, conversation.id)
    for message in messages:
        queue_message_created(session, conversation, message_view(message), view)
    if status_changed:
        queue_conversation_updated(session, conversation, view)


async def mark_read(
    session: AsyncSession, reader: Principal, conversation_id: uuid.UUID, seq: int | None
) -> None:
    """Moves the reader's read mark forward to `seq` (or the newest message), never back."""
    conversation = await get_conversation(session, reader, conversation_id)
    up_to = conversation.last_seq if seq is None else min(seq, conversation.last_seq)
    mark = await session.get(ConversationRead, (conversation.id, reader.id))
    if mark is None:
        try:
            async with session.begin_nested():
                session.add(
                    ConversationRead(
                        conversation_id=conversation.id, reader_id=reader.id, last_read_seq=up_to
                    )
                )
            return
        except IntegrityError:
            mark = await session.get_one(
                ConversationRead, (conversation.id, reader.id), populate_existing=True
            )
    mark.last_read_seq = max(mark.last_read_seq, up_to)
