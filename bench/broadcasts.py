"""The broadcasts suite: how fast the worker delivers one broadcast to every end user of a
tenant, and that its memory stays flat however many there are.

For each backend: a fresh database migrated in this process (`relaydesk.migrate`), a tenant,
partner, staff and two channels through the services, and the end users written set-based
(bench/broadcasts_seed.py). For each size (PostgreSQL: 100,000 end users, then 1,000,000) the
end users grow to it and the baseline is timed: one bare `INSERT … SELECT` of as many
delivery-shaped rows into a scratch table without indexes, the database's own insert speed.
Then, for each batch size, a broadcast of a new engagement to all end users is scheduled and
`deliver_due_broadcasts` runs in this process until it is done, while a thread reads this
process's resident memory every 20 ms (and the kernel's record of the peak, reset before).
At the largest size a broadcast to the channel's non-followers follows, at the batch size that
was fastest. Each delivery is checked: its count, no end user twice, an activity line per
delivery, and a card in exactly the audience's threads with the channel.

A delivery that runs past its budget is paused by the worker itself (its own time budget) and
recorded as unfinished; a statement running past `STATEMENT_TIMEOUT_SECONDS` is cancelled by
PostgreSQL. Either way the broadcast is then stopped, so the next one starts on its own.
"""

import os
import re
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from bench import broadcasts_seed
from bench.exports import _reset_kernel_peak, _Sampler, _status_kib
from bench.servers import postgresql_database, sqlite_database
from relaydesk.broadcasts.delivery import BATCH, deliver_due_broadcasts
from relaydesk.broadcasts.models import Audience, Broadcast, BroadcastState
from relaydesk.clock import now
from relaydesk.db import Database, is_sqlite, uuid7_in_sql
from relaydesk.migrate import migrate
from relaydesk.realtime.bus import MemoryBus

TARGET_SECONDS = 60.0  # for 1,000,000 end users on PostgreSQL
TARGET_END_USERS = 1_000_000
# Batch sizes tried besides the worker's own (`delivery.BATCH`).
OTHER_BATCHES = (20_000, 100_000)
# A statement this slow has lost the target on its own; PostgreSQL cancels it.
STATEMENT_TIMEOUT_SECONDS = 60
SQLITE_SHARE = 10  # SQLite gets a tenth of PostgreSQL's end users
_FROM = re.compile(r"\bFROM (\w+)")


def default_batches() -> list[int]:
    return sorted({BATCH, *OTHER_BATCHES})


@dataclass(frozen=True)
class StatementTime:
    """The statements of one kind a delivery ran, and the time they took in all."""

    name: str
    count: int
    seconds: float
    longest: float


@dataclass(frozen=True)
class Delivery:
    """One broadcast delivered (whole, unless `error` says why not), and this process's memory
    meanwhile (KiB)."""

    audience: Audience
    end_users: int  # seeded when it ran
    audience_size: int
    delivered: int
    cards: int
    batch: int
    seconds: float
    rss_before: int
    rss_peak: int  # the highest sample
    kernel_peak: int | None  # VmHWM after it was reset before the delivery
    samples: int
    cpu_seconds: float  # this process's
    machine_cpu_seconds: float  # every process's: PostgreSQL, and whatever else ran
    statements: list[StatementTime]
    error: str | None = None
    warmup: bool = False  # the process's first: pays for what runs once

    @property
    def finished(self) -> bool:
        return self.error is None

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds

    @property
    def peak(self) -> int:
        """The highest resident memory seen by either measure."""
        return max(self.rss_peak, self.kernel_peak or 0)


@dataclass(frozen=True)
class Baseline:
    """A bare `INSERT … SELECT` of as many delivery-shaped rows into a table without indexes."""

    rows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class Run:
    """One backend's deliveries, or why it could not run."""

    backend: str
    settings: str = ""  # the database's, as they bear on bulk writes
    seeded: list[tuple[int, float]] = field(default_factory=list)  # size, seconds
    baselines: list[Baseline] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    error: str | None = None

    def baseline_for(self, end_users: int) -> Baseline | None:
        return next((b for b in self.baselines if b.rows == end_users), None)


