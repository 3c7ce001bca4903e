"""The exports suite: the streamed CSV downloads keep the server's memory flat, however many
rows the file holds.

For each backend: a fresh database migrated by `relaydesk migrate`, a tenant and its admin
from the CLI, the tenant's catalogue written straight into the tables, and one
`relaydesk serve --no-worker` process. For each size (10,000 rows, then 100,000) the partners
and partner requests grow to that size, set-based (bench/exports_seed.py), and each export is
downloaded whole over one streamed httpx response while a thread reads the server's resident
memory (VmRSS in /proc/<pid>/status) every 20 ms, and another connection times `GET /healthz`
every 100 ms. The kernel's own record of the peak (VmHWM, reset before each download) shows
whether the sampling missed one. `GET /healthz` and the idle server's memory, in the same run,
are the baseline.
"""

import asyncio
import csv
import json
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import exports_seed
from bench.analytics import Timing
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
from relaydesk.approvals import workflow
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.db import Database, is_sqlite
from relaydesk.exports import BATCH_SIZE
from relaydesk.tenancy import partners

PASSWORD = "bench-password"
ADMIN_EMAIL = "admin@bench.example"
SAMPLE_SECONDS = 0.020
HEALTHZ_REQUESTS = 100
HEALTHZ_WARMUP = 5
PROBE_SECONDS = 0.100  # between the GET /healthz sent while an export streams
# What a spreadsheet would run as a formula: no cell of an export may start with it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    """One CSV download, and which of the seed's counts its rows must match."""

    name: str
    path: str
    header: Sequence[str]
    rows_of: str  # the attribute of `exports_seed.Seeded` counting its rows

    def expected(self, seeded: exports_seed.Seeded) -> tuple[int, int]:
        """Rows, and rows whose first cell is a name starting with "="."""
        return getattr(seeded, self.rows_of), getattr(seeded, f"formula_{self.rows_of}")


EXPORTS = (
    Export(
        "partner requests", "/api/v1/tenant/requests/export.csv", workflow.EXPORT_HEADER,
        "requests",
    ),
    Export("partners", "/api/v1/tenant/partners/export.csv", partners.EXPORT_HEADER, "partners"),
)  # fmt: skip


@dataclass(frozen=True)
class Download:
    """One export downloaded whole, and the server's memory meanwhile (KiB)."""

    export: str
    rows: int
    size: int  # bytes of the file
    seconds: float
    first_byte_seconds: float
    rss_before: int
    rss_peak: int  # the highest sample
    kernel_peak: int | None  # VmHWM after it was reset before the download
    samples: int
    cpu_seconds: float  # the server's, during the download
    healthz: Timing  # GET /healthz on another connection meanwhile
    warmup: bool = False  # the first of its export: pays for what runs once

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def peak(self) -> int:
        """The highest resident memory seen by either measure."""
        return max(self.rss_peak, self.kernel_peak or 0)


@dataclass
class Run:
    """One backend's downloads, or why it could not run."""

    backend: str
    idle_rss: int = 0  # KiB, after start, sign-in and the healthz requests
    healthz: Timing | None = None
    seeded: list[tuple[int, float, str]] = field(default_factory=list)  # size, seconds, what
    downloads: list[Download] = field(default_factory=list)
    plans: list[tuple[str, str, str]] = field(default_factory=list)  # export, table, plan
    error: str | None = None


class _Server(Server):
    @property
    def pid(self) -> int:
        """The server's process id: `relaydesk serve` with one worker serves in-process."""
        assert self._process is not None
        return self._process.pid


