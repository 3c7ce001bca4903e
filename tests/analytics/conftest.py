"""Chats made at exact moments on a frozen clock, and the people who make them."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relaydesk.clock import clock, now
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World


def at(start: datetime, seconds: float) -> None:
    clock.freeze(start + timedelta(seconds=seconds))


async def opened(start: datetime, seconds: float, follower: Follower) -> str:
    """A chat the follower opens at t + seconds; its conversation id."""
    at(start, seconds)
    assert (await follower.write("Hello?")).status_code == 201
    return await follower.conversation_id()


async def replied(start: datetime, seconds: float, agent: Agent, conversation_id: str) -> None:
    at(start, seconds)
    response = await agent.reply(conversation_id, take_over=True)
    assert response.status_code == 201, response.text


async def finished(start: datetime, seconds: float, agent: Agent, conversation_id: str) -> None:
    at(start, seconds)
    assert (await agent.finish(conversation_id)).status_code == 200


async def two_days_of_chats(
    start: datetime, follower: Follower, second: Follower, agent: Agent
) -> None:
    """A chat opened at t, answered at t + 65 s and finished at t + 300 s; the next day at
    12:00 UTC another end user's, answered after 120 s and not finished."""
    conversation_id = await opened(start, 0, follower)
    await replied(start, 65, agent, conversation_id)
    await finished(start, 300, agent, conversation_id)
    second_id = await opened(start, 33 * 3600, second)
    await replied(start, 33 * 3600 + 120, agent, second_id)


@pytest.fixture
async def follower(client: httpx.AsyncClient, world: World) -> Follower:
    return await new_follower(client, world.tenant, world.a.channel, name="Mia Jensen")


@pytest.fixture
async def second_follower(client: httpx.AsyncClient, world: World) -> Follower:
    return await new_follower(client, world.tenant, world.a.channel, name="Noah Berg")


@pytest.fixture
async def agent(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(client, factory, world.a.agent)


@pytest.fixture
async def admin(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(client, factory, world.a.admin)


@pytest.fixture
def start(follower: Follower, second_follower: Follower, agent: Agent, admin: Agent) -> datetime:
    """t: 03:00 UTC three days ago (the evening before in New York), on a frozen clock; the
    people's tokens, issued on real time before, stay valid."""
    day = (now() - timedelta(days=3)).date()
    t = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
    clock.freeze(t)
    return t
