"""The chat state machine (HD-1 … HD-8): sending, taking, overtaking, finishing, reopening.

Every change locks the conversation row first (`FOR UPDATE` on PostgreSQL; SQLite transactions
are serialised already), so the status/owner check and the new `seq` are decided by one writer
at a time: of agents racing for a chat exactly one takes it, and seq never gaps or repeats.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from relaydesk.audit.service import record
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.chat import schemas
from relaydesk.chat.events import queue_conversation_updated, queue_message_created
from relaydesk.chat.models import (
    ChatSession,
    Conversation,
    ConversationStatus,
    Message,
    MessageKind,
    SenderType,
)
from relaydesk.chat.views import detailed_view, message_view, person, with_people
from relaydesk.clock import now
from relaydesk.errors import Conflict, NotFound, PermissionDenied
from relaydesk.tenancy import service as tenancy
from relaydesk.tenancy.models import EndUser


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


_Original = aliased(Message, name="original")


@dataclass
class _Locked:
    """A conversation under its row lock, with what its view shows, and the message its sender
    sent before with the same client_message_id, if any."""

    conversation: Conversation
    end_user: schemas.EndUserSummary
    owner: schemas.Person | None
    finished_by: schemas.Person | None
    original: Message | None = None

    def view(self, last_message: Message) -> schemas.Conversation:
        return detailed_view(
            self.conversation, self.end_user, self.owner, self.finished_by, last_message
        )


async def _lock(
    session: AsyncSession,
    statement: Select[tuple[Conversation]],
    sender_id: uuid.UUID,
    client_message_id: str | None = None,
) -> _Locked | None:
    """Locks the conversation, then reads what its view needs and the sender's original.

    Two statements on purpose: on PostgreSQL a statement that waited for the lock still sees
    other tables as they were when it began, so the owner or an original message committed
    meanwhile is only visible to a statement that starts after the lock is held.
    """
    conversation = await session.scalar(
        statement.with_for_update().execution_options(populate_existing=True)
    )
    if conversation is None:
        return None
    details = with_people(
        select(EndUser.id, EndUser.name, EndUser.external_id)
        .select_from(Conversation)
        .join(EndUser, EndUser.id == Conversation.end_user_id)
        .where(Conversation.id == conversation.id)
    )
    if client_message_id is not None:
        details = details.add_columns(_Original).outerjoin(
            _Original,
            (_Original.conversation_id == Conversation.id)
            & (_Original.sender_id == sender_id)
            & (_Original.client_message_id == client_message_id),
        )
    end_user_id, name, external_id, owner, finished_by, *original_found = (
        await session.execute(details)
    ).one()
    return _Locked(
        conversation,
        schemas.EndUserSummary(id=end_user_id, name=name, external_id=external_id),
        person(owner),
        person(finished_by),
        original_found[0] if original_found else None,
    )


async def _lock_by_id(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    client_message_id: str | None = None,
) -> _Locked:
    statement = readable_conversations(staff).where(Conversation.id == conversation_id)
    locked = await _lock(session, statement, staff.id, client_message_id)
    if locked is None:
        raise NotFound("No such conversation.")
    return locked


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


async def _activity_line(
    session: AsyncSession,
    conversation: Conversation,
    actor: Principal,
    action: str,
    body: str,
    previous_owner: schemas.Person | None = None,
) -> Message:
    """A take, overtake, finish or reopen: a line in the thread and an entry in the audit log."""
    await record(
        session,
        actor,
        f"conversation.{action}",
        tenant_id=conversation.tenant_id,
        partner_id=conversation.partner_id,
        subject_type="conversation",
        subject_id=conversation.id,
        data={"previous_owner_id": str(previous_owner.id)} if previous_owner else None,
    )
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
            "previous_owner": previous_owner.model_dump(mode="json") if previous_owner else None,
        },
    )


async def _start_conversation(
    session: AsyncSession, channel_id: uuid.UUID, partner_id: uuid.UUID, end_user: EndUserPrincipal
) -> _Locked | None:
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
    end_user_summary = schemas.EndUserSummary(
        id=end_user.id, name=end_user.name, external_id=end_user.external_id
    )
    return _Locked(conversation, end_user_summary, owner=None, finished_by=None)


async def send_end_user_message(
    session: AsyncSession,
    end_user: EndUserPrincipal,
    channel_id: uuid.UUID,
    data: schemas.MessageCreate,
) -> tuple[schemas.Message, bool]:
    """The end user's message into their conversation with a channel, started or reopened as
    needed (HD-2, HD-7). Returns the message and whether it is new (False for a retry)."""
    channel, following = await tenancy.channel_for_end_user(session, end_user, channel_id)
    statement = readable_conversations(end_user).where(Conversation.channel_id == channel.id)
    locked = await _lock(session, statement, end_user.id, data.client_message_id)
    if locked is not None and locked.original is not None:
        return message_view(locked.original), False
    if not channel.chat_enabled:
        raise PermissionDenied("This channel's chat is switched off.", code="chat_disabled")
    if not following:
        raise PermissionDenied("Follow the channel to chat with it.", code="not_follower")

    added = []
    if locked is None:
        locked = await _start_conversation(session, channel.id, channel.partner_id, end_user)
        if locked is None:
            # Another first message won the race; go again, now with its conversation.
            return await send_end_user_message(session, end_user, channel_id, data)
    elif locked.conversation.status == ConversationStatus.FINISHED:
        added.append(await _reopen(session, locked, end_user))
    added.append(
        _append(
            session,
            locked.conversation,
            kind=MessageKind.TEXT,
            sender_type=SenderType.END_USER,
            sender=end_user,
            body=data.body,
            client_message_id=data.client_message_id,
        )
    )
    await _announce(session, locked, added, status_changed=len(added) > 1)
    return message_view(added[-1]), True


async def _reopen(session: AsyncSession, locked: _Locked, end_user: EndUserPrincipal) -> Message:
    """Back to unanswered with no owner, in a new chat session (HD-7); the activity line."""
    conversation = locked.conversation
    conversation.status = ConversationStatus.UNANSWERED
    conversation.owner_id = conversation.finished_by_id = None
    locked.owner = locked.finished_by = None
    conversation.opened_at = now()
    _open_session(session, conversation, conversation.opened_at)
    return await _activity_line(
        session, conversation, end_user, "reopened", f"{end_user.name} reopened the chat"
    )


async def _take(
    session: AsyncSession, locked: _Locked, staff: StaffPrincipal, *, take_over: bool
) -> Message | None:
    """Makes `staff` the owner before they write (HD-4, HD-5); the activity line it adds."""
    conversation, previous_owner = locked.conversation, locked.owner
    if conversation.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished.", code="conversation_finished")
    if conversation.status == ConversationStatus.ACTIVE and conversation.owner_id == staff.id:
        return None
    if conversation.status == ConversationStatus.ACTIVE:
        assert previous_owner is not None
        if not take_over:
            raise Conflict(
                f"This chat is handled by {previous_owner.name}. Take it over?",
                code="conversation_taken",
                extra={"owner": previous_owner.model_dump(mode="json")},
            )
        line = await _activity_line(
            session,
            conversation,
            staff,
            "taken_over",
            f"{staff.name} took the chat over from {previous_owner.name}",
            previous_owner,
        )
    else:
        line = await _activity_line(
            session, conversation, staff, "taken", f"{staff.name} took the chat"
        )
        chat_session = await _current_session(session, conversation)
        if chat_session.first_response_at is None:
            chat_session.first_response_at = line.created_at
            chat_session.first_responder_id = staff.id
    conversation.status = ConversationStatus.ACTIVE
    conversation.owner_id = staff.id
    locked.owner = schemas.Person(id=staff.id, name=staff.name)
    return line


async def send_agent_message(
    session: AsyncSession,
    staff: StaffPrincipal,
    conversation_id: uuid.UUID,
    data: schemas.AgentMessageCreate,
) -> tuple[schemas.Message, bool]:
    """An agent's reply, taking or (with `take_over`) overtaking the chat first. Returns the
    message and whether it is new (False for a retry)."""
    locked = await _lock_by_id(session, staff, conversation_id, data.client_message_id)
    if locked.original is not None:
        return message_view(locked.original), False
    added = []
    if line := await _take(session, locked, staff, take_over=data.take_over):
        added.append(line)
    message = _append(
        session,
        locked.conversation,
        kind=MessageKind.TEXT,
        sender_type=SenderType.AGENT,
        sender=staff,
        body=data.body,
        client_message_id=data.client_message_id,
    )
    added.append(message)
    await _announce(session, locked, added, status_changed=line is not None)
    return message_view(message), True


async def finish_conversation(
    session: AsyncSession, staff: StaffPrincipal, conversation_id: uuid.UUID
) -> None:
    """Closes the chat session (HD-6); the end user's next message reopens it."""
    locked = await _lock_by_id(session, staff, conversation_id)
    conversation = locked.conversation
    if conversation.status == ConversationStatus.FINISHED:
        raise Conflict("This chat is finished already.", code="conversation_finished")
    line = await _activity_line(
        session, conversation, staff, "finished", f"{staff.name} finished the chat"
    )
    conversation.status = ConversationStatus.FINISHED
    conversation.finished_by_id = staff.id
    locked.finished_by = schemas.Person(id=staff.id, name=staff.name)
    chat_session = await _current_session(session, conversation)
    chat_session.finished_at = line.created_at
    chat_session.finished_by_id = staff.id
    await _announce(session, locked, [line], status_changed=True)


async def _announce(
    session: AsyncSession, locked: _Locked, messages: list[Message], *, status_changed: bool
) -> None:
    """Queues the events of a change, sent once it commits (HD-16)."""
    await session.flush()
    view = locked.view(messages[-1])
    for message in messages:
        queue_message_created(session, locked.conversation, message_view(message), view)
    if status_changed:
        queue_conversation_updated(session, locked.conversation, view)
