"""Catalogue and partner requests in a real chromium: a tenant admin puts an add-on in the
catalogue, a partner admin asks for it on the portal's Requests page and sees it pending, and
once the tenant approves it the page shows it approved and active."""

import httpx
import pytest
from playwright.async_api import Page, expect

from relaydesk.config import Settings
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


async def add_addon_on_the_catalogue_page(page: Page, live_server: str) -> None:
    await page.goto(f"{live_server}/tenant/catalogue")
    addons = page.locator("#catalogue-addons")
    await addons.get_by_text("New add-on").click()
    form = addons.get_by_role("form", name="New add-on")
    await form.get_by_label("Name").fill("Coupon booster")
    await form.get_by_label("Price").fill("12.50")
    await form.get_by_label("Description").fill("Send coupons to your followers")
    await form.get_by_label("Coupon").check()
    await form.get_by_label("Grants extra channels").fill("2")
    await form.get_by_role("button", name="Create add-on").click()
    await expect(page.get_by_role("status")).to_have_text("The add-on “Coupon booster” is created.")
    row = addons.locator("tr.catalogue-item").filter(has_text="Coupon booster")
    await expect(row).to_contain_text("12.50 EUR")
    await expect(row).to_contain_text("Coupon · +2 channels")


class TestAddonRequest:
    async def test_an_addon_from_the_catalogue_asked_for_and_approved(
        self,
        page: Page,
        app_page: Page,
        page_errors: list[str],
        live_server: str,
        api: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.tenant_admin)
        await add_addon_on_the_catalogue_page(page, live_server)
        await page.screenshot(path=SCREENSHOTS / "catalogue.png", full_page=True)

        # The partner admin, in a browser of their own.
        portal = app_page
        portal_errors: list[str] = []
        portal.on("pageerror", lambda error: portal_errors.append(str(error)))
        await signed_in_browser(portal, live_server, factory, settings, world.a.admin)
        await portal.goto(f"{live_server}/partner/requests")
        ask = portal.get_by_role("form", name="Ask for an add-on")
        await ask.get_by_label("Coupon booster").check()
        await ask.get_by_label("Description").fill("For the summer sale")
        await ask.get_by_role("button", name="Request add-on").click()
        await expect(portal.get_by_role("status")).to_have_text(
            "Your request for “Coupon booster” is sent. It waits for a decision."
        )
        row = portal.locator("tr.request-row").filter(has_text="Coupon booster")
        await expect(row.locator(".badge")).to_have_text("Pending")
        await expect(ask.get_by_text("Requested")).to_be_visible()
        await portal.screenshot(path=SCREENSHOTS / "partner-requests.png", full_page=True)

        tenant_admin = await factory.headers(world.tenant_admin)
        listed = await api.get(
            "/api/v1/tenant/requests",
            params={"kind": "addon", "status": "pending"},
            headers=tenant_admin,
        )
        (pending,) = listed.json()["items"]
        approved = await api.post(
            f"/api/v1/tenant/requests/{pending['id']}/approve", headers=tenant_admin
        )
        assert approved.status_code == 200, approved.text

        await portal.reload()
        await expect(row.locator(".badge")).to_have_text("Approved")
        active = portal.get_by_role("list", name="Active add-ons")
        await expect(active).to_contain_text("Coupon booster")
        await expect(portal.get_by_role("form", name="Ask for an add-on")).to_have_count(0)
        assert page_errors == []
        assert portal_errors == []
