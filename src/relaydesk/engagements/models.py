"""Engagements a partner creates for a channel (SU-2) and its agents send in chats (HD-12)."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.catalogue.models import EngagementType
from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class EngagementStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    FINISHED = "finished"


class RedemptionType(StrEnum):
    QR_CODE = "qr_code"
    TIME_BASED = "time_based"
    CLICK_TO_REDEEM = "click_to_redeem"
    AUTO_ACTIVATE = "auto_activate"


class Engagement(Base):
    """One message, promo, coupon, sticker pack, ringtone or wallpaper of a channel."""

    __tablename__ = "engagement"
    __table_args__ = (
        sa.Index("ix_engagement_listing", "partner_id", "status", "created_at"),
        sa.Index("ix_engagement_channel", "channel_id", "status"),
        sa.CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    channel_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("channel.id"))
    type: Mapped[EngagementType] = mapped_column(string_enum(EngagementType))
    # A promo's "name" (at most 80 characters) is its title.
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[EngagementStatus] = mapped_column(
        string_enum(EngagementStatus), default=EngagementStatus.DRAFT
    )
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    # The type's own fields, as `schemas.DATA_MODELS` checks them.
    data: Mapped[dict[str, Any]]
    # Coupons only: how many are left to redeem, set to the quantity when published and
    # decremented in the database (never read-modify-write) as they are redeemed.
    remaining: Mapped[int | None]
    created_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[CreatedAt]
    published_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DeliveryState(StrEnum):
    RECEIVED = "received"
    VIEWED = "viewed"
    REDEEMED = "redeemed"
    DOWNLOADED = "downloaded"


class ActivityKind(StrEnum):
    RECEIVED = "received"
    VIEWED = "viewed"
    REDEEMED = "redeemed"
    DOWNLOADED = "downloaded"
    POINTS_EARNED = "points_earned"
    POINTS_SPENT = "points_spent"


class EngagementDelivery(Base):
    """An engagement given to one end user: sent by an agent in their conversation (HD-12), or
    by a broadcast."""

    __tablename__ = "engagement_delivery"
    __table_args__ = (
        sa.Index("ix_engagement_delivery_end_user", "end_user_id", "received_at"),
        sa.Index("ix_engagement_delivery_engagement", "engagement_id", "end_user_id"),
    )

    id: Mapped[Id]
    # The engagement's own tenant, partner and channel, kept beside it so lists filter without
    # a join; checked through the engagement's key rather than each its own, as a broadcast
    # writes these rows by the million.
    tenant_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    engagement_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("engagement.id"))
    end_user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("end_user.id"))
    channel_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="SET NULL")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL")
    )
    sender_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    # Set for deliveries of a broadcast (PM-4) instead of a sender and a conversation; the
    # broadcast writing them is its own check.
    broadcast_id: Mapped[uuid.UUID | None]
    # Kept beside the engagement's own so history filters by type without a join.
    engagement_type: Mapped[EngagementType] = mapped_column(string_enum(EngagementType))
    state: Mapped[DeliveryState] = mapped_column(string_enum(DeliveryState))
    received_at: Mapped[datetime]
    viewed_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime | None]


class EngagementActivity(Base):
    """One event of an end user's engagement log; the sum of `points` is their balance."""

    __tablename__ = "engagement_activity"
    __table_args__ = (sa.Index("ix_engagement_activity_end_user", "end_user_id", "occurred_at"),)

    id: Mapped[Id]
    # The engagement's tenant and partner, copied like a delivery's (see there).
    tenant_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    end_user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("end_user.id"))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("engagement_delivery.id", ondelete="SET NULL")
    )
    kind: Mapped[ActivityKind] = mapped_column(string_enum(ActivityKind))
    engagement_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("engagement.id"))
    engagement_type: Mapped[EngagementType] = mapped_column(string_enum(EngagementType))
    # The engagement's title as it was then, so the log reads the same after a rename.
    title: Mapped[str] = mapped_column(sa.String(200))
    # Earned positive, spent negative, zero for the other kinds.
    points: Mapped[int] = mapped_column(default=0)
    occurred_at: Mapped[datetime]
