"""Files sent in chats (HD-11): who uploaded them, what they are, where their bytes lie."""

import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class AttachmentKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"


class UploaderType(StrEnum):
    STAFF = "staff"
    END_USER = "end_user"


class Attachment(Base):
    """An uploaded file. Until a message or an engagement uses it only its uploader may fetch
    it; from then on the partner's staff may, and for a message the conversation's end user."""

    __tablename__ = "attachment"
    __table_args__ = (sa.Index("ix_attachment_message", "message_id", "position"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    uploader_type: Mapped[UploaderType] = mapped_column(string_enum(UploaderType))
    uploader_id: Mapped[uuid.UUID]
    kind: Mapped[AttachmentKind] = mapped_column(string_enum(AttachmentKind))
    # Sanitised; shown to people and offered as the download's name, never used as a path.
    filename: Mapped[str] = mapped_column(sa.String(255))
    # What the content was sniffed to be.
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    storage_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    preview_key: Mapped[str | None] = mapped_column(sa.String(100))
    preview_size: Mapped[int | None]
    # Set once, when a message references the attachment: the message and who may read it.
    # `partner_id` alone is also set when an engagement uses the file: its partner's staff may
    # read it, and the worker keeps it.
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE")
    )
    position: Mapped[int | None]
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE")
    )
    partner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("partner.id"))
    end_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("end_user.id"))
    created_at: Mapped[CreatedAt]
