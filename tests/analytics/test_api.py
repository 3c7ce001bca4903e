"""Chat analytics over the API (HD-15): exact scenarios on a frozen clock, driven through the
chat API the way agents and end users make them, then read back as numbers."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from relaydesk.auth.permissions import Role
from tests.analytics.conftest import at, finished, opened, replied, two_days_of_chats
from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World

SUMMARY = "/api/v1/analytics/chat/summary"
DAILY = "/api/v1/analytics/chat/daily"


async def summary(agent: Agent, **params: object) -> dict:
    response = await agent.client.get(SUMMARY, params=params, headers=agent.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def daily(agent: Agent, **params: object) -> dict:
    response = await agent.client.get(DAILY, params=params, headers=agent.headers)
    assert response.status_code == 200, response.text
    return response.json()


def figures(row: dict) -> tuple:
    return (row["finished"], row["avg_response_seconds"], row["avg_handling_seconds"])


def agent_row(answer: dict, agent: Agent) -> dict:
    (row,) = [row for row in answer["per_agent"] if row["agent_id"] == agent.id]
    return row


class TestSummary:
    async def test_one_chat_answered_after_65_s_and_finished_after_300_s(
        self, start: datetime, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 65, agent, conversation_id)
        await finished(start, 300, agent, conversation_id)

        answer = await summary(agent)
        assert answer["window_hours"] == 24
        since = datetime.fromisoformat(answer["since"])
        assert since == start + timedelta(seconds=300) - timedelta(hours=24)
        assert figures(answer) == (1, 65.0, 235.0)
        assert (answer["active"], answer["unanswered"]) == (0, 0)
        assert figures(agent_row(answer, agent)) == (1, 65.0, 235.0)
        assert agent_row(answer, agent)["active"] == 0
        # The admin, who did nothing, is listed with nothing to average.
        assert figures(agent_row(answer, admin)) == (0, None, None)
        (channel,) = answer["per_channel"]
        assert figures(channel) == (1, 65.0, 235.0)
        assert (channel["active"], channel["unanswered"]) == (0, 0)

    async def test_a_reopened_chat_counts_as_a_second_session(
        self, start: datetime, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 65, agent, conversation_id)
        await finished(start, 300, agent, conversation_id)
        await opened(start, 400, follower)
        assert (await summary(agent))["unanswered"] == 1
        await replied(start, 430, admin, conversation_id)
        assert (await summary(agent))["active"] == 1
        await finished(start, 500, admin, conversation_id)

        answer = await summary(agent)
        assert figures(answer) == (2, 47.5, 152.5)
        assert (answer["active"], answer["unanswered"]) == (0, 0)
        assert figures(agent_row(answer, agent)) == (1, 65.0, 235.0)
        assert figures(agent_row(answer, admin)) == (1, 30.0, 70.0)

    async def test_chats_outside_the_window_do_not_count(
        self, start: datetime, follower: Follower, agent: Agent
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 65, agent, conversation_id)
        await finished(start, 300, agent, conversation_id)

        at(start, 65 + 24 * 3600 - 1)
        assert figures(await summary(agent)) == (1, 65.0, 235.0)
        # The response and the finish each count where they fall: the reply leaves first.
        at(start, 300 + 24 * 3600 - 1)
        assert figures(await summary(agent)) == (1, None, 235.0)
        at(start, 300 + 24 * 3600 + 1)
        assert figures(await summary(agent)) == (0, None, None)
        assert figures(await summary(agent, hours=25)) == (1, 65.0, 235.0)

    async def test_a_response_counts_where_it_falls_before_the_chat_finishes(
        self, start: datetime, follower: Follower, agent: Agent
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 90, agent, conversation_id)

        answer = await summary(agent)
        assert figures(answer) == (0, 90.0, None)
        assert (answer["active"], answer["unanswered"]) == (1, 0)
        assert agent_row(answer, agent)["active"] == 1

    async def test_nothing_to_average_is_null(
        self, start: datetime, follower: Follower, agent: Agent
    ) -> None:
        answer = await summary(agent)
        assert figures(answer) == (0, None, None)
        assert (answer["active"], answer["unanswered"]) == (0, 0)

        conversation_id = await opened(start, 0, follower)
        assert (await summary(agent))["unanswered"] == 1
        # Finished without a reply: a finished chat with no response or handling time, which
        # counts for the agent who finished it.
        await finished(start, 40, agent, conversation_id)
        answer = await summary(agent)
        assert figures(answer) == (1, None, None)
        assert figures(agent_row(answer, agent)) == (1, None, None)

    async def test_an_overtaken_chat_counts_for_its_first_responder_and_its_last_owner(
        self, start: datetime, follower: Follower, agent: Agent, admin: Agent
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 10, agent, conversation_id)
        await replied(start, 20, admin, conversation_id)
        answer = await summary(agent)
        assert (agent_row(answer, agent)["active"], agent_row(answer, admin)["active"]) == (0, 1)
        # The first responder finishes it, but the admin owned it: it counts for the admin.
        await finished(start, 100, agent, conversation_id)

        answer = await summary(agent)
        assert figures(answer) == (1, 10.0, 90.0)
        assert figures(agent_row(answer, agent)) == (0, 10.0, None)
        assert figures(agent_row(answer, admin)) == (1, None, 90.0)

    async def test_per_channel_and_one_channel(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        other_channel = await factory.channel(world.a.partner, chat_enabled=True)
        other_follower = await new_follower(client, world.tenant, other_channel)
        conversation_id = await opened(start, 0, follower)
        await replied(start, 20, agent, conversation_id)
        await finished(start, 60, agent, conversation_id)
        await opened(start, 70, other_follower)

        answer = await summary(agent)
        assert figures(answer) == (1, 20.0, 40.0)
        assert (answer["active"], answer["unanswered"]) == (0, 1)
        channels = {row["channel_id"]: row for row in answer["per_channel"]}
        assert figures(channels[str(world.a.channel.id)]) == (1, 20.0, 40.0)
        assert channels[str(other_channel.id)]["unanswered"] == 1
        assert channels[str(other_channel.id)]["name"] == other_channel.name

        only_other = await summary(agent, channel_id=str(other_channel.id))
        assert figures(only_other) == (0, None, None)
        assert only_other["unanswered"] == 1
        assert [row["channel_id"] for row in only_other["per_channel"]] == [str(other_channel.id)]
        assert figures(agent_row(only_other, agent)) == (0, None, None)

    async def test_each_partner_sees_only_its_own_chats(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        conversation_id = await opened(start, 0, follower)
        await replied(start, 20, agent, conversation_id)
        other_agent = await as_agent(client, factory, world.b.agent)

        answer = await summary(other_agent)
        assert figures(answer) == (0, None, None)
        assert answer["active"] == 0
        assert {row["agent_id"] for row in answer["per_agent"]} == {
            str(world.b.admin.id),
            str(world.b.agent.id),
        }
        response = await client.get(
            SUMMARY, params={"channel_id": str(world.a.channel.id)}, headers=other_agent.headers
        )
        assert (response.status_code, response.json()["code"]) == (404, "not_found")

    async def test_a_deactivated_agent_stays_listed_while_they_have_figures(
        self, start: datetime, factory: Factory, world: World, follower: Follower, agent: Agent
    ) -> None:
        gone = await factory.staff(world.tenant, Role.AGENT, world.a.partner)
        gone_agent = await as_agent(agent.client, factory, gone)
        conversation_id = await opened(start, 0, follower)
        await replied(start, 5, gone_agent, conversation_id)
        await replied(start, 10, agent, conversation_id)
        async with factory.database.transaction() as session:
            (await session.merge(gone)).is_active = False

        answer = await summary(agent)
        assert figures(agent_row(answer, gone_agent)) == (0, 5.0, None)
        at(start, 25 * 3600)
        assert str(gone.id) not in {row["agent_id"] for row in (await summary(agent))["per_agent"]}


class TestSummaryRefusals:
    @pytest.mark.parametrize("hours", ["0", "721", "-1", "a day", "1.5"])
    async def test_bad_windows(self, agent: Agent, hours: str) -> None:
        response = await agent.client.get(SUMMARY, params={"hours": hours}, headers=agent.headers)
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")

    async def test_a_channel_id_that_is_not_an_id(self, agent: Agent) -> None:
        response = await agent.client.get(
            SUMMARY, params={"channel_id": "aurora"}, headers=agent.headers
        )
        assert response.status_code == 422

    async def test_an_unknown_channel(self, agent: Agent) -> None:
        response = await agent.client.get(
            SUMMARY, params={"channel_id": str(uuid.uuid4())}, headers=agent.headers
        )
        assert response.status_code == 404

    @pytest.mark.parametrize("path", [SUMMARY, DAILY, f"{DAILY}.csv"])
    async def test_tenant_staff_and_end_users_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World, path: str
    ) -> None:
        tenant_staff = await factory.headers(world.tenant_staff)
        response = await client.get(path, headers=tenant_staff)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        end_user = await new_follower(client, world.tenant, world.a.channel)
        response = await client.get(path, headers=end_user.headers)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert (await client.get(path)).status_code == 401


def day_rows(answer: dict) -> dict[str, tuple]:
    return {
        row["date"]: (
            row["opened"],
            row["finished"],
            row["avg_response_seconds"],
            row["avg_handling_seconds"],
        )
        for row in answer["days"]
    }


async def set_time_zone(admin: Agent, time_zone: str) -> None:
    response = await admin.client.patch(
        "/api/v1/partner/settings", json={"time_zone": time_zone}, headers=admin.headers
    )
    assert response.status_code == 200, response.text


class TestDaily:
    async def test_days_opened_finished_and_averages(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        day = start.date()
        answer = await daily(
            agent, **{"from": str(day - timedelta(1)), "to": str(day + timedelta(1))}
        )
        assert (answer["time_zone"], answer["from"], answer["to"]) == (
            "UTC",
            str(day - timedelta(1)),
            str(day + timedelta(1)),
        )
        assert day_rows(answer) == {
            str(day - timedelta(1)): (0, 0, None, None),
            str(day): (1, 1, 65.0, 235.0),
            str(day + timedelta(1)): (1, 0, 120.0, None),
        }
        assert answer["totals"] == {
            "opened": 2,
            "finished": 1,
            "avg_response_seconds": 92.5,
            "avg_handling_seconds": 235.0,
        }
        assert figures(agent_row(answer, agent)) == (1, 92.5, 235.0)
        (channel,) = answer["per_channel"]
        assert (channel["channel_id"], channel["opened"]) == (str(world.a.channel.id), 2)
        assert figures(channel) == (1, 92.5, 235.0)

    async def test_days_follow_the_partners_time_zone(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        await set_time_zone(admin, "America/New_York")
        day = start.date()
        answer = await daily(
            agent, **{"from": str(day - timedelta(1)), "to": str(day + timedelta(1))}
        )
        assert answer["time_zone"] == "America/New_York"
        # 03:00 UTC is 22:00 (EST) or 23:00 (EDT) the evening before in New York.
        assert day_rows(answer) == {
            str(day - timedelta(1)): (1, 1, 65.0, 235.0),
            str(day): (0, 0, None, None),
            str(day + timedelta(1)): (1, 0, 120.0, None),
        }

    async def test_a_day_when_clocks_go_back_lasts_25_hours(
        self, follower: Follower, second_follower: Follower, admin: Agent
    ) -> None:
        await set_time_zone(admin, "Europe/Lisbon")
        # Lisbon leaves summer time at 02:00 on 25 October 2026 (01:00 UTC).
        late_saturday = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # 00:30 on the 25th, WEST
        await opened(late_saturday, 0, follower)
        await opened(late_saturday, 24 * 3600, second_follower)  # 23:30 on the 25th, WET
        answer = await daily(admin, **{"from": "2026-10-24", "to": "2026-10-26"})
        assert [(row["date"], row["opened"]) for row in answer["days"]] == [
            ("2026-10-24", 0),
            ("2026-10-25", 2),
            ("2026-10-26", 0),
        ]

    async def test_one_agents_days(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        day = start.date()
        query = {"from": str(day), "to": str(day + timedelta(1))}
        mine = await daily(agent, **query, agent_id=agent.id)
        assert day_rows(mine) == {
            str(day): (1, 1, 65.0, 235.0),
            str(day + timedelta(1)): (1, 0, 120.0, None),
        }
        assert [row["agent_id"] for row in mine["per_agent"]] == [agent.id]
        admins = await daily(agent, **query, agent_id=admin.id)
        assert day_rows(admins) == {
            str(day): (0, 0, None, None),
            str(day + timedelta(1)): (0, 0, None, None),
        }

    async def test_one_channels_days(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        quiet = await factory.channel(world.a.partner, chat_enabled=True)
        day = str(start.date())
        answer = await daily(agent, **{"from": day, "to": day}, channel_id=str(quiet.id))
        assert day_rows(answer) == {day: (0, 0, None, None)}
        assert [row["channel_id"] for row in answer["per_channel"]] == [str(quiet.id)]
        everything = await daily(agent, **{"from": day, "to": day})
        channels = {row["channel_id"]: row for row in everything["per_channel"]}
        assert (channels[str(quiet.id)]["opened"], channels[str(world.a.channel.id)]["opened"]) == (
            0,
            1,
        )
        answer = await daily(agent, **{"from": day, "to": day}, channel_id=str(world.a.channel.id))
        assert day_rows(answer) == {day: (1, 1, 65.0, 235.0)}

    async def test_the_last_30_days_by_default(self, agent: Agent, admin: Agent) -> None:
        await set_time_zone(admin, "Pacific/Kiritimati")  # UTC+14: often a day ahead of UTC
        today = datetime.now(UTC).astimezone(ZoneInfo("Pacific/Kiritimati"))
        answer = await daily(agent)
        assert len(answer["days"]) == 30
        assert answer["to"] == str(today.date())
        assert answer["from"] == str(today.date() - timedelta(29))

    async def test_a_whole_year(self, agent: Agent) -> None:
        answer = await daily(agent, **{"from": "2025-01-01", "to": "2025-12-31"})
        assert len(answer["days"]) == 365
        assert answer["totals"]["opened"] == 0

    async def test_csv_of_the_daily_rows(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        day = start.date()
        response = await client.get(
            f"{DAILY}.csv",
            params={"from": str(day), "to": str(day + timedelta(1))},
            headers=agent.headers,
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="chat-analytics-{day}-{day + timedelta(1)}.csv"'
        )
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows == [
            ["date", "opened", "finished", "avg_response_seconds", "avg_handling_seconds"],
            [str(day), "1", "1", "65.0", "235.0"],
            [str(day + timedelta(1)), "1", "0", "120.0", ""],
        ]


class TestDailyRefusals:
    @pytest.mark.parametrize(
        ("query", "detail"),
        [
            (
                {"from": "2026-11-10", "to": "2026-11-09"},
                "The range must not end before it starts.",
            ),
            ({"from": "2025-01-01", "to": "2026-01-02"}, "Pick a range of at most 366 days."),
            (
                {"from": "0001-01-01", "to": "0001-01-02"},
                "Pick days from 2000-01-01 to 2999-12-31.",
            ),
            (
                {"from": "9999-12-30", "to": "9999-12-31"},
                "Pick days from 2000-01-01 to 2999-12-31.",
            ),
            ({"to": "0001-01-05"}, "Pick days from 2000-01-01 to 2999-12-31."),
        ],
    )
    @pytest.mark.parametrize("time_zone", ["UTC", "Pacific/Kiritimati", "America/Adak"])
    async def test_bad_ranges(
        self, agent: Agent, admin: Agent, query: dict, detail: str, time_zone: str
    ) -> None:
        await set_time_zone(admin, time_zone)
        for path in (DAILY, f"{DAILY}.csv"):
            response = await agent.client.get(path, params=query, headers=agent.headers)
            assert response.status_code == 422
            assert (response.json()["code"], response.json()["detail"]) == (
                "validation_error",
                detail,
            )

    @pytest.mark.parametrize(
        "query",
        [{"from": "yesterday"}, {"to": "2026-02-30"}, {"agent_id": "ana"}, {"channel_id": "1"}],
    )
    async def test_values_of_the_wrong_kind(self, agent: Agent, query: dict) -> None:
        response = await agent.client.get(DAILY, params=query, headers=agent.headers)
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")

    async def test_another_partners_agent_or_channel(self, world: World, agent: Agent) -> None:
        for query in ({"agent_id": str(world.b.agent.id)}, {"channel_id": str(world.b.channel.id)}):
            response = await agent.client.get(DAILY, params=query, headers=agent.headers)
            assert (response.status_code, response.json()["code"]) == (404, "not_found")


class TestPartnerSettings:
    async def test_utc_until_an_admin_picks_a_zone(self, agent: Agent, admin: Agent) -> None:
        response = await agent.client.get("/api/v1/partner/settings", headers=agent.headers)
        assert response.json() == {"time_zone": "UTC", "owner_timer_minutes": None}
        await set_time_zone(admin, "Europe/Lisbon")
        response = await agent.client.get("/api/v1/partner/settings", headers=agent.headers)
        assert response.json() == {"time_zone": "Europe/Lisbon", "owner_timer_minutes": None}

    async def test_each_partner_has_its_own(
        self, client: httpx.AsyncClient, factory: Factory, world: World, admin: Agent
    ) -> None:
        await set_time_zone(admin, "Asia/Kolkata")
        other = await factory.headers(world.b.admin)
        response = await client.get("/api/v1/partner/settings", headers=other)
        assert response.json() == {"time_zone": "UTC", "owner_timer_minutes": None}

    async def test_agents_may_not_change_it(self, agent: Agent) -> None:
        response = await agent.client.patch(
            "/api/v1/partner/settings", json={"time_zone": "Europe/Lisbon"}, headers=agent.headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    @pytest.mark.parametrize(
        "body",
        [
            {"time_zone": "Mars/Olympus_Mons"},
            {"time_zone": ""},
            {"time_zone": 1},
            {"time_zone": "Europe/Lisbon" * 10},
            {"time_zone": "Europe/Lisbon", "owner_timer": 5},
            {"time_zone": None},
        ],
    )
    async def test_bad_bodies_change_nothing(self, admin: Agent, body: dict) -> None:
        response = await admin.client.patch(
            "/api/v1/partner/settings", json=body, headers=admin.headers
        )
        assert (response.status_code, response.json()["code"]) == (422, "validation_error")
        response = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert response.json() == {"time_zone": "UTC", "owner_timer_minutes": None}

    async def test_tenant_staff_have_no_partner_settings(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.get(
            "/api/v1/partner/settings", headers=await factory.headers(world.tenant_admin)
        )
        assert response.status_code == 404
