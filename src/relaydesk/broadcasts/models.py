"""Approved broadcasts (PM-4): an engagement delivered to an audience from its start time."""

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.db import Base, Id
from relaydesk.enums import string_enum


class Audience(StrEnum):
    NON_FOLLOWERS = "non_followers"
    ALL_END_USERS = "all_end_users"


class BroadcastState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    DONE = "done"
    # Stopped before everyone got it: the engagement ended, or the partner was suspended.
    STOPPED = "stopped"


class Broadcast(Base):
    """The delivery of one approved broadcast request.

    The worker walks the tenant's end users in id order, a batch per transaction; the batch's
    deliveries and the move of `after_end_user_id` past it commit together, so a worker that
    dies mid-way leaves the broadcast exactly where its last batch ended.
    """

    __tablename__ = "broadcast"
    __table_args__ = (sa.Index("ix_broadcast_due", "state", "starts_at"),)

    id: Mapped[Id]
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenant.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner.id"))
    request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("partner_request.id"), unique=True)
    engagement_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("engagement.id"))
    channel_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("channel.id"))
    audience: Mapped[Audience] = mapped_column(string_enum(Audience))
    starts_at: Mapped[datetime]
    state: Mapped[BroadcastState] = mapped_column(string_enum(BroadcastState))
    # Set when delivery starts: the audience's size then, and the newest end user in it
    # (end users who sign up later are not part of it).
    total: Mapped[int | None]
    last_end_user_id: Mapped[uuid.UUID | None]
    # How far the walk has come: every end user up to this id has been dealt with.
    after_end_user_id: Mapped[uuid.UUID | None]
    delivered_count: Mapped[int] = mapped_column(default=0)
    # A worker delivering it holds it until then; after that another may take over.
    lease_until: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    stopped_reason: Mapped[str | None] = mapped_column(sa.String(200))
