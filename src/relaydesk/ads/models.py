"""Approved ads (PM-6), served to end users between their dates while impressions last."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, Id
from relaydesk.enums import string_enum


class AdType(StrEnum):
    BANNER = "banner"
    INTERSTITIAL = "interstitial"
    VIDEO = "video"
    NATIVE = "native"


class Ad(Base):
    """An ad campaign as approved: made from its request when the tenant approves it.

    Each impression served adds one to `impressions_used` and takes one from the partner's
    balance in the same transaction, both by conditional updates, so neither goes past its
    limit however many end users are served at once.
    """

    __tablename__ = "ad"
    __table_args__ = (
        sa.Index("ix_ad_serving", "tenant_id", "ad_type", "ends_at"),
        sa.CheckConstraint("impressions_used <= impressions_budget", name="within_budget"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner_request.id"), unique=True)
    ad_type: Mapped[AdType] = mapped_column(string_enum(AdType))
    title: Mapped[str] = mapped_column(sa.String(200))
    subtitle: Mapped[str] = mapped_column(sa.String(200), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    click_url: Mapped[str] = mapped_column(sa.String(2000))
    cta_text: Mapped[str] = mapped_column(sa.String(40), default="")
    media_attachment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("attachment.id"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    impressions_budget: Mapped[int] = mapped_column(sa.BigInteger)
    impressions_used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Ads of a placement take turns: the one served longest ago goes next.
    last_served_at: Mapped[datetime | None]
