"""Tenants, their partners, the partners' channels, and the end users who follow them."""

import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class Tenant(Base):
    """The operator of a platform; signs its end users' tokens with `end_user_secret`."""

    __tablename__ = "tenant"

    id: Mapped[Id]
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    end_user_secret: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[CreatedAt]


class PartnerStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Partner(Base):
    """A brand on the tenant's platform."""

    __tablename__ = "partner"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name"),
        sa.CheckConstraint("impressions_balance >= 0", name="impressions_not_negative"),
        # My partners and its export walk a tenant's partners by id.
        sa.Index("ix_partner_tenant", "tenant_id", "id"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[PartnerStatus] = mapped_column(string_enum(PartnerStatus))
    package_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("package.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(sa.String(64))
    email: Mapped[str] = mapped_column(sa.String(254))
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    website: Mapped[str] = mapped_column(sa.String(500), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(200), default="")
    impressions_balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # The IANA zone whose midnights divide the partner's analytics into days.
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    # The owner timer (HD-20): an active chat whose end user has waited this many minutes
    # for an answer goes back to Unanswered. None switches it off.
    owner_timer_minutes: Mapped[int | None]
    created_at: Mapped[CreatedAt]


class Channel(Base):
    """A partner's channel; end users follow it and, once chat is enabled, chat with it."""

    __tablename__ = "channel"
    __table_args__ = (sa.UniqueConstraint("partner_id", "name"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    chat_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]


class EndUser(Base):
    """A user of the tenant's app, known by the id the tenant's app gives them."""

    __tablename__ = "end_user"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "external_id"),
        # Broadcasts walk a tenant's end users by id.
        sa.Index("ix_end_user_tenant", "tenant_id", "id"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[CreatedAt]


class Follow(Base):
    """An end user following a channel."""

    __tablename__ = "follow"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    end_user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("end_user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    created_at: Mapped[CreatedAt]


class PartnerAddon(Base):
    """An add-on active for a partner (granted by an approved add-on request)."""

    __tablename__ = "partner_addon"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True
    )
    addon_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("addon.id"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    activated_at: Mapped[CreatedAt]
