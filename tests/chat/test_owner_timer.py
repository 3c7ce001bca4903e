"""The owner timer (HD-20): a per-partner setting, run by the worker with the injected clock."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relaydesk.auth.permissions import Role
from relaydesk.auth.service import principal_of
from relaydesk.chat import service
from relaydesk.chat.owner_timer import return_unattended_chats
from relaydesk.chat.schemas import AgentMessageCreate
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.chat.conftest import Agent, Follower, as_agent, client_message_id, new_follower
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import parse
from tests.web.test_pages import redirect_target, signed_in


async def set_timer(agent: Agent, minutes: int | None) -> httpx.Response:
    return await agent.client.patch(
        "/api/v1/partner/settings", json={"owner_timer_minutes": minutes}, headers=agent.headers
    )


async def active_chat(follower: Follower, agent: Agent) -> str:
    """The follower writes now and the agent takes the chat a minute later."""
    clock.freeze(datetime.now(UTC))
    assert (await follower.write("Is anyone there?")).status_code == 201
    conversation_id = await follower.conversation_id()
    clock.advance(timedelta(minutes=1))
    assert (await agent.reply(conversation_id)).status_code == 201
    return conversation_id


def returned_lines(thread: list[dict]) -> list[dict]:
    return [m for m in thread if m["kind"] == "activity" and m["activity"]["action"] == "returned"]


class TestSetting:
    async def test_off_by_default_and_switched_on_and_off_by_a_partner_admin(
        self, admin: Agent
    ) -> None:
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["owner_timer_minutes"] is None

        switched_on = await set_timer(admin, 5)
        assert switched_on.status_code == 200
        assert switched_on.json() == {"time_zone": "UTC", "owner_timer_minutes": 5}
        switched_off = await set_timer(admin, None)
        assert switched_off.json()["owner_timer_minutes"] is None

    @pytest.mark.parametrize("minutes", [0, -5, 1441, "five", 2.5, True])
    async def test_out_of_range_or_not_a_number_is_refused(
        self, admin: Agent, minutes: object
    ) -> None:
        await set_timer(admin, 5)
        response = await admin.client.patch(
            "/api/v1/partner/settings", json={"owner_timer_minutes": minutes}, headers=admin.headers
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["owner_timer_minutes"] == 5

    async def test_changing_the_timer_keeps_the_time_zone(self, admin: Agent) -> None:
        await admin.client.patch(
            "/api/v1/partner/settings", json={"time_zone": "Europe/Lisbon"}, headers=admin.headers
        )
        response = await set_timer(admin, 10)
        assert response.json() == {"time_zone": "Europe/Lisbon", "owner_timer_minutes": 10}

    async def test_a_null_time_zone_is_refused(self, admin: Agent) -> None:
        response = await admin.client.patch(
            "/api/v1/partner/settings", json={"time_zone": None}, headers=admin.headers
        )
        assert response.status_code == 422

    async def test_agents_cannot_change_it(self, agent: Agent) -> None:
        response = await set_timer(agent, 5)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"


class TestReturning:
    async def test_returns_the_chat_once_the_end_user_waited_the_timer(
        self, database: Database, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        clock.advance(timedelta(minutes=1))
        await follower.write("Hello?")

        clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
        await return_unattended_chats(database)
        assert (await agent.conversation(conversation_id))["status"] == "active"

        clock.advance(timedelta(seconds=1))
        await return_unattended_chats(database)
        await return_unattended_chats(database)

        conversation = await agent.conversation(conversation_id)
        assert conversation["status"] == "unanswered"
        assert conversation["owner"] is None
        thread = await agent.thread(conversation_id)
        (line,) = returned_lines(thread)
        assert line == thread[-1]
        assert line["sender"] == {"type": "system", "id": None, "name": "relaydesk"}
        assert line["activity"]["previous_owner"] == {"id": agent.id, "name": agent.name}
        assert line["body"] == (
            f"{agent.name} did not answer for 5 min; the chat is back in Unanswered"
        )

    async def test_the_wait_counts_from_the_oldest_unanswered_message(
        self, database: Database, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        await follower.write("First question")
        clock.advance(timedelta(minutes=4))
        await follower.write("Still there?")

        clock.advance(timedelta(minutes=1))
        await return_unattended_chats(database)

        assert (await agent.conversation(conversation_id))["status"] == "unanswered"

    async def test_an_answer_ends_the_wait(
        self, database: Database, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        await follower.write("A question")
        clock.advance(timedelta(minutes=4))
        await agent.reply(conversation_id, "An answer")

        clock.advance(timedelta(minutes=30))
        await return_unattended_chats(database)
        assert (await agent.conversation(conversation_id))["status"] == "active"

        await follower.write("Another question")
        clock.advance(timedelta(minutes=5))
        await return_unattended_chats(database)
        assert (await agent.conversation(conversation_id))["status"] == "unanswered"

    async def test_without_the_timer_nothing_is_returned(
        self, database: Database, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        await follower.write("A question")
        await set_timer(admin, None)

        clock.advance(timedelta(hours=12))
        await return_unattended_chats(database)

        assert (await agent.conversation(conversation_id))["status"] == "active"

    async def test_only_active_chats_are_returned(
        self,
        client: httpx.AsyncClient,
        database: Database,
        world: World,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await set_timer(admin, 5)
        clock.freeze(datetime.now(UTC))
        waiting = await new_follower(client, world.tenant, world.a.channel)
        await waiting.write("Nobody took this yet")
        waiting_id = await waiting.conversation_id()
        finished = await new_follower(client, world.tenant, world.a.channel)
        await finished.write("Thanks, bye")
        finished_id = await finished.conversation_id()
        await agent.reply(finished_id)
        await finished.write("One more thing")
        await agent.finish(finished_id)

        clock.advance(timedelta(hours=1))
        await return_unattended_chats(database)

        assert not returned_lines(await agent.thread(waiting_id))
        assert (await agent.conversation(finished_id))["status"] == "finished"
        assert not returned_lines(await agent.thread(finished_id))

    async def test_each_partner_has_its_own_timer(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        database: Database,
        world: World,
        follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await set_timer(admin, 5)
        other_admin = await as_agent(client, factory, world.b.admin)
        await set_timer(other_admin, 60)
        other_agent = await as_agent(client, factory, world.b.agent)
        other_follower = await new_follower(client, world.tenant, world.b.channel)
        mine = await active_chat(follower, agent)
        theirs = await active_chat(other_follower, other_agent)
        await follower.write("Hello?")
        await other_follower.write("Hello?")

        clock.advance(timedelta(minutes=30))
        await return_unattended_chats(database)

        assert (await agent.conversation(mine))["status"] == "unanswered"
        assert (await other_agent.conversation(theirs))["status"] == "active"

    async def test_another_agent_takes_a_returned_chat_without_taking_it_over(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        database: Database,
        world: World,
        follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        await follower.write("Hello?")
        clock.advance(timedelta(minutes=5))
        await return_unattended_chats(database)

        colleague = await as_agent(
            client, factory, await factory.staff(world.tenant, Role.AGENT, world.a.partner)
        )
        assert (await colleague.reply(conversation_id, "I can help")).status_code == 201

        conversation = await agent.conversation(conversation_id)
        assert conversation["status"] == "active"
        assert conversation["owner"]["id"] == colleague.id
        thread = await agent.thread(conversation_id)
        assert [m["activity"]["action"] for m in thread if m["kind"] == "activity"] == [
            "taken",
            "returned",
            "taken",
        ]


@pytest.mark.only_backend("postgresql")
class TestRacingAReply:
    """The timer and the owner's reply at the same moment: one of them is first, never both
    half-way, and the reply is never lost."""

    async def test_a_reply_waiting_for_the_timer_takes_the_chat_back(
        self, database: Database, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        conversation_id = await active_chat(follower, agent)
        await follower.write("Hello?")
        clock.advance(timedelta(minutes=5))

        async with database.transaction() as session:
            assert await service.return_unattended(session, conversation_id, now())
            reply = asyncio.create_task(agent.reply(conversation_id, "Sorry, I'm here"))
            await asyncio.sleep(0.5)
            assert not reply.done(), "the reply waits for the timer's lock"
        assert (await reply).status_code == 201

        conversation = await agent.conversation(conversation_id)
        assert (conversation["status"], conversation["owner"]["id"]) == ("active", agent.id)
        thread = await agent.thread(conversation_id)
        assert [m["activity"]["action"] for m in thread if m["kind"] == "activity"] == [
            "taken",
            "returned",
            "taken",
        ]
        assert thread[-1]["body"] == "Sorry, I'm here"

    async def test_the_timer_waiting_for_a_reply_leaves_the_chat_alone(
        self, factory: Factory, database: Database, world: World, follower: Follower, admin: Agent
    ) -> None:
        await set_timer(admin, 5)
        owner = await as_agent(follower.client, factory, world.a.agent)
        conversation_id = await active_chat(follower, owner)
        await follower.write("Hello?")
        clock.advance(timedelta(minutes=5))
        staff = principal_of(world.a.agent)

        async with database.transaction() as session:
            await service.send_agent_message(
                session,
                staff,
                conversation_id,
                AgentMessageCreate(client_message_id=client_message_id(), body="Here!"),
            )
            timer = asyncio.create_task(return_unattended_chats(database))
            await asyncio.sleep(0.5)
            assert not timer.done(), "the timer waits for the reply's lock"
        await timer

        conversation = await owner.conversation(conversation_id)
        assert (conversation["status"], conversation["owner"]["id"]) == ("active", owner.id)
        assert not returned_lines(await owner.thread(conversation_id))


@pytest.mark.only_backend("sqlite")
class TestPage:
    """The owner timer's card on the partner's home page."""

    @pytest.fixture
    async def home(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> FormPage:
        await signed_in(client, factory, settings, world.a.admin)
        return FormPage(client, "/partner", opens_first=True)

    async def test_switching_it_on_with_htmx_and_off_without(
        self, home: FormPage, admin: Agent
    ) -> None:
        page = await home.open()
        card = page.find("section", {"id": "owner-timer"})
        assert "checked" not in card.find("input", {"name": "enabled"}).attrs

        fragment = await home.fragment("/partner/owner-timer", {"enabled": "true", "minutes": "15"})
        assert "after 15 min without an answer" in fragment.text()
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["owner_timer_minutes"] == 15

        response = await home.post_plain("/partner/owner-timer", {"minutes": "15"})
        assert redirect_target(response) == "/partner"
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["owner_timer_minutes"] is None

    @pytest.mark.parametrize("minutes", ["0", "1441", "ten", "", "1e3"])
    async def test_bad_minutes_are_explained_and_change_nothing(
        self, home: FormPage, admin: Agent, minutes: str
    ) -> None:
        await home.fragment("/partner/owner-timer", {"enabled": "true", "minutes": "20"})
        response = await home.post_plain(
            "/partner/owner-timer", {"enabled": "true", "minutes": minutes}
        )
        assert response.status_code == 422
        error = parse(response).find("p", {"id": "owner-timer-error"})
        assert error.text() == "Give the minutes as a whole number from 1 to 1440."
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["owner_timer_minutes"] == 20

    async def test_staff_without_chat_management_cannot_change_it(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        page = FormPage(client, "/desk", opens_first=True)
        response = await page.post_plain(
            "/partner/owner-timer", {"enabled": "true", "minutes": "5"}
        )
        assert response.status_code == 403
