"""The background worker in-process: its purges of expired credentials and of uploads never
sent, delivering broadcasts pass after pass, and stopping on request."""

import asyncio
import io
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from relaydesk import worker
from relaydesk.attachments.storage import LocalStorage
from relaydesk.auth.models import ApiToken, WebSession
from relaydesk.auth.permissions import Role
from relaydesk.auth.secrets import digest
from relaydesk.auth.service import (
    issue_api_token,
    principal_of,
    staff_from_session_token,
    start_web_session,
)
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.models import StaffUser
from relaydesk.worker import run_jobs_once, run_worker
from tests.broadcasts.conftest import Broadcasts, batches_taking, once_each
from tests.chat.conftest import as_agent, new_follower
from tests.engagements.conftest import engagement_api
from tests.factories import Factory, World


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.data_dir / "attachments")


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
        storage: LocalStorage,
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

        await run_jobs_once(database, settings, storage)

        assert await stored_token_hashes(database) == {digest(long_token), digest(new_session)}
        assert await me_status(client, long_token) == 200
        assert await me_status(client, short_token) == 401
        async with database.transaction() as session:
            assert await staff_from_session_token(session, new_session) is not None
            assert await staff_from_session_token(session, old_session) is None

    async def test_a_token_expiring_this_instant_is_removed(
        self,
        storage: LocalStorage,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_ADMIN)
        clock.freeze(now())
        ending = await api_token(database, user, timedelta(hours=1))
        later = await api_token(database, user, timedelta(hours=1, seconds=1))
        clock.advance(timedelta(hours=1))
        assert await me_status(client, ending) == 401

        await run_jobs_once(database, settings, storage)

        assert await stored_token_hashes(database) == {digest(later)}
        assert await me_status(client, later) == 200

    async def test_nothing_expired_leaves_every_credential(
        self, storage: LocalStorage, database: Database, factory: Factory, settings: Settings
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        token = await api_token(database, user, timedelta(minutes=5))
        session_token = await web_session(database, settings, user)

        await run_jobs_once(database, settings, storage)
        await run_jobs_once(database, settings, storage)

        assert await stored_token_hashes(database) == {digest(token), digest(session_token)}


class TestRunWorker:
    async def test_returns_promptly_once_stop_is_set(
        self, storage: LocalStorage, database: Database, settings: Settings
    ) -> None:
        assert settings.worker_poll_seconds >= 30
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(database, settings, stop, storage))
        await asyncio.sleep(0.3)
        assert not worker.done()

        stop.set()
        async with asyncio.timeout(2):
            await worker

    async def test_returns_at_once_when_stop_is_already_set(
        self, storage: LocalStorage, database: Database, settings: Settings
    ) -> None:
        stop = asyncio.Event()
        stop.set()
        async with asyncio.timeout(2):
            await run_worker(database, settings, stop, storage)

    async def test_purges_at_start_and_again_on_each_poll(
        self, storage: LocalStorage, database: Database, factory: Factory, settings: Settings
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        clock.freeze(now())
        first = await api_token(database, user, timedelta(minutes=1))
        second = await api_token(database, user, timedelta(hours=1))
        live = await api_token(database, user, timedelta(days=1))
        clock.advance(timedelta(minutes=2))
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                database,
                settings.model_copy(update={"worker_poll_seconds": 0.05}),
                stop,
                storage,
            )
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


class TestPurgeUnsentAttachments:
    async def test_uploads_unsent_after_a_day_go_with_their_files_sent_ones_stay(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
        storage: LocalStorage,
        world: World,
    ) -> None:
        follower = await new_follower(client, world.tenant, world.a.channel)
        assert (await follower.write()).status_code == 201
        agent = await as_agent(client, factory, world.a.agent)
        clock.freeze(now())
        given_up, sent = await upload(client, agent.headers), await upload(client, agent.headers)
        conversation_id = await follower.conversation_id()
        reply = await client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"client_message_id": "with-file", "attachment_ids": [sent["id"]]},
            headers=agent.headers,
        )
        assert reply.status_code == 201, reply.text
        clock.advance(timedelta(days=1, seconds=1))
        # Signed in again: the first credentials have expired by now.
        agent = await as_agent(client, factory, world.a.agent)
        fresh = await upload(client, agent.headers)
        files_before = stored_files(storage)

        await run_jobs_once(database, settings, storage)

        assert (await client.get(given_up["url"], headers=agent.headers)).status_code == 404
        assert (await client.get(sent["url"], headers=agent.headers)).status_code == 200
        assert (await client.get(fresh["url"], headers=agent.headers)).status_code == 200
        # The given-up upload's file and its preview are gone; nothing else is.
        assert len(files_before - stored_files(storage)) == 2
        assert len(stored_files(storage)) == len(files_before) - 2


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(buffer, "PNG")
    return buffer.getvalue()


async def upload(client: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    response = await client.post(
        "/api/v1/attachments", files={"file": ("photo.png", png(), "image/png")}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def stored_files(storage: LocalStorage) -> set[Path]:
    return {path for path in storage.root.rglob("*") if path.is_file()}


@pytest.fixture
async def broadcasts(
    client: httpx.AsyncClient, factory: Factory, world: World, database: Database
) -> Broadcasts:
    """Broadcasts of the first partner's engagements, starting half an hour from the frozen
    clock's now."""
    clock.freeze(datetime.now(UTC))
    engagements = await engagement_api(client, factory, world.a.admin, world.a.channel)
    start = now() + timedelta(minutes=30)
    return Broadcasts(client, factory, world, database, engagements, start)


@pytest.fixture
def small_batches(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's broadcast job delivers two end users a batch, each batch taking its whole
    time budget: one batch a pass."""
    monkeypatch.setattr(
        worker, "deliver_due_broadcasts", partial(deliver_due_broadcasts, batch=2, budget_seconds=1)
    )


async def wait_until_done(broadcasts: Broadcasts, request_id: str) -> None:
    """Polls until the broadcast is delivered; fails after five seconds."""
    async with asyncio.timeout(5):
        while True:
            if (await broadcasts.details(request_id))["delivery"]["state"] == "done":
                return
            await asyncio.sleep(0.02)


class TestDeliverBroadcasts:
    async def test_a_pass_answers_whether_a_broadcast_has_batches_left(
        self,
        storage: LocalStorage,
        database: Database,
        settings: Settings,
        broadcasts: Broadcasts,
        small_batches: None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        reached = await broadcasts.end_users(5)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        assert await run_jobs_once(database, settings, storage) is False  # not due yet
        clock.freeze(broadcasts.start)

        with batches_taking(database, monkeypatch, 1.0):
            answers = [await run_jobs_once(database, settings, storage) for _ in range(4)]

        assert answers == [True, True, False, False]
        assert await broadcasts.deliveries(engagement) == once_each(reached)
        assert (await broadcasts.details(request["id"]))["delivered_count"] == 5

    async def test_the_worker_goes_on_at_once_while_work_is_left(
        self,
        storage: LocalStorage,
        database: Database,
        settings: Settings,
        broadcasts: Broadcasts,
        small_batches: None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert settings.worker_poll_seconds >= 30
        reached = await broadcasts.end_users(7)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)
        stop = asyncio.Event()
        with batches_taking(database, monkeypatch, 1.0):
            running = asyncio.create_task(run_worker(database, settings, stop, storage))
            try:
                await wait_until_done(broadcasts, request["id"])
            finally:
                stop.set()
                async with asyncio.timeout(2):
                    await running

        assert await broadcasts.deliveries(engagement) == once_each(reached)
