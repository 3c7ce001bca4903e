"""Delivering approved broadcasts (PM-4): the worker's part.

A broadcast walks the tenant's end users in id order, up to the newest one when it started, a
batch per transaction. Each batch is written set-based (`INSERT … SELECT`, never a row per round
trip): the deliveries, their `received` activity and, unless the engagement is hidden from chat,
a card in each existing chat thread with the channel. The same transaction moves the
broadcast's cursor past the batch, on the condition that it still stands where this worker
found it. So a worker that dies mid-batch leaves nothing of the batch behind, two workers can't
both deliver one batch, and whoever resumes starts exactly after the last batch committed.

An end user who already holds the engagement is passed over: nobody gets it twice. Chats are
always started by end users (HD-2), so a broadcast never opens a thread; and a card in a thread
changes neither its status nor its owner; it reaches the thread's open sockets like any
message.
"""

import json
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.broadcasts.models import Audience, Broadcast, BroadcastState
from relaydesk.broadcasts.service import audience_of
from relaydesk.catalogue.models import EngagementType
from relaydesk.chat.events import queue_new_last_messages
from relaydesk.chat.models import Conversation, Message, MessageKind, SenderType
from relaydesk.chat.views import detailed_views, with_details
from relaydesk.clock import now
from relaydesk.db import Database, UTCDateTime, uuid7_in_sql
from relaydesk.engagements.deliveries import card
from relaydesk.engagements.models import (
    ActivityKind,
    DeliveryState,
    Engagement,
    EngagementActivity,
    EngagementDelivery,
    EngagementStatus,
)
from relaydesk.tenancy.models import Channel, EndUser, Partner, PartnerStatus

# End users dealt with per transaction: big enough that the database does the work in bulk
# (fewer, larger statements: 1,000,000 in under a minute on PostgreSQL), small enough that a
# batch holds its threads, and SQLite's one writer, for well under a second.
BATCH = 20_000
# A worker holds a broadcast this long without finishing a batch before another may take over.
LEASE = timedelta(minutes=2)
# One pass of the worker delivers for at most this long, so the other jobs get their turn.
BUDGET_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a claimed broadcast's delivery stands."""

    broadcast_id: uuid.UUID
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    engagement_id: uuid.UUID
    channel_id: uuid.UUID
    audience: Audience
    after_end_user_id: uuid.UUID | None
    last_end_user_id: uuid.UUID


async def deliver_due_broadcasts(
    database: Database, *, batch: int = BATCH, budget_seconds: float = BUDGET_SECONDS
) -> bool:
    """Delivers due broadcasts batch by batch for at most `budget_seconds`; answers whether
    some delivery is left for the next pass."""
    deadline = time.monotonic() + budget_seconds
    while (walk := await _claim_next(database)) is not None:
        while walk is not None:
            if time.monotonic() >= deadline:
                await _pause(database, walk)
                return True
            walk = await _deliver_batch(database, walk, batch)
    return False


def _still_at(walk: Walk) -> sa.ColumnElement[bool]:
    """The broadcast as this worker left it: running, its cursor where the walk stands."""
    return (
        (Broadcast.id == walk.broadcast_id)
        & (Broadcast.state == BroadcastState.RUNNING)
        & Broadcast.after_end_user_id.is_not_distinct_from(walk.after_end_user_id)
    )


async def _claim_next(database: Database) -> Walk | None:
    """Takes the next due broadcast for `LEASE`, starting it if it was only scheduled; one that
    can't start (or has nobody to reach) is ended on the way."""
    async with database.transaction() as session:
        assert session.bind is not None
        at = now()
        due = (
            select(Broadcast)
            .where(
                Broadcast.state.in_((BroadcastState.SCHEDULED, BroadcastState.RUNNING)),
                Broadcast.starts_at <= at,
                or_(Broadcast.lease_until.is_(None), Broadcast.lease_until <= at),
            )
            # Those never worked on first, then the one left longest ago: broadcasts due at
            # the same time take turns, a pass each.
            .order_by(Broadcast.lease_until.asc().nulls_first(), Broadcast.starts_at, Broadcast.id)
            .limit(1)
        )
        if session.bind.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        while (broadcast := await session.scalar(due)) is not None:
            if broadcast.state == BroadcastState.SCHEDULED:
                await _start(session, broadcast, at)
            if broadcast.state == BroadcastState.RUNNING:
                assert broadcast.last_end_user_id is not None
                broadcast.lease_until = at + LEASE
                return Walk(
                    broadcast_id=broadcast.id,
                    tenant_id=broadcast.tenant_id,
                    partner_id=broadcast.partner_id,
                    engagement_id=broadcast.engagement_id,
                    channel_id=broadcast.channel_id,
                    audience=broadcast.audience,
                    after_end_user_id=broadcast.after_end_user_id,
                    last_end_user_id=broadcast.last_end_user_id,
                )
            await session.flush()
    return None


