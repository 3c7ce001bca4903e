"""The chat over HTTP: who may write, the state machine, threads, the inbox and its search."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.permissions import Role
from relaydesk.chat.models import ChatSession, Message
from relaydesk.db import Database
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World


async def stored_messages(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Message))


async def take_overtake_finish_reopen(follower: Follower, agent: Agent, admin: Agent) -> None:
    """One full cycle: opened, taken by `agent`, taken over by `admin`, finished, reopened."""
    await follower.write()
    conversation_id = await follower.conversation_id()
    await agent.reply(conversation_id)
    await admin.reply(conversation_id, take_over=True)
    await admin.finish(conversation_id)
    await follower.write()


class TestEndUserWrites:
    async def test_first_message_opens_an_unanswered_conversation(
        self, follower: Follower, agent: Agent
    ) -> None:
        response = await follower.write("Is the shop open on Sunday?", cmid="first")
        assert response.status_code == 201
        message = response.json()
        assert message | {"id": None, "conversation_id": None, "created_at": None} == {
            "id": None,
            "conversation_id": None,
            "created_at": None,
            "seq": 1,
            "kind": "text",
            "sender": {"type": "end_user", "id": message["sender"]["id"], "name": "Mia Jensen"},
            "body": "Is the shop open on Sunday?",
            "attachments": [],
            "engagement": None,
            "activity": None,
            "client_message_id": "first",
        }
        conversation = await agent.conversation(message["conversation_id"])
        assert conversation["status"] == "unanswered"
        assert conversation["owner"] is None
        assert conversation["end_user"]["name"] == "Mia Jensen"
        assert conversation["last_message"]["id"] == message["id"]
        assert conversation["opened_at"] <= message["created_at"]

    async def test_a_non_follower_is_refused_and_nothing_is_stored(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await client.delete(
            f"/api/v1/channels/{world.a.channel.id}/follow", headers=follower.headers
        )
        response = await follower.write()
        assert response.status_code == 403
        assert response.json()["code"] == "not_follower"
        assert await stored_messages(factory.database) == 0

    async def test_a_disabled_chat_is_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        admin_headers = await factory.headers(world.a.admin)
        await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/disable", headers=admin_headers
        )
        response = await follower.write()
        assert response.status_code == 403
        assert response.json()["code"] == "chat_disabled"
        await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/enable", headers=admin_headers
        )
        assert (await follower.write()).status_code == 201

    async def test_other_tenants_channel_is_not_found(
        self, client: httpx.AsyncClient, world: World, follower: Follower
    ) -> None:
        stranger = Follower(client, follower.headers, world.other.channel)
        response = await stranger.write()
        assert response.status_code == 404

    async def test_a_retry_returns_the_original_and_stores_nothing(
        self, factory: Factory, follower: Follower
    ) -> None:
        first = await follower.write("Hello", cmid="retry-me")
        again = await follower.write("Hello", cmid="retry-me")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert await stored_messages(factory.database) == 1

    @pytest.mark.parametrize(
        "body",
        [
            {"client_message_id": "x", "body": "   "},
            {"client_message_id": "", "body": "hi"},
            {"body": "hi"},
            {"client_message_id": "x", "body": "x" * 10_001},
            {"client_message_id": "x", "body": 12},
            {"client_message_id": "x", "body": "hi", "owner_id": "me"},
        ],
    )
    async def test_bad_messages_are_refused(
        self, factory: Factory, follower: Follower, body: dict
    ) -> None:
        response = await follower.client.post(
            f"/api/v1/channels/{follower.channel.id}/chat/messages",
            json=body,
            headers=follower.headers,
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
        assert await stored_messages(factory.database) == 0

    async def test_staff_cannot_write_as_an_end_user(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/messages",
            json={"client_message_id": "x", "body": "hi"},
            headers=await factory.headers(world.a.agent),
        )
        assert response.status_code == 403


class TestTakeOvertakeFinishReopen:
    async def test_first_reply_takes_the_chat_with_an_activity_line(
        self, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        response = await agent.reply(conversation_id, "Hi Mia!")
        assert response.status_code == 201
        assert response.json()["seq"] == 3
        conversation = await agent.conversation(conversation_id)
        assert conversation["status"] == "active"
        assert conversation["owner"] == {"id": agent.id, "name": agent.name}
        thread = await agent.thread(conversation_id)
        assert [(m["seq"], m["kind"], m["body"]) for m in thread] == [
            (1, "text", "Hello"),
            (2, "activity", f"{agent.name} took the chat"),
            (3, "text", "Hi Mia!"),
        ]
        assert thread[1]["activity"] == {
            "action": "taken",
            "agent": {"id": agent.id, "name": agent.name},
            "previous_owner": None,
        }

    async def test_another_agent_is_told_who_owns_it_and_can_take_it_over(
        self, factory: Factory, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id)
        before = await stored_messages(factory.database)

        refused = await admin.reply(conversation_id, "Let me help")
        assert refused.status_code == 409
        assert refused.json()["code"] == "conversation_taken"
        assert refused.json()["owner"] == {"id": agent.id, "name": agent.name}
        assert agent.name in refused.json()["detail"]
        assert await stored_messages(factory.database) == before

        taken = await admin.reply(conversation_id, "Let me help", take_over=True)
        assert taken.status_code == 201
        conversation = await agent.conversation(conversation_id)
        assert conversation["owner"] == {"id": admin.id, "name": admin.name}
        line = (await agent.thread(conversation_id))[-2]
        assert line["body"] == f"{admin.name} took the chat over from {agent.name}"
        assert line["activity"]["previous_owner"] == {"id": agent.id, "name": agent.name}

    async def test_the_owner_keeps_writing_without_new_activity(
        self, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id, "one")
        await agent.reply(conversation_id, "two", take_over=True)
        kinds = [m["kind"] for m in await agent.thread(conversation_id)]
        assert kinds == ["text", "activity", "text", "text"]

    async def test_any_agent_finishes_and_nobody_writes_into_a_finished_chat(
        self, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id)
        finished = await admin.finish(conversation_id)
        assert finished.status_code == 200
        assert finished.json()["status"] == "finished"
        assert finished.json()["finished_by"] == {"id": admin.id, "name": admin.name}
        assert finished.json()["last_message"]["body"] == f"{admin.name} finished the chat"

        again = await agent.finish(conversation_id)
        assert (again.status_code, again.json()["code"]) == (409, "conversation_finished")
        reply = await agent.reply(conversation_id, take_over=True)
        assert (reply.status_code, reply.json()["code"]) == (409, "conversation_finished")

    async def test_an_unanswered_chat_can_be_finished(
        self, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        response = await agent.finish(await follower.conversation_id())
        assert response.json()["status"] == "finished"

    async def test_the_end_users_next_message_reopens_it_without_owner(
        self, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id)
        await agent.finish(conversation_id)
        response = await follower.write("One more thing")
        assert response.status_code == 201
        conversation = await admin.conversation(conversation_id)
        assert (conversation["status"], conversation["owner"], conversation["finished_by"]) == (
            "unanswered",
            None,
            None,
        )
        assert (await admin.thread(conversation_id))[-2]["body"] == "Mia Jensen reopened the chat"
        # Whoever handled it before, any agent may take it now.
        assert (await admin.reply(conversation_id)).status_code == 201

    async def test_agents_may_still_answer_and_finish_while_chat_is_disabled(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/disable",
            headers=await factory.headers(world.a.admin),
        )
        assert (await agent.reply(conversation_id)).status_code == 201
        assert (await agent.finish(conversation_id)).status_code == 200
        assert (await agent.thread(conversation_id))[0]["body"] == "Hello"

    async def test_an_agents_retry_returns_the_original(
        self, factory: Factory, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        first = await agent.reply(conversation_id, cmid="agent-retry")
        await agent.finish(conversation_id)
        again = await agent.reply(conversation_id, cmid="agent-retry")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]

    async def test_changes_are_audited(
        self, factory: Factory, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await take_overtake_finish_reopen(follower, agent, admin)
        async with factory.database.transaction() as session:
            actions = list(
                await session.scalars(select(AuditEntry.action).order_by(AuditEntry.created_at))
            )
        assert [a for a in actions if a.startswith("conversation.")] == [
            "conversation.taken",
            "conversation.taken_over",
            "conversation.finished",
            "conversation.reopened",
        ]


class TestChatSessions:
    async def test_each_cycle_keeps_opened_first_response_and_finish(
        self, factory: Factory, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await take_overtake_finish_reopen(follower, agent, admin)
        async with factory.database.transaction() as session:
            sessions = list(
                await session.scalars(select(ChatSession).order_by(ChatSession.opened_at))
            )
            messages = list(await session.scalars(select(Message).order_by(Message.seq)))
        first, second = sessions
        assert first.opened_at <= messages[0].created_at
        assert first.first_response_at == messages[1].created_at
        assert str(first.first_responder_id) == agent.id
        assert first.finished_at == messages[5].created_at
        assert str(first.finished_by_id) == admin.id
        assert second.opened_at > first.finished_at
        assert (second.first_response_at, second.finished_at) == (None, None)


class TestWhoCanRead:
    async def test_other_partners_and_tenants_get_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        for outsider in (world.b.agent, world.b.admin, world.other.agent):
            outsider_agent = await as_agent(client, factory, outsider)
            for response in (
                await client.get(
                    f"/api/v1/conversations/{conversation_id}", headers=outsider_agent.headers
                ),
                await client.get(
                    f"/api/v1/conversations/{conversation_id}/messages",
                    headers=outsider_agent.headers,
                ),
                await outsider_agent.reply(conversation_id),
                await outsider_agent.finish(conversation_id),
            ):
                assert response.status_code == 404, response.text
            listed = await client.get("/api/v1/conversations", headers=outsider_agent.headers)
            assert listed.json()["items"] == []

    async def test_tenant_staff_have_no_chat(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        headers = await factory.headers(world.tenant_admin)
        response = await client.get("/api/v1/conversations", headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    async def test_an_end_user_sees_only_their_own_conversation(
        self, client: httpx.AsyncClient, world: World, follower: Follower
    ) -> None:
        await follower.write("mine")
        conversation_id = await follower.conversation_id()
        someone_else = await new_follower(client, world.tenant, world.a.channel, name="Other")
        await someone_else.write("theirs")
        response = await client.get(
            f"/api/v1/me/conversations/{conversation_id}/messages", headers=someone_else.headers
        )
        assert response.status_code == 404
        mine = await client.get(
            f"/api/v1/me/conversations/{conversation_id}/messages", headers=follower.headers
        )
        assert [m["body"] for m in mine.json()["items"]] == ["mine"]
        listed = await client.get("/api/v1/me/conversations", headers=someone_else.headers)
        assert [c["last_message"]["body"] for c in listed.json()["items"]] == ["theirs"]

    async def test_an_end_user_finds_their_conversation_with_a_channel(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        other_channel = await factory.channel(world.b.partner, chat_enabled=True)
        await client.put(f"/api/v1/channels/{other_channel.id}/follow", headers=follower.headers)
        await follower.write("to a")
        await Follower(client, follower.headers, other_channel).write("to b")
        for channel, body in ((world.a.channel, "to a"), (other_channel, "to b")):
            response = await client.get(
                "/api/v1/me/conversations",
                params={"channel_id": str(channel.id)},
                headers=follower.headers,
            )
            assert [c["last_message"]["body"] for c in response.json()["items"]] == [body]

    async def test_end_users_cannot_use_the_agents_endpoints(
        self, client: httpx.AsyncClient, follower: Follower
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        response = await client.get(
            f"/api/v1/conversations/{conversation_id}", headers=follower.headers
        )
        assert response.status_code == 403


class TestThread:
    @pytest.fixture
    async def long_thread(self, follower: Follower) -> str:
        for number in range(1, 8):
            assert (await follower.write(f"message {number}")).status_code == 201
        return await follower.conversation_id()

    async def test_the_latest_page_first_then_older_pages(
        self, agent: Agent, long_thread: str
    ) -> None:
        client = agent.client
        url = f"/api/v1/conversations/{long_thread}/messages"
        latest = (await client.get(url, params={"limit": 3}, headers=agent.headers)).json()
        assert [m["seq"] for m in latest["items"]] == [5, 6, 7]
        older = (
            await client.get(
                url, params={"limit": 3, "cursor": latest["next_cursor"]}, headers=agent.headers
            )
        ).json()
        assert [m["seq"] for m in older["items"]] == [2, 3, 4]
        oldest = (
            await client.get(
                url, params={"limit": 3, "cursor": older["next_cursor"]}, headers=agent.headers
            )
        ).json()
        assert ([m["seq"] for m in oldest["items"]], oldest["next_cursor"]) == ([1], None)
        before = (await client.get(url, params={"before_seq": 3}, headers=agent.headers)).json()
        assert [m["seq"] for m in before["items"]] == [1, 2]

    async def test_catching_up_after_a_seq(self, agent: Agent, long_thread: str) -> None:
        client = agent.client
        url = f"/api/v1/conversations/{long_thread}/messages"
        page = (
            await client.get(url, params={"after_seq": 2, "limit": 3}, headers=agent.headers)
        ).json()
        assert [m["seq"] for m in page["items"]] == [3, 4, 5]
        rest = (
            await client.get(url, params={"cursor": page["next_cursor"]}, headers=agent.headers)
        ).json()
        assert ([m["seq"] for m in rest["items"]], rest["next_cursor"]) == ([6, 7], None)
        nothing = (await client.get(url, params={"after_seq": 7}, headers=agent.headers)).json()
        assert nothing == {"items": [], "next_cursor": None}

    @pytest.mark.parametrize(
        "params",
        [{"cursor": "%%%"}, {"cursor": "YWJj"}, {"after_seq": -1}, {"limit": 0}, {"limit": 201}],
    )
    async def test_bad_paging_is_refused(
        self, agent: Agent, long_thread: str, params: dict
    ) -> None:
        response = await agent.client.get(
            f"/api/v1/conversations/{long_thread}/messages", params=params, headers=agent.headers
        )
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")


class TestInbox:
    @pytest.fixture
    async def inbox(
        self, client: httpx.AsyncClient, factory: Factory, world: World, agent: Agent, admin: Agent
    ) -> dict[str, str]:
        """Four chats: unanswered, mine (agent's), the admin's, finished; the newest last."""
        second_channel = await factory.channel(world.a.partner, chat_enabled=True)
        ids = {}
        for name, channel in (
            ("finished", world.a.channel),
            ("admins", world.a.channel),
            ("mine", world.a.channel),
            ("unanswered", second_channel),
        ):
            follower = await new_follower(client, world.tenant, channel, name=f"Customer {name}")
            await follower.write(f"question about {name}")
            ids[name] = await follower.conversation_id()
        ids["second_channel"] = str(second_channel.id)
        await agent.reply(ids["finished"])
        await agent.finish(ids["finished"])
        await admin.reply(ids["admins"])
        await agent.reply(ids["mine"])
        return ids

    async def listed(self, agent: Agent, **params: str) -> list[str]:
        response = await agent.client.get(
            "/api/v1/conversations", params=params, headers=agent.headers
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    async def test_filters_newest_activity_first(self, agent: Agent, inbox: dict[str, str]) -> None:
        assert await self.listed(agent, filter="mine") == [inbox["mine"]]
        assert await self.listed(agent, filter="unanswered") == [inbox["unanswered"]]
        assert await self.listed(agent, filter="active") == [inbox["mine"], inbox["admins"]]
        assert await self.listed(agent, filter="finished") == [inbox["finished"]]
        assert await self.listed(agent) == [
            inbox["mine"],
            inbox["admins"],
            inbox["finished"],
            inbox["unanswered"],
        ]
        assert await self.listed(agent, channel_id=inbox["second_channel"]) == [inbox["unanswered"]]

    async def test_counts(self, agent: Agent, admin: Agent, inbox: dict[str, str]) -> None:
        everything = {"mine": 1, "unanswered": 1, "active": 2, "finished": 1}
        response = await agent.client.get("/api/v1/conversations/counts", headers=agent.headers)
        # Nobody has read anything yet: every chat has the end user's message unread.
        assert response.json() == everything | {"unread": everything}
        response = await admin.client.get(
            "/api/v1/conversations/counts",
            params={"channel_id": inbox["second_channel"]},
            headers=admin.headers,
        )
        second_channel = {"mine": 0, "unanswered": 1, "active": 0, "finished": 0}
        assert response.json() == second_channel | {"unread": second_channel}

    async def test_endless_scroll_visits_each_once(
        self, agent: Agent, inbox: dict[str, str]
    ) -> None:
        seen, cursor = [], None
        while True:
            params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
            page = (
                await agent.client.get(
                    "/api/v1/conversations", params=params, headers=agent.headers
                )
            ).json()
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == await self.listed(agent)

    async def test_a_new_message_moves_a_chat_to_the_top(
        self, agent: Agent, inbox: dict[str, str]
    ) -> None:
        await agent.reply(inbox["admins"], take_over=True)
        assert (await self.listed(agent))[0] == inbox["admins"]

    @pytest.mark.parametrize(
        "params",
        [{"filter": "everything"}, {"channel_id": "nope"}, {"cursor": "!!"}, {"q": "x" * 201}],
    )
    async def test_bad_filters_are_refused(
        self, agent: Agent, inbox: dict[str, str], params: dict
    ) -> None:
        response = await agent.client.get(
            "/api/v1/conversations", params=params, headers=agent.headers
        )
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")

    async def test_the_list_takes_the_same_queries_however_long(
        self,
        app,
        agent: Agent,
        inbox: dict[str, str],  # type: ignore[no-untyped-def]
    ) -> None:
        statements: list[str] = []

        def count(*_: object) -> None:
            statements.append("query")

        engine = app.state.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await self.listed(agent, limit="1")
            one = len(statements)
            statements.clear()
            await self.listed(agent, limit="50")
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)


class TestSearch:
    @pytest.fixture
    async def customers(
        self, client: httpx.AsyncClient, world: World, agent: Agent
    ) -> dict[str, str]:
        ids = {}
        for name, email, phone, text in (
            ("Jonas Weber", "jonas@example.com", "+4917012345", "Where is my parcel?"),
            ("Lea Fischer", "lea@example.com", "+4915598765", "I want a refund for the broken mug"),
        ):
            follower = await new_follower(
                client, world.tenant, world.a.channel, name=name, email=email, phone=phone
            )
            await follower.write(text)
            ids[name] = await follower.conversation_id()
        await agent.reply(ids["Lea Fischer"], "Sorry about the mug, a refund is on its way")
        return ids

    async def search(self, agent: Agent, q: str, **params: str) -> list[tuple[str, str | None]]:
        response = await agent.client.get(
            "/api/v1/conversations", params={"q": q, **params}, headers=agent.headers
        )
        assert response.status_code == 200, response.text
        return [(item["end_user"]["name"], item["snippet"]) for item in response.json()["items"]]

    async def test_by_end_user_name_email_phone_and_external_id(
        self, agent: Agent, customers: dict[str, str]
    ) -> None:
        assert [n for n, _ in await self.search(agent, "jon")] == ["Jonas Weber"]
        assert [n for n, _ in await self.search(agent, "lea@example")] == ["Lea Fischer"]
        assert [n for n, _ in await self.search(agent, "4917012345")] == ["Jonas Weber"]
        conversation = await agent.conversation(customers["Jonas Weber"])
        external_id = conversation["end_user"]["external_id"]
        assert [n for n, _ in await self.search(agent, external_id)] == ["Jonas Weber"]

    async def test_by_message_text_with_the_newest_matching_snippet(
        self, agent: Agent, customers: dict[str, str]
    ) -> None:
        found = await self.search(agent, "refund")
        assert found == [("Lea Fischer", "Sorry about the mug, a [refund] is on its way")]
        assert await self.search(agent, "parc") == [("Jonas Weber", "Where is my [parcel]?")]
        assert await self.search(agent, "broken mug") == [
            ("Lea Fischer", "I want a refund for the [broken] [mug]")
        ]

    async def test_activity_lines_and_other_partners_do_not_match(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        agent: Agent,
        customers: dict[str, str],
    ) -> None:
        assert await self.search(agent, "took") == []
        other = await new_follower(client, world.tenant, world.b.channel, name="Jonas Weber")
        await other.write("parcel parcel")
        assert [n for n, _ in await self.search(agent, "parcel")] == ["Jonas Weber"]
        b_agent = await as_agent(client, factory, world.b.agent)
        assert len(await self.search(b_agent, "jonas")) == 1

    async def test_search_combines_with_filters_and_odd_input_is_harmless(
        self, agent: Agent, customers: dict[str, str]
    ) -> None:
        assert [n for n, _ in await self.search(agent, "refund", filter="active")] == [
            "Lea Fischer"
        ]
        assert await self.search(agent, "refund", filter="unanswered") == []
        for odd in ('"', "*", "NEAR(", "a:*", "' OR 1=1 --", "💥", "&|!"):
            assert isinstance(await self.search(agent, odd), list)


@pytest.mark.parametrize("role", [Role.AGENT, Role.PARTNER_ADMIN])
async def test_every_partner_role_handles_chats(
    client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower, role: Role
) -> None:
    await follower.write()
    handler = await as_agent(client, factory, world.staff_with(role))
    assert (await handler.reply(await follower.conversation_id())).status_code == 201


class TestUnread:
    async def unread(self, agent: Agent, conversation_id: str) -> int:
        return (await agent.conversation(conversation_id))["unread_count"]

    async def test_each_agent_counts_the_end_users_messages_they_have_not_read(
        self, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        for number in range(3):
            await follower.write(f"message {number}")
        conversation_id = await follower.conversation_id()
        assert await self.unread(agent, conversation_id) == 3

        marked = await agent.client.post(
            f"/api/v1/conversations/{conversation_id}/read", json={"seq": 2}, headers=agent.headers
        )
        assert marked.status_code == 204
        assert (
            await self.unread(agent, conversation_id),
            await self.unread(admin, conversation_id),
        ) == (1, 3)

        await agent.client.post(
            f"/api/v1/conversations/{conversation_id}/read", headers=agent.headers
        )
        await agent.reply(conversation_id)  # one's own replies are never unread
        assert await self.unread(agent, conversation_id) == 0
        # A read mark never moves back.
        await agent.client.post(
            f"/api/v1/conversations/{conversation_id}/read", json={"seq": 1}, headers=agent.headers
        )
        assert await self.unread(agent, conversation_id) == 0
        listed = await agent.client.get("/api/v1/conversations", headers=agent.headers)
        assert listed.json()["items"][0]["unread_count"] == 0

    async def test_the_end_user_counts_the_agents_replies(
        self, client: httpx.AsyncClient, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id, "one")
        await agent.reply(conversation_id, "two")
        mine = await client.get("/api/v1/me/conversations", headers=follower.headers)
        assert mine.json()["items"][0]["unread_count"] == 2
        await client.post(
            f"/api/v1/me/conversations/{conversation_id}/read", headers=follower.headers
        )
        mine = await client.get("/api/v1/me/conversations", headers=follower.headers)
        assert mine.json()["items"][0]["unread_count"] == 0

    async def test_filters_count_the_chats_with_unread_messages(
        self, client: httpx.AsyncClient, world: World, agent: Agent, admin: Agent
    ) -> None:
        chats = []
        for _ in range(3):
            follower = await new_follower(client, world.tenant, world.a.channel)
            await follower.write()
            chats.append((follower, await follower.conversation_id()))
        (mine_follower, mine), (_, read), _ = chats
        await agent.reply(mine)
        await agent.client.post(f"/api/v1/conversations/{read}/read", headers=agent.headers)
        await agent.client.post(f"/api/v1/conversations/{mine}/read", headers=agent.headers)

        async def unread_counts(reader: Agent) -> dict[str, int]:
            response = await reader.client.get(
                "/api/v1/conversations/counts", headers=reader.headers
            )
            return response.json()["unread"]

        assert await unread_counts(agent) == {
            "mine": 0,
            "unanswered": 1,
            "active": 0,
            "finished": 0,
        }
        assert await unread_counts(admin) == {
            "mine": 0,
            "unanswered": 2,
            "active": 1,
            "finished": 0,
        }

        await mine_follower.write("One more thing")
        assert await unread_counts(agent) == {
            "mine": 1,
            "unanswered": 1,
            "active": 1,
            "finished": 0,
        }

    async def test_the_inbox_reads_unread_counts_without_a_query_per_chat(
        self, client: httpx.AsyncClient, app: FastAPI, world: World, agent: Agent
    ) -> None:
        async def statements_for_a_page() -> int:
            statements = []

            def count(*_: object) -> None:
                statements.append(1)

            engine = app.state.database.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            try:
                response = await agent.client.get("/api/v1/conversations", headers=agent.headers)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert all(item["unread_count"] >= 1 for item in response.json()["items"])
            return len(statements)

        follower = await new_follower(client, world.tenant, world.a.channel)
        await follower.write()
        with_one = await statements_for_a_page()
        for _ in range(12):
            follower = await new_follower(client, world.tenant, world.a.channel)
            await follower.write()
            await follower.write("and a second message")
        assert await statements_for_a_page() == with_one

    async def test_marks_are_for_readable_conversations_only(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        outsider = await as_agent(client, factory, world.b.agent)
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/read", headers=outsider.headers
        )
        assert response.status_code == 404
        bad = await client.post(
            f"/api/v1/me/conversations/{conversation_id}/read",
            json={"seq": -1},
            headers=follower.headers,
        )
        assert bad.status_code == 422


class TestContract:
    """The served OpenAPI document lists the chat as the API contract describes it."""

    async def test_paths_and_fields(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        paths = document["paths"]
        for path, method in (
            ("/api/v1/conversations", "get"),
            ("/api/v1/conversations/{conversation_id}", "get"),
            ("/api/v1/conversations/{conversation_id}/messages", "get"),
            ("/api/v1/conversations/{conversation_id}/messages", "post"),
            ("/api/v1/conversations/{conversation_id}/finish", "post"),
            ("/api/v1/channels/{channel_id}/chat/messages", "post"),
            ("/api/v1/me/conversations", "get"),
            ("/api/v1/me/conversations/{conversation_id}/messages", "get"),
        ):
            assert method in paths[path], (path, method)
        schemas = document["components"]["schemas"]
        assert set(schemas["Conversation"]["properties"]) >= {
            "id", "channel_id", "end_user", "status", "owner", "finished_by", "last_message",
            "last_message_at", "opened_at", "created_at", "unread_count",
        }  # fmt: skip
        assert set(schemas["Message"]["properties"]) >= {
            "id", "conversation_id", "seq", "kind", "sender", "body", "attachments", "engagement",
            "client_message_id", "created_at",
        }  # fmt: skip
        filters = {p["name"]: p for p in paths["/api/v1/conversations"]["get"]["parameters"]}
        assert set(filters) >= {"filter", "channel_id", "q", "limit", "cursor"}
        thread = paths["/api/v1/conversations/{conversation_id}/messages"]["get"]["parameters"]
        assert {p["name"] for p in thread} >= {"after_seq", "before_seq", "limit"}
