"""Races: many agents replying at once, many senders at once, retries racing their original."""

import asyncio

import httpx
from sqlalchemy import func, select

from relaydesk.auth.permissions import Role
from relaydesk.chat.models import Conversation, Message
from tests.chat.conftest import Agent, Follower, as_agent, client_message_id
from tests.factories import Factory, World

RACERS = 10


async def agents(
    client: httpx.AsyncClient, factory: Factory, world: World, count: int
) -> list[Agent]:
    return [
        await as_agent(
            client, factory, await factory.staff(world.tenant, Role.AGENT, world.a.partner)
        )
        for _ in range(count)
    ]


async def all_messages(factory: Factory) -> list[Message]:
    async with factory.database.transaction() as session:
        return list(await session.scalars(select(Message).order_by(Message.seq)))


class TestRacingToTake:
    async def test_exactly_one_of_many_agents_takes_the_chat(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        racers = await agents(client, factory, world, RACERS)

        responses = await asyncio.gather(
            *(racer.reply(conversation_id, f"I'm {racer.name}") for racer in racers)
        )

        winners = [
            r for r, response in zip(racers, responses, strict=True) if response.status_code == 201
        ]
        assert len(winners) == 1
        (winner,) = winners
        losers = [response for response in responses if response.status_code != 201]
        assert {(r.status_code, r.json()["code"]) for r in losers} == {(409, "conversation_taken")}
        assert all(r.json()["owner"] == {"id": winner.id, "name": winner.name} for r in losers)
        messages = await all_messages(factory)
        assert [(m.seq, m.kind.value, m.body) for m in messages] == [
            (1, "text", "Hello"),
            (2, "activity", f"{winner.name} took the chat"),
            (3, "text", f"I'm {winner.name}"),
        ]

    async def test_racing_overtakes_leave_one_owner_and_a_line_each(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id)
        racers = await agents(client, factory, world, RACERS)

        responses = await asyncio.gather(
            *(racer.reply(conversation_id, take_over=True) for racer in racers)
        )

        assert {response.status_code for response in responses} == {201}
        messages = await all_messages(factory)
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
        overtakes = [m for m in messages if m.activity and m.activity["action"] == "taken_over"]
        assert len(overtakes) == RACERS
        # Each line names the owner it took the chat from: a chain, no owner skipped.
        owner = agent.id
        for line in overtakes:
            assert line.activity["previous_owner"]["id"] == owner
            owner = line.activity["agent"]["id"]
        assert (await agent.conversation(conversation_id))["owner"]["id"] == owner


class TestSequence:
    async def test_concurrent_senders_get_gapless_seq_and_retries_store_nothing(
        self, client: httpx.AsyncClient, factory: Factory, follower: Follower, agent: Agent
    ) -> None:
        await follower.write()
        conversation_id = await follower.conversation_id()
        await agent.reply(conversation_id)
        end_user_ids = [client_message_id() for _ in range(RACERS)]
        agent_ids = [client_message_id() for _ in range(RACERS)]

        sends = [follower.write(f"user {i}", cmid=cmid) for i, cmid in enumerate(end_user_ids)]
        sends += [
            agent.reply(conversation_id, f"agent {i}", cmid=cmid)
            for i, cmid in enumerate(agent_ids)
        ]
        # Every message is also retried while its original may still be in flight.
        sends += [follower.write(f"user {i}", cmid=cmid) for i, cmid in enumerate(end_user_ids)]
        sends += [
            agent.reply(conversation_id, f"agent {i}", cmid=cmid)
            for i, cmid in enumerate(agent_ids)
        ]
        responses = await asyncio.gather(*sends)

        assert {response.status_code for response in responses} <= {200, 201}
        assert sum(response.status_code == 201 for response in responses) == 2 * RACERS
        by_client_id = {}
        for response in responses:
            message = response.json()
            assert (
                by_client_id.setdefault(message["client_message_id"], message["id"])
                == message["id"]
            )
        messages = await all_messages(factory)
        assert [m.seq for m in messages] == list(range(1, 3 + 2 * RACERS + 1))
        assert {m.client_message_id for m in messages[3:]} == set(end_user_ids + agent_ids)

    async def test_first_messages_from_two_devices_open_one_conversation(
        self, factory: Factory, follower: Follower
    ) -> None:
        responses = await asyncio.gather(*(follower.write(f"device {i}") for i in range(RACERS)))
        assert {response.status_code for response in responses} == {201}
        async with factory.database.transaction() as session:
            conversations = await session.scalar(select(func.count()).select_from(Conversation))
        assert conversations == 1
        assert sorted(m.seq for m in await all_messages(factory)) == list(range(1, RACERS + 1))