def _why_stopped(engagement: Engagement, partner: Partner, at: datetime) -> str | None:
    """Why the engagement can't be delivered now, if it can't."""
    if partner.status != PartnerStatus.ACTIVE:
        return "The partner was suspended."
    if engagement.status != EngagementStatus.ACTIVE:
        return "The engagement was finished."
    if engagement.ends_at is not None and engagement.ends_at <= at:
        return "The engagement had ended."
    return None


async def _start(session: AsyncSession, broadcast: Broadcast, at: datetime) -> None:
    """Fixes the audience (everyone in it now, up to the newest end user) and its size; or
    ends the broadcast if it can't be delivered or reaches nobody."""
    engagement = await session.get_one(Engagement, broadcast.engagement_id)
    partner = await session.get_one(Partner, broadcast.partner_id)
    broadcast.started_at = at
    if reason := _why_stopped(engagement, partner, at):
        _end(broadcast, BroadcastState.STOPPED, at, reason)
        return
    newest = await session.scalar(
        select(EndUser.id)
        .where(EndUser.tenant_id == broadcast.tenant_id)
        .order_by(EndUser.id.desc())
        .limit(1)
    )
    if newest is None:
        broadcast.total = 0
        _end(broadcast, BroadcastState.DONE, at)
        return
    audience = audience_of(broadcast.tenant_id, broadcast.channel_id, broadcast.audience)
    broadcast.total = await session.scalar(
        select(func.count()).select_from(EndUser).where(*audience, EndUser.id <= newest)
    )
    broadcast.last_end_user_id = newest
    broadcast.state = BroadcastState.RUNNING


def _end(
    broadcast: Broadcast, state: BroadcastState, at: datetime, reason: str | None = None
) -> None:
    broadcast.state = state
    broadcast.finished_at = at
    broadcast.lease_until = None
    broadcast.stopped_reason = reason


async def _pause(database: Database, walk: Walk) -> None:
    """Lets go of the broadcast before the lease ends, so the next pass goes on at once (with
    another due broadcast first, if there is one)."""
    async with database.transaction() as session:
        await session.execute(update(Broadcast).where(_still_at(walk)).values(lease_until=now()))


async def _deliver_batch(database: Database, walk: Walk, batch: int) -> Walk | None:
    """Delivers to the next `batch` end users of the walk; answers where the walk stands
    then, or None when the broadcast is over (or another worker has taken it over)."""
    async with database.transaction() as session:
        at = now()
        held = await session.execute(
            update(Broadcast).where(_still_at(walk)).values(lease_until=at + LEASE)
        )
        if not held.rowcount:  # type: ignore[attr-defined]
            return None
        broadcast = await session.get_one(Broadcast, walk.broadcast_id)
        engagement = await session.get_one(Engagement, walk.engagement_id)
        partner = await session.get_one(Partner, walk.partner_id)
        if reason := _why_stopped(engagement, partner, at):
            _end(broadcast, BroadcastState.STOPPED, at, reason)
            return None
        upto = await session.scalar(
            select(EndUser.id)
            .where(EndUser.tenant_id == walk.tenant_id, *_span(EndUser.id, walk, None))
            .order_by(EndUser.id)
            .offset(batch - 1)
            .limit(1)
        )
        upto = upto or walk.last_end_user_id
        delivered = await _deliver(session, walk, engagement, upto, at)
        broadcast.after_end_user_id = upto
        broadcast.delivered_count += delivered
        if upto == walk.last_end_user_id:
            _end(broadcast, BroadcastState.DONE, at)
            return None
        return replace(walk, after_end_user_id=upto)


