"""Fixtures every test builds on: a real database (SQLite, and PostgreSQL + Redis), the app
behind an httpx client, factories, a live uvicorn server and a Playwright browser.

Every test that touches the database runs once per backend. PostgreSQL and Redis come from
RELAYDESK_TEST_DATABASE_URL / RELAYDESK_TEST_REDIS_URL (or the local defaults); when they
are unreachable those runs are skipped, or fail with REQUIRE_SERVICES=1.
"""

import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from relaydesk.app import create_app
from relaydesk.clock import clock
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.migrate import migrate
from relaydesk.models import Base
from tests.factories import Factory, World
from tests.mail import MailServer
from tests.processes import Relaydesk

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "RELAYDESK_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RELAYDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.only_backend("sqlite")` keeps a test to the named backends."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("only_backend")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        (dropped if marker and backend and backend not in marker.args else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None


def _service_missing(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({error!r})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and REQUIRE_SERVICES=1 needs it", pytrace=False)
    pytest.skip(message)


async def _migrated(url: str) -> None:
    database = Database(url)
    try:
        await migrate(database.engine)
    finally:
        await database.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """A freshly migrated database for the whole run: SQLite, or PostgreSQL with Redis."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "relaydesk.db"
        url = f"sqlite+aiosqlite:///{path}"
        await _migrated(url)
        yield Backend("sqlite", url, None)
        return

    name = f"relaydesk_test_{uuid.uuid4().hex[:12]}"
    server = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError) as error:
        await server.dispose()
        _service_missing("PostgreSQL", error)
    try:
        redis = Redis.from_url(REDIS_URL)
        await redis.ping()
        await redis.aclose()
    except (OSError, RedisError) as error:
        _service_missing("Redis", error)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await _migrated(url)
        yield Backend("postgresql", url, REDIS_URL)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        redis_key_prefix=f"relaydesk-test:{uuid.uuid4().hex}:",
        secret_key="test-signing-key",
        data_dir=tmp_path / "var",
        base_url="http://testserver",
        run_worker=False,
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """The backend's Redis (PostgreSQL runs only); the test's keys are removed afterwards."""
    if settings.redis_url is None:
        pytest.skip("Redis runs with the PostgreSQL backend")
    client = Redis.from_url(settings.redis_url)
    yield client
    keys = [key async for key in client.scan_iter(f"{settings.redis_key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database handle; every row is removed again when the test ends."""
    database = Database(settings.database_url)
    yield database
    async with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
    await database.dispose()


@pytest.fixture(autouse=True)
def _real_time_again() -> Iterator[None]:
    """Tests may freeze the clock; the next test starts on real time."""
    yield
    clock.unfreeze()


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def relaydesk(
    settings: Settings, database: Database, tmp_path: Path
) -> AsyncIterator[Relaydesk]:
    """Runs `relaydesk` commands as subprocesses on the test database."""
    cli = Relaydesk(settings, tmp_path)
    yield cli
    await cli.kill_leftovers()


@pytest.fixture
def factory(database: Database) -> Factory:
    return Factory(database)


@pytest.fixture
async def world(factory: Factory) -> World:
    """Two tenants; the first with two partners, each with an admin, an agent and a channel."""
    return await World.build(factory)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(settings: Settings, database: Database) -> Iterator[str]:
    """The app served by a real uvicorn on a free port, in a thread with its own event loop."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        if not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - once per run
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make setup does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    context = await browser.new_context()  # type: ignore[attr-defined]
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
def mail(database: Database, settings: Settings) -> Iterator[MailServer]:
    """A real SMTP server for the test: `await mail.deliver()` sends the due e-mails to it,
    `mail.messages` / `mail.to(address)` are what it received (see tests/mail.py)."""
    server = MailServer(database, settings)
    server.start()
    yield server
    server.stop()
