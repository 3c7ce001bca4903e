"""The analytics suite's data: 90 days of one partner's chat sessions, their conversations and
messages, built in memory with consistent times and written set-based (COPY on PostgreSQL, one
executemany transaction on SQLite) into the tables of `relaydesk.models`.
"""

import math
import operator
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import sqlalchemy as sa

from relaydesk import models
from relaydesk.auth.permissions import Role
from relaydesk.chat.models import ConversationStatus
from relaydesk.db import create_engine

DAYS = 90
_NO_RESPONSE_SHARE = 0.03  # finished without anyone taking them: the end user went away
_TAKEN_OVER_SHARE = 0.05
_GAP_SECONDS = 60.0  # at least this long between a conversation's sessions
_LOW_62_BITS = (1 << 62) - 1


@dataclass(frozen=True)
class Scale:
    sessions: int
    end_users: int
    agents: int
    channels: int
    requests: int
    warmup: int


def scale(sessions: int, requests: int) -> Scale:
    """Two sessions per end user on average, one agent per 5,000 sessions (at least 3)."""
    return Scale(
        sessions=sessions,
        end_users=max(1, sessions // 2),
        agents=max(3, sessions // 5000),
        channels=4,
        requests=requests,
        warmup=max(2, requests // 40),
    )


class _Rows:
    """One table's rows in its column order, as COPY and executemany take them."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.columns = list(table.c.keys())
        self.rows: list[tuple[Any, ...]] = []
        self._in_order = operator.itemgetter(*self.columns)

    def add(self, **values: Any) -> None:
        if len(values) != len(self.columns):  # a column the seed does not know, or a typo
            raise KeyError(sorted(set(values) ^ set(self.columns)))
        self.rows.append(self._in_order(values))


@dataclass
class Seed:
    """Every seeded row, and the session times to check the answers against."""

    tables: list[_Rows]
    finished_at: list[datetime] = field(default_factory=list)
    active: int = 0
    unanswered: int = 0

    def count(self, name: str) -> int:
        return next(len(rows.rows) for rows in self.tables if rows.table.name == name)

    def finished_since(self, since: datetime) -> int:
        return sum(1 for at in self.finished_at if at >= since)


@dataclass(frozen=True)
class Accounts:
    tenant_id: uuid.UUID
    partner_id: uuid.UUID
    admin_id: uuid.UUID


class _Timing(NamedTuple):
    """A session's times in seconds from the start: opened, to first response (None: nobody
    took it), finished (later than now: still open)."""

    opened: float
    response: float | None
    finished: float

    @property
    def response_at(self) -> float:
        return math.inf if self.response is None else self.opened + self.response


def _opening_offsets(rng: random.Random, count: int) -> list[float]:
    """Seconds from the start of the 90 days, at a density rising linearly from 1 to 2, so
    about 1.5% fall in the last 24 hours: 1,500 of 100,000."""
    span = DAYS * 86400.0
    return sorted(span * (math.sqrt(1 + 3 * rng.random()) - 1) for _ in range(count))


def _lognormal(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return round(min(cap, rng.lognormvariate(math.log(median), sigma)), 3)


class _Seeder:
    """Builds the rows: channels, agents, end users following, one conversation each, and
    their chat sessions (the messages follow from these in SQL: `_MESSAGES_SQL`)."""

    def __init__(self, accounts: Accounts, scale: Scale, now: datetime) -> None:
        self.owner = {"tenant_id": accounts.tenant_id, "partner_id": accounts.partner_id}
        self.scale = scale
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.until = (now - self.start).total_seconds()
        self.rng = random.Random(15)
        self.rows = {
            table.name: _Rows(table)
            for table in (
                models.Channel.__table__,
                models.StaffUser.__table__,
                models.EndUser.__table__,
                models.Follow.__table__,
                models.Conversation.__table__,
                models.ChatSession.__table__,
            )
        }
        self.seed = Seed(list(self.rows.values()))

    def build(self) -> Seed:
        created = self.start - timedelta(days=1)
        channels = [self._id(created) for _ in range(self.scale.channels)]
        for index, channel_id in enumerate(channels):
            self.rows["channel"].add(
                id=channel_id, name=f"Channel {index}", description="", chat_enabled=True,
                created_at=created, **self.owner,
            )  # fmt: skip
        self.agents = [self._id(created) for _ in range(self.scale.agents)]
        for index, agent_id in enumerate(self.agents):
            name = f"Agent {index:02}"
            self.rows["staff_user"].add(
                id=agent_id, email=f"{name.replace(' ', '').lower()}@bench.example", name=name,
                role=Role.AGENT, password_hash=None, is_active=True, created_at=created,
                last_login_at=None, **self.owner,
            )  # fmt: skip
        tenant = {"tenant_id": self.owner["tenant_id"]}
        for index, sessions in enumerate(self._sessions_by_user()):
            user_id, channel_id = self._id(created), channels[index % len(channels)]
            self.rows["end_user"].add(
                id=user_id, external_id=f"user{index}", name=f"Bench user {index}", email=None,
                phone=None, created_at=created, **tenant,
            )  # fmt: skip
            self.rows["follow"].add(
                channel_id=channel_id, end_user_id=user_id, created_at=created, **self.owner
            )
            self._conversation(user_id, channel_id, sessions)
        return self.seed

    def _sessions_by_user(self) -> list[list[_Timing]]:
        """Each end user's sessions: at least one, the rest at random, never overlapping (a
        session still open is its user's last)."""
        count, users = self.scale.sessions, self.scale.end_users
        owners = list(range(users)) + [self.rng.randrange(users) for _ in range(count - users)]
        self.rng.shuffle(owners)
        busy_until = [-math.inf] * users
        by_user: list[list[_Timing]] = [[] for _ in range(users)]
        for index, opened in enumerate(_opening_offsets(self.rng, count)):
            for _attempt in range(50):  # swap with a later session's user until one is free
                if busy_until[owners[index]] <= opened - _GAP_SECONDS:
                    break
                other = self.rng.randrange(index, count)
                owners[index], owners[other] = owners[other], owners[index]
            else:  # the busy user has a session already; any free user takes this one
                free = [u for u in range(users) if busy_until[u] <= opened - _GAP_SECONDS]
                owners[index] = self.rng.choice(free)
            user = owners[index]
            timing = self._timing(opened)
            by_user[user].append(timing)
            busy_until[user] = math.inf if timing.finished > self.until else timing.finished
        return by_user

    def _timing(self, opened: float) -> _Timing:
        if self.rng.random() < _NO_RESPONSE_SHARE:
            return _Timing(opened, None, opened + _lognormal(self.rng, 600, 0.5, 3600))
        response = _lognormal(self.rng, 40, 1.0, 1800)
        finished = opened + response + _lognormal(self.rng, 420, 0.7, 4 * 3600)
        return _Timing(opened, response, finished)

    def _id(self, at: datetime) -> uuid.UUID:
        """A UUIDv7 of the row's own time, as relaydesk's ids are, from the seeded generator."""
        bits = self.rng.getrandbits(74)
        return uuid.UUID(
            int=(int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (bits >> 62 << 64)
            | (0b10 << 62) | (bits & _LOW_62_BITS)
        )  # fmt: skip

    def _at(self, offset: float) -> datetime:
        return self.start + timedelta(seconds=offset)

    def _conversation(
        self, user_id: uuid.UUID, channel_id: uuid.UUID, sessions: list[_Timing]
    ) -> None:
        conversation_id = self._id(self._at(sessions[0].opened))
        self.conversation = {"conversation_id": conversation_id, **self.owner}
        for timing in sessions:
            status, owner, finisher = self._session(channel_id, timing)
        last = sessions[-1]
        # Until the messages are written (PostgreSQL), the latest time the session knows of.
        last_at = max(t for t in (last.opened, last.response_at, last.finished) if t <= self.until)
        self.rows["conversation"].add(
            id=conversation_id, channel_id=channel_id, end_user_id=user_id, status=status,
            owner_id=owner, finished_by_id=finisher, last_seq=0,
            last_message_at=self._at(last_at), opened_at=self._at(last.opened),
            created_at=self._at(sessions[0].opened), **self.owner,
        )  # fmt: skip

    def _session(
        self, channel_id: uuid.UUID, timing: _Timing
    ) -> tuple[ConversationStatus, uuid.UUID | None, uuid.UUID | None]:
        """One session's row; the conversation's status, owner and finisher after it."""
        opened, response, finished = timing.opened, timing.response, timing.finished
        responder = agent = self.rng.choice(self.agents)
        taken, done = timing.response_at <= self.until, finished <= self.until
        if taken and done and self.rng.random() < _TAKEN_OVER_SHARE:
            agent = self.rng.choice([other for other in self.agents if other != responder])
        if done:
            self.seed.finished_at.append(self._at(finished))
        opened_at = self._at(opened)
        handling = finished - timing.response_at if response is not None and done else None
        self.rows["chat_session"].add(
            id=self._id(opened_at), channel_id=channel_id, opened_at=opened_at,
            first_response_at=self._at(timing.response_at) if taken else None,
            first_responder_id=responder if taken else None,
            finished_at=self._at(finished) if done else None,
            finished_by_id=agent if done else None, agent_id=agent if taken or done else None,
            response_seconds=response if taken else None,
            handling_seconds=None if handling is None else round(handling, 3),
            **self.conversation,
        )  # fmt: skip
        if done:
            return ConversationStatus.FINISHED, agent if taken else None, agent
        if taken:
            self.seed.active += 1
            return ConversationStatus.ACTIVE, agent, None
        self.seed.unanswered += 1
        return ConversationStatus.UNANSWERED, None, None


def build_seed(accounts: Accounts, scale: Scale, now: datetime) -> Seed:
    return _Seeder(accounts, scale, now).build()


# Every session's messages as a chat leaves them: the end user's opening text (after a
# "reopened" line from the second session on), the "taken" line and the agent's answer, the
# end user's reply, a "taken_over" line where another agent finished, the "finished" line;
# numbered per conversation in time order. $1 is the seed's now.
_MESSAGES_SQL = """
INSERT INTO message (id, tenant_id, partner_id, conversation_id, seq, kind, sender_type,
                     sender_id, sender_name, body, client_message_id, activity, engagement,
                     created_at)
SELECT gen_random_uuid(), tenant_id, partner_id, conversation_id,
       row_number() OVER (PARTITION BY conversation_id ORDER BY at, k),
       CASE WHEN action IS NULL THEN 'text' ELSE 'activity' END, sender_type, sender_id,
       sender_name, sender_name || ': ' || coalesce(action, 'a message of the chat'), NULL,
       CASE WHEN action IS NOT NULL THEN json_build_object(
           'action', action,
           'agent', CASE WHEN action <> 'reopened'
                         THEN json_build_object('id', sender_id, 'name', sender_name) END,
           'previous_owner', CASE WHEN action = 'taken_over'
                         THEN json_build_object('id', first_responder_id,
                                                'name', responder_name) END)
       END,
       NULL, at
FROM (
    SELECT s.*, e.id AS user_id, e.name AS user_name, r.name AS responder_name,
           a.name AS agent_name,
           row_number() OVER (PARTITION BY s.conversation_id ORDER BY s.opened_at) AS n,
           s.first_response_at + interval '20 seconds' AS answered_at,
           s.first_response_at + (coalesce(s.finished_at, $1) - s.first_response_at) / 2 AS mid
    FROM chat_session s
    JOIN conversation c ON c.id = s.conversation_id
    JOIN end_user e ON e.id = c.end_user_id
    LEFT JOIN staff_user r ON r.id = s.first_responder_id
    LEFT JOIN staff_user a ON a.id = s.agent_id
) s
CROSS JOIN LATERAL (VALUES
    (1, 'reopened', 'system', s.user_id, s.user_name, s.opened_at, s.n > 1),
    (2, NULL, 'end_user', s.user_id, s.user_name, s.opened_at, true),
    (3, 'taken', 'system', s.first_responder_id, s.responder_name, s.first_response_at,
     s.first_response_at IS NOT NULL),
    (4, NULL, 'agent', s.first_responder_id, s.responder_name, s.answered_at,
     s.answered_at <= $1),
    (5, NULL, 'end_user', s.user_id, s.user_name, s.mid, s.mid <= $1),
    (6, 'taken_over', 'system', s.agent_id, s.agent_name,
     s.mid + (s.finished_at - s.mid) / 2, s.agent_id <> s.first_responder_id),
    (7, 'finished', 'system', s.agent_id, s.agent_name, s.finished_at, s.finished_at IS NOT NULL)
) AS line(k, action, sender_type, sender_id, sender_name, at, present)
WHERE line.present
"""
_LAST_MESSAGE_SQL = """
UPDATE conversation SET last_seq = m.last_seq, last_message_at = m.last_at
FROM (SELECT conversation_id, max(seq) AS last_seq, max(created_at) AS last_at
      FROM message GROUP BY conversation_id) AS m
WHERE conversation.id = m.conversation_id
"""


async def seed_postgresql(dsn: str, seed: Seed, now: datetime) -> int:
    """COPY the rows, then the messages and the conversations' last message in SQL; returns
    the number of messages."""
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL work_mem = '256MB'")
            if await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = user"):
                # No foreign-key triggers per row (the seed is consistent by construction):
                # a bulk load's usual shortcut, open to superusers only.
                await connection.execute("SET LOCAL session_replication_role = replica")
            for rows in seed.tables:
                await connection.copy_records_to_table(
                    rows.table.name, records=rows.rows, columns=rows.columns
                )
            status = await connection.execute(_MESSAGES_SQL, now)
            await connection.execute(_LAST_MESSAGE_SQL)
        await connection.execute("VACUUM ANALYZE")
        return int(status.rsplit(" ", 1)[1])
    finally:
        await connection.close()


async def seed_sqlite(url: str, seed: Seed) -> None:
    """The same rows (no messages) through SQLAlchemy, one executemany per table, in one
    transaction."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for rows in seed.tables:
                values = [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]
                await connection.execute(sa.insert(rows.table), values)
        async with engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
