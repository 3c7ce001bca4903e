"""The audit log: who changed what, and when."""

import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class ActorType(StrEnum):
    STAFF = "staff"
    END_USER = "end_user"
    SYSTEM = "system"


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index(None, "tenant_id", "created_at"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("partner.id"))
    actor_type: Mapped[ActorType] = mapped_column(string_enum(ActorType))
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(sa.String(64))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[CreatedAt]
