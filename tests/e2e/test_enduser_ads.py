"""Ads in a real chromium: the end user's app shows the served banner (each showing counted as
an impression), nothing when no ad is served; and a partner submits an ad from the portal's
Requests page, its file uploaded by the page's script."""

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from relaydesk.clock import now
from relaydesk.config import Settings
from tests.approvals.portal_helpers import Campaigns, local
from tests.attachments.conftest import png
from tests.e2e.test_chat import new_follower, open_app
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


def banner(page: Page) -> Locator:
    return page.get_by_role("complementary", name="Advertisement")


async def impressions_used(campaigns: Campaigns, ad: dict[str, Any]) -> int:
    return (await campaigns.request(ad["id"]))["details"]["impressions_used"]


class TestTheBanner:
    async def test_the_served_ad_shows_and_counts_one_impression(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        world: World,
    ) -> None:
        campaigns = Campaigns(api, factory, world)
        ad = await campaigns.approved_ad(now() - timedelta(minutes=1), impressions_budget=50)
        assert await impressions_used(campaigns, ad) == 0

        await open_app(page, live_server, await new_follower(api, world, "Mia"))
        await expect(banner(page)).to_be_visible()
        await expect(banner(page)).to_contain_text("Spring banner")
        await expect(banner(page)).to_contain_text("Everything half price")
        cta = banner(page).get_by_role("link", name="Shop now")
        await expect(cta).to_have_attribute("href", "https://shop.example/spring")
        await expect(cta).to_have_attribute("target", "_blank")
        await expect(cta).to_have_attribute("rel", "noopener noreferrer nofollow")
        # The picture is fetched with the end user's token, like the chat's files.
        await expect(banner(page).locator("img")).to_have_attribute("src", re.compile("^blob:"))
        assert await banner(page).locator("img").evaluate("img => img.naturalWidth") > 0
        await page.screenshot(path=SCREENSHOTS / "app-banner.png")

        assert await impressions_used(campaigns, ad) == 1
        assert page_errors == []

    async def test_nothing_shows_when_no_ad_is_served(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        world: World,
    ) -> None:
        follower = await new_follower(api, world, "Noah")
        async with page.expect_response(lambda r: "/api/v1/me/ads" in r.url) as answer:
            await open_app(page, live_server, follower)
        assert await (await answer.value).json() == {"items": []}
        await expect(banner(page)).to_have_count(0)
        await expect(page.locator("#ad-banner")).to_be_hidden()
        assert page_errors == []


class TestSubmittingAnAd:
    async def test_the_partner_submits_it_with_its_picture_and_end_users_see_it(
        self,
        page: Page,
        app_page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        campaigns = Campaigns(api, factory, world)
        await campaigns.balance(1_000)
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner/requests")
        form = page.get_by_role("form", name="Submit an ad")
        await form.get_by_label("Ad type").select_option(label="Banner")
        await form.get_by_label("Title", exact=True).fill("Autumn banner")
        await form.get_by_label("Click URL").fill("https://shop.example/autumn")
        await form.get_by_label("CTA text (optional)").fill("See more")
        await form.get_by_label("Impressions budget").fill("200")
        await form.get_by_label("Start (UTC)").fill(local(now() - timedelta(minutes=1)))
        await form.get_by_label("End (UTC)").fill(local(now() + timedelta(days=3)))
        picture = {"name": "autumn.png", "mimeType": "image/png", "buffer": png()}
        await form.get_by_label("Image or video").set_input_files(picture)
        await expect(form).to_contain_text("autumn.png attached")
        await form.get_by_role("button", name="Submit ad").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Your request for “Autumn banner” is sent. It waits for a decision."
        )
        row = page.locator("tr.request-row").first
        await expect(row).to_contain_text("Budget: 200 impressions")
        await page.screenshot(path=SCREENSHOTS / "portal-ad-request.png", full_page=True)

        (sent,) = [r for r in await campaigns.mine() if r["kind"] == "ad"]
        await campaigns.decide(sent["id"])
        await open_app(app_page, live_server, await new_follower(api, world, "Ava"))
        await expect(banner(app_page)).to_contain_text("Autumn banner")
        await expect(banner(app_page).get_by_role("link", name="See more")).to_be_visible()

        await page.reload()
        await expect(page.locator("tr.request-row").first).to_contain_text(
            "Impressions used 1 of 200"
        )
        assert page_errors == []
