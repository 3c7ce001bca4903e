"""The broadcasts suite's data: one tenant with a partner, its channel and staff (through the
services and the ORM), its end users written set-based in SQL (`INSERT … SELECT` over a
generated series: no rows pass through Python), some following the channel and some with a
chat thread, and one scheduled broadcast per measurement.

End user `i` (counting from 1) is the same row in every run, and so are its follow and its
thread:

- it follows the channel when `i % 10 == 0` (10%);
- it has a thread with the channel when `i % 200` is 0 or 5 (1%: half of them followers), and
  one with the partner's other channel when `i % 200 == 7` (0.5%, which no card may reach);
  each thread holds two messages, so a card takes `seq` 3.

The end users grow in steps (`grow(…, 100_000)`, then `grow(…, 1_000_000)`): each broadcast
reaches everyone there is when it starts.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from relaydesk.approvals.models import PartnerRequest, RequestKind, RequestStatus
from relaydesk.auth.permissions import Role
from relaydesk.auth.service import create_staff_user
from relaydesk.broadcasts.models import Audience, Broadcast, BroadcastState
from relaydesk.catalogue.models import EngagementType
from relaydesk.catalogue.service import package_by_name
from relaydesk.clock import now
from relaydesk.db import Database, UTCDateTime, is_sqlite
from relaydesk.engagements.models import Engagement, EngagementStatus
from relaydesk.tenancy.models import Channel
from relaydesk.tenancy.service import create_partner, create_tenant

FOLLOWER_EVERY = 10  # end user i follows the channel when i % 10 == 0
THREAD_PERIOD = 200
THREADS = (0, 5)  # i % 200: a thread with the broadcast's channel (a follower, a non-follower)
OTHER_THREADS = (7,)  # i % 200: a thread with the partner's other channel only
MESSAGES_PER_THREAD = 2
# End user ids are UUIDv7 from this moment on, one millisecond apart: in id order, as
# relaydesk's own ids of end users signing up over time.
_EPOCH_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Accounts:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    channel_id: uuid.UUID
    other_channel_id: uuid.UUID
    admin_id: uuid.UUID  # the partner admin who made the engagements
    agent_id: uuid.UUID  # the agent who answered in the threads


@dataclass
class Seeded:
    """How many end users there are; the other counts follow from it."""

    end_users: int = 0

    def _count(self, residues: tuple[int, ...], period: int) -> int:
        full, rest = divmod(self.end_users, period)
        return full * len(residues) + sum(1 for r in residues if 0 < r <= rest)

    @property
    def followers(self) -> int:
        return self._count((0,), FOLLOWER_EVERY)

    @property
    def threads(self) -> int:
        """Threads with the broadcast's channel."""
        return self._count(THREADS, THREAD_PERIOD)

    @property
    def follower_threads(self) -> int:
        return self._count(tuple(r for r in THREADS if r % FOLLOWER_EVERY == 0), THREAD_PERIOD)

    @property
    def other_threads(self) -> int:
        return self._count(OTHER_THREADS, THREAD_PERIOD)

    def audience(self, audience: Audience) -> int:
        """End users the broadcast reaches."""
        if audience == Audience.ALL_END_USERS:
            return self.end_users
        return self.end_users - self.followers

    def cards(self, audience: Audience) -> int:
        """Cards it posts: one in each of its audience's threads with the channel."""
        if audience == Audience.ALL_END_USERS:
            return self.threads
        return self.threads - self.follower_threads


