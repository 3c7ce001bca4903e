"""The console's alerts (HD-17) in a real chromium: notifications and chimes for a new chat and
for the end user's messages in the agent's chats, the Alerts menu that mutes them, and the
unanswered count in the tab's title."""

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from relaydesk.config import Settings
from tests.e2e.test_chat import composer, messages, new_follower, open_desk, write
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

# Wraps the browser's own Notification and oscillator, before any page script runs, to see
# what the console shows and plays.
RECORD_ALERTS = """
window.__notifications = [];
window.__chimes = 0;
window.Notification = class extends window.Notification {
  constructor(title, options = {}) {
    super(title, options);
    window.__notifications.push({ title, body: options.body, tag: options.tag });
    window.__lastNotification = this;
  }
};
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__chimes += 1;
  return createOscillator.call(this);
};
"""


async def alerted(page: Page) -> tuple[list[dict], int]:
    """The notifications shown and the chimes played since the page loaded."""
    notifications, chimes = await page.evaluate("[window.__notifications, window.__chimes]")
    return notifications, chimes


async def wait_for_chimes(page: Page, count: int) -> None:
    await page.wait_for_function("(count) => window.__chimes === count", arg=count)


async def open_alerts_menu(page: Page) -> None:
    """Opens the menu, a press in the page that also lets it play sound."""
    await page.get_by_text("Alerts", exact=True).click()
    await expect(page.get_by_role("group", name="Your alerts")).to_be_enabled()


async def focus_for_real(page: Page) -> None:
    """Playwright tells every page it has the focus; without that, the console can lose it."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": False})


async def another_tab(context: BrowserContext) -> Page:
    """The agent works in another tab: the console loses the focus."""
    other = await context.new_page()
    await other.bring_to_front()
    return other


class TestAlerts:
    async def test_new_chats_and_messages_in_my_chats_alert_until_muted(
        self,
        page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        context = page.context
        await context.grant_permissions(["notifications"], origin=live_server)
        await context.add_init_script(RECORD_ALERTS)
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await focus_for_real(page)
        await expect(page).to_have_title("Chat · relaydesk")
        await open_alerts_menu(page)
        for label in ["Sound for new chats", "Notification for messages in my chats"]:
            await expect(page.get_by_label(label)).to_be_checked()
        await expect(page.get_by_role("button", name="Allow browser notifications")).to_be_hidden()
        await page.get_by_text("Alerts", exact=True).click()
        await expect(page.get_by_role("group", name="Your alerts")).to_be_hidden()

        follower = await new_follower(api, world, "Mia")
        conversation_id = await follower.write("Is the shop open on Sunday?")
        await wait_for_chimes(page, 1)
        assert await alerted(page) == (
            [
                {
                    "title": "New chat from Mia",
                    "body": "Mia: Is the shop open on Sunday?",
                    "tag": f"chat-{conversation_id}",
                }
            ],
            1,
        )
        await expect(page).to_have_title("(1) Chat · relaydesk")

        await page.evaluate("window.__lastNotification.dispatchEvent(new Event('click'))")
        await expect(page.get_by_role("heading", name="Mia")).to_be_visible()
        await write(page, "Yes, from 10 to 16.")
        await expect(messages(page).last).to_contain_text("Yes, from 10 to 16.")
        await expect(page).to_have_title("Chat · relaydesk")

        # The chat is open in front of the agent, who sees the message come in.
        await follower.write("And on holidays?")
        await expect(messages(page).last).to_contain_text("And on holidays?")
        notifications, chimes = await alerted(page)
        assert (len(notifications), chimes) == (1, 1)

        elsewhere = await another_tab(context)
        await follower.write("Thanks, see you then.")
        await wait_for_chimes(page, 2)
        notifications, _ = await alerted(page)
        assert notifications[1:] == [
            {
                "title": "New message from Mia",
                "body": "Mia: Thanks, see you then.",
                "tag": f"chat-{conversation_id}",
            }
        ]

        await page.bring_to_front()
        await open_alerts_menu(page)
        async with page.expect_response(lambda r: r.request.method == "PATCH") as saved:
            await page.get_by_label("Notification for messages in my chats").uncheck()
        assert (await saved.value).ok
        await page.reload()
        await focus_for_real(page)
        await open_alerts_menu(page)
        await expect(page.get_by_label("Notification for messages in my chats")).not_to_be_checked()
        await expect(page.get_by_label("Sound for messages in my chats")).to_be_checked()
        await expect(composer(page)).to_be_visible()

        await elsewhere.bring_to_front()
        await follower.write("One more thing.")
        await wait_for_chimes(page, 1)
        assert await alerted(page) == ([], 1)
        assert page_errors == []


class TestAlertsMenu:
    async def test_asks_for_permission_and_puts_back_a_choice_not_saved(
        self,
        page: Page,
        page_errors: list[str],
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await open_desk(page, live_server, factory, settings, world.a.agent)
        link = page.get_by_role("link", name="Basic chat analytics")
        await expect(link).to_have_attribute("href", "/desk/analytics/today")
        await open_alerts_menu(page)
        allow = page.get_by_role("button", name="Allow browser notifications")
        await expect(allow).to_be_visible()
        await allow.click()
        # Headless chromium has no one to ask and says no.
        await expect(allow).to_be_hidden()
        await expect(
            page.get_by_text("Notifications are blocked in this browser's settings.")
        ).to_be_visible()

        await page.route(
            "**/api/v1/me/alerts",
            lambda route: (
                route.fulfill(status=503, json={"detail": "Try again later."})
                if route.request.method == "PATCH"
                else route.fallback()
            ),
        )
        sound = page.get_by_label("Sound for new chats")
        await sound.click()
        await expect(page.get_by_role("alert")).to_have_text("Not saved. Try again later.")
        await expect(sound).to_be_checked()
        assert page_errors == []