def _span(
    column: sa.ColumnElement[uuid.UUID], walk: Walk, upto: uuid.UUID | None
) -> list[sa.ColumnElement[bool]]:
    """End users after the walk's cursor, up to `upto` (or the walk's last one)."""
    span = [column <= (upto or walk.last_end_user_id)]
    if walk.after_end_user_id is not None:
        span.append(column > walk.after_end_user_id)
    return span


async def _deliver(
    session: AsyncSession, walk: Walk, engagement: Engagement, upto: uuid.UUID, at: datetime
) -> int:
    """The batch's deliveries, their activity and chat cards, a statement each; answers how
    many end users got the engagement."""
    assert session.bind is not None
    dialect = session.bind.dialect.name
    # The batch's threads are locked first, in one order, then the engagement: the order a
    # chat send takes them in. A send, or another broadcast's batch, of the same engagement
    # commits before this batch looks at who holds it, or waits for the batch to commit;
    # never both waiting for each other.
    await session.execute(
        select(Conversation.id)
        .where(
            Conversation.channel_id == walk.channel_id,
            *_span(Conversation.end_user_id, walk, upto),
        )
        .order_by(Conversation.id)
        .with_for_update()
    )
    await session.execute(
        select(Engagement.id).where(Engagement.id == engagement.id).with_for_update()
    )
    # Who in the batch's span already holds the engagement is read as a set (a range of the
    # engagement's deliveries), not asked row by row: the planner can't size a span inside
    # one histogram bucket, and a per-row anti-join over every delivery so far grows with them.
    audience = audience_of(walk.tenant_id, walk.channel_id, walk.audience)
    newcomers = (
        select(EndUser.id.label("end_user_id"))
        .where(*audience, *_span(EndUser.id, walk, upto))
        .except_(
            select(EngagementDelivery.end_user_id).where(
                EngagementDelivery.engagement_id == engagement.id,
                *_span(EngagementDelivery.end_user_id, walk, upto),
            )
        )
        .subquery()
    )
    recipients = select(
        uuid7_in_sql(dialect, at),
        literal(walk.tenant_id, sa.Uuid),
        literal(walk.partner_id, sa.Uuid),
        literal(engagement.id, sa.Uuid),
        newcomers.c.end_user_id,
        literal(walk.channel_id, sa.Uuid),
        literal(walk.broadcast_id, sa.Uuid),
        literal(engagement.type.value, sa.String),
        literal(DeliveryState.RECEIVED.value, sa.String),
        literal(at, UTCDateTime()),
    )
    inserted = await session.execute(
        insert(EngagementDelivery).from_select(
            (
                "id",
                "tenant_id",
                "partner_id",
                "engagement_id",
                "end_user_id",
                "channel_id",
                "broadcast_id",
                "engagement_type",
                "state",
                "received_at",
            ),
            recipients,
        )
    )
    delivered: int = inserted.rowcount  # type: ignore[attr-defined]
    if delivered:
        batch = [
            EngagementDelivery.broadcast_id == walk.broadcast_id,
            EngagementDelivery.engagement_id == engagement.id,
            *_span(EngagementDelivery.end_user_id, walk, upto),
        ]
        await _log_received(session, engagement, batch, at)
        if not _hidden_from_chat(engagement):
            await _post_cards(session, walk, engagement, batch, at)
    return delivered


async def _log_received(
    session: AsyncSession,
    engagement: Engagement,
    batch: list[sa.ColumnElement[bool]],
    at: datetime,
) -> None:
    """Each delivery's `received` line in the end user's engagement log."""
    assert session.bind is not None
    delivery = EngagementDelivery
    lines = select(
        uuid7_in_sql(session.bind.dialect.name, at),
        delivery.tenant_id,
        delivery.partner_id,
        delivery.end_user_id,
        delivery.id,
        literal(ActivityKind.RECEIVED.value, sa.String),
        delivery.engagement_id,
        delivery.engagement_type,
        literal(engagement.title, sa.String),
        literal(0, sa.Integer),
        literal(at, UTCDateTime()),
    ).where(*batch)
    await session.execute(
        insert(EngagementActivity).from_select(
            (
                "id",
                "tenant_id",
                "partner_id",
                "end_user_id",
                "delivery_id",
                "kind",
                "engagement_id",
                "engagement_type",
                "title",
                "points",
                "occurred_at",
            ),
            lines,
        )
    )


