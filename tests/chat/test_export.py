"""The Finished list as CSV (HD-21): one row per finished chat session, newest finish first,
with the inbox's channel and search filters, scoped to the agent's partner."""

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from relaydesk import exports
from relaydesk.clock import clock, now
from tests.chat.conftest import Agent, Follower, new_follower
from tests.factories import Factory, World

EXPORT = "/api/v1/conversations/export.csv"
HEADER = [
    "Channel",
    "End user",
    "End user ID",
    "Agents",
    "Opened at",
    "First response at",
    "Finished at",
    "Response time (s)",
    "Handling time (s)",
]


def at(start: datetime, seconds: int) -> str:
    """Freezes the clock `seconds` after the start; the moment as the CSV writes it."""
    moment = start + timedelta(seconds=seconds)
    clock.freeze(moment)
    return moment.isoformat()


@pytest.fixture
def start() -> datetime:
    """03:00 UTC three days ago; the people's tokens, issued on real time, stay valid."""
    day = (now() - timedelta(days=3)).date()
    return datetime(day.year, day.month, day.day, 3, tzinfo=UTC)


async def exported(agent: Agent, **params: str) -> list[list[str]]:
    response = await agent.client.get(EXPORT, params=params, headers=agent.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="finished-chats.csv"'
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    return rows[1:]


async def external_id(agent: Agent, conversation_id: str) -> str:
    return (await agent.conversation(conversation_id))["end_user"]["external_id"]


class TestRows:
    async def test_one_row_per_finished_session_newest_finish_first(
        self,
        monkeypatch: pytest.MonkeyPatch,
        client: httpx.AsyncClient,
        world: World,
        start: datetime,
        follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        noah = await new_follower(client, world.tenant, world.a.channel, name="Noah Berg")
        # Mia: answered by the agent after 30 s, taken over by the admin, finished at 200 s.
        mia_opened = at(start, 0)
        await follower.write("My parcel is late")
        mia = await follower.conversation_id()
        mia_answered = at(start, 30)
        await agent.reply(mia, "Let me check.")
        at(start, 100)
        await admin.reply(mia, "I'll take this one.", take_over=True)
        await agent.reply(mia, "Back to me.", take_over=True)
        mia_finished = at(start, 200)
        await admin.finish(mia)
        # Noah: answered after 10 s, finished at 300 s.
        noah_opened = at(start, 250)
        await noah.write("Hello")
        noah_id = await noah.conversation_id()
        noah_answered = at(start, 260)
        await agent.reply(noah_id, "Hi Noah")
        noah_finished = at(start, 300)
        await agent.finish(noah_id)
        # Mia again: nobody answers, the admin finishes it.
        mia_reopened = at(start, 400)
        await follower.write("Still there?")
        mia_closed = at(start, 500)
        await admin.finish(mia)
        # Unfinished sessions are left out.
        at(start, 600)
        await follower.write("Hello again")

        monkeypatch.setattr(exports, "BATCH_SIZE", 2)
        mia_id, noah_external = await external_id(agent, mia), await external_id(agent, noah_id)
        channel = world.a.channel.name
        assert await exported(agent) == [
            [channel, "Mia Jensen", mia_id, admin.name, mia_reopened, "", mia_closed, "", ""],
            [
                channel,
                "Noah Berg",
                noah_external,
                agent.name,
                noah_opened,
                noah_answered,
                noah_finished,
                "10.0",
                "40.0",
            ],
            [
                channel,
                "Mia Jensen",
                mia_id,
                f"{agent.name}; {admin.name}",
                mia_opened,
                mia_answered,
                mia_finished,
                "30.0",
                "170.0",
            ],
        ]

    async def test_sessions_finished_at_the_same_moment_each_come_once(
        self,
        monkeypatch: pytest.MonkeyPatch,
        client: httpx.AsyncClient,
        world: World,
        start: datetime,
        agent: Agent,
    ) -> None:
        at(start, 0)
        names = ["Ann", "Bo", "Cy"]
        for name in names:
            follower = await new_follower(client, world.tenant, world.a.channel, name=name)
            await follower.write()
            await agent.finish(await follower.conversation_id())
        monkeypatch.setattr(exports, "BATCH_SIZE", 1)
        rows = await exported(agent)
        assert sorted(row[1] for row in rows) == names
        # Ties in finish time go newest session first.
        assert [row[1] for row in rows] == names[::-1]

    async def test_a_name_a_spreadsheet_would_run_stays_text(
        self, client: httpx.AsyncClient, world: World, agent: Agent
    ) -> None:
        name = '=HYPERLINK("http://evil.example","Click")'
        follower = await new_follower(client, world.tenant, world.a.channel, name=name)
        await follower.write()
        await agent.finish(await follower.conversation_id())
        (row,) = await exported(agent)
        assert row[1] == "'" + name


@pytest.fixture
async def two_channels(
    client: httpx.AsyncClient, factory: Factory, world: World, agent: Agent
) -> tuple[str, str]:
    """Finished chats with Mia (channel a, about a parcel) and Noah (a second channel, about a
    refund); returns the second channel's id."""
    second = await factory.channel(world.a.partner, chat_enabled=True)
    for name, channel, body in (
        ("Mia Jensen", world.a.channel, "Where is my parcel?"),
        ("Noah Berg", second, "I want a refund"),
    ):
        follower = await new_follower(client, world.tenant, channel, name=name)
        await follower.write(body)
        await agent.finish(await follower.conversation_id())
    return str(world.a.channel.id), str(second.id)


class TestFilters:
    async def test_by_channel(self, agent: Agent, two_channels: tuple[str, str]) -> None:
        first, second = two_channels
        assert [row[1] for row in await exported(agent, channel_id=first)] == ["Mia Jensen"]
        assert [row[1] for row in await exported(agent, channel_id=second)] == ["Noah Berg"]

    async def test_search_as_the_inbox_does(
        self, agent: Agent, two_channels: tuple[str, str]
    ) -> None:
        first, _ = two_channels
        assert [row[1] for row in await exported(agent, q="noah")] == ["Noah Berg"]
        assert [row[1] for row in await exported(agent, q="parc")] == ["Mia Jensen"]
        assert await exported(agent, q="refund", channel_id=first) == []
        assert await exported(agent, q="!!!") == []
        listed = await agent.client.get(
            "/api/v1/conversations", params={"q": "parc"}, headers=agent.headers
        )
        assert [item["end_user"]["name"] for item in listed.json()["items"]] == ["Mia Jensen"]

    @pytest.mark.parametrize(
        "params", [{"channel_id": "not-a-uuid"}, {"q": "x" * 201}, {"channel_id": ""}]
    )
    async def test_bad_input_is_422(self, agent: Agent, params: dict[str, str]) -> None:
        response = await agent.client.get(EXPORT, params=params, headers=agent.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"


class TestWhoMayExport:
    async def test_other_partners_and_tenants_see_none_of_it(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        agent: Agent,
        two_channels: tuple[str, str],
    ) -> None:
        for outsider in (world.b.agent, world.other.agent):
            outsider_agent = Agent(client, await factory.headers(outsider), "", outsider.name)
            assert await exported(outsider_agent) == []
            assert await exported(outsider_agent, channel_id=two_channels[0]) == []
        assert len(await exported(agent)) == 2

    async def test_tenant_staff_and_strangers_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        for user in (world.tenant_admin, world.tenant_staff):
            response = await client.get(EXPORT, headers=await factory.headers(user))
            assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert (await client.get(EXPORT, headers=follower.headers)).status_code == 403
        assert (await client.get(EXPORT)).status_code == 401
