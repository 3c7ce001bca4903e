"""Conversations between an end user and a partner's agents, their messages and chat sessions."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class ConversationStatus(StrEnum):
    UNANSWERED = "unanswered"
    ACTIVE = "active"
    FINISHED = "finished"


class Conversation(Base):
    """The one thread between an end user and a channel; it cycles through chat sessions."""

    __tablename__ = "conversation"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "end_user_id"),
        sa.Index("ix_conversation_inbox", "partner_id", "status", "last_message_at", "id"),
        sa.Index("ix_conversation_recent", "partner_id", "last_message_at", "id"),
        sa.Index("ix_conversation_channel", "channel_id", "status", "last_message_at", "id"),
        sa.Index("ix_conversation_owner", "owner_id", "status", "last_message_at", "id"),
        # The owner timer looks for active chats that have waited long enough.
        sa.Index("ix_conversation_waiting", "status", "waiting_since"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    channel_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("channel.id"))
    end_user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("end_user.id"), index=True)
    status: Mapped[ConversationStatus] = mapped_column(string_enum(ConversationStatus))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    finished_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    # The seq of the newest message; the next message takes last_seq + 1 under the row lock.
    last_seq: Mapped[int] = mapped_column(default=0)
    # The seq of the end user's newest message: an agent whose read mark is below it has
    # unread messages here (HD-19).
    last_end_user_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the end user's oldest message no agent has answered yet was sent; None once an
    # agent writes (HD-20).
    waiting_since: Mapped[datetime | None]
    last_message_at: Mapped[datetime]
    # When the current chat session began (the end user's message that made it unanswered).
    opened_at: Mapped[datetime]
    created_at: Mapped[CreatedAt]


class MessageKind(StrEnum):
    TEXT = "text"
    ATTACHMENT = "attachment"
    ENGAGEMENT = "engagement"
    ACTIVITY = "activity"


class SenderType(StrEnum):
    END_USER = "end_user"
    AGENT = "agent"
    SYSTEM = "system"


class Message(Base):
    """One entry of a thread, numbered 1, 2, 3 … per conversation by `seq`."""

    __tablename__ = "message"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "seq"),
        # A client retrying a send finds its message again instead of storing it twice.
        sa.UniqueConstraint("conversation_id", "sender_id", "client_message_id"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    kind: Mapped[MessageKind] = mapped_column(string_enum(MessageKind))
    sender_type: Mapped[SenderType] = mapped_column(string_enum(SenderType))
    # The end user or staff member who wrote it (or whose action an activity line records).
    sender_id: Mapped[uuid.UUID | None]
    # The name as it was when sent, so the thread reads the same after a rename.
    sender_name: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    client_message_id: Mapped[str | None] = mapped_column(sa.String(100))
    activity: Mapped[dict[str, Any] | None]
    # For kind `engagement`: the card as sent ({id, type, title, description, data, delivery_id}).
    engagement: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]


class ChatSession(Base):
    """One cycle of a conversation, from the end user's opening message to its finish."""

    __tablename__ = "chat_session"
    __table_args__ = (
        # Analytics read a range of one timestamp and group by channel and agent: with those
        # and the durations in the index, the rows themselves are never fetched.
        sa.Index("ix_chat_session_opened", "partner_id", "opened_at", "channel_id", "agent_id"),
        sa.Index(
            "ix_chat_session_finished",
            "partner_id",
            "finished_at",
            "channel_id",
            "agent_id",
            "handling_seconds",
        ),
        sa.Index(
            "ix_chat_session_responded",
            "partner_id",
            "first_response_at",
            "channel_id",
            "first_responder_id",
            "response_seconds",
        ),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    channel_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("channel.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    opened_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    first_responder_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    finished_at: Mapped[datetime | None]
    finished_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    # The agent the session's finish and handling time count for: its owner (the latest to
    # take it), or whoever finished it if nobody had.
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    # Stored as they become known, so analytics average numbers instead of doing date
    # arithmetic on every row: first response - opened, and finished - first response.
    response_seconds: Mapped[float | None]
    handling_seconds: Mapped[float | None]


class ConversationRead(Base):
    """How far one reader (an agent, or the end user) has read a conversation."""

    __tablename__ = "conversation_read"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    reader_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_read_seq: Mapped[int] = mapped_column(default=0)


class AlertSettings(Base):
    """Which console alerts an agent has switched on (HD-17); no row means all of them."""

    __tablename__ = "alert_settings"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True
    )
    unanswered_sound: Mapped[bool] = mapped_column(default=True)
    unanswered_notification: Mapped[bool] = mapped_column(default=True)
    my_chats_sound: Mapped[bool] = mapped_column(default=True)
    my_chats_notification: Mapped[bool] = mapped_column(default=True)
