"""What the chat publishes, and to whom: the partner's agents and the conversation's end user."""

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.chat import schemas
from relaydesk.chat.views import ConversationFields
from relaydesk.realtime import topics
from relaydesk.realtime.events import queue_event


class MessageCreated(schemas.Message):
    """A new message with the conversation as it stands after it."""

    conversation: schemas.Conversation


def _audience(conversation: ConversationFields) -> tuple[str, ...]:
    return (topics.partner(conversation.partner_id), topics.end_user(conversation.end_user_id))


def queue_message_created(
    session: AsyncSession,
    conversation: ConversationFields,
    message: schemas.Message,
    view: schemas.Conversation,
) -> None:
    # The message's own fields as they are: dumping and validating them again is wasted work.
    data = MessageCreated(**dict(message), conversation=view)
    queue_event(session, _audience(conversation), "message.created", data)


def queue_conversation_updated(
    session: AsyncSession, conversation: ConversationFields, view: schemas.Conversation
) -> None:
    queue_event(session, _audience(conversation), "conversation.updated", view)
