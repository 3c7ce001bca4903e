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
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bench.analytics_seed import (
    Accounts,
    Scale,
    Seed,
    build_seed,
    seed_postgresql,
    seed_sqlite,
)
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
from relaydesk.analytics import service
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.db import create_engine

PASSWORD = "bench-password"
ADMIN_EMAIL = "analyst@bench.example"
NAIVE_RUNS = 20
REQUEST_BUDGET_SECONDS = 60.0


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
