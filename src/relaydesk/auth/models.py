"""Staff accounts and the credentials they sign in with."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.auth.permissions import Role
from relaydesk.db import Base, CreatedAt, Id
from relaydesk.enums import string_enum


class StaffUser(Base):
    """A person working for the tenant (no partner) or for one partner."""

    __tablename__ = "staff_user"

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"), index=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("partner.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[CreatedAt]
    last_login_at: Mapped[datetime | None]


class _HashedCredential:
    """A random secret handed to its holder once; only its SHA-256 digest is kept."""

    id: Mapped[Id]
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebSession(_HashedCredential, Base):
    """A browser sign-in, held in the session cookie."""

    __tablename__ = "web_session"


class ApiToken(_HashedCredential, Base):
    """A bearer token for API clients."""

    __tablename__ = "api_token"


class PasswordLinkPurpose(StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class PasswordLink(_HashedCredential, Base):
    """A single-use, expiring link to set a password, sent by e-mail (SU-1)."""

    __tablename__ = "password_link"

    purpose: Mapped[PasswordLinkPurpose] = mapped_column(string_enum(PasswordLinkPurpose))
