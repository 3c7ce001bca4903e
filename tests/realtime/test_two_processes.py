"""Two `relaydesk serve` processes sharing PostgreSQL and Redis behave as one service."""

import asyncio

import httpx
import pytest

from relaydesk.config import Settings
from tests.chat.conftest import as_agent, new_follower
from tests.factories import Factory, World
from tests.processes import Relaydesk, free_port, wait_until_serving
from tests.realtime.conftest import bearer_token, socket
from tests.realtime.test_presence import say

pytestmark = pytest.mark.only_backend("postgresql")


async def serving(relaydesk: Relaydesk, settings: Settings) -> str:
    """Starts one more server process on the shared database and Redis; its base URL."""
    port = free_port()
    relaydesk.env |= {
        "RELAYDESK_REDIS_URL": str(settings.redis_url),
        "RELAYDESK_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "RELAYDESK_SECRET_KEY": settings.secret_key,
    }
    server = await relaydesk.start("serve", "--port", str(port), "--no-worker")
    base_url = f"http://127.0.0.1:{port}"
    await wait_until_serving(server, base_url)
    return base_url


async def test_a_message_sent_through_one_reaches_sockets_on_the_other(
    relaydesk: Relaydesk,
    settings: Settings,
    factory: Factory,
    world: World,
) -> None:
    first, second = await asyncio.gather(serving(relaydesk, settings), serving(relaydesk, settings))
    async with (
        httpx.AsyncClient(base_url=first) as via_first,
        httpx.AsyncClient(base_url=second) as via_second,
    ):
        follower = await new_follower(via_first, world.tenant, world.a.channel, name="Mia")
        agent = await as_agent(via_second, factory, world.a.agent)
        async with (
            socket(second, headers=agent.headers) as agent_socket,
            socket(first, token=bearer_token(follower.headers)) as follower_socket,
        ):
            sent = (await follower.write("Hello from process one")).json()
            assert (await agent_socket.frame_of("message.created"))["id"] == sent["id"]

            reply = (await agent.reply(sent["conversation_id"], "Answer from process two")).json()
            frames = [await follower_socket.frame_of("message.created") for _ in range(3)]
            assert [f["id"] for f in frames][-1] == reply["id"]


async def test_who_views_and_types_is_shared_and_throttled_across_processes(
    relaydesk: Relaydesk,
    settings: Settings,
    factory: Factory,
    world: World,
) -> None:
    first, second = await asyncio.gather(serving(relaydesk, settings), serving(relaydesk, settings))
    async with (
        httpx.AsyncClient(base_url=first) as via_first,
        httpx.AsyncClient(base_url=second) as via_second,
    ):
        follower = await new_follower(via_first, world.tenant, world.a.channel, name="Mia")
        conversation_id = (await follower.write("Hello?")).json()["conversation_id"]
        agent = await as_agent(via_first, factory, world.a.agent)
        colleague = await as_agent(via_second, factory, world.a.admin)
        async with (
            socket(first, headers=agent.headers) as agent_on_first,
            socket(second, headers=agent.headers) as agent_on_second,
            socket(second, headers=colleague.headers) as colleague_socket,
        ):
            await say(colleague_socket, "viewing", conversation_id)
            await colleague_socket.frame_of("presence")
            await say(agent_on_first, "viewing", conversation_id)
            presence = await colleague_socket.frame_of("presence")
            assert [v["name"] for v in presence["viewers"]] == sorted([colleague.name, agent.name])

            # The same agent typing in two consoles on two processes: one event a second.
            await say(agent_on_first, "typing", conversation_id)
            await say(agent_on_second, "typing", conversation_id)
            typing = await colleague_socket.frame_of("typing")
            assert typing["sender"]["id"] == agent.id
            assert await colleague_socket.nothing_pending()
