"""The Requests tab in a real chromium: a tenant admin opens Ads requests, sees the ad as end
users will, approves it, and end users are served it; the history shows it approved."""

import httpx
import pytest
from playwright.async_api import Page, expect

from relaydesk.config import Settings
from tests.approvals.conftest import Requests
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


class TestAdsRequests:
    async def test_an_admin_previews_and_approves_an_ad_that_end_users_are_then_served(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        requests = Requests(api, factory, world)
        request = await requests.ad_request(title="Autumn sale", impressions_budget=50)
        partner = world.a.partner.name
        end_user = factory.end_user_headers(world.tenant)

        await signed_in_browser(page, live_server, factory, settings, world.tenant_admin)
        await page.goto(f"{live_server}/tenant/requests")
        await (
            page.get_by_role("navigation", name="Requests")
            .get_by_role("link", name="Ads requests")
            .click()
        )
        row = page.get_by_role("list", name="Pending ad requests").get_by_role("listitem")
        await expect(row).to_have_count(1)
        await expect(row.get_by_role("heading", name="Autumn sale")).to_be_visible()
        preview = row.get_by_role("figure", name="Preview of the ad Autumn sale")
        await expect(preview).to_contain_text("Everything half price")
        await expect(preview).to_contain_text("In every shop until Sunday.")
        cta = preview.get_by_role("link", name="Shop now")
        await expect(cta).to_have_attribute("href", "https://shop.example/sale")
        await expect(cta).to_have_attribute("rel", "noopener noreferrer nofollow")
        # The picture comes from the partner's upload, which the reviewer may fetch.
        picture = preview.get_by_role("img")
        await expect(picture).to_have_attribute("src", request["details"]["media"]["url"])
        await picture.scroll_into_view_if_needed()
        assert await picture.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
        await page.screenshot(path=SCREENSHOTS / "requests-ads.png")

        nothing = await api.get("/api/v1/me/ads", params={"placement": "banner"}, headers=end_user)
        assert nothing.json() == {"items": []}
        await row.get_by_role("button", name=f"Approve Autumn sale from {partner}").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "Approved. The ad Autumn sale will be shown to end users from"
        )
        await expect(page.get_by_role("status")).to_contain_text(
            f"{partner} has been told by e-mail."
        )

        served = await api.get("/api/v1/me/ads", params={"placement": "banner"}, headers=end_user)
        assert served.status_code == 200, served.text
        (ad,) = served.json()["items"]
        assert (ad["title"], ad["cta_text"], ad["click_url"]) == (
            "Autumn sale",
            "Shop now",
            "https://shop.example/sale",
        )

        await page.get_by_role("link", name="History").click()
        history = page.get_by_role("table")
        await expect(history.get_by_role("row")).to_have_count(2)
        decided = history.get_by_role("row").nth(1)
        await expect(decided).to_contain_text("Autumn sale")
        await expect(decided).to_contain_text(partner)
        await expect(decided).to_contain_text("Ad (Banner)")
        await expect(decided).to_contain_text("Approved")
        await expect(decided).to_contain_text("1 of 50 impressions used")
        await page.screenshot(path=SCREENSHOTS / "requests-history.png")
        assert page_errors == []
