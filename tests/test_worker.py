"""The background worker in-process: its purge of expired credentials, and stopping on request."""

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select

from relaydesk.auth.models import ApiToken, WebSession
from relaydesk.auth.permissions import Role
from relaydesk.auth.secrets import digest
from relaydesk.auth.service import (
    issue_api_token,
    principal_of,
    staff_from_session_token,
    start_web_session,
)
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.models import StaffUser
from relaydesk.worker import run_jobs_once, run_worker
from tests.factories import Factory


async def api_token(database: Database, user: StaffUser, ttl: timedelta) -> str:
    async with database.transaction() as session:
        token, _ = await issue_api_token(session, principal_of(user), ttl=ttl)
    return token


async def web_session(database: Database, settings: Settings, user: StaffUser) -> str:
    async with database.transaction() as session:
        return await start_web_session(
            session, principal_of(user), ttl=timedelta(hours=settings.session_ttl_hours)
        )


async def stored_token_hashes(database: Database) -> set[str]:
    """The digests of every API token and web session still in the database."""
    async with database.transaction() as session:
        tokens = await session.scalars(select(ApiToken.token_hash))
        sessions = await session.scalars(select(WebSession.token_hash))
        return {*tokens, *sessions}


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def wait_until_gone(database: Database, token: str) -> None:
    """Polls until the worker has removed the credential; fails after five seconds."""
    async with asyncio.timeout(5):
        while True:
            if digest(token) not in await stored_token_hashes(database):
                return
            await asyncio.sleep(0.02)


class TestPurgeExpiredCredentials:
    async def test_expired_sessions_and_tokens_are_removed_live_ones_kept(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        clock.freeze(now())
        short_token = await api_token(database, user, timedelta(hours=1))
        long_token = await api_token(database, user, timedelta(days=30))
        old_session = await web_session(database, settings, user)  # 14 days
        clock.advance(timedelta(days=1))
        new_session = await web_session(database, settings, user)
        clock.advance(timedelta(days=13, minutes=1))  # the old session ended a minute ago

        await run_jobs_once(database)

        assert await stored_token_hashes(database) == {digest(long_token), digest(new_session)}
        assert await me_status(client, long_token) == 200
        assert await me_status(client, short_token) == 401
        async with database.transaction() as session:
            assert await staff_from_session_token(session, new_session) is not None
            assert await staff_from_session_token(session, old_session) is None

    async def test_a_token_expiring_this_instant_is_removed(
        self, client: httpx.AsyncClient, database: Database, factory: Factory
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_ADMIN)
        clock.freeze(now())
        ending = await api_token(database, user, timedelta(hours=1))
        later = await api_token(database, user, timedelta(hours=1, seconds=1))
        clock.advance(timedelta(hours=1))
        assert await me_status(client, ending) == 401

        await run_jobs_once(database)

        assert await stored_token_hashes(database) == {digest(later)}
        assert await me_status(client, later) == 200

    async def test_nothing_expired_leaves_every_credential(
        self, database: Database, factory: Factory, settings: Settings
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        token = await api_token(database, user, timedelta(minutes=5))
        session_token = await web_session(database, settings, user)

        await run_jobs_once(database)
        await run_jobs_once(database)

        assert await stored_token_hashes(database) == {digest(token), digest(session_token)}


class TestRunWorker:
    async def test_returns_promptly_once_stop_is_set(
        self, database: Database, settings: Settings
    ) -> None:
        assert settings.worker_poll_seconds >= 30
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(database, settings, stop))
        await asyncio.sleep(0.3)
        assert not worker.done()

        stop.set()
        async with asyncio.timeout(2):
            await worker

    async def test_returns_at_once_when_stop_is_already_set(
        self, database: Database, settings: Settings
    ) -> None:
        stop = asyncio.Event()
        stop.set()
        async with asyncio.timeout(2):
            await run_worker(database, settings, stop)

    async def test_purges_at_start_and_again_on_each_poll(
        self, database: Database, factory: Factory, settings: Settings
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        clock.freeze(now())
        first = await api_token(database, user, timedelta(minutes=1))
        second = await api_token(database, user, timedelta(hours=1))
        live = await api_token(database, user, timedelta(days=1))
        clock.advance(timedelta(minutes=2))
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(database, settings.model_copy(update={"worker_poll_seconds": 0.05}), stop)
        )
        try:
            await wait_until_gone(database, first)
            assert digest(second) in await stored_token_hashes(database)

            clock.advance(timedelta(hours=1))
            await wait_until_gone(database, second)
            assert await stored_token_hashes(database) == {digest(live)}
        finally:
            stop.set()
            async with asyncio.timeout(2):
                await worker