def _machine_busy_seconds() -> float:
    """CPU seconds the machine's cores have been busy so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _kind(statement: str) -> str:
    """What a statement does to which table ("INSERT message", "UPDATE conversation"); a
    SELECT by the first table it reads."""
    words = statement.split(None, 3)
    if words[0] == "INSERT":
        return f"INSERT {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    read = _FROM.search(statement)
    return f"{words[0]} {read.group(1) if read else ''}".strip()


class _StatementClock:
    """The time each kind of statement takes, from the engine's cursor events."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seconds = time.perf_counter() - conn.info.pop("bench_started")
        self.times.setdefault(_kind(statement), []).append(seconds)

    def _failed(self, context: Any) -> None:
        """A statement that failed (cancelled by the statement timeout) counts too."""
        info = context.connection.info if context.connection is not None else {}
        if "bench_started" in info and context.statement:
            seconds = time.perf_counter() - info.pop("bench_started")
            self.times.setdefault(f"{_kind(context.statement)} (failed)", []).append(seconds)

    @contextmanager
    def listening(self, database: Database) -> Iterator["_StatementClock"]:
        engine = database.engine.sync_engine
        hooks = (
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._failed),
        )
        for name, hook in hooks:
            sa.event.listen(engine, name, hook)
        try:
            yield self
        finally:
            for name, hook in hooks:
                sa.event.remove(engine, name, hook)

    def summary(self) -> list[StatementTime]:
        return sorted(
            (
                StatementTime(name, len(times), sum(times), max(times))
                for name, times in self.times.items()
            ),
            key=lambda statement: -statement.seconds,
        )


@asynccontextmanager
async def _autocommit(database: Database) -> AsyncIterator[Any]:
    async with database.engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


