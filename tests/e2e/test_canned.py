"""Canned responses in a real chromium: inserted into the console's composer by typing "/" and
picking with the keyboard or by clicking through the panel, and kept on their settings page."""

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, Locator, Page, expect

from relaydesk.auth.models import StaffUser
from relaydesk.auth.service import end_user_token
from relaydesk.config import Settings
from tests.e2e.test_sign_in import SCREENSHOTS, signed_in_browser
from tests.factories import Factory, World

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


async def post(api: httpx.AsyncClient, headers: dict[str, str], path: str, **data: Any) -> dict:
    response = await api.post(f"/api/v1/canned/{path}", json=data, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def library(api: httpx.AsyncClient, factory: Factory, world: World) -> dict[str, dict]:
    headers = await factory.headers(world.a.admin)
    billing = await post(api, headers, "categories", name="Billing")
    greetings = await post(api, headers, "categories", name="Greetings")
    return {
        "refund": await post(
            api,
            headers,
            "responses",
            category_id=billing["id"],
            title="Refund on its way",
            body="Hi {{end_user.name}}, {{ agent.name }} from {{channel.name}} here. "
            "Your refund is on its way.",
            shortcode="refund",
        ),
        "reference": await post(
            api,
            headers,
            "responses",
            category_id=billing["id"],
            title="Reference number",
            body="Please send us your reference number.",
            shortcode="refnum",
        ),
        "invoice": await post(
            api,
            headers,
            "responses",
            category_id=billing["id"],
            title="Invoice",
            body="{{end_user.name}}, your invoice is attached.",
        ),
        "welcome": await post(
            api,
            headers,
            "responses",
            category_id=greetings["id"],
            title="Welcome",
            body="Welcome to {{channel.name}}!",
        ),
    }


async def started_chat(api: httpx.AsyncClient, world: World, name: str) -> None:
    token = end_user_token(
        world.tenant, sub=f"user-{uuid.uuid4().hex[:10]}", name=name, ttl_seconds=3600
    )
    headers = {"Authorization": f"Bearer {token}"}
    channel = world.a.channel
    followed = await api.put(f"/api/v1/channels/{channel.id}/follow", headers=headers)
    assert followed.status_code == 204, followed.text
    written = await api.post(
        f"/api/v1/channels/{channel.id}/chat/messages",
        json={"client_message_id": str(uuid.uuid4()), "body": "Where is my money?"},
        headers=headers,
    )
    assert written.status_code == 201, written.text


async def open_chat(
    page: Page,
    live_server: str,
    factory: Factory,
    settings: Settings,
    user: StaffUser,
    end_user_name: str,
) -> None:
    await signed_in_browser(page, live_server, factory, settings, user)
    await page.goto(f"{live_server}/desk")
    await expect(page.get_by_role("status")).to_have_text("Live")
    await (
        page.get_by_role("list", name="Conversations")
        .get_by_role("listitem")
        .filter(has_text=end_user_name)
        .click()
    )
    await expect(messages(page)).to_have_count(1)


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def messages(page: Page) -> Locator:
    return page.get_by_role("list", name="Messages").get_by_role("listitem")


def suggestions(page: Page) -> Locator:
    return page.get_by_role("listbox", name="Matching canned responses").get_by_role("option")


class TestComposer:
    async def test_slash_and_letters_offer_responses_to_pick_with_the_keyboard(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
        library: dict[str, dict],
    ) -> None:
        agent = world.a.agent
        await started_chat(api, world, "Mia")
        await open_chat(page, live_server, factory, settings, agent, "Mia")

        await composer(page).press_sequentially("Hello! /ref")
        await expect(suggestions(page)).to_have_count(2)
        await expect(suggestions(page)).to_contain_text(["Reference number", "Refund on its way"])
        await expect(suggestions(page).first).to_have_attribute("aria-selected", "true")
        await expect(suggestions(page).nth(1)).to_contain_text("/refund")
        await composer(page).press("ArrowDown")
        await expect(suggestions(page).nth(1)).to_have_attribute("aria-selected", "true")
        await expect(suggestions(page).first).to_have_attribute("aria-selected", "false")
        await composer(page).press("Enter")

        filled = (
            f"Hello! Hi Mia, {agent.name} from {world.a.channel.name} here. "
            "Your refund is on its way."
        )
        await expect(composer(page)).to_have_value(filled)
        await expect(suggestions(page)).to_have_count(0)
        await page.screenshot(path=SCREENSHOTS / "canned-inserted.png")
        assert await messages(page).count() == 1

        await composer(page).press_sequentially(" /refn")
        await expect(suggestions(page)).to_have_text([re.compile("^Reference number")])
        await composer(page).press("Escape")
        await expect(suggestions(page)).to_have_count(0)
        await composer(page).press_sequentially("u")
        await page.wait_for_timeout(300)
        await expect(suggestions(page)).to_have_count(0)
        await expect(composer(page)).to_have_value(f"{filled} /refnu")
        assert await messages(page).count() == 1

        # Escape holds for that "/": only a new one offers responses again.
        for _ in "/refnu":
            await composer(page).press("Backspace")
        await composer(page).press_sequentially("/refnum")
        await expect(suggestions(page)).to_have_count(1)
        await composer(page).press("Tab")
        await expect(composer(page)).to_have_value(
            f"{filled} Please send us your reference number."
        )
        await composer(page).press("Enter")
        await expect(messages(page).last).to_contain_text("Please send us your reference number.")
        await expect(composer(page)).to_have_value("")
        assert page_errors == []

    async def test_the_button_opens_a_panel_to_click_a_response_in(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
        library: dict[str, dict],
    ) -> None:
        await started_chat(api, world, "Noah")
        await open_chat(page, live_server, factory, settings, world.a.agent, "Noah")
        await composer(page).fill("Dear customer. ")

        await page.get_by_role("button", name="Canned responses").click()
        panel = page.get_by_role("dialog", name="Insert a canned response")
        await expect(panel).to_be_visible()
        await expect(panel.get_by_role("heading")).to_have_text(["Billing", "Greetings"])
        await expect(
            panel.get_by_role("region", name="Billing").get_by_role("button")
        ).to_have_text(
            [re.compile("^Invoice"), re.compile("^Reference number"), re.compile("^Refund")]
        )
        await panel.get_by_role("searchbox", name="Find a canned response").fill("welcome")
        await expect(panel.get_by_role("heading")).to_have_text(["Greetings"])
        await page.screenshot(path=SCREENSHOTS / "canned-panel.png")
        await panel.get_by_role("button", name="Welcome").click()

        await expect(panel).to_be_hidden()
        await expect(composer(page)).to_have_value(
            f"Dear customer. Welcome to {world.a.channel.name}!"
        )
        await expect(composer(page)).to_be_focused()
        assert await messages(page).count() == 1

        await page.get_by_role("button", name="Canned responses").click()
        await expect(panel).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()
        assert await messages(page).count() == 1
        assert page_errors == []


class TestSettingsPage:
    async def test_an_admin_builds_a_category_and_deletes_it(
        self,
        page: Page,
        page_errors: list[str],
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/desk/canned")
        await expect(page.get_by_role("heading", name="Canned responses")).to_be_visible()
        await expect(page.get_by_text("No categories yet.")).to_be_visible()

        await page.get_by_label("New category").fill("Billing")
        await page.get_by_role("button", name="Create category").click()
        categories = page.get_by_role("list", name="Categories").get_by_role("listitem")
        billing = categories.filter(has_text="Billing").first
        await expect(billing.locator("summary").first).to_have_text(
            re.compile("Billing\\s+0 responses")
        )

        await billing.locator("summary").first.click()
        await billing.get_by_text("+ Add new response").click()
        await billing.get_by_label("Title").fill("Refund")
        await billing.get_by_label("Text").fill("Your refund is on its way, {{end_user.name}}.")
        await billing.get_by_label("Shortcut").fill("refund")
        await billing.get_by_role("button", name="Add response").click()
        response_list = billing.get_by_role("list", name="Responses in Billing")
        await expect(response_list.get_by_role("listitem")).to_have_count(1)
        await expect(response_list).to_contain_text("Your refund is on its way, {{end_user.name}}.")
        await expect(response_list).to_contain_text("Shortcut /refund")
        await expect(billing.locator("summary").first).to_have_text(
            re.compile(r"Billing\s+1 response\s*$")
        )

        await page.get_by_label("Rename Billing").click()
        await page.get_by_label("Name", exact=True).fill("Payments")
        await page.screenshot(path=SCREENSHOTS / "canned-settings.png")
        await page.get_by_role("button", name="Save").click()
        payments = categories.filter(has_text="Payments").first
        await expect(payments.locator("summary").first).to_have_text(
            re.compile(r"Payments\s+1 response\s*$")
        )

        asked: list[str] = []

        async def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)
        await page.get_by_role("button", name="Delete Payments").click()
        await expect(page.get_by_text("No categories yet.")).to_be_visible()
        assert asked == ["Delete the category “Payments” and its 1 response?"]
        assert page_errors == []
