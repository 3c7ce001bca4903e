"""A partner's canned responses, grouped in ordered categories (HD-14)."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.clock import now
from relaydesk.db import Base, CreatedAt, Id


class CannedCategory(Base):
    __tablename__ = "canned_category"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "name"),
        sa.Index("ix_canned_category_order", "partner_id", "position"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    # 0, 1, 2 … within the partner: the order agents see the categories in.
    position: Mapped[int]
    created_at: Mapped[CreatedAt]


class CannedResponse(Base):
    __tablename__ = "canned_response"
    __table_args__ = (
        # Titles differ in more than case within a category.
        sa.Index("uq_canned_response_title", "category_id", sa.text("lower(title)"), unique=True),
        # A shortcut picks exactly one response of the partner's.
        sa.UniqueConstraint("partner_id", "shortcode"),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    category_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("canned_category.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    shortcode: Mapped[str | None] = mapped_column(sa.String(50))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