def _hidden_from_chat(engagement: Engagement) -> bool:
    return engagement.type == EngagementType.PROMO and bool(engagement.data.get("hide_in_chat"))


async def _post_cards(
    session: AsyncSession,
    walk: Walk,
    engagement: Engagement,
    batch: list[sa.ColumnElement[bool]],
    at: datetime,
) -> None:
    """A card in each thread the batch's end users have with the channel, numbered next in
    the thread: the threads' `last_seq` moves first, under their row locks, so a message
    written to one of them at the same moment takes the number after."""
    assert session.bind is not None
    dialect = session.bind.dialect.name
    delivery = EngagementDelivery
    threads = [
        Conversation.channel_id == walk.channel_id,
        Conversation.end_user_id.in_(select(delivery.end_user_id).where(*batch)),
    ]
    moved = await session.execute(
        update(Conversation)
        .where(*threads)
        .values(last_seq=Conversation.last_seq + 1, last_message_at=at)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return
    channel = await session.get_one(Channel, walk.channel_id)
    cards = (
        select(
            uuid7_in_sql(dialect, at),
            Conversation.tenant_id,
            Conversation.partner_id,
            Conversation.id,
            Conversation.last_seq,
            literal(MessageKind.ENGAGEMENT.value, sa.String),
            literal(SenderType.SYSTEM.value, sa.String),
            literal(channel.name, sa.String),
            literal("", sa.String),
            _card(dialect, engagement, delivery.id),
            literal(at, UTCDateTime()),
        )
        .join(delivery, delivery.end_user_id == Conversation.end_user_id)
        .where(Conversation.channel_id == walk.channel_id, *batch)
    )
    await session.execute(
        insert(Message).from_select(
            (
                "id",
                "tenant_id",
                "partner_id",
                "conversation_id",
                "seq",
                "kind",
                "sender_type",
                "sender_name",
                "body",
                "engagement",
                "created_at",
            ),
            cards,
        )
    )
    await _announce_cards(session, threads)


async def _announce_cards(session: AsyncSession, threads: list[sa.ColumnElement[bool]]) -> None:
    """Each thread's new card goes out to its end user and the partner's agents, as any new
    message does, once the batch commits; and to the partner's webhooks, queued with it."""
    rows = (await session.execute(with_details(select(Conversation).where(*threads)))).all()
    views = await detailed_views(session, rows)
    await queue_new_last_messages(
        session, [(row[0], view) for row, view in zip(rows, views, strict=True)]
    )


def _card(
    dialect: str, engagement: Engagement, delivery_id: sa.ColumnElement[uuid.UUID]
) -> sa.ColumnElement[Any]:
    """The chat card of `deliveries.card`, with each row's own delivery id, built in SQL."""
    fields = card(engagement, uuid.UUID(int=0))
    del fields["delivery_id"]
    if dialect == "postgresql":
        data = sa.cast(literal(json.dumps(fields["data"]), sa.Text), postgresql.JSON)
        delivery_text = sa.cast(delivery_id, sa.Text)
        build = func.json_build_object
    else:
        data = func.json(literal(json.dumps(fields["data"]), sa.Text))
        delivery_text = _hyphenated(delivery_id)
        build = func.json_object
    pairs: list[Any] = []
    for key, value in fields.items():
        pairs += [literal(key, sa.Text), data if key == "data" else literal(value, sa.Text)]
    pairs += [literal("delivery_id", sa.Text), delivery_text]
    return build(*pairs)


def _hyphenated(hex_id: sa.ColumnElement[uuid.UUID]) -> sa.ColumnElement[str]:
    """SQLite's bare 32 hex digits as the usual 8-4-4-4-12 text."""
    text = sa.cast(hex_id, sa.Text)
    parts = [func.substr(text, start, length) for start, length in _UUID_GROUPS]
    joined: sa.ColumnElement[str] = parts[0]
    for part in parts[1:]:
        joined = joined + "-" + part
    return joined


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
