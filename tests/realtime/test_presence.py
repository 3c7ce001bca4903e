"""The collision guard (HD-18) over real sockets: who has a chat open, who is typing in it,
throttled, expiring on its own, and only for those who may read the chat."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relaydesk.clock import clock
from relaydesk.realtime.presence import TTL_SECONDS, TYPING_SECONDS
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World
from tests.realtime.conftest import Socket, bearer_token, socket


@pytest.fixture
async def colleague(http: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(http, factory, world.a.admin)


async def chat_with(follower: Follower) -> str:
    return (await follower.write("Hello?")).json()["conversation_id"]


async def say(listener: Socket, type_: str, conversation_id: object) -> None:
    await listener.connection.send(json.dumps({"type": type_, "conversation_id": conversation_id}))


def names(presence: dict) -> list[str]:
    return [viewer["name"] for viewer in presence["viewers"]]


class TestViewing:
    async def test_agents_see_who_else_has_the_chat_open_until_they_leave(
        self, live_server: str, follower: Follower, agent: Agent, colleague: Agent
    ) -> None:
        conversation_id = await chat_with(follower)
        async with socket(live_server, headers=colleague.headers) as colleague_socket:
            async with socket(live_server, headers=agent.headers) as agent_socket:
                await say(agent_socket, "viewing", conversation_id)
                presence = await colleague_socket.frame_of("presence")
                assert presence["conversation_id"] == conversation_id
                assert presence["viewers"] == [{"id": agent.id, "name": agent.name}]
                assert presence["expires_in"] == TTL_SECONDS
                assert await agent_socket.frame_of("presence") == presence

                await say(colleague_socket, "viewing", conversation_id)
                presence = await agent_socket.frame_of("presence")
                assert names(presence) == sorted([agent.name, colleague.name])
                assert await colleague_socket.frame_of("presence") == presence
            # The agent's console went away.
            presence = await colleague_socket.frame_of("presence")
            assert names(presence) == [colleague.name]

    async def test_opening_another_chat_leaves_the_first(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        world: World,
        follower: Follower,
        agent: Agent,
        colleague: Agent,
    ) -> None:
        first = await chat_with(follower)
        second = await chat_with(await new_follower(http, world.tenant, world.a.channel))
        async with (
            socket(live_server, headers=colleague.headers) as colleague_socket,
            socket(live_server, headers=agent.headers) as agent_socket,
        ):
            await say(agent_socket, "viewing", first)
            assert names(await colleague_socket.frame_of("presence")) == [agent.name]
            await say(agent_socket, "viewing", second)
            left, joined = [await colleague_socket.frame_of("presence") for _ in range(2)]
            assert (left["conversation_id"], left["viewers"]) == (first, [])
            assert (joined["conversation_id"], names(joined)) == (second, [agent.name])
            await say(agent_socket, "viewing", None)
            closed = await colleague_socket.frame_of("presence")
            assert (closed["conversation_id"], closed["viewers"]) == (second, [])

    async def test_a_console_that_stops_refreshing_drops_out_on_its_own(
        self, live_server: str, follower: Follower, agent: Agent, colleague: Agent
    ) -> None:
        conversation_id = await chat_with(follower)
        clock.freeze(datetime.now(UTC))
        async with (
            socket(live_server, headers=colleague.headers) as colleague_socket,
            socket(live_server, headers=agent.headers) as agent_socket,
        ):
            await say(agent_socket, "viewing", conversation_id)
            assert names(await colleague_socket.frame_of("presence")) == [agent.name]
            # The agent's console is silent (a closed laptop) for longer than a viewer lasts.
            clock.advance(timedelta(seconds=TTL_SECONDS + 1))
            await say(colleague_socket, "viewing", conversation_id)
            assert names(await colleague_socket.frame_of("presence")) == [colleague.name]

    async def test_only_the_partners_agents_hear_of_it(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        conversation_id = await chat_with(follower)
        outsider = await as_agent(http, factory, world.b.agent)
        async with (
            socket(live_server, headers=outsider.headers) as outsider_socket,
            socket(live_server, token=bearer_token(follower.headers)) as follower_socket,
            socket(live_server, headers=agent.headers) as agent_socket,
        ):
            await say(agent_socket, "viewing", conversation_id)
            assert names(await agent_socket.frame_of("presence")) == [agent.name]
            assert await outsider_socket.nothing_pending()
            assert await follower_socket.nothing_pending()
            # Another partner's chat is not theirs to be seen in.
            await say(outsider_socket, "viewing", conversation_id)
            await say(outsider_socket, "typing", conversation_id)
            assert await agent_socket.nothing_pending()
            assert await outsider_socket.nothing_pending()


class TestTyping:
    async def test_an_agent_typing_reaches_colleagues_and_the_end_user_once_a_second(
        self, live_server: str, follower: Follower, agent: Agent, colleague: Agent
    ) -> None:
        conversation_id = await chat_with(follower)
        async with (
            socket(live_server, headers=colleague.headers) as colleague_socket,
            socket(live_server, token=bearer_token(follower.headers)) as follower_socket,
            socket(live_server, headers=agent.headers) as agent_socket,
        ):
            for _ in range(5):
                await say(agent_socket, "typing", conversation_id)
            for listener in (colleague_socket, follower_socket):
                typing = await listener.frame_of("typing")
                assert typing == {
                    "conversation_id": conversation_id,
                    "sender": {"type": "agent", "id": agent.id, "name": agent.name},
                    "expires_in": TYPING_SECONDS,
                }
                assert await listener.nothing_pending(), "the burst made one event"

            await asyncio.sleep(1.1)
            await say(agent_socket, "typing", conversation_id)
            assert (await colleague_socket.frame_of("typing"))["sender"]["id"] == agent.id

    async def test_the_end_user_typing_reaches_the_agents(
        self, live_server: str, follower: Follower, agent: Agent
    ) -> None:
        conversation_id = await chat_with(follower)
        async with (
            socket(live_server, headers=agent.headers) as agent_socket,
            socket(live_server, token=bearer_token(follower.headers)) as follower_socket,
        ):
            await say(follower_socket, "typing", conversation_id)
            typing = await agent_socket.frame_of("typing")
            assert typing["sender"] == {
                "type": "end_user",
                "id": typing["sender"]["id"],
                "name": "Mia Jensen",
            }
            # End users have no presence to announce.
            await say(follower_socket, "viewing", conversation_id)
            assert await agent_socket.nothing_pending()

    async def test_nobody_types_into_a_chat_that_is_not_theirs(
        self,
        live_server: str,
        http: httpx.AsyncClient,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        conversation_id = await chat_with(follower)
        stranger = await new_follower(http, world.tenant, world.a.channel, name="Someone Else")
        async with (
            socket(live_server, headers=agent.headers) as agent_socket,
            socket(live_server, token=bearer_token(stranger.headers)) as stranger_socket,
        ):
            await say(stranger_socket, "typing", conversation_id)
            assert await agent_socket.nothing_pending()

    @pytest.mark.parametrize(
        "frame",
        [
            "not json",
            "[]",
            '{"type": "typing"}',
            '{"type": "typing", "conversation_id": "not-a-uuid"}',
            '{"type": "viewing", "conversation_id": 5}',
            '{"type": "typing", "conversation_id": "00000000-0000-0000-0000-000000000000"}',
            '{"type": "shout"}',
        ],
    )
    async def test_odd_frames_are_ignored_and_the_socket_stays(
        self, live_server: str, agent: Agent, frame: str
    ) -> None:
        async with socket(live_server, headers=agent.headers) as agent_socket:
            await agent_socket.connection.send(frame)
            assert await agent_socket.nothing_pending()
