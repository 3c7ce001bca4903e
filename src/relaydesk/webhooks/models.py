"""Webhook endpoints (SU-5) and the deliveries queued for them, the outbox of the partner's
integrations."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.clock import now
from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class WebhookEvent(StrEnum):
    """What an endpoint may subscribe to: the socket's chat events, under the same names."""

    MESSAGE_CREATED = "message.created"
    CONVERSATION_UPDATED = "conversation.updated"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A partner's address for events, and the secrets its deliveries are signed with."""

    __tablename__ = "webhook_endpoint"
    # Listing, and the look-up every chat change makes, read a partner's few endpoints.
    __table_args__ = (sa.Index("ix_webhook_endpoint_partner", "partner_id", "id"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    # The `WebhookEvent` values subscribed to, at least one.
    events: Mapped[list[str]] = mapped_column(sa.JSON)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Kept as is, not as a digest: each delivery is signed with it.
    secret: Mapped[str] = mapped_column(sa.String(64))
    # The secret before the last rotation, which signs alongside the new one until
    # `previous_secret_until`, so receivers can switch over.
    previous_secret: Mapped[str | None] = mapped_column(sa.String(64))
    previous_secret_until: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class WebhookDelivery(Base):
    """One event for one endpoint: the exact body sent on every attempt, and how it went.

    The id is the event's id in the body and the `X-Relaydesk-Delivery` header receivers
    drop repeats by.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
        sa.Index("ix_webhook_delivery_log", "endpoint_id", "id"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    # Deleting an endpoint deletes its deliveries: none is sent any more, and its log goes.
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    event_type: Mapped[WebhookEvent] = mapped_column(string_enum(WebhookEvent))
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[DeliveryState] = mapped_column(string_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(default=0)
    # When it is due (pending only).
    next_attempt_at: Mapped[datetime | None]
    # Failing attempts are followed by others until then; a day after it was queued.
    retry_until: Mapped[datetime]
    # Set while a worker sends it; a worker that dies leaves it due again once this passes.
    claimed_until: Mapped[datetime | None]
    # Of the last attempt: the HTTP status (none when no answer came), and what went wrong.
    response_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[CreatedAt]
    delivered_at: Mapped[datetime | None]
