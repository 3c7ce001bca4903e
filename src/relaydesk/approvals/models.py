"""Requests partners make to the tenant, all five kinds in one table with one workflow."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, Id
from relaydesk.enums import string_enum


class RequestKind(StrEnum):
    PARTNERSHIP = "partnership"
    ADDON = "addon"
    BROADCAST = "broadcast"
    AD_PACKAGE = "ad_package"
    AD = "ad"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def _pending_once(name: str, condition: str, *columns: str | sa.TextClause) -> sa.Index:
    where = sa.text(f"status = 'pending' AND {condition}")
    return sa.Index(
        f"uq_partner_request_pending_{name}",
        *columns,
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


class PartnerRequest(Base):
    """A request waiting for, or carrying, the tenant's decision.

    What was asked for is kept as a snapshot (title, price, details) so the history shows what
    was decided even after the catalogue changes. A registration has no partner until approved.
    """

    __tablename__ = "partner_request"
    __table_args__ = (
        # Lists and exports walk a tenant's requests by id, filtered or not.
        sa.Index("ix_partner_request_tenant", "tenant_id", "id"),
        sa.Index("ix_partner_request_queue", "tenant_id", "kind", "status", "id"),
        sa.Index("ix_partner_request_history", "tenant_id", "kind", "decided_at", "id"),
        # One pending request for the same thing, even when two are sent at the same moment.
        _pending_once("package_change", "kind = 'partnership'", "partner_id"),
        _pending_once("addon", "kind = 'addon'", "partner_id", "subject_id"),
        _pending_once("ad_package", "kind = 'ad_package'", "partner_id", "subject_id"),
        _pending_once("broadcast", "kind = 'broadcast'", "partner_id", "subject_id"),
        _pending_once(
            "registration",
            "kind = 'partnership' AND partner_id IS NULL",
            "tenant_id",
            sa.text("lower(partner_name)"),
        ),
    )

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    kind: Mapped[RequestKind] = mapped_column(string_enum(RequestKind))
    status: Mapped[RequestStatus] = mapped_column(string_enum(RequestStatus))
    # The catalogue item or engagement asked for (package, add-on, ad package, engagement).
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    partner_name: Mapped[str] = mapped_column(sa.String(200))
    price_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
