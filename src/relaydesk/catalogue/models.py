"""What a tenant sells to its partners."""

import uuid
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class EngagementType(StrEnum):
    MESSAGE = "message"
    PROMO = "promo"
    COUPON = "coupon"
    STICKER_PACK = "sticker_pack"
    RINGTONE = "ringtone"
    WALLPAPER = "wallpaper"


class BillingPeriod(StrEnum):
    MONTH = "month"
    YEAR = "year"


class Package(Base):
    """A partnership package: its price, the engagement types it allows and a channel limit."""

    __tablename__ = "package"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    price_amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    billing_period: Mapped[BillingPeriod] = mapped_column(string_enum(BillingPeriod))
    engagement_types: Mapped[list[str]] = mapped_column(sa.JSON)
    max_channels: Mapped[int]
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]


class Addon(Base):
    """An add-on a partner can ask for: extra engagement types and/or extra channels."""

    __tablename__ = "addon"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    price_amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    grant_engagement_types: Mapped[list[str]] = mapped_column(sa.JSON)
    grant_extra_channels: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]


class AdPackage(Base):
    """A number of ad impressions a partner can buy."""

    __tablename__ = "ad_package"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    impressions: Mapped[int] = mapped_column(sa.BigInteger)
    price_amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]