async def create_accounts(database: Database) -> Accounts:
    """The tenant, the partner on the package allowing everything, its admin and an agent, and
    two channels with chat on, through the services."""
    async with database.transaction() as session:
        tenant = await create_tenant(session, slug="bench", name="Bench")
        package = await package_by_name(session, tenant.id, None)
        partner = await create_partner(
            session,
            tenant=tenant,
            name="Northwind Coffee Roasters",
            package=package,
            email="partner@bench.example",
        )
        staff = {
            role: await create_staff_user(
                session,
                tenant_id=tenant.id,
                partner_id=partner.id,
                role=role,
                email=f"{role.value}@bench.example",
                name=name,
                password=None,
            )
            for role, name in ((Role.PARTNER_ADMIN, "Paula Admin"), (Role.AGENT, "Arno Agent"))
        }
        channels = [
            Channel(
                tenant_id=tenant.id,
                partner_id=partner.id,
                name=name,
                description=f"{name} of {partner.name}",
                chat_enabled=True,
            )
            for name in ("Main", "Support")
        ]
        session.add_all(channels)
        await session.flush()
        return Accounts(
            tenant_id=tenant.id,
            partner_id=partner.id,
            partner_name=partner.name,
            channel_id=channels[0].id,
            other_channel_id=channels[1].id,
            admin_id=staff[Role.PARTNER_ADMIN].id,
            agent_id=staff[Role.AGENT].id,
        )


def uuid7_of(dialect: str, index: str, salt: int = 0) -> str:
    """SQL for a UUIDv7 made from the integer expression `index` (and `salt`, so a table can
    take several rows of one index): its time part grows with the index, so ids sort as the
    rows were written."""
    if dialect == "postgresql":
        return (
            f"(lpad(to_hex({_EPOCH_MS} + {index}), 12, '0') || '7' "
            f"|| lpad(to_hex({salt}), 3, '0') || '8' || lpad(to_hex({index}), 15, '0'))::uuid"
        )
    # SQLite keeps ids as 32 bare hex digits.
    return (
        f"(printf('%012x', {_EPOCH_MS} + {index}) || '7' || printf('%03x', {salt}) || '8' "
        f"|| printf('%015x', {index}))"
    )


def series_of(dialect: str, first: int, last: int) -> tuple[str, str]:
    """A `WITH` prefix and a `FROM` item giving `s.i` from `first` to `last`."""
    if dialect == "postgresql":
        return "", f"generate_series({first}, {last}) AS s(i)"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s WHERE i < {last}) ",
        "s",
    )


def _statements(dialect: str, first: int, last: int) -> list[str]:
    """The end users from `first` to `last`, their follows, threads and messages."""
    prefix, series = series_of(dialect, first, last)
    end_user = uuid7_of(dialect, "s.i")
    threads = " OR ".join(f"s.i % {THREAD_PERIOD} = {r}" for r in THREADS)
    other = " OR ".join(f"s.i % {THREAD_PERIOD} = {r}" for r in OTHER_THREADS)
    thread = f"CASE WHEN {threads} THEN :channel ELSE :other_channel END"
    conversation = uuid7_of(dialect, "s.i", 1)
    statements = [
        f"{prefix}INSERT INTO end_user (id, tenant_id, external_id, name, email, phone, "
        f"created_at) SELECT {end_user}, :tenant, 'user-' || s.i, 'End User ' || s.i, "
        f"'user' || s.i || '@bench.example', NULL, :created FROM {series}",
        f"{prefix}INSERT INTO follow (channel_id, end_user_id, tenant_id, partner_id, "
        f"created_at) SELECT :channel, {end_user}, :tenant, :partner, :created FROM {series} "
        f"WHERE s.i % {FOLLOWER_EVERY} = 0",
        f"{prefix}INSERT INTO conversation (id, tenant_id, partner_id, channel_id, end_user_id, "
        f"status, owner_id, finished_by_id, last_seq, last_message_at, opened_at, created_at) "
        f"SELECT {conversation}, :tenant, :partner, {thread}, {end_user}, 'finished', NULL, "
        f":agent, {MESSAGES_PER_THREAD}, :answered, :created, :created FROM {series} "
        f"WHERE {threads} OR {other}",
    ]
    for seq, (sender_type, sender_id, sender_name, body, at) in enumerate(
        (
            (
                "end_user",
                end_user,
                "'End User ' || s.i",
                "'Is the espresso blend back?'",
                "created",
            ),
            ("agent", ":agent", "'Arno Agent'", "'It is, since Monday.'", "answered"),
        ),
        start=1,
    ):
        statements.append(
            f"{prefix}INSERT INTO message (id, tenant_id, partner_id, conversation_id, seq, "
            f"kind, sender_type, sender_id, sender_name, body, created_at) "
            f"SELECT {uuid7_of(dialect, 's.i', 1 + seq)}, :tenant, :partner, {conversation}, "
            f"{seq}, 'text', '{sender_type}', {sender_id}, {sender_name}, {body}, :{at} "
            f"FROM {series} WHERE {threads} OR {other}"
        )
    return statements


