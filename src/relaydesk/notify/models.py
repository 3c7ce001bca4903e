"""The mail outbox: every e-mail, written with the change that causes it, sent by the worker."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class EmailState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Email(Base):
    """One e-mail and its delivery.

    The body is rendered from `template` and `context` when it is sent; once sent the context
    is emptied, so links with secrets in them do not stay in the database.
    """

    __tablename__ = "email"
    __table_args__ = (
        sa.Index("ix_email_due", "state", "next_attempt_at"),
        sa.Index("ix_email_log", "tenant_id", "id"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    template: Mapped[str] = mapped_column(sa.String(64))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[EmailState] = mapped_column(string_enum(EmailState))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    # Set while a worker sends it; a worker that dies leaves it due again once this passes.
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[CreatedAt]
    sent_at: Mapped[datetime | None]
