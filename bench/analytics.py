"""The analytics suite: the chat-analytics reads on a partner with 100,000 chat sessions.

For each backend: a fresh database migrated by `relaydesk migrate`, the tenant and its partner
(with the partner admin who reads) from the CLI, then 90 days of one partner's chat seeded
straight into the tables (`relaydesk.models`), set-based: COPY on PostgreSQL, one executemany
transaction on SQLite. One `relaydesk serve --no-worker` process then answers sequential
requests over one keep-alive connection; `GET /healthz` (one `SELECT 1`) is the floor of a
request. On PostgreSQL the same 24-hour figures are also computed the naive way, by one query
over the message rows, and the summary's own queries are explained.
"""

import json
import math
import operator
import random
import re
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bench.servers import (
    DatabaseUrls,
    Server,
    clean_environment,
    free_port,
    postgresql_database,
    relaydesk_command,
    run_command,
    sqlite_database,
)
from relaydesk import models
from relaydesk.analytics import service
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.chat.models import ConversationStatus
from relaydesk.db import create_engine

PASSWORD = "bench-password"
ADMIN_EMAIL = "analyst@bench.example"
DAYS = 90
_NO_RESPONSE_SHARE = 0.03  # finished without anyone taking them: the end user went away
_TAKEN_OVER_SHARE = 0.05
_GAP_SECONDS = 60.0  # at least this long between a conversation's sessions
_LOW_62_BITS = (1 << 62) - 1
NAIVE_RUNS = 20
REQUEST_BUDGET_SECONDS = 60.0


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


async def _cli(env: dict[str, str], *argv: str) -> dict[str, Any]:
    return dict(json.loads(await run_command(relaydesk_command(*argv), env)))


async def create_accounts(env: dict[str, str]) -> Accounts:
    """A migrated database with the tenant, its partner and the partner admin who reads."""
    await run_command(relaydesk_command("migrate"), env)
    tenant = await _cli(
        env, "create-tenant", "bench", "--name", "Bench", "--admin-email",
        "admin@bench.example", "--admin-password", PASSWORD,
    )  # fmt: skip
    partner = await _cli(
        env, "create-partner", "--tenant", "bench", "--name", "Bench Partner",
        "--admin-email", ADMIN_EMAIL, "--admin-password", PASSWORD,
    )  # fmt: skip
    return Accounts(
        uuid.UUID(str(tenant["tenant_id"])),
        uuid.UUID(str(partner["partner_id"])),
        uuid.UUID(str(partner["admin_id"])),
    )


@dataclass(frozen=True)
class Timing:
    """One endpoint's latencies in seconds, from sequential requests."""

    name: str
    path: str
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    size: int  # bytes of the last answer

    @classmethod
    def of(cls, name: str, path: str, seconds: list[float], size: int) -> "Timing":
        ordered = sorted(seconds)

        def rank(q: float) -> float:  # nearest rank
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return cls(name, path, len(ordered), rank(0.5), rank(0.95), rank(0.99), ordered[-1], size)


async def _time_requests(
    client: httpx.AsyncClient, name: str, path: str, scale: Scale
) -> tuple[Timing, Any]:
    """`scale.warmup` requests, then up to `scale.requests` timed ones, one after another
    (fewer if they take over a minute in all); the timing and the last answer's body."""
    for _ in range(scale.warmup):
        _expect_ok(await client.get(path))
    seconds, deadline = [], time.monotonic() + REQUEST_BUDGET_SECONDS
    while len(seconds) < scale.requests and time.monotonic() < deadline:
        started = time.perf_counter()
        response = await client.get(path)
        seconds.append(time.perf_counter() - started)
        _expect_ok(response)
    return Timing.of(name, path, seconds, len(response.content)), response.json()


def _expect_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(
            f"GET {response.request.url} answered {response.status_code}: {response.text[:500]}"
        )


def endpoints(channel_id: uuid.UUID, today: date) -> list[tuple[str, str]]:
    """What is timed: the floor of a request, then the analytics reads."""
    base = "/api/v1/analytics/chat"
    month, year = today - timedelta(days=29), today - timedelta(days=365)
    return [
        ("healthz (baseline)", "/healthz"),
        ("summary, 24 h", f"{base}/summary?hours=24"),
        ("summary, 24 h, one channel", f"{base}/summary?hours=24&channel_id={channel_id}"),
        ("daily, 30 days", f"{base}/daily?from={month}&to={today}"),
        ("daily, 366 days", f"{base}/daily?from={year}&to={today}"),
    ]


