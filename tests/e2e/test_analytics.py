"""The analytics pages in a real chromium: basic chat analytics kept live by the socket while
chats open, are taken and finish through the API, and the range page's uPlot charts under the
Content-Security-Policy with its CSV export."""

import csv
import re
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from relaydesk.clock import now
from relaydesk.config import Settings
from tests.e2e.test_chat import new_follower, reply
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


def stat(page: Page, label: str) -> Locator:
    return page.locator(".stat").filter(has_text=label).locator(".number")


async def finish(api: httpx.AsyncClient, factory: Factory, world: World, chat_id: str) -> None:
    response = await api.post(
        f"/api/v1/conversations/{chat_id}/finish", headers=await factory.headers(world.a.agent)
    )
    assert response.status_code == 200, response.text


class TestBasicAnalytics:
    async def test_the_figures_follow_chats_without_a_reload(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.agent)
        await page.goto(f"{live_server}/desk/analytics/today")
        await expect(page.get_by_role("status")).to_have_text("Live")
        await expect(stat(page, "Chats finished")).to_have_text("0")
        await expect(stat(page, "Average handling time")).to_have_text("—")
        # Set on this document only: still there at the end means the page never reloaded.
        await page.evaluate("window.sameDocument = true")

        chat_id = await (await new_follower(api, world, "Mia")).write("Hello?")
        await expect(stat(page, "Unanswered now")).to_have_text("1")
        await reply(api, factory, world.a.agent, chat_id, "Hi Mia!")
        await expect(stat(page, "Active now")).to_have_text("1")
        await expect(stat(page, "Unanswered now")).to_have_text("0")
        await finish(api, factory, world, chat_id)

        await expect(stat(page, "Chats finished")).to_have_text("1")
        await expect(stat(page, "Active now")).to_have_text("0")
        await expect(stat(page, "Average handling time")).to_have_text(re.compile(r"^\d+ s$"))
        agent_row = page.get_by_role("row", name=world.a.agent.name)
        await expect(agent_row.get_by_role("cell").first).to_have_text("1")
        assert await page.evaluate("window.sameDocument") is True
        await page.screenshot(path=SCREENSHOTS / "analytics-today.png", full_page=True)
        assert page_errors == []


class TestRange:
    async def test_charts_drawn_and_the_csv_downloaded(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        chat_id = await (await new_follower(api, world, "Noah")).write("Where is my order?")
        await reply(api, factory, world.a.agent, chat_id, "On its way.")
        await finish(api, factory, world, chat_id)
        today = now().date()

        await signed_in_browser(page, live_server, factory, settings, world.a.agent)
        await page.goto(f"{live_server}/desk/analytics")
        charts = page.locator(".analytics-chart")
        await expect(charts.locator(".uplot canvas")).to_have_count(2)
        await expect(charts.first).to_contain_text("Opened")
        last_day = page.locator("#per-day tbody tr").last
        await expect(last_day.get_by_role("rowheader")).to_have_text(str(today))
        await expect(last_day.get_by_role("cell").nth(0)).to_have_text("1")
        await expect(last_day.get_by_role("cell").nth(1)).to_have_text("1")
        await page.screenshot(path=SCREENSHOTS / "analytics-range.png", full_page=True)

        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Export CSV").click()
        download = await download_info.value
        assert download.suggested_filename == (
            f"chat-analytics-{today - timedelta(days=29)}-{today}.csv"
        )
        lines = (await download.path()).read_text(encoding="utf-8-sig").splitlines()
        table = list(csv.reader(lines))
        assert table[0] == [
            "date",
            "opened",
            "finished",
            "avg_response_seconds",
            "avg_handling_seconds",
        ]
        assert len(table) == 31
        assert table[-1][:3] == [str(today), "1", "1"]
        assert all(row[1:3] == ["0", "0"] for row in table[1:-1])

        # One day is a range too.
        await page.get_by_label("From").fill(str(today))
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#per-day tbody tr")).to_have_count(1)
        await expect(charts.locator(".uplot canvas")).to_have_count(2)
        assert page_errors == []
