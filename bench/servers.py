"""Fresh databases and server processes for one sweep, always cleaned up again.

Every sweep gets a database of its own (an SQLite file in a temporary folder, or a randomly
named PostgreSQL database dropped afterwards) so no sweep measures another's leftovers.
"""

import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
_LOG_TAIL_CHARS = 3000


@dataclass(frozen=True)
class DatabaseUrls:
    """One database in the two spellings the servers take."""

    sqlalchemy: str  # for relaydesk (RELAYDESK_DATABASE_URL)
    plain: str  # for the baseline: a file path or a postgresql:// DSN for asyncpg


@asynccontextmanager
async def sqlite_database(folder: Path) -> AsyncIterator[DatabaseUrls]:
    path = folder / "bench.db"
    yield DatabaseUrls(f"sqlite+aiosqlite:///{path}", str(path))


@asynccontextmanager
async def postgresql_database(admin_dsn: str) -> AsyncIterator[DatabaseUrls]:
    """A new database on the server of `admin_dsn`, dropped (with any sessions) afterwards."""
    name = f"relaydesk_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            plain = _with_database(admin_dsn, name)
            yield DatabaseUrls(plain.replace("postgresql://", "postgresql+asyncpg://", 1), plain)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _with_database(dsn: str, name: str) -> str:
    """`dsn` pointing at database `name` (a DSN without query parameters)."""
    return f"{dsn.rsplit('/', 1)[0]}/{name}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without inherited RELAYDESK_*/BENCH_* settings, plus these."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RELAYDESK_", "BENCH_"))
    }
    return inherited | settings


async def run_command(argv: Sequence[str], env: dict[str, str]) -> str:
    """Runs a command to completion and returns its stdout; a failure raises with its stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[2:])} exited with {process.returncode}: {stderr.decode()[-2000:]}"
        )
    return stdout.decode()


def relaydesk_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "relaydesk", *arguments]


class Server:
    """A server process on a port of its own, with its output in a log file."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._argv = list(argv)
        self._env = env
        self._log = log
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Starts the process and returns once `GET /healthz` answers 200."""
        with self._log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv, env=self._env, cwd=ROOT, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise RuntimeError(f"{self.url} exited at start:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.url} did not become healthy:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        if self._process is None or self._process.returncode is not None:
            return 0.0
        with open(f"/proc/{self._process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-_LOG_TAIL_CHARS:]

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
