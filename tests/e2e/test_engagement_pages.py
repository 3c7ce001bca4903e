"""The partner portal's Engagements page in a real chromium: a coupon created through the form,
its image uploaded from the file input, then published after the confirmation."""

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from relaydesk.config import Settings
from tests.attachments.conftest import png
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

# The page behaves the same on every backend; the browser proves it once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


class TestCatalogue:
    async def test_a_coupon_created_through_the_form_and_published(
        self,
        page: Page,
        live_server: str,
        api: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner/engagements")
        form = page.locator("form.engagement-form")
        await expect(form.locator('[name="text"]')).to_be_visible()
        await expect(form.locator('[name="quantity"]')).to_be_hidden()

        await form.locator('select[name="type"]').select_option(label="Coupon")
        await expect(form.locator('[name="text"]')).to_be_hidden()
        await form.locator('[name="title"]').fill("Free coffee")
        await form.locator('[name="redemption_type"]').select_option(label="Click to redeem")
        await form.locator('[name="quantity"]').fill("25")
        await form.locator('[data-upload-for="image_attachment_id"]').set_input_files(
            files=[{"name": "coffee.png", "mimeType": "image/png", "buffer": png()}]
        )
        await expect(form.get_by_text("coffee.png attached")).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / "engagements-form.png", full_page=True)
        await form.get_by_role("button", name="Create draft").click()

        row = page.locator("tr.engagement-row").filter(has_text="Free coffee")
        await expect(row.get_by_text("draft")).to_be_visible()
        await expect(row).to_contain_text("25 / 25")

        asked: list[str] = []

        async def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)
        await row.get_by_role("button", name="Publish Free coffee").click()
        await expect(row.get_by_text("active")).to_be_visible()
        assert asked == ["Publish this coupon? Its dates can't change afterwards."]

        engagements = await api.get(
            "/api/v1/engagements", headers=await factory.headers(world.a.admin)
        )
        (coupon,) = engagements.json()["items"]
        assert coupon["status"] == "active"
        assert coupon["data"]["image_attachment_id"]
        assert coupon["data"]["redemption_type"] == "click_to_redeem"
        assert page_errors == []
