"""GET /api/v1/ws against a real server: who hears what, in order, and catching up after."""

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from relaydesk.auth.deps import SESSION_COOKIE
from relaydesk.realtime import api as realtime_api
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World
from tests.realtime.conftest import bearer_token, socket


class TestAgentsHearTheInbox:
    async def test_a_new_chat_and_its_take_reach_every_agent(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        admin = await as_agent(http, factory, world.a.admin)
        async with (
            socket(live_server, headers=agent.headers) as agent_socket,
            socket(live_server, headers=admin.headers) as admin_socket,
        ):
            sent = (await follower.write("Anyone there?")).json()
            for listener in (agent_socket, admin_socket):
                created = await listener.frame_of("message.created")
                assert created["id"] == sent["id"]
                assert created["body"] == "Anyone there?"
                assert created["conversation"]["status"] == "unanswered"

            await agent.reply(sent["conversation_id"], "Yes!")
            frames = [await admin_socket.frame() for _ in range(3)]
            assert [f["type"] for f in frames] == [
                "message.created",
                "message.created",
                "conversation.updated",
            ]
            assert [f["data"]["seq"] for f in frames[:2]] == [2, 3]
            assert frames[2]["data"]["status"] == "active"
            assert frames[2]["data"]["owner"] == {"id": agent.id, "name": agent.name}

    async def test_other_partners_hear_nothing(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
    ) -> None:
        outsider = await as_agent(http, factory, world.b.agent)
        async with socket(live_server, headers=outsider.headers) as outsider_socket:
            await follower.write()
            assert await outsider_socket.nothing_pending()

    async def test_channel_switches_reach_agents_and_followers(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        admin_headers = await factory.headers(world.a.admin)
        async with (
            socket(live_server, headers=agent.headers) as agent_socket,
            socket(live_server, token=bearer_token(follower.headers)) as follower_socket,
        ):
            await http.post(
                f"/api/v1/channels/{world.a.channel.id}/chat/disable", headers=admin_headers
            )
            for listener in (agent_socket, follower_socket):
                channel = await listener.frame_of("channel.updated")
                assert (channel["id"], channel["chat_enabled"]) == (str(world.a.channel.id), False)
            assert "follower_count" not in channel


class TestEndUsersHearTheirOwnChat:
    async def test_replies_reach_the_end_user_in_seq_order(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        someone_else = await new_follower(http, world.tenant, world.a.channel)
        async with (
            socket(live_server, token=bearer_token(follower.headers)) as mine,
            socket(live_server, token=bearer_token(someone_else.headers)) as theirs,
        ):
            sent = (await follower.write()).json()
            assert (await mine.frame_of("message.created"))["id"] == sent["id"]
            for number in range(5):
                await agent.reply(sent["conversation_id"], f"reply {number}")
            seqs = []
            while len(seqs) < 6:
                frame = await mine.frame()
                if frame["type"] == "message.created":
                    seqs.append(frame["data"]["seq"])
            assert seqs == [2, 3, 4, 5, 6, 7]
            assert await theirs.nothing_pending()

    async def test_after_a_dropped_connection_the_api_fills_the_gap(
        self, live_server: str, http: httpx.AsyncClient, follower: Follower, agent: Agent
    ) -> None:
        async with socket(live_server, token=bearer_token(follower.headers)) as first:
            sent = (await follower.write()).json()
            last_seen = (await first.frame_of("message.created"))["seq"]
        for number in range(3):
            await agent.reply(sent["conversation_id"], f"while you were away {number}")
        async with socket(live_server, token=bearer_token(follower.headers)) as second:
            await agent.reply(sent["conversation_id"], "welcome back")
            live = await second.frame_of("message.created")
            missed = await http.get(
                f"/api/v1/me/conversations/{sent['conversation_id']}/messages",
                params={"after_seq": last_seen},
                headers=follower.headers,
            )
        caught_up = {m["id"]: m["seq"] for m in missed.json()["items"]}
        caught_up[live["id"]] = live["seq"]
        assert sorted(caught_up.values()) == list(range(last_seen + 1, live["seq"] + 1))


class TestWhoMayConnect:
    async def test_without_credentials_the_socket_is_closed_4401(self, live_server: str) -> None:
        async with connect(live_server.replace("http", "ws") + "/api/v1/ws") as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
        assert closed.value.rcvd.code == 4401

    async def test_tenant_staff_are_closed_4403(
        self, live_server: str, factory: Factory, world: World
    ) -> None:
        url = live_server.replace("http", "ws") + "/api/v1/ws"
        headers = await factory.headers(world.tenant_admin)
        async with connect(url, additional_headers=headers) as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
        assert closed.value.rcvd.code == 4403

    async def test_the_session_cookie_counts_only_from_our_own_pages(
        self, live_server: str, http: httpx.AsyncClient, world: World
    ) -> None:
        signed_in = await http.post(
            "/login",
            data={"email": world.a.agent.email, "password": "correct horse battery staple"},
        )
        assert signed_in.status_code == 303
        cookie = {"Cookie": f"{SESSION_COOKIE}={signed_in.cookies[SESSION_COOKIE]}"}
        url = live_server.replace("http", "ws") + "/api/v1/ws"
        async with connect(url, additional_headers=cookie, origin=live_server) as connection:
            assert json.loads(await connection.recv())["type"] == "hello"
        async with connect(
            url, additional_headers=cookie, origin="https://evil.example"
        ) as connection:
            with pytest.raises(ConnectionClosed) as closed:
                await connection.recv()
        assert closed.value.rcvd.code == 4401

    @pytest.mark.parametrize("cut_off", ["partner suspended", "agent deactivated"])
    async def test_an_open_socket_closes_once_its_user_is_shut_out(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        factory: Factory,
        world: World,
        monkeypatch: pytest.MonkeyPatch,
        cut_off: str,
    ) -> None:
        monkeypatch.setattr(realtime_api, "RECHECK_SECONDS", 0.1)
        agent_headers = await factory.headers(world.a.agent)
        async with socket(live_server, token=bearer_token(agent_headers)) as client:
            assert await client.nothing_pending()
            if cut_off == "partner suspended":
                changed = await http.patch(
                    f"/api/v1/tenant/partners/{world.a.partner.id}",
                    json={"status": "suspended"},
                    headers=await factory.headers(world.tenant_admin),
                )
            else:
                changed = await http.patch(
                    f"/api/v1/staff/{world.a.agent.id}",
                    json={"is_active": False},
                    headers=await factory.headers(world.a.admin),
                )
            assert changed.status_code == 200
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await client.frame()
        assert closed.value.rcvd.code == 4401