def _parameters(accounts: Accounts, at: datetime) -> dict[str, Any]:
    return {
        "tenant": accounts.tenant_id,
        "partner": accounts.partner_id,
        "channel": accounts.channel_id,
        "other_channel": accounts.other_channel_id,
        "agent": accounts.agent_id,
        "created": at - timedelta(days=30),
        "answered": at - timedelta(days=30, minutes=-5),
    }


def bound(statement: str, parameters: dict[str, Any]) -> tuple[sa.TextClause, dict[str, Any]]:
    """The statement with the parameters it names, typed (ids, UTC timestamps)."""
    used = {name: value for name, value in parameters.items() if f":{name}" in statement}
    types = [
        sa.bindparam(name, type_=UTCDateTime() if isinstance(value, datetime) else sa.Uuid())
        for name, value in used.items()
    ]
    return sa.text(statement).bindparams(*types), used


async def grow(database: Database, accounts: Accounts, seeded: Seeded, size: int) -> None:
    """Adds end users (with their follows, threads and messages) until there are `size`; on
    PostgreSQL then VACUUM ANALYZE, as autovacuum would in production (statistics, and the
    visibility map for index-only scans). A relaydesk SQLite file gets no ANALYZE, so none
    here either."""
    dialect = "sqlite" if is_sqlite(database.url) else "postgresql"
    parameters = _parameters(accounts, now())
    async with database.engine.begin() as connection:
        for statement in _statements(dialect, seeded.end_users + 1, size):
            await connection.execute(*bound(statement, parameters))
    seeded.end_users = size
    if dialect == "postgresql":
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")


async def schedule(
    database: Database, accounts: Accounts, audience: Audience, title: str
) -> uuid.UUID:
    """A new active message engagement of the channel, its approved broadcast request, and the
    broadcast due since a minute ago (the approval workflow is not what is measured); the
    broadcast's id."""
    at = now()
    async with database.transaction() as session:
        engagement = Engagement(
            tenant_id=accounts.tenant_id,
            partner_id=accounts.partner_id,
            channel_id=accounts.channel_id,
            type=EngagementType.MESSAGE,
            title=title,
            description="Our spring blend is back, for a limited time.",
            status=EngagementStatus.ACTIVE,
            data={"text": "The spring blend is back: 10% off this week with code SPRING."},
            created_by_id=accounts.admin_id,
            published_at=at,
        )
        session.add(engagement)
        await session.flush()
        starts_at = at - timedelta(minutes=1)
        request = PartnerRequest(
            tenant_id=accounts.tenant_id,
            partner_id=accounts.partner_id,
            kind=RequestKind.BROADCAST,
            status=RequestStatus.APPROVED,
            subject_id=engagement.id,
            title=title,
            partner_name=accounts.partner_name,
            details={
                "channel_id": str(accounts.channel_id),
                "audience": audience.value,
                "starts_at": starts_at.isoformat(),
                "delivered_count": 0,
            },
            requested_by_id=accounts.admin_id,
            requested_at=at - timedelta(hours=1),
            decided_at=at - timedelta(minutes=2),
        )
        session.add(request)
        await session.flush()
        broadcast = Broadcast(
            tenant_id=accounts.tenant_id,
            partner_id=accounts.partner_id,
            request_id=request.id,
            engagement_id=engagement.id,
            channel_id=accounts.channel_id,
            audience=audience,
            starts_at=starts_at,
            state=BroadcastState.SCHEDULED,
        )
        session.add(broadcast)
        await session.flush()
        return broadcast.id
