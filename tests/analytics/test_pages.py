"""The analytics pages (HD-15) as people read them: basic chat analytics of the last 24 hours and
the Analytics area's range of days, from exact scenarios on a frozen clock; the time-zone form;
and who may open them."""

import csv
import io
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from relaydesk.analytics.pages import BAD_DATE, BAD_ZONE, format_duration
from relaydesk.clock import now
from relaydesk.config import Settings
from tests.analytics.conftest import finished, opened, replied, two_days_of_chats
from tests.chat.conftest import Agent, Follower, new_follower
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.web.test_pages import alerts, nav_links, redirect_target, signed_in

TODAY = "/desk/analytics/today"
RANGE = "/desk/analytics"
TIME_ZONE = "/desk/analytics/time-zone"
CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."


async def one_chat(start: datetime, follower: Follower, agent: Agent) -> None:
    """Opened at t, answered at t + 65 s, finished at t + 300 s."""
    conversation_id = await opened(start, 0, follower)
    await replied(start, 65, agent, conversation_id)
    await finished(start, 300, agent, conversation_id)


# --- Reading the pages ----------------------------------------------------------------------


def stats(document: Element) -> dict[str, str]:
    section = document.find("section", {"class": "stats"})
    return {
        stat.find("span", {"class": "label"}).text(): stat.find("span", {"class": "number"}).text()
        for stat in section.find_all("div", {"class": "stat"})
    }


def rows(document: Element, table_id: str) -> dict[str, list[str]]:
    """A table's rows: each row's header (a name, a day) to its cells."""
    body = document.find("table", {"id": table_id}).find("tbody")
    return {
        row.find("th").text(): [cell.text() for cell in row.find_all("td")]
        for row in body.find_all("tr")
    }


def selected(document: Element, name: str) -> str:
    """The option a browser shows: the one marked selected, else the first."""
    options = document.find("select", {"name": name}).find_all("option")
    return ([option for option in options if "selected" in option.attrs] or options)[0].text()


def input_value(document: Element, name: str) -> str:
    return document.find("input", {"name": name}).attrs.get("value", "")


def time_zone_form(document: Element) -> Element:
    return document.find("form", {"action": TIME_ZONE})


async def page(client: httpx.AsyncClient, path: str, **params: str) -> Element:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text[:300]
    return parse(response)


# --- Fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def agent_browser(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> httpx.AsyncClient:
    """`client` with the agent's session cookie; API calls with bearer headers stay theirs."""
    await signed_in(client, factory, settings, world.a.agent)
    return client


