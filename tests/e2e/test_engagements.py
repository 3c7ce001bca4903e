"""Engagements in a real chromium: the agent sends a coupon from the console's composer, the end
user redeems it in the app, and the agent's history and activity panels follow live."""

from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, Locator, Page, expect

from relaydesk.catalogue.models import EngagementType
from relaydesk.config import Settings
from tests.e2e.test_chat import SCREENSHOTS, inbox, messages, new_follower, open_app, open_desk
from tests.engagements.conftest import EngagementApi, coupon, published
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


async def catalogue(api: httpx.AsyncClient, factory: Factory, world: World) -> dict[str, Any]:
    """A published coupon and message of the first partner's channel; returns the coupon."""
    admin = EngagementApi(api, await factory.headers(world.a.admin), world.a.channel)
    await published(
        admin,
        EngagementType.MESSAGE,
        {"text": "We open at nine tomorrow."},
        title="Opening hours",
    )
    return await published(
        admin, EngagementType.COUPON, coupon(), title="Free coffee", description="One cup on us."
    )


def picker(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Send an engagement")


def panel(page: Page, name: str) -> Locator:
    return page.get_by_role("dialog", name=name)


def entries(page: Page, name: str) -> Locator:
    return panel(page, name).get_by_role("listitem")


def answering(page: Page, accept: bool) -> list[str]:
    """Answers every dialog of the page; returns what they asked."""
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.on("dialog", answer)
    return asked


class TestSendingAnEngagement:
    async def test_a_coupon_sent_from_the_console_is_redeemed_in_the_app(
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
        await catalogue(api, factory, world)
        follower = await new_follower(api, world, "Mia")
        await follower.write("Any offers?")
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        await expect(messages(app_page)).to_have_count(1)

        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Mia").click()
        await expect(messages(page)).to_have_count(1)
        await page.get_by_role("button", name="Engagements").click()
        choices = picker(page).get_by_role("button")
        # Newest first, each with its type, title and description.
        await expect(choices).to_have_text(
            ["CouponFree coffeeOne cup on us.", "MessageOpening hoursFor our followers."]
        )
        await picker(page).get_by_label("Type").select_option(label="Coupon")
        await expect(choices).to_have_count(1)

        asked = answering(page, accept=True)
        await picker(page).get_by_role("button", name="Coupon: Free coffee").click()
        card = messages(page).last.get_by_role("article", name="Coupon: Free coffee")
        await expect(card).to_contain_text("One cup on us.")
        await expect(card).to_contain_text("Click to redeem")
        assert asked == ["Are you sure you want to send this coupon?"]
        await expect(picker(page)).to_be_hidden()
        await expect(page.locator("#thread-status .owner")).to_have_text(world.a.agent.name)

        await page.get_by_role("button", name="Recent activity").click()
        await expect(entries(page, "Recent activity").first).to_contain_text("Viewed")

        received = messages(app_page).last.get_by_role("article", name="Coupon: Free coffee")
        await expect(received).to_contain_text("One cup on us.")
        await received.get_by_role("button", name="Redeem").click()
        await expect(received).to_contain_text("Redeemed")
        await expect(received.get_by_role("button", name="Redeem")).to_have_count(0)

        activity = entries(page, "Recent activity")
        await expect(activity).to_have_count(3)
        await expect(activity.first).to_contain_text("Redeemed")
        await expect(activity.first).to_contain_text("Free coffee")
        await expect(activity.nth(2)).to_contain_text("Received")
        await panel(page, "Recent activity").get_by_label("Type").select_option(label="Message")
        await expect(panel(page, "Recent activity")).to_contain_text("No activity yet.")

        await page.get_by_role("button", name="Engagement history").click()
        await expect(panel(page, "Recent activity")).to_be_hidden()
        history = entries(page, "Engagement history")
        await expect(history).to_have_count(1)
        await expect(history.first).to_contain_text("Free coffee")
        await expect(history.first.locator(".badge")).to_have_text("Redeemed")
        await expect(history.first).to_contain_text("Coupon")
        await page.screenshot(path=SCREENSHOTS / "desk-engagements.png")
        await app_page.screenshot(path=SCREENSHOTS / "app-engagements.png")
        assert page_errors == []

    async def test_a_dismissed_confirmation_sends_nothing(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await catalogue(api, factory, world)
        await (await new_follower(api, world, "Noah")).write("Hello?")
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Noah").click()
        await expect(messages(page)).to_have_count(1)

        await page.get_by_role("button", name="Engagements").click()
        await picker(page).get_by_label("Type").select_option(label="Ringtone")
        await expect(picker(page)).to_contain_text("Nothing to send to this end user right now.")
        await picker(page).get_by_label("Type").select_option(label="All types")
        await expect(picker(page).get_by_role("button")).to_have_count(2)
        await page.screenshot(path=SCREENSHOTS / "desk-engagement-picker.png")
        asked = answering(page, accept=False)
        await picker(page).get_by_role("button", name="Coupon: Free coffee").click()

        await expect(picker(page)).to_be_visible()
        assert asked == ["Are you sure you want to send this coupon?"]
        await expect(messages(page)).to_have_count(1)
        await page.get_by_role("button", name="Engagement history").click()
        await expect(panel(page, "Engagement history")).to_contain_text("No engagements yet.")
        await expect(picker(page)).to_be_hidden()
        assert page_errors == []
