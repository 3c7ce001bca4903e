"""Conversations and messages as the API and the socket show them."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from relaydesk.attachments.schemas import MAX_PER_MESSAGE as MAX_ATTACHMENTS_PER_MESSAGE
from relaydesk.attachments.schemas import Attachment
from relaydesk.chat.models import ConversationStatus, MessageKind, SenderType
from relaydesk.schemas import Input, Output

ClientMessageId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
MessageBody = Annotated[str, StringConstraints(max_length=10_000)]


class MessageCreate(Input):
    """What an end user sends: text, uploaded files (`POST /api/v1/attachments`), or both."""

    client_message_id: ClientMessageId
    body: MessageBody = ""
    attachment_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS_PER_MESSAGE
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "MessageCreate":
        if not self.body and not self.attachment_ids:
            raise ValueError("A message needs a body or an attachment.")
        if len(set(self.attachment_ids)) != len(self.attachment_ids):
            raise ValueError("Each attachment can be sent once in a message.")
        return self


class AgentMessageCreate(MessageCreate):
    """What an agent sends; `take_over` confirms taking a chat another agent owns."""

    take_over: bool = False


class Person(BaseModel):
    id: uuid.UUID
    name: str


class Sender(BaseModel):
    type: SenderType
    id: uuid.UUID | None
    name: str


class Message(Output):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    kind: MessageKind
    sender: Sender
    body: str
    attachments: list[Attachment] = Field(
        default_factory=list, description="Files sent with the message, in the order sent."
    )
    engagement: dict[str, Any] | None = None
    activity: dict[str, Any] | None = Field(
        None,
        description="For kind `activity`: {action: taken|taken_over|finished|reopened|"
        "returned (by the owner timer), agent: {id, name}|null, previous_owner: {id, name}|null}.",
    )
    client_message_id: str | None
    created_at: datetime


class EndUserSummary(BaseModel):
    id: uuid.UUID
    name: str
    external_id: str


class Conversation(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    end_user: EndUserSummary
    status: ConversationStatus
    owner: Person | None
    finished_by: Person | None
    last_message: Message | None
    last_message_at: datetime
    opened_at: datetime
    created_at: datetime
    unread_count: int | None = Field(
        description="Messages from the other side the caller has not read; null in socket "
        "frames, which go to many readers."
    )
    snippet: str | None = Field(
        None, description="With `q`: the matching part of a message, the match in [brackets]."
    )


class ReadMark(Input):
    """Read up to `seq`, or to the newest message without it."""

    seq: int | None = Field(None, ge=0)


class InboxFilter(StrEnum):
    MINE = "mine"
    UNANSWERED = "unanswered"
    ACTIVE = "active"
    FINISHED = "finished"
    ALL = "all"


class FilterCounts(BaseModel):
    mine: int
    unanswered: int
    active: int
    finished: int


class InboxCounts(FilterCounts):
    """How many conversations each inbox filter holds, and how many of those have messages
    the calling agent has not read (HD-19)."""

    unread: FilterCounts


class ReadMarkMoved(BaseModel):
    """`conversation.read`, to the reader's other sockets: they have read up to `seq`."""

    conversation_id: uuid.UUID
    last_read_seq: int


class AlertSettings(Output):
    """The console's alerts an agent has on (HD-17): a sound and a browser notification for a
    new unanswered chat, and for an end user's new message in a chat the agent owns."""

    unanswered_sound: bool = True
    unanswered_notification: bool = True
    my_chats_sound: bool = True
    my_chats_notification: bool = True


class AlertSettingsUpdate(Input):
    unanswered_sound: bool | None = None
    unanswered_notification: bool | None = None
    my_chats_sound: bool | None = None
    my_chats_notification: bool | None = None