async def measure(server: Server, seed: Seed, scale: Scale) -> list[Timing]:
    """Times every endpoint with a partner admin's bearer token; checks the summary's count
    of finished chats against the seed."""
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        response = await client.post(
            "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        )
        _expect_ok(response)
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        channel_id = seed.tables[0].rows[0][seed.tables[0].columns.index("id")]
        timings = []
        for name, path in endpoints(channel_id, datetime.now(UTC).date()):
            timing, body = await _time_requests(client, name, path, scale)
            timings.append(timing)
            _print(timing)
            if path.endswith("summary?hours=24"):
                _check_summary(body, seed)
        return timings


def _check_summary(body: dict[str, Any], seed: Seed) -> None:
    expected = seed.finished_since(datetime.fromisoformat(body["since"]))
    found = (body["finished"], body["active"], body["unanswered"])
    if found != (expected, seed.active, seed.unanswered):
        raise RuntimeError(
            f"the summary says finished, active, unanswered = {found}; the seed has "
            f"{(expected, seed.active, seed.unanswered)}"
        )


# The 24-hour figures the naive way, from the message rows alone: a session opens at a
# conversation's first message or a "reopened" line, gets its response at "taken" and ends
# at "finished", so every message of the partner is read and windowed per conversation.
_NAIVE_SQL = """
WITH line AS (
    SELECT m.conversation_id, m.created_at, m.activity ->> 'action' AS action,
           m.activity -> 'agent' ->> 'id' AS agent_id,
           max(m.created_at) FILTER (WHERE m.seq = 1 OR m.activity ->> 'action' = 'reopened')
               OVER w AS session_opened_at,
           max(m.created_at) FILTER (WHERE m.activity ->> 'action' = 'taken') OVER w AS taken_at
    FROM message m
    WHERE m.partner_id = $1
    WINDOW w AS (PARTITION BY m.conversation_id ORDER BY m.seq)
)
SELECT c.channel_id, line.agent_id,
       count(*) FILTER (WHERE action = 'finished') AS finished,
       sum(extract(epoch FROM line.created_at - taken_at))
           FILTER (WHERE action = 'finished' AND taken_at > session_opened_at) AS handling_total,
       count(*) FILTER (WHERE action = 'finished' AND taken_at > session_opened_at) AS handlings,
       sum(extract(epoch FROM line.created_at - session_opened_at))
           FILTER (WHERE action = 'taken') AS response_total,
       count(*) FILTER (WHERE action = 'taken') AS responses
FROM line JOIN conversation c ON c.id = line.conversation_id
WHERE line.created_at >= $2 AND line.action IN ('finished', 'taken')
GROUP BY c.channel_id, line.agent_id
"""


async def time_naive(dsn: str, accounts: Accounts, seed: Seed) -> Timing:
    """The naive query, one warm-up and NAIVE_RUNS timed runs on one connection; checks its
    count of finished chats against the seed."""
    connection = await asyncpg.connect(dsn)
    try:
        seconds, rows = [], []
        for run in range(NAIVE_RUNS + 1):
            since = datetime.now(UTC) - timedelta(hours=24)
            started = time.perf_counter()
            rows = await connection.fetch(_NAIVE_SQL, accounts.partner_id, since)
            if run:
                seconds.append(time.perf_counter() - started)
        finished = sum(row["finished"] for row in rows)
        if finished != seed.finished_since(since):
            raise RuntimeError(f"the naive query counts {finished} finished chats, the seed "
                               f"{seed.finished_since(since)}")  # fmt: skip
        return Timing.of("naive: one query over the messages", "", seconds, 0)
    finally:
        await connection.close()


def _print(timing: Timing) -> None:
    print(
        f"  {timing.name:36} {timing.count:4} × p50 {timing.p50 * 1000:7.1f} ms  p95 "
        f"{timing.p95 * 1000:7.1f} ms  p99 {timing.p99 * 1000:7.1f} ms",
        flush=True,
    )


@dataclass(frozen=True)
class Plan:
    """What EXPLAIN (ANALYZE, BUFFERS) says of one statement."""

    read: str
    statement: str  # the table read and the column its range is on
    scans: list[str]
    planning_ms: float
    execution_ms: float
    buffers: int


def _scans(node: dict[str, Any]) -> Iterator[str]:
    kind = node["Node Type"]
    if kind in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        target = node.get("Index Name") or node.get("Relation Name")
        loops = node.get("Actual Loops", 1)
        rows = node.get("Actual Rows", 0) * loops  # per loop (per process when parallel)
        if node.get("Parallel Aware"):
            kind, times = f"Parallel {kind}", f" in {loops} processes"
        else:
            times = f" ×{loops}" if loops > 1 else ""
        yield f"{kind} {'using' if 'Index' in kind else 'on'} `{target}`{times}: {rows:,} rows"
    for child in node.get("Plans", []):
        yield from _scans(child)


def _label(statement: str) -> str:
    """The table a statement reads, the column its range or filter is on, what it groups by."""
    words = statement.split()
    table = words[words.index("FROM") + 1] if "FROM" in words else "?"
    table = "the days × chat_session" if table == "(SELECT" else table
    label = table
    where = statement.partition("WHERE")[2] or statement.partition(" ON ")[2]
    for column in ("finished_at", "first_response_at", "opened_at", "status"):
        if f".{column}" in where:
            label = f"{table}, {column}"
            break
    grouped = re.search(r"GROUP BY (.+?)(?:\s+ORDER BY|\s+LIMIT|$)", statement, re.DOTALL)
    if grouped:
        keys = [key.strip().split(".")[-1] for key in grouped.group(1).split(",")]
        label += ", by " + ", ".join("day" if key == "n" else key for key in keys)
    return label


def _plan(read: str, statement: str, explained: dict[str, Any]) -> Plan:
    top = explained["Plan"]
    return Plan(
        read=read,
        statement=_label(statement),
        scans=list(_scans(top)),
        planning_ms=explained["Planning Time"],
        execution_ms=explained["Execution Time"],
        buffers=top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
    )


async def explain(url: str, accounts: Accounts, today: date) -> list[Plan]:
    """The summary's and the year's daily statements as the service issues them (captured
    from its engine), each run again under EXPLAIN (ANALYZE, BUFFERS)."""
    engine = create_engine(url)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    staff = StaffPrincipal(
        id=accounts.admin_id, tenant_id=accounts.tenant_id, partner_id=accounts.partner_id,
        email=ADMIN_EMAIL, name="Bench analyst", role=Role.PARTNER_ADMIN,
    )  # fmt: skip
    year = service.RangeQuery(first_day=today - timedelta(days=365), last_day=today)
    try:
        reads = {}
        sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
        async with AsyncSession(engine) as session:
            await service.chat_summary(session, staff, hours=24, channel_id=None)
            reads["summary, 24 h"], captured[:] = list(captured), []
            await service.chat_daily(session, staff, year)
            reads["daily, 366 days"] = list(captured)
        sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)
        plans = []
        async with engine.connect() as connection:
            for read, statements in reads.items():
                for statement, parameters in statements:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    result = await connection.exec_driver_sql(
                        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", parameters
                    )
                    raw = result.scalar_one()
                    (found,) = json.loads(raw) if isinstance(raw, str) else raw
                    plans.append(_plan(read, statement, found))
        return plans
    finally:
        await engine.dispose()


