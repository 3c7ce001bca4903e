"""Two agents at the console at once, each in their own browser: unread messages counted for
each of them (HD-19), and who else is in a chat and typing (HD-18)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from relaydesk.config import Settings
from tests.e2e.test_chat import (
    composer,
    inbox,
    messages,
    new_follower,
    open_app,
    open_desk,
    tab_unread,
)
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


@pytest.fixture
async def colleague_page(browser: Browser) -> AsyncIterator[Page]:
    """The second agent's browser, with a session of its own."""
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


class TestUnread:
    async def test_each_agent_has_their_own_unread_counts_kept_live(
        self,
        page: Page,
        colleague_page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await open_desk(page, live_server, factory, settings, world.a.agent)
        await open_desk(colleague_page, live_server, factory, settings, world.a.admin)
        # The first agent's second console, in the same browser.
        second_console = await page.context.new_page()
        await second_console.goto(f"{live_server}/desk")

        follower = await new_follower(api, world, "Mia")
        await follower.write("Hello?")
        await follower.write("I have a question about my order.")
        for console in (page, colleague_page, second_console):
            chat = inbox(console).filter(has_text="Mia")
            await expect(chat.locator(".unread-badge")).to_have_text("2")
            await expect(tab_unread(console, "Unanswered")).to_have_text("1")

        await inbox(page).filter(has_text="Mia").click()
        await expect(inbox(page).filter(has_text="Mia").locator(".unread-badge")).to_have_count(0)
        await expect(tab_unread(page, "Unanswered")).to_be_hidden()
        # Read in one console is read in the agent's others, and in no colleague's.
        mia_elsewhere = inbox(second_console).filter(has_text="Mia")
        await expect(mia_elsewhere.locator(".unread-badge")).to_have_count(0)
        await expect(tab_unread(second_console, "Unanswered")).to_be_hidden()
        mia_for_colleague = inbox(colleague_page).filter(has_text="Mia")
        await expect(mia_for_colleague.locator(".unread-badge")).to_have_text("2")

        # A message in the chat the agent is looking at is read as it comes.
        await follower.write("It is order 1234.")
        await expect(page.get_by_role("list", name="Messages")).to_contain_text("order 1234")
        await expect(mia_for_colleague.locator(".unread-badge")).to_have_text("3")
        await expect(tab_unread(colleague_page, "Unanswered")).to_have_text("1")
        await page.wait_for_timeout(500)
        await expect(inbox(page).filter(has_text="Mia").locator(".unread-badge")).to_have_count(0)

        # What the server keeps agrees: a reload shows the same.
        await page.reload()
        await colleague_page.reload()
        await expect(inbox(colleague_page).filter(has_text="Mia")).to_contain_text("order 1234")
        await expect(mia_for_colleague.locator(".unread-badge")).to_have_text("3")
        await expect(inbox(page).filter(has_text="Mia")).to_contain_text("order 1234")
        await expect(inbox(page).filter(has_text="Mia").locator(".unread-badge")).to_have_count(0)
        assert page_errors == []


class TestCollisionGuard:
    async def test_agents_see_each_other_in_a_chat_and_who_is_typing(
        self,
        page: Page,
        colleague_page: Page,
        app_page: Page,
        page_errors: list[str],
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        agent, colleague = world.a.agent, world.a.admin
        follower = await new_follower(api, world, "Mia")
        await follower.write("Can someone help me?")
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        await open_desk(page, live_server, factory, settings, agent)
        await open_desk(colleague_page, live_server, factory, settings, colleague)

        await inbox(page).filter(has_text="Mia").click()
        await inbox(colleague_page).filter(has_text="Mia").click()
        await expect(page.locator("#thread-viewers")).to_contain_text(
            f"Also viewing: {colleague.name}"
        )
        await expect(colleague_page.locator("#thread-viewers")).to_contain_text(
            f"Also viewing: {agent.name}"
        )

        await composer(page).press_sequentially("Let me check")
        await expect(colleague_page.get_by_text(f"{agent.name} is replying…")).to_be_visible()
        await expect(app_page.get_by_text(f"{agent.name} is typing…")).to_be_visible()
        await expect(page.locator("#thread-typing")).to_be_hidden()
        await composer(page).press("Enter")
        await expect(messages(colleague_page).last).to_contain_text("Let me check")
        await expect(colleague_page.locator("#thread-typing")).to_be_hidden()
        await expect(app_page.locator("#typing")).to_be_hidden()

        await app_page.get_by_role("textbox", name="Message").press_sequentially("Thanks")
        await expect(page.get_by_text("Mia is typing…")).to_be_visible()

        await colleague_page.close()
        await expect(page.locator("#thread-viewers")).to_be_hidden()
        assert page_errors == []
