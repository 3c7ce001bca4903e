"""Files in chat messages: sent by end users and agents, shown wherever the message is, refused
when not the sender's to send, and from then on readable by the conversation's people only."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from relaydesk.auth.permissions import Role
from relaydesk.chat.models import Message
from relaydesk.db import Database
from tests.attachments.conftest import (
    DOCUMENT_LIMIT,
    gif,
    mp4,
    pdf,
    png,
    send,
    uploaded,
)
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World
from tests.realtime.conftest import bearer_token, socket

RACERS = 8


async def stored_messages(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Message))


async def three_files(follower: Follower) -> list[dict[str, Any]]:
    """An image, a video and a document, uploaded by `follower`."""
    return [
        await uploaded(follower.client, follower.headers, "photo.png", png()),
        await uploaded(follower.client, follower.headers, "clip.mp4", mp4()),
        await uploaded(follower.client, follower.headers, "invoice.pdf", pdf()),
    ]


async def status(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    return (await client.get(url, headers=headers)).status_code


def ids(files: list[dict[str, Any]]) -> list[str]:
    return [file["id"] for file in files]


class TestSendingFiles:
    async def test_an_end_user_sends_files_in_the_order_given(self, follower: Follower) -> None:
        photo, clip, invoice = await three_files(follower)
        response = await send(follower, ids([invoice, photo, clip]))
        assert response.status_code == 201, response.text
        message = response.json()
        assert (message["kind"], message["body"]) == ("attachment", "")
        assert message["attachments"] == [invoice, photo, clip]

    async def test_text_and_files_are_both_kept(self, follower: Follower) -> None:
        photo = await uploaded(follower.client, follower.headers, "photo.png", png())
        message = (await send(follower, [photo["id"]], "Here is the receipt")).json()
        assert (message["kind"], message["body"]) == ("attachment", "Here is the receipt")
        assert message["attachments"] == [photo]

    async def test_an_agent_replies_with_a_file(self, follower: Follower, agent: Agent) -> None:
        await follower.write("Do you have the form?")
        conversation_id = await follower.conversation_id()
        form = await uploaded(agent.client, agent.headers, "form.pdf", pdf())
        response = await send(agent, [form["id"]], conversation_id=conversation_id)
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == "attachment"
        assert response.json()["sender"]["type"] == "agent"
        assert response.json()["attachments"] == [form]
        assert (await agent.conversation(conversation_id))["owner"]["id"] == agent.id

    async def test_ten_files_go_in_one_message(self, follower: Follower) -> None:
        files = [
            await uploaded(follower.client, follower.headers, f"note-{n}.txt", b"note\n")
            for n in range(10)
        ]
        response = await send(follower, ids(files[::-1]))
        assert response.status_code == 201, response.text
        assert response.json()["attachments"] == files[::-1]

    async def test_both_threads_show_the_files(self, follower: Follower, agent: Agent) -> None:
        await follower.write("Hello")
        files = await three_files(follower)
        sent = (await send(follower, ids(files), "three files")).json()
        await agent.reply(sent["conversation_id"], "Thanks!")

        staff_thread = await agent.thread(sent["conversation_id"])
        own_thread = await follower.client.get(
            f"/api/v1/me/conversations/{sent['conversation_id']}/messages",
            headers=follower.headers,
        )
        assert own_thread.status_code == 200
        for thread in (staff_thread, own_thread.json()["items"]):
            assert [(m["kind"], m["body"], m["attachments"]) for m in thread] == [
                ("text", "Hello", []),
                ("attachment", "three files", files),
                ("activity", f"{agent.name} took the chat", []),
                ("text", "Thanks!", []),
            ]

    async def test_threads_read_in_pages_keep_each_messages_files(
        self, follower: Follower, agent: Agent
    ) -> None:
        first = await uploaded(follower.client, follower.headers, "a.png", png())
        second = await uploaded(follower.client, follower.headers, "b.gif", gif())
        conversation_id = (await send(follower, [first["id"]])).json()["conversation_id"]
        await send(follower, [second["id"]])
        pages = [await agent.thread(conversation_id, limit=1, after_seq=seq) for seq in (0, 1)]
        assert [page[0]["attachments"] for page in pages] == [[first], [second]]

    async def test_the_conversation_shows_them_in_its_last_message(
        self, client: httpx.AsyncClient, follower: Follower, agent: Agent
    ) -> None:
        files = await three_files(follower)
        sent = (await send(follower, ids(files))).json()

        detail = await agent.conversation(sent["conversation_id"])
        inbox = await client.get("/api/v1/conversations", headers=agent.headers)
        own = await client.get("/api/v1/me/conversations", headers=follower.headers)
        for conversation in (detail, inbox.json()["items"][0], own.json()["items"][0]):
            assert conversation["last_message"]["id"] == sent["id"]
            assert conversation["last_message"]["attachments"] == files

    async def test_a_retry_returns_the_original_with_its_files(
        self, follower: Follower, database: Database
    ) -> None:
        files = await three_files(follower)
        first = await send(follower, ids(files), cmid="with-files")
        again = await send(follower, ids(files), cmid="with-files")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert again.json()["attachments"] == files
        assert await stored_messages(database) == 1

    async def test_an_agents_retry_returns_the_original_with_its_files(
        self, follower: Follower, agent: Agent, database: Database
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        form = await uploaded(agent.client, agent.headers, "form.pdf", pdf())
        first = await send(agent, [form["id"]], conversation_id=conversation_id, cmid="r")
        again = await send(agent, [form["id"]], conversation_id=conversation_id, cmid="r")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert again.json()["attachments"] == [form]


class TestRefusedReferences:
    """A message may only send its sender's own uploads, each once; otherwise nothing changes."""

    async def assert_refused_at(
        self, response: httpx.Response, *indexes: int, database: Database, messages: int = 0
    ) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        locs = [error["loc"] for error in response.json()["errors"]]
        assert locs == [["body", "attachment_ids", index] for index in indexes]
        assert await stored_messages(database) == messages

    async def test_someone_elses_upload_is_refused(
        self, follower: Follower, other_follower: Follower, database: Database
    ) -> None:
        theirs = await uploaded(other_follower.client, other_follower.headers, "a.png", png())
        response = await send(follower, [theirs["id"]], "look")
        await self.assert_refused_at(response, 0, database=database)
        mine = await follower.client.get("/api/v1/me/conversations", headers=follower.headers)
        assert mine.json()["items"] == []
        # Still unsent: its uploader can send it.
        assert (await send(other_follower, [theirs["id"]])).status_code == 201

    async def test_an_agent_cannot_send_the_end_users_upload(
        self, follower: Follower, agent: Agent, database: Database
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        theirs = await uploaded(follower.client, follower.headers, "a.png", png())
        response = await send(agent, [theirs["id"]], "yours?", conversation_id=conversation_id)
        await self.assert_refused_at(response, 0, database=database, messages=1)
        # Nothing changed: still unanswered, and nobody took it.
        conversation = await agent.conversation(conversation_id)
        assert (conversation["status"], conversation["owner"]) == ("unanswered", None)
        assert await status(agent.client, theirs["url"], agent.headers) == 404

    async def test_another_agent_cannot_send_an_agents_upload(
        self, follower: Follower, agent: Agent, admin: Agent, database: Database
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        form = await uploaded(agent.client, agent.headers, "form.pdf", pdf())
        response = await send(admin, [form["id"]], conversation_id=conversation_id)
        await self.assert_refused_at(response, 0, database=database, messages=1)

    async def test_an_unknown_id_is_refused_by_its_index_and_nothing_is_bound(
        self, follower: Follower, agent: Agent, database: Database
    ) -> None:
        await follower.write()
        photo, clip, _ = await three_files(follower)
        unknown = "0190a0a0-0000-7000-8000-000000000000"
        response = await send(follower, [photo["id"], unknown, clip["id"]], "two files")
        await self.assert_refused_at(response, 1, database=database, messages=1)
        assert await status(agent.client, photo["url"], agent.headers) == 404
        assert (await send(follower, ids([photo, clip]))).status_code == 201

    async def test_a_file_sent_already_is_refused_in_the_same_conversation(
        self, follower: Follower, agent: Agent, database: Database
    ) -> None:
        photo, clip, invoice = await three_files(follower)
        first = (await send(follower, [photo["id"]])).json()
        response = await send(follower, ids([clip, photo, invoice]), "again")
        await self.assert_refused_at(response, 1, database=database, messages=1)
        assert (await agent.thread(first["conversation_id"]))[0]["attachments"] == [photo]
        assert await status(agent.client, clip["url"], agent.headers) == 404

    async def test_a_file_sent_already_is_refused_in_another_conversation(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        database: Database,
    ) -> None:
        photo = await uploaded(client, follower.headers, "photo.png", png())
        assert (await send(follower, [photo["id"]])).status_code == 201
        await client.put(f"/api/v1/channels/{world.b.channel.id}/follow", headers=follower.headers)
        elsewhere = Follower(client, follower.headers, world.b.channel)
        response = await send(elsewhere, [photo["id"]], "here too")
        await self.assert_refused_at(response, 0, database=database, messages=1)
        other_partner = await factory.headers(world.b.agent)
        assert await status(client, photo["url"], other_partner) == 404

    async def test_the_same_file_twice_is_refused(
        self, follower: Follower, database: Database
    ) -> None:
        photo = await uploaded(follower.client, follower.headers, "photo.png", png())
        response = await send(follower, [photo["id"], photo["id"]], "hi")
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")
        assert await stored_messages(database) == 0
        assert (await send(follower, [photo["id"]])).status_code == 201

    async def test_eleven_files_are_refused(self, follower: Follower, database: Database) -> None:
        files = [
            await uploaded(follower.client, follower.headers, f"note-{n}.txt", b"note\n")
            for n in range(11)
        ]
        response = await send(follower, ids(files), "hi")
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")
        assert await stored_messages(database) == 0
        assert (await send(follower, ids(files[:10]))).status_code == 201

    async def test_a_message_needs_a_body_or_a_file(
        self, follower: Follower, database: Database
    ) -> None:
        response = await send(follower, [], "")
        assert response.status_code == 422
        assert await stored_messages(database) == 0

    async def test_of_messages_racing_for_one_upload_one_sends_it(
        self, client: httpx.AsyncClient, world: World, agent: Agent, database: Database
    ) -> None:
        conversation_ids = []
        for _ in range(RACERS):
            follower = await new_follower(client, world.tenant, world.a.channel)
            conversation_ids.append((await follower.write()).json()["conversation_id"])
        form = await uploaded(client, agent.headers, "form.pdf", pdf())
        responses = await asyncio.gather(
            *(
                send(agent, [form["id"]], conversation_id=c, take_over=True)
                for c in conversation_ids
            )
        )
        assert sorted(response.status_code for response in responses) == [201] + [422] * (
            RACERS - 1
        )
        (winner,) = [r.json() for r in responses if r.status_code == 201]
        assert winner["attachments"] == [form]
        assert await stored_messages(database) == RACERS + 2  # the questions, a line, the reply


class TestQueryCounts:
    """Files are read for a whole page at once, not message by message."""

    @contextmanager
    def queries(self, app: FastAPI) -> Iterator[list[str]]:
        statements: list[str] = []

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(statement)

        engine = app.state.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", count)

    async def test_a_thread_takes_the_same_queries_however_many_files(
        self, app: FastAPI, follower: Follower, agent: Agent
    ) -> None:
        for _ in range(4):
            await send(follower, ids(await three_files(follower)))
        conversation_id = await follower.conversation_id()
        with self.queries(app) as one:
            assert len(await agent.thread(conversation_id, limit=1)) == 1
        with self.queries(app) as all_:
            assert len(await agent.thread(conversation_id, limit=50)) == 4
        assert len(all_) == len(one)

    async def test_the_inbox_takes_the_same_queries_however_many_files(
        self, app: FastAPI, client: httpx.AsyncClient, world: World, agent: Agent
    ) -> None:
        for _ in range(4):
            follower = await new_follower(client, world.tenant, world.a.channel)
            await send(follower, ids(await three_files(follower)))

        async def inbox(limit: int) -> list[dict[str, Any]]:
            response = await client.get(
                "/api/v1/conversations", params={"limit": limit}, headers=agent.headers
            )
            return response.json()["items"]

        with self.queries(app) as one:
            assert len(await inbox(1)) == 1
        with self.queries(app) as all_:
            items = await inbox(50)
        assert len(all_) == len(one)
        assert [len(item["last_message"]["attachments"]) for item in items] == [3] * 4


class TestAccessAfterSending:
    """Once sent, a file is the conversation's: its end user and the partner's staff only."""

    @pytest.fixture
    async def sent(self, follower: Follower) -> dict[str, Any]:
        photo = await uploaded(follower.client, follower.headers, "photo.png", png())
        assert (await send(follower, [photo["id"]])).status_code == 201
        return photo

    async def test_the_end_user_and_every_staff_member_of_the_partner_fetch_it(
        self, follower: Follower, agent: Agent, admin: Agent, sent: dict[str, Any]
    ) -> None:
        for headers in (follower.headers, agent.headers, admin.headers):
            response = await follower.client.get(sent["url"], headers=headers)
            assert (response.status_code, response.content) == (200, png())
            assert await status(follower.client, sent["preview_url"], headers) == 200

    async def test_a_partner_staff_member_who_joined_later_fetches_it(
        self, client: httpx.AsyncClient, factory: Factory, world: World, sent: dict[str, Any]
    ) -> None:
        newcomer = await factory.staff(world.tenant, Role.AGENT, world.a.partner)
        assert await status(client, sent["url"], await factory.headers(newcomer)) == 200

    async def test_an_agents_file_reaches_the_end_user_and_the_other_staff(
        self, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        form = await uploaded(agent.client, agent.headers, "form.pdf", pdf(DOCUMENT_LIMIT // 2))
        await send(agent, [form["id"]], conversation_id=conversation_id)
        for headers in (follower.headers, admin.headers):
            response = await follower.client.get(form["url"], headers=headers)
            assert (response.status_code, response.content) == (200, pdf(DOCUMENT_LIMIT // 2))

    async def test_another_end_user_gets_404(
        self, other_follower: Follower, sent: dict[str, Any]
    ) -> None:
        for url in (sent["url"], sent["preview_url"]):
            response = await other_follower.client.get(url, headers=other_follower.headers)
            assert (response.status_code, response.json()["code"]) == (404, "not_found")

    async def test_other_partner_gets_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, sent: dict[str, Any]
    ) -> None:
        for user in (world.b.agent, world.b.admin):
            headers = await factory.headers(user)
            for url in (sent["url"], sent["preview_url"]):
                assert await status(client, url, headers) == 404

    async def test_tenant_staff_get_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, sent: dict[str, Any]
    ) -> None:
        for user in (world.tenant_admin, world.tenant_staff):
            assert await status(client, sent["url"], await factory.headers(user)) == 404

    async def test_other_tenant_gets_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, sent: dict[str, Any]
    ) -> None:
        for headers in (
            await factory.headers(world.other_tenant_admin),
            await factory.headers(world.other.agent),
            factory.end_user_headers(world.other_tenant),
        ):
            assert await status(client, sent["url"], headers) == 404


class TestLive:
    @pytest.fixture
    async def http(self, live_server: str) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=live_server) as client:
            yield client

    async def test_message_created_carries_the_files(
        self, live_server: str, http: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        follower = await new_follower(http, world.tenant, world.a.channel)
        agent = await as_agent(http, factory, world.a.agent)
        files = await three_files(follower)
        async with (
            socket(live_server, headers=agent.headers) as agents,
            socket(live_server, token=bearer_token(follower.headers)) as own,
        ):
            sent = (await send(follower, ids(files), "files")).json()
            for listener in (agents, own):
                created = await listener.frame_of("message.created")
                assert created["id"] == sent["id"]
                assert created["kind"] == "attachment"
                assert created["attachments"] == files
                assert created["conversation"]["last_message"]["attachments"] == files