@dataclass
class Run:
    """One backend's measurement, or why it could not run."""

    backend: str
    seeded: dict[str, int] = field(default_factory=dict)
    seed_seconds: float = 0.0
    timings: list[Timing] = field(default_factory=list)
    naive: Timing | None = None
    plans: list[Plan] = field(default_factory=list)
    error: str | None = None


@asynccontextmanager
async def _database(backend: str, folder: Path, postgres_url: str) -> AsyncIterator[DatabaseUrls]:
    if backend == "sqlite":
        async with sqlite_database(folder) as urls:
            yield urls
    else:
        async with postgresql_database(postgres_url) as urls:
            yield urls


async def _seed(backend: str, database: DatabaseUrls, seed: Seed, now: datetime) -> int:
    """Writes the seed; returns the number of messages written with it."""
    if backend == "sqlite":
        await seed_sqlite(database.sqlalchemy, seed)
        return 0
    return await seed_postgresql(database.plain, seed, now)


async def run_backend(backend: str, name: str, postgres_url: str, scale: Scale) -> Run:
    """Seeds a fresh database, serves it and times the reads (see the module's docstring)."""
    run = Run(name)
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-analytics-") as folder_name:
        folder = Path(folder_name)
        async with _database(backend, folder, postgres_url) as database:
            env = clean_environment(
                RELAYDESK_DATABASE_URL=database.sqlalchemy,
                RELAYDESK_SECRET_KEY=secrets.token_urlsafe(32),
                RELAYDESK_DATA_DIR=str(folder / "var"),
            )
            accounts = await create_accounts(env)
            started, now = time.perf_counter(), datetime.now(UTC)
            seed = build_seed(accounts, scale, now)
            messages = await _seed(backend, database, seed, now)
            run.seed_seconds = time.perf_counter() - started
            run.seeded = {
                "channels": seed.count("channel"),
                "agents": seed.count("staff_user"),
                "end users": seed.count("end_user"),
                "conversations": seed.count("conversation"),
                "chat sessions": seed.count("chat_session"),
                "messages": messages,
                "finished in the last 24 h": seed.finished_since(now - timedelta(hours=24)),
                "active now": seed.active,
                "unanswered now": seed.unanswered,
            }
            print(f"  seeded in {run.seed_seconds:.1f} s: {run.seeded}", flush=True)
            port = free_port()
            argv = relaydesk_command("serve", "--host", "127.0.0.1", "--no-worker")
            server = Server([*argv, "--port", str(port)], env, port, folder / "server.log")
            try:
                await server.start()
                run.timings = await measure(server, seed, scale)
            except Exception:
                print(f"--- server.log (end) ---\n{server.log_tail()}")
                raise
            finally:
                await server.stop()
            if backend == "postgresql":
                run.naive = await time_naive(database.plain, accounts, seed)
                _print(run.naive)
                run.plans = await explain(database.sqlalchemy, accounts, now.date())
    return run
