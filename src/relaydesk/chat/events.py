"""What the chat publishes, and to whom: the partner's agents and the conversation's end user
on their sockets, and the partner's webhooks (SU-5) with the same data."""

import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.chat import schemas
from relaydesk.chat.views import ConversationFields
from relaydesk.realtime import topics
from relaydesk.realtime.events import queue_event
from relaydesk.webhooks.models import WebhookEvent
from relaydesk.webhooks.service import queue_deliveries


class MessageCreated(schemas.Message):
    """A new message with the conversation as it stands after it."""

    conversation: schemas.Conversation


def _audience(conversation: ConversationFields) -> tuple[str, ...]:
    return (topics.partner(conversation.partner_id), topics.end_user(conversation.end_user_id))


def _message_created(
    session: AsyncSession,
    conversation: ConversationFields,
    message: schemas.Message,
    view: schemas.Conversation,
) -> MessageCreated:
    # The message's own fields as they are: dumping and validating them again is wasted work.
    data = MessageCreated(**dict(message), conversation=view)
    queue_event(session, _audience(conversation), "message.created", data)
    return data


async def queue_change(
    session: AsyncSession,
    conversation: ConversationFields,
    messages: Sequence[schemas.Message],
    view: schemas.Conversation,
    *,
    status_changed: bool,
    webhooks: bool = True,
) -> None:
    """A change's events: each new message, then the conversation if its status or owner
    changed. Sockets get them once the change commits; the webhooks are queued in it, unless
    `webhooks` is False (the partner is known to have no active endpoint)."""
    events: list[tuple[WebhookEvent, BaseModel]] = [
        (WebhookEvent.MESSAGE_CREATED, _message_created(session, conversation, message, view))
        for message in messages
    ]
    if status_changed:
        queue_event(session, _audience(conversation), "conversation.updated", view)
        events.append((WebhookEvent.CONVERSATION_UPDATED, view))
    if webhooks:
        await queue_deliveries(session, conversation.partner_id, events)


async def queue_new_last_messages(
    session: AsyncSession, threads: Sequence[tuple[ConversationFields, schemas.Conversation]]
) -> None:
    """A new last message in each of many threads (a broadcast batch's cards), a
    `message.created` each; the webhooks of each partner are looked up once for them all."""
    by_partner: dict[uuid.UUID, list[tuple[WebhookEvent, BaseModel]]] = {}
    for conversation, view in threads:
        assert view.last_message is not None
        data = _message_created(session, conversation, view.last_message, view)
        by_partner.setdefault(conversation.partner_id, []).append(
            (WebhookEvent.MESSAGE_CREATED, data)
        )
    for partner_id, events in by_partner.items():
        await queue_deliveries(session, partner_id, events)
