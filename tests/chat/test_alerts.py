"""Each agent's console alerts (HD-17) over HTTP: `GET` and `PATCH /api/v1/me/alerts`."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tests.chat.conftest import Agent
from tests.factories import Factory, World

PATH = "/api/v1/me/alerts"
ALL_ON = {
    "unanswered_sound": True,
    "unanswered_notification": True,
    "my_chats_sound": True,
    "my_chats_notification": True,
}


async def settings_of(agent: Agent) -> dict[str, bool]:
    response = await agent.client.get(PATH, headers=agent.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def change(agent: Agent, **changes: object) -> httpx.Response:
    return await agent.client.patch(PATH, json=changes, headers=agent.headers)


class TestDefaults:
    async def test_every_alert_is_on_until_the_agent_mutes_one(self, agent: Agent) -> None:
        assert await settings_of(agent) == ALL_ON


class TestChanging:
    async def test_a_change_touches_only_its_field_and_is_kept(self, agent: Agent) -> None:
        response = await change(agent, my_chats_notification=False)

        assert response.status_code == 200
        assert response.json() == ALL_ON | {"my_chats_notification": False}
        assert await settings_of(agent) == ALL_ON | {"my_chats_notification": False}

    async def test_the_same_change_twice_gives_the_same_settings(self, agent: Agent) -> None:
        first = await change(agent, unanswered_sound=False)
        second = await change(agent, unanswered_sound=False)

        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() == ALL_ON | {"unanswered_sound": False}

    async def test_a_muted_alert_can_be_switched_on_again(self, agent: Agent) -> None:
        await change(agent, unanswered_notification=False, my_chats_sound=False)

        response = await change(agent, my_chats_sound=True)

        assert response.json() == ALL_ON | {"unanswered_notification": False}

    async def test_each_agent_has_their_own(self, agent: Agent, admin: Agent) -> None:
        await change(agent, unanswered_sound=False)
        await change(admin, my_chats_sound=False)

        assert await settings_of(agent) == ALL_ON | {"unanswered_sound": False}
        assert await settings_of(admin) == ALL_ON | {"my_chats_sound": False}


class TestInvalidChanges:
    @pytest.mark.parametrize(
        "body",
        [{"unanswered_sound": "loud"}, {"desktop_badge": False}],
        ids=["not-a-boolean", "unknown-field"],
    )
    async def test_is_refused_and_changes_nothing(self, agent: Agent, body: dict) -> None:
        await change(agent, unanswered_notification=False)

        response = await agent.client.patch(PATH, json=body, headers=agent.headers)

        assert response.status_code == 422
        assert await settings_of(agent) == ALL_ON | {"unanswered_notification": False}


class TestWhoMay:
    async def test_without_credentials_is_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.get(PATH)).status_code == 401
        assert (await client.patch(PATH, json={"unanswered_sound": False})).status_code == 401

    async def test_an_end_user_is_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = factory.end_user_headers(world.tenant)

        assert (await client.get(PATH, headers=headers)).status_code == 403
        response = await client.patch(PATH, json={"unanswered_sound": False}, headers=headers)
        assert response.status_code == 403

    async def test_tenant_staff_have_no_console_alerts(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_staff)

        response = await client.get(PATH, headers=headers)

        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        response = await client.patch(PATH, json={"unanswered_sound": False}, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


class TestRacingFirstChanges:
    async def test_two_first_changes_at_once_both_land(self, app: FastAPI, agent: Agent) -> None:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            responses = await asyncio.gather(
                change(agent, unanswered_sound=False),
                other.patch(PATH, json={"my_chats_sound": False}, headers=agent.headers),
            )

        assert [response.status_code for response in responses] == [200, 200]
        assert await settings_of(agent) == ALL_ON | {
            "unanswered_sound": False,
            "my_chats_sound": False,
        }