@pytest.fixture
async def admin_browser(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> httpx.AsyncClient:
    await signed_in(client, factory, settings, world.a.admin)
    return client


# --- Tests ----------------------------------------------------------------------------------


class TestDurations:
    @pytest.mark.parametrize(
        ("seconds", "shown"),
        [
            (None, "—"),
            (0, "0 s"),
            (45, "45 s"),
            (59.4, "59 s"),
            (59.5, "1 m 00 s"),
            (65, "1 m 05 s"),
            (235, "3 m 55 s"),
            (3599, "59 m 59 s"),
            (7380, "2 h 03 m"),
            (30 * 3600, "30 h 00 m"),
        ],
    )
    def test_as_people_read_them(self, seconds: float | None, shown: str) -> None:
        assert format_duration(seconds) == shown


class TestBasicAnalytics:
    async def test_one_chat_answered_after_65_s_and_finished_after_300_s(
        self,
        start: datetime,
        agent_browser: httpx.AsyncClient,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        await one_chat(start, follower, agent)

        document = await page(agent_browser, TODAY)
        assert document.find("h1").text() == "Basic chat analytics"
        assert stats(document) == {
            "Chats finished": "1",
            "Active now": "0",
            "Unanswered now": "0",
            "Average response time": "1 m 05 s",
            "Average handling time": "3 m 55 s",
        }
        assert rows(document, "per-channel") == {
            world.a.channel.name: ["1", "0", "0", "1 m 05 s", "3 m 55 s"]
        }
        # The admin, who did nothing, is listed with nothing to average.
        assert rows(document, "per-agent") == {
            world.a.admin.name: ["0", "0", "—", "—"],
            world.a.agent.name: ["1", "0", "1 m 05 s", "3 m 55 s"],
        }
        terms = document.find("dl", {"class": "analytics-terms"}).text()
        assert "how long, on average, your users had to wait" in terms.lower()
        assert "from the agent's first reply to the moment the agent finished" in terms
        links = {a.text(): a.attrs["href"] for a in document.find("main").find_all("a")}
        assert links["Analytics"] == RANGE

    async def test_nothing_to_average_shows_a_dash_and_chats_waiting_count(
        self, start: datetime, agent_browser: httpx.AsyncClient, follower: Follower, agent: Agent
    ) -> None:
        assert stats(await page(agent_browser, TODAY)) == {
            "Chats finished": "0",
            "Active now": "0",
            "Unanswered now": "0",
            "Average response time": "—",
            "Average handling time": "—",
        }
        conversation_id = await opened(start, 0, follower)
        assert stats(await page(agent_browser, TODAY))["Unanswered now"] == "1"
        await replied(start, 30, agent, conversation_id)
        figures = stats(await page(agent_browser, TODAY))
        assert (figures["Unanswered now"], figures["Active now"]) == ("0", "1")
        assert (figures["Average response time"], figures["Average handling time"]) == (
            "30 s",
            "—",
        )

    async def test_a_channel_narrows_the_figures(
        self,
        start: datetime,
        client: httpx.AsyncClient,
        agent_browser: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        agent: Agent,
    ) -> None:
        other_channel = await factory.channel(world.a.partner, chat_enabled=True)
        other_follower = await new_follower(client, world.tenant, other_channel)
        await one_chat(start, follower, agent)
        await opened(start, 400, other_follower)

        whole = await page(agent_browser, TODAY)
        assert (stats(whole)["Chats finished"], stats(whole)["Unanswered now"]) == ("1", "1")
        assert selected(whole, "channel_id") == "All channels"

        narrowed = await page(agent_browser, TODAY, channel_id=str(other_channel.id))
        assert stats(narrowed) == {
            "Chats finished": "0",
            "Active now": "0",
            "Unanswered now": "1",
            "Average response time": "—",
            "Average handling time": "—",
        }
        assert rows(narrowed, "per-channel") == {other_channel.name: ["0", "0", "1", "—", "—"]}
        assert rows(narrowed, "per-agent")[world.a.agent.name] == ["0", "0", "—", "—"]
        assert selected(narrowed, "channel_id") == other_channel.name
        assert narrowed.find("div", {"id": "basic-analytics"}).attrs["data-channel-id"] == str(
            other_channel.id
        )

    async def test_another_partners_channel_is_not_found(
        self, agent_browser: httpx.AsyncClient, world: World
    ) -> None:
        response = await agent_browser.get(TODAY, params={"channel_id": str(world.b.channel.id)})
        assert response.status_code == 404
        assert world.b.channel.name not in response.text


class TestRange:
    async def test_daily_rows_totals_and_agents_for_a_range(
        self,
        start: datetime,
        agent_browser: httpx.AsyncClient,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        day = start.date()
        first, last = str(day - timedelta(1)), str(day + timedelta(1))

        document = await page(agent_browser, RANGE, **{"from": first, "to": last})
        assert document.find("h1").text() == "Analytics"
        assert rows(document, "per-day") == {
            first: ["0", "0", "—", "—"],
            str(day): ["1", "1", "1 m 05 s", "3 m 55 s"],
            last: ["1", "0", "2 m 00 s", "—"],
        }
        assert document.find("p", {"class": "analytics-totals"}).text() == (
            "2 chats opened, 1 finished · average response time 1 m 33 s"
            " · average handling time 3 m 55 s"
        )
        assert rows(document, "per-agent") == {
            world.a.admin.name: ["0", "—", "—"],
            world.a.agent.name: ["1", "1 m 33 s", "3 m 55 s"],
        }
        assert rows(document, "per-channel") == {
            world.a.channel.name: ["2", "1", "1 m 33 s", "3 m 55 s"],
        }
        intro = document.find("p", {"class": "analytics-intro"}).text()
        assert "Days run midnight to midnight, UTC time." in intro
        assert (input_value(document, "from"), input_value(document, "to")) == (first, last)
        links = {a.text(): a.attrs["href"] for a in document.find("main").find_all("a")}
        assert links["Basic chat analytics"] == TODAY
        export = urlsplit(links["Export CSV"])
        assert export.path == "/api/v1/analytics/chat/daily.csv"
        assert parse_qs(export.query) == {"from": [first], "to": [last]}
        assert document.find("script", {"id": "analytics-days"}).attrs["type"] == (
            "application/json"
        )

    async def test_the_export_link_downloads_the_rows_with_the_session_cookie(
        self,
        start: datetime,
        agent_browser: httpx.AsyncClient,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        day = start.date()
        document = await page(
            agent_browser, RANGE, **{"from": str(day), "to": str(day + timedelta(1))}
        )
        link = document.find("a", {"class": "analytics-export"}).attrs["href"]

        response = await agent_browser.get(link)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(response.text.lstrip("\ufeff")))) == [
            ["date", "opened", "finished", "avg_response_seconds", "avg_handling_seconds"],
            [str(day), "1", "1", "65.0", "235.0"],
            [str(day + timedelta(1)), "1", "0", "120.0", ""],
        ]

    async def test_the_default_range_is_the_last_30_days(
        self, agent_browser: httpx.AsyncClient
    ) -> None:
        document = await page(agent_browser, RANGE)
        today = now().date()
        days = list(rows(document, "per-day"))
        assert len(days) == 30
        assert (days[0], days[-1]) == (str(today - timedelta(29)), str(today))
        assert input_value(document, "from") == str(today - timedelta(29))
        assert input_value(document, "to") == str(today)
        assert alerts(document) == []

    async def test_a_channel_and_an_agent_narrow_the_days(
        self,
        start: datetime,
        agent_browser: httpx.AsyncClient,
        factory: Factory,
        world: World,
        follower: Follower,
        second_follower: Follower,
        agent: Agent,
    ) -> None:
        await two_days_of_chats(start, follower, second_follower, agent)
        other_channel = await factory.channel(world.a.partner, chat_enabled=True)
        day = str(start.date())
        span = {"from": day, "to": day}

        quiet = await page(agent_browser, RANGE, **span, channel_id=str(other_channel.id))
        assert rows(quiet, "per-day") == {day: ["0", "0", "—", "—"]}
        assert selected(quiet, "channel_id") == other_channel.name

        admins = await page(agent_browser, RANGE, **span, agent_id=str(world.a.admin.id))
        assert rows(admins, "per-day") == {day: ["0", "0", "—", "—"]}
        assert rows(admins, "per-agent") == {world.a.admin.name: ["0", "—", "—"]}
        assert selected(admins, "agent_id") == world.a.admin.name
        export = admins.find("a", {"class": "analytics-export"}).attrs["href"]
        assert parse_qs(urlsplit(export).query)["agent_id"] == [str(world.a.admin.id)]

    @pytest.mark.parametrize(
        ("first", "last", "reason"),
        [
            ("2026-03-10", "2026-03-01", "The range must not end before it starts."),
            ("2025-01-01", "2026-03-01", "Pick a range of at most 366 days."),
            ("yesterday", "2026-03-01", BAD_DATE),
        ],
    )
    async def test_a_bad_range_says_why_on_the_page(
        self, agent_browser: httpx.AsyncClient, first: str, last: str, reason: str
    ) -> None:
        response = await agent_browser.get(RANGE, params={"from": first, "to": last})
        assert response.status_code == 200
        document = parse(response)
        assert alerts(document) == [reason]
        assert document.find_all("table") == []
        assert (input_value(document, "from"), input_value(document, "to")) == (first, last)


class TestTimeZone:
    async def test_an_admin_changes_the_time_zone_and_the_days_follow(
        self,
        start: datetime,
        admin_browser: httpx.AsyncClient,
        follower: Follower,
        agent: Agent,
        admin: Agent,
    ) -> None:
        await one_chat(start, follower, agent)
        day = start.date()
        span = {"from": str(day - timedelta(1)), "to": str(day)}
        document = await page(admin_browser, RANGE, **span)
        form = time_zone_form(document)
        assert form.find("input", {"name": "time_zone"}).attrs["value"] == "UTC"
        options = {o.attrs["value"] for o in document.find("datalist").find_all("option")}
        assert {"Europe/Lisbon", "America/New_York"} <= options

        fields = {
            field.attrs["name"]: field.attrs.get("value", "") for field in form.find_all("input")
        }
        response = await admin_browser.post(
            TIME_ZONE, data=fields | {"time_zone": "America/New_York"}
        )
        target = urlsplit(redirect_target(response))
        assert (target.path, parse_qs(target.query)) == (
            RANGE,
            {"from": [span["from"]], "to": [span["to"]]},
        )

        document = await page(admin_browser, RANGE, **span)
        intro = document.find("p", {"class": "analytics-intro"}).text()
        assert "Days run midnight to midnight, America/New_York time." in intro
        # 03:00 UTC is the evening before in New York.
        assert [cells[:2] for cells in rows(document, "per-day").values()] == [
            ["1", "1"],
            ["0", "0"],
        ]
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["time_zone"] == "America/New_York"

    async def test_a_name_that_is_no_time_zone_is_refused_with_the_reason(
        self, admin_browser: httpx.AsyncClient, admin: Agent
    ) -> None:
        form = time_zone_form(await page(admin_browser, RANGE))
        token = form.find("input", {"name": "csrf_token"}).attrs["value"]
        response = await admin_browser.post(
            TIME_ZONE, data={"csrf_token": token, "time_zone": "Mars/Olympus"}
        )
        assert response.status_code == 422
        document = parse(response)
        assert alerts(document) == [BAD_ZONE]
        field = time_zone_form(document).find("input", {"name": "time_zone"})
        assert (field.attrs["value"], field.attrs["aria-invalid"]) == ("Mars/Olympus", "true")
        settings = await admin.client.get("/api/v1/partner/settings", headers=admin.headers)
        assert settings.json()["time_zone"] == "UTC"

    async def test_a_post_without_the_csrf_token_is_refused(
        self, admin_browser: httpx.AsyncClient
    ) -> None:
        response = await admin_browser.post(TIME_ZONE, data={"time_zone": "Europe/Lisbon"})
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).text()

    async def test_an_agent_has_no_form_and_may_not_post(
        self, agent_browser: httpx.AsyncClient, agent: Agent
    ) -> None:
        document = await page(agent_browser, RANGE)
        assert document.find_all("form", {"action": TIME_ZONE}) == []
        token = document.find("meta", {"name": "csrf-token"}).attrs["content"]
        response = await agent_browser.post(
            TIME_ZONE, data={"csrf_token": token, "time_zone": "Europe/Lisbon"}
        )
        assert response.status_code == 403
        settings = await agent.client.get("/api/v1/partner/settings", headers=agent.headers)
        assert settings.json()["time_zone"] == "UTC"


class TestAccess:
    @pytest.mark.parametrize("path", [TODAY, RANGE])
    async def test_without_a_session_sign_in_comes_first(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        target = urlsplit(redirect_target(await client.get(path)))
        assert (target.path, parse_qs(target.query)) == ("/login", {"next": [path]})

    @pytest.mark.parametrize("path", [TODAY, RANGE])
    async def test_tenant_staff_and_end_users_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        follower: Follower,
        path: str,
    ) -> None:
        response = await client.get(path, headers=follower.headers)
        assert response.status_code == 403
        await signed_in(client, factory, settings, world.tenant_staff)
        response = await client.get(path)
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"
        assert world.a.channel.name not in response.text

    async def test_agents_reach_analytics_from_the_navigation(
        self, agent_browser: httpx.AsyncClient
    ) -> None:
        document = await page(agent_browser, RANGE)
        assert ("Analytics", RANGE) in nav_links(document)
        current = document.find("nav", {"aria-label": "Main"}).find("a", {"aria-current": "page"})
        assert (current.own_text(), current.find_all("span", {"class": "soon"})) == (
            "Analytics",
            [],
        )
        # The basic view belongs to Analytics too, not to Chat (/desk).
        document = await page(agent_browser, TODAY)
        current = document.find("nav", {"aria-label": "Main"}).find_all(
            "a", {"aria-current": "page"}
        )
        assert [a.own_text() for a in current] == ["Analytics"]
