"""The desk's transcript links and the Finished tab's CSV export (HD-21) in a real chromium."""

import httpx
import pytest
from playwright.async_api import Page, expect

from relaydesk.config import Settings
from tests.e2e.test_chat import inbox, new_follower, open_desk, reply, tab, thread
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

EXPORT = "/api/v1/conversations/export.csv"


async def test_the_open_chat_links_its_transcript_and_finished_exports_what_is_shown(
    page: Page,
    page_errors: list[str],
    api: httpx.AsyncClient,
    live_server: str,
    factory: Factory,
    settings: Settings,
    world: World,
) -> None:
    conversation_id = await (await new_follower(api, world, "Mia")).write("Where is my order?")
    await reply(api, factory, world.a.agent, conversation_id, "On its way.")
    await open_desk(page, live_server, factory, settings, world.a.agent)
    export = page.get_by_role("link", name="Export CSV")
    await expect(export).to_be_hidden()

    await tab(page, "Active").click()
    await inbox(page).filter(has_text="Mia").click()
    transcript_path = f"/api/v1/conversations/{conversation_id}/transcript"
    download = thread(page).get_by_role("link", name="Download (.txt)")
    await expect(download).to_have_attribute("href", f"{transcript_path}.txt")
    async with page.context.expect_page() as opened:
        await thread(page).get_by_role("link", name="Transcript", exact=True).click()
    transcript = await opened.value
    await expect(transcript.get_by_role("heading", name="Chat with Mia")).to_be_visible()
    await expect(transcript.get_by_text("On its way.")).to_be_visible()
    assert transcript.url == f"{live_server}{transcript_path}.html"

    await tab(page, "Finished").click()
    await expect(export).to_have_attribute("href", EXPORT)
    await page.locator("#channel-filter").select_option(str(world.a.channel.id))
    await page.get_by_role("searchbox", name="Search").fill("order")
    await expect(export).to_have_attribute(
        "href", f"{EXPORT}?channel_id={world.a.channel.id}&q=order"
    )
    await tab(page, "Unanswered").click()
    await expect(export).to_be_hidden()
    assert page_errors == []