def _status_kib(pid: int, key: str) -> int:
    """One "kB" field of /proc/<pid>/status (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


def _reset_kernel_peak(pid: int) -> bool:
    """Sets VmHWM back to the current VmRSS; False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class _Sampler:
    """VmRSS every SAMPLE_SECONDS from a thread of its own, so a busy event loop in this
    process does not space the samples out."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, _status_kib(self.pid, "VmRSS"))
            self.samples += 1
            if self._stop.wait(SAMPLE_SECONDS):
                return

    @contextmanager
    def running(self) -> Iterator["_Sampler"]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()  # the thread ends at its next wait
            self._thread.join()


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


async def _receive(client: httpx.AsyncClient, path: str, file: Any) -> tuple[int, float]:
    """Streams `path` into `file`; the bytes received and the seconds to the first of them."""
    size, first_byte, started = 0, 0.0, time.perf_counter()
    async with client.stream("GET", path) as response:
        if response.status_code != 200:
            await response.aread()
            _checked(response)
        async for chunk in response.aiter_bytes():
            if not size:
                first_byte = time.perf_counter() - started
            size += len(chunk)
            file.write(chunk)
    return size, first_byte


def _check_file(path: Path, export: Export, seeded: exports_seed.Seeded) -> int:
    """The file's rows (after the header) match the seed, and no cell would run as a formula;
    returns the number of rows."""
    rows, formulas = 0, 0
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header != list(export.header):
            raise RuntimeError(f"{export.path}: the first line is {header}, not the header")
        for row in reader:
            rows += 1
            formulas += row[0].startswith("'=")
            unsafe = [cell for cell in row if cell.startswith(_FORMULA_START)]
            if unsafe:
                raise RuntimeError(f"{export.path}: row {rows} has unescaped cells {unsafe}")
    if (rows, formulas) != export.expected(seeded):
        raise RuntimeError(
            f"{export.path}: {rows} rows, {formulas} escaped formulas; the seed has "
            f"{export.expected(seeded)}"
        )
    return rows


async def _probe(client: httpx.AsyncClient, stop: asyncio.Event) -> Timing:
    """`GET /healthz` every PROBE_SECONDS until `stop` is set (at least once): how long
    another request waits while an export streams."""
    seconds: list[float] = []
    while not seconds or not stop.is_set():
        started = time.perf_counter()
        _checked(await client.get("/healthz"))
        seconds.append(time.perf_counter() - started)
        await asyncio.sleep(PROBE_SECONDS)
    return Timing.of("healthz meanwhile", "/healthz", seconds, 0)


async def download(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    server: _Server,
    export: Export,
    seeded: exports_seed.Seeded,
    folder: Path,
) -> Download:
    """Downloads the whole export over the first client, sampling the server's memory and
    timing `GET /healthz` over the second meanwhile, and checks the file."""
    path, stop = folder / "export.csv", asyncio.Event()
    rss_before, reset = _status_kib(server.pid, "VmRSS"), _reset_kernel_peak(server.pid)
    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    probing = asyncio.create_task(_probe(clients[1], stop))
    try:
        with _Sampler(server.pid).running() as sampler, path.open("wb") as file:
            size, first_byte = await _receive(clients[0], export.path, file)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        healthz = await probing
    cpu_seconds = server.cpu_seconds() - cpu_before
    kernel_peak = _status_kib(server.pid, "VmHWM") if reset else None
    rows = _check_file(path, export, seeded)
    path.unlink()
    return Download(
        export=export.name, rows=rows, size=size, seconds=seconds, first_byte_seconds=first_byte,
        rss_before=rss_before, rss_peak=sampler.peak, kernel_peak=kernel_peak,
        samples=sampler.samples, cpu_seconds=cpu_seconds, healthz=healthz,
    )  # fmt: skip


async def time_healthz(client: httpx.AsyncClient) -> Timing:
    """`GET /healthz` (one `SELECT 1`), the floor of a request, one after another."""
    for _ in range(HEALTHZ_WARMUP):
        _checked(await client.get("/healthz"))
    seconds = []
    for _ in range(HEALTHZ_REQUESTS):
        started = time.perf_counter()
        response = _checked(await client.get("/healthz"))
        seconds.append(time.perf_counter() - started)
    return Timing.of("healthz (baseline)", "/healthz", seconds, len(response.content))


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _print(download: Download, idle_rss: int) -> None:
    name = f"{download.export}{' (warm-up)' if download.warmup else ''}"
    print(
        f"  {name:26} {download.rows:7,} rows {download.size / 2**20:6.1f} MiB in "
        f"{download.seconds:6.2f} s ({download.rows_per_second:7,.0f} rows/s, first byte "
        f"{download.first_byte_seconds * 1000:.0f} ms)  RSS before {_mib(download.rss_before)}, "
        f"peak {_mib(download.rss_peak)} (kernel {_mib(download.kernel_peak or 0)}, "
        f"{download.samples} samples), peak − idle {_mib(download.peak - idle_rss)}; healthz "
        f"meanwhile p50 {download.healthz.p50 * 1000:.0f} ms, max "
        f"{download.healthz.max * 1000:.0f} ms",
        flush=True,
    )


@asynccontextmanager
async def _database(backend: str, folder: Path, postgres_url: str) -> AsyncIterator[DatabaseUrls]:
    if backend == "sqlite":
        async with sqlite_database(folder) as urls:
            yield urls
    else:
        async with postgresql_database(postgres_url) as urls:
            yield urls


async def _create_tenant(env: dict[str, str]) -> tuple[uuid.UUID, uuid.UUID]:
    """A migrated database with the tenant and its admin; their ids."""
    await run_command(relaydesk_command("migrate"), env)
    argv = relaydesk_command(
        "create-tenant", "bench", "--name", "Bench", "--admin-email", ADMIN_EMAIL,
        "--admin-password", PASSWORD,
    )  # fmt: skip
    created: dict[str, Any] = json.loads(await run_command(argv, env))
    return uuid.UUID(str(created["tenant_id"])), uuid.UUID(str(created["admin_id"]))


async def _measure(
    run: Run,
    server: _Server,
    database: DatabaseUrls,
    catalogue: exports_seed.Catalogue,
    sizes: Sequence[int],
    folder: Path,
) -> None:
    """The baseline, then for each size the seed grown to it and every export downloaded."""
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=120) as client,
        httpx.AsyncClient(base_url=server.url, timeout=120) as prober,
    ):
        response = _checked(
            await client.post(
                "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": PASSWORD}
            )
        )
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        run.healthz = await time_healthz(client)
        run.idle_rss = _status_kib(server.pid, "VmRSS")
        print(
            f"  idle server: RSS {_mib(run.idle_rss)}, GET /healthz p50 "
            f"{run.healthz.p50 * 1000:.1f} ms",
            flush=True,
        )
        seeded = exports_seed.Seeded()
        for size in sizes:
            started = time.perf_counter()
            await exports_seed.grow(database.sqlalchemy, catalogue, seeded, size)
            counts = ", ".join(f"{count:,} {name}" for name, count in exports_seed.counts(seeded))
            run.seeded.append((size, time.perf_counter() - started, counts))
            print(f"  seeded up to {size:,} in {run.seeded[-1][1]:.1f} s: {counts}", flush=True)
            # The first download of each export also pays for what a process does once
            # (statements compiled and cached, code paths run for the first time).
            for warmup in (True, False) if size == sizes[0] else (False,):
                for export in EXPORTS:
                    measured = await download((client, prober), server, export, seeded, folder)
                    run.downloads.append(replace(measured, warmup=warmup))
                    _print(run.downloads[-1], run.idle_rss)


_KEYSET = re.compile(r"\.id > ")
_COST = re.compile(r"\s+\(cost=[^)]*\)")
_LITERAL = re.compile(r"'[^']*'(::[\w\[\]]+)?")  # the values PostgreSQL shows in a plan
_TABLE = re.compile(r"\bFROM\s+(\w+)")


async def _second_batch(
    database: Database, rows: AsyncIterator[Sequence[object]]
) -> list[tuple[str, Any]]:
    """The SELECT statements (and their parameters) an export issues for its second batch."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        read = 0
        async for _row in rows:  # into the second batch, and no further
            read += 1
            if read > BATCH_SIZE:
                break
        await rows.aclose()  # type: ignore[attr-defined]
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
    second = next(i for i, (statement, _) in enumerate(captured) if _KEYSET.search(statement))
    return [(statement, values) for statement, values in captured[second:] if "SELECT" in statement]