async def _checkpoint(database: Database) -> None:
    """Writes out what earlier work left in PostgreSQL's buffers, so it is not charged to the
    next measurement (a superuser's command; skipped otherwise)."""
    if is_sqlite(database.url):
        return
    async with _autocommit(database) as connection:
        if await connection.scalar(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = user")):
            await connection.exec_driver_sql("CHECKPOINT")


async def settings(database: Database) -> str:
    """The PostgreSQL settings that bear on a bulk write and on its plans."""
    names = (
        "shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "autovacuum",
        "default_statistics_target", "jit",
    )  # fmt: skip
    async with database.engine.connect() as connection:
        values = [await connection.scalar(sa.text(f"SHOW {name}")) for name in names]
    return ", ".join(f"{name} {value}" for name, value in zip(names, values, strict=True))


def _compiled(database: Database, element: sa.ColumnElement[Any]) -> str:
    dialect = sqlite.dialect() if is_sqlite(database.url) else postgresql.dialect()
    return str(element.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


async def baseline(database: Database, accounts: broadcasts_seed.Accounts, rows: int) -> Baseline:
    """`rows` rows shaped as engagement deliveries (their ids made as the delivery makes them)
    written by one bare `INSERT … SELECT` into a scratch table without indexes or constraints:
    how fast this database inserts, with none of the delivery's reads, indexes or checks."""
    dialect = "sqlite" if is_sqlite(database.url) else "postgresql"
    ids = _compiled(database, uuid7_in_sql(dialect, now()))
    end_user = broadcasts_seed.uuid7_of(dialect, "s.i")
    prefix, series = broadcasts_seed.series_of(dialect, 1, rows)
    insert = (
        f"{prefix}INSERT INTO bench_scratch (id, tenant_id, partner_id, engagement_id, "
        "end_user_id, channel_id, engagement_type, state, received_at) "
        f"SELECT {ids}, :tenant, :partner, :channel, {end_user}, :channel, 'message', "
        f"'received', :at FROM {series}"
    )
    parameters = {
        "tenant": accounts.tenant_id, "partner": accounts.partner_id,
        "channel": accounts.channel_id, "at": now(),
    }  # fmt: skip
    async with database.engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE TABLE bench_scratch AS SELECT * FROM engagement_delivery WHERE 1 = 0"
        )
    await _checkpoint(database)
    try:
        started = time.perf_counter()
        async with database.engine.begin() as connection:
            await connection.execute(*broadcasts_seed.bound(insert, parameters))
        seconds = time.perf_counter() - started
    finally:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE bench_scratch")
    return Baseline(rows, seconds)


def _worker_database(url: str) -> Database:
    """A database as the worker has it (its own pool, a bus for the cards' events), whose
    PostgreSQL statements give up after STATEMENT_TIMEOUT_SECONDS."""
    database = Database(url, MemoryBus())
    if not is_sqlite(url):

        def time_out(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_SECONDS * 1000}")
            cursor.close()

        sa.event.listen(database.engine.sync_engine, "connect", time_out)
    return database


def _uuid_parameters(statement: str, **values: Any) -> tuple[sa.TextClause, dict[str, Any]]:
    clause = sa.text(statement).bindparams(
        *(sa.bindparam(name, type_=sa.Uuid()) for name in values)
    )
    return clause, values


async def _counts(
    database: Database, accounts: broadcasts_seed.Accounts, broadcast_id: uuid.UUID
) -> dict[str, Any]:
    """What the broadcast left in the database."""
    seeded_seq = broadcasts_seed.MESSAGES_PER_THREAD
    async with database.transaction() as session:
        broadcast = await session.get_one(Broadcast, broadcast_id)
        deliveries, end_users, activity = (
            await session.execute(
                *_uuid_parameters(
                    "SELECT count(DISTINCT d.id), count(DISTINCT d.end_user_id), count(a.id) "
                    "FROM engagement_delivery d LEFT JOIN engagement_activity a "
                    "ON a.delivery_id = d.id AND a.kind = 'received' WHERE d.broadcast_id = :b",
                    b=broadcast_id,
                )
            )
        ).one()
        cards, moved, other = (
            await session.execute(
                *_uuid_parameters(
                    "SELECT (SELECT count(*) FROM message m JOIN conversation c "
                    "ON c.id = m.conversation_id WHERE m.kind = 'engagement' AND c.channel_id = "
                    f":channel AND m.engagement IS NOT NULL), (SELECT coalesce(sum(last_seq - "
                    f"{seeded_seq}), 0) FROM conversation WHERE channel_id = :channel), "
                    f"(SELECT count(*) FROM conversation WHERE channel_id = :other AND "
                    f"last_seq <> {seeded_seq})",
                    channel=accounts.channel_id,
                    other=accounts.other_channel_id,
                )
            )
        ).one()
    return {
        "state": broadcast.state,
        "total": broadcast.total,
        "delivered_count": broadcast.delivered_count,
        "deliveries": deliveries,
        "end users": end_users,
        "activity lines": activity,
        "cards (all broadcasts)": cards,
        "threads moved on (all broadcasts)": moved,
        "other channel's threads moved on": other,
    }


def _check(found: dict[str, Any], wanted: dict[str, Any], broadcast_id: uuid.UUID) -> None:
    wrong = {key: (found[key], value) for key, value in wanted.items() if found[key] != value}
    if wrong:
        raise RuntimeError(f"broadcast {broadcast_id}: found (and expected) {wrong}")


async def _stop(database: Database, broadcast_id: uuid.UUID) -> None:
    """Ends an unfinished broadcast, so the next one is not queued behind it."""
    async with database.transaction() as session:
        broadcast = await session.get_one(Broadcast, broadcast_id)
        broadcast.state, broadcast.lease_until = BroadcastState.STOPPED, None
        broadcast.finished_at, broadcast.stopped_reason = now(), "Stopped by the bench."


async def deliver(
    url: str,
    accounts: broadcasts_seed.Accounts,
    seeded: broadcasts_seed.Seeded,
    audience: Audience,
    batch: int,
    budget_seconds: float,
    cards_before: int,
) -> Delivery:
    """Schedules a broadcast of a new engagement to `audience`, delivers it in this process
    while sampling this process's memory, and checks what it left."""
    database = _worker_database(url)
    try:
        title = f"Spring blend to {seeded.end_users:,} ({audience.value}, batch {batch:,})"
        broadcast_id = await broadcasts_seed.schedule(database, accounts, audience, title)
        await _checkpoint(database)
        pid, clock, error = os.getpid(), _StatementClock(), None
        rss_before, reset = _status_kib(pid, "VmRSS"), _reset_kernel_peak(pid)
        cpu_before, busy_before = time.process_time(), _machine_busy_seconds()
        started = time.perf_counter()
        with _Sampler(pid).running() as sampler, clock.listening(database):
            try:
                if await deliver_due_broadcasts(
                    database, batch=batch, budget_seconds=budget_seconds
                ):
                    error = f"not done after its budget of {budget_seconds:.0f} s"
            except DBAPIError as failure:  # the statement timeout
                error = str(failure.orig).splitlines()[0]
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_before
        busy = _machine_busy_seconds() - busy_before
        kernel_peak = _status_kib(pid, "VmHWM") if reset else None
        found = await _counts(database, accounts, broadcast_id)
        delivered = found["delivered_count"]
        cards = found["cards (all broadcasts)"] - cards_before
        wanted: dict[str, Any] = {
            "deliveries": delivered, "end users": delivered, "activity lines": delivered,
            "threads moved on (all broadcasts)": found["cards (all broadcasts)"],
            "other channel's threads moved on": 0,
        }  # fmt: skip
        if error is None:
            expected = seeded.audience(audience)
            wanted |= {"state": BroadcastState.DONE, "total": expected, "delivered_count": expected}
            wanted["cards (all broadcasts)"] = cards_before + seeded.cards(audience)
        else:
            await _stop(database, broadcast_id)
        _check(found, wanted, broadcast_id)
    finally:
        await database.dispose()
    return Delivery(
        audience=audience, end_users=seeded.end_users, audience_size=seeded.audience(audience),
        delivered=delivered, cards=cards, batch=batch, seconds=seconds, rss_before=rss_before,
        rss_peak=sampler.peak, kernel_peak=kernel_peak, samples=sampler.samples,
        cpu_seconds=cpu_seconds, machine_cpu_seconds=busy, statements=clock.summary(),
        error=error,
    )  # fmt: skip


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def print_delivery(delivery: Delivery) -> None:
    done = "" if delivery.finished else f" NOT DONE ({delivery.error})"
    done += " (warm-up)" if delivery.warmup else ""
    print(
        f"  {delivery.audience.value:14} batch {delivery.batch:7,}: {delivery.delivered:9,} of "
        f"{delivery.audience_size:,} delivered ({delivery.cards:,} cards) in "
        f"{delivery.seconds:6.1f} s, {delivery.per_second:7,.0f}/s{done}; RSS before "
        f"{_mib(delivery.rss_before)}, peak {_mib(delivery.rss_peak)} (kernel "
        f"{_mib(delivery.kernel_peak or 0)}, {delivery.samples} samples); CPU: this process "
        f"{delivery.cpu_seconds:.1f} s, machine {delivery.machine_cpu_seconds:.1f} s",
        flush=True,
    )
    for statement in delivery.statements[:6]:
        print(f"    {statement.name:28} {statement.count:6,}× {statement.seconds:7.2f} s")


@asynccontextmanager
async def _database(backend: str, folder: Path, postgres_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database, disposed of (and on PostgreSQL dropped) afterwards."""
    urls = sqlite_database(folder) if backend == "sqlite" else postgresql_database(postgres_url)
    async with urls as names:
        database = Database(names.sqlalchemy)
        try:
            await migrate(database.engine)
            yield database
        finally:
            await database.dispose()


def sizes_for(backend: str, sizes: Sequence[int]) -> list[int]:
    if backend == "sqlite":
        return sorted({max(1, size // SQLITE_SHARE) for size in sizes})
    return list(sizes)


async def run_backend(
    backend: str,
    name: str,
    postgres_url: str,
    sizes: Sequence[int],
    batches: Sequence[int],
    budget_seconds: float,
) -> Run:
    """A fresh database; at each size the seed grown, the baseline, and a broadcast to all end
    users per batch size; at the largest one to the non-followers too (see the module's
    docstring). A failure is recorded in the result, with what was measured before it."""
    run = Run(name)
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-broadcasts-") as folder:
        try:
            await _measure(run, backend, Path(folder), postgres_url, sizes, batches, budget_seconds)
        except Exception as error:  # keep what was measured
            traceback.print_exc()
            run.error = str(error).splitlines()[0] if str(error) else repr(error)
    return run


async def _grow(
    run: Run,
    database: Database,
    accounts: broadcasts_seed.Accounts,
    seeded: broadcasts_seed.Seeded,
    size: int,
) -> None:
    """The end users grown to `size`, then the baseline at that size."""
    started = time.perf_counter()
    await broadcasts_seed.grow(database, accounts, seeded, size)
    run.seeded.append((size, time.perf_counter() - started))
    print(
        f"  seeded {size:,} end users in {run.seeded[-1][1]:.1f} s: {seeded.followers:,} "
        f"following, {seeded.threads:,} threads with the channel",
        flush=True,
    )
    run.baselines.append(await baseline(database, accounts, size))
    print(
        f"  baseline: {size:,} rows in {run.baselines[-1].seconds:.2f} s "
        f"({run.baselines[-1].per_second:,.0f}/s)",
        flush=True,
    )


async def _measure(
    run: Run,
    backend: str,
    folder: Path,
    postgres_url: str,
    sizes: Sequence[int],
    batches: Sequence[int],
    budget_seconds: float,
) -> None:
    async with _database(backend, folder, postgres_url) as database:
        if backend != "sqlite":
            run.settings = await settings(database)
        accounts = await broadcasts_seed.create_accounts(database)
        seeded, cards = broadcasts_seed.Seeded(), 0

        async def measure(audience: Audience, batch: int, warmup: bool = False) -> Delivery:
            nonlocal cards
            delivery = await deliver(
                database.url, accounts, seeded, audience, batch, budget_seconds, cards
            )
            cards += delivery.cards
            run.deliveries.append(replace(delivery, warmup=warmup))
            print_delivery(run.deliveries[-1])
            return run.deliveries[-1]

        chosen = sizes_for(backend, sizes)
        for size in chosen:
            await _grow(run, database, accounts, seeded, size)
            if size == chosen[0]:
                # The process's first delivery also pays for what runs once (statements
                # compiled and cached, code run for the first time): left out of the verdict.
                await measure(Audience.ALL_END_USERS, batches[0], warmup=True)
            done = [await measure(Audience.ALL_END_USERS, batch) for batch in batches]
        finished = [delivery for delivery in done if delivery.finished]
        if finished:
            fastest = min(finished, key=lambda delivery: delivery.seconds)
            await measure(Audience.NON_FOLLOWERS, fastest.batch)
