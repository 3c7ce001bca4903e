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