def _plan(lines: Iterable[str]) -> str:
    """A plan on one line: its nodes and conditions, without costs and parameter values."""
    kept = []
    for line in lines:
        line = _LITERAL.sub("…", _COST.sub("", line)).strip().removeprefix("->").strip()
        if not line.startswith("Cache "):  # Memoize's details
            kept.append(line)
    return "; ".join(kept)


async def batch_plans(url: str, catalogue: exports_seed.Catalogue) -> list[tuple[str, str, str]]:
    """How the database reads a batch after the first of each export: the statements of the
    second batch, captured from the exports' own code, explained (export, table, plan)."""
    database = Database(url)
    staff = StaffPrincipal(
        id=catalogue.deciders[0], tenant_id=catalogue.tenant_id, partner_id=None,
        email=ADMIN_EMAIL, name="Administrator", role=Role.TENANT_ADMIN,
    )  # fmt: skip
    explain = "EXPLAIN QUERY PLAN " if is_sqlite(url) else "EXPLAIN "
    plans = []
    try:
        for name, rows in (
            ("partner requests", workflow.export_rows(database, staff)),
            ("partners", partners.export_rows(database, staff)),
        ):
            statements = await _second_batch(database, rows)
            async with database.engine.connect() as connection:
                for statement, parameters in statements:
                    result = await connection.exec_driver_sql(explain + statement, parameters)
                    table = _TABLE.search(statement).group(1)  # type: ignore[union-attr]
                    plans.append((name, table, _plan(str(row[-1]) for row in result)))
        return plans
    finally:
        await database.dispose()


async def run_backend(backend: str, name: str, postgres_url: str, sizes: Sequence[int]) -> Run:
    """A fresh database and one server; every export at every size (see the module's
    docstring)."""
    run = Run(name)
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-exports-") as folder_name:
        folder = Path(folder_name)
        async with _database(backend, folder, postgres_url) as database:
            env = clean_environment(
                RELAYDESK_DATABASE_URL=database.sqlalchemy,
                RELAYDESK_SECRET_KEY=secrets.token_urlsafe(32),
                RELAYDESK_DATA_DIR=str(folder / "var"),
            )
            tenant_id, admin_id = await _create_tenant(env)
            catalogue = exports_seed.build_catalogue(tenant_id, admin_id, datetime.now(UTC))
            await exports_seed.write(database.sqlalchemy, exports_seed.catalogue_rows(catalogue))
            port = free_port()
            argv = relaydesk_command("serve", "--host", "127.0.0.1", "--no-worker")
            server = _Server([*argv, "--port", str(port)], env, port, folder / "server.log")
            try:
                await server.start()
                await _measure(run, server, database, catalogue, sizes, folder)
                run.plans = await batch_plans(database.sqlalchemy, catalogue)
                for export, table, plan in run.plans:
                    print(f"  {export}, a batch's read of {table}: {plan}", flush=True)
            except Exception:
                print(f"--- server.log (end) ---\n{server.log_tail()}")
                raise
            finally:
                await server.stop()
    return run
