"""Files in a real chromium: the agent attaches an image from the console and the end user sees
its preview; the end user sends a document back and the agent can download it."""

import asyncio
import io
import re

import httpx
import pytest
from PIL import Image
from playwright.async_api import Locator, Page, Route, expect

from relaydesk.config import Settings
from tests.e2e.test_chat import (
    SCREENSHOTS,
    composer,
    inbox,
    messages,
    new_follower,
    open_app,
    open_desk,
    write,
)
from tests.factories import Factory, World

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def attach(page: Page, name: str, mime_type: str, content: bytes) -> None:
    """Picks a file through the composer's pin icon, as a person would."""
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Attach files").click()
    await (await chooser.value).set_files({"name": name, "mimeType": mime_type, "buffer": content})


def uploads(page: Page) -> Locator:
    return page.get_by_role("list", name="Files to send").get_by_role("listitem")


async def shown(image: Locator) -> bool:
    """Whether the image element has loaded a picture."""
    return await image.evaluate("node => node.complete && node.naturalWidth > 0")


class TestAttachmentsInTheBrowser:
    async def test_an_image_from_the_console_shows_as_a_preview_in_the_app(
        self,
        page: Page,
        page_errors: list[str],
        app_page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        follower = await new_follower(api, world, "Mia")
        await follower.write("Can you show me the new colour?")
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        await expect(messages(app_page)).to_have_count(1)

        await open_desk(page, live_server, factory, settings, world.a.agent)
        await inbox(page).filter(has_text="Mia").click()
        await expect(messages(page)).to_have_count(1)
        await attach(page, "ocean blue.png", "image/png", png(800, 600))
        await expect(uploads(page)).to_have_count(1)
        await expect(uploads(page).first).to_have_class("upload uploaded")
        await expect(uploads(page).first).to_contain_text("ocean blue.png")
        await write(page, "Here it is")
        await expect(uploads(page)).to_have_count(0)

        sent = messages(page).last
        await expect(sent).to_contain_text("Here it is")
        await expect(sent.get_by_role("img", name="ocean blue.png")).to_be_visible()

        received = messages(app_page).last
        await expect(received).to_contain_text("Here it is")
        preview = received.get_by_role("img", name="ocean blue.png")
        await expect(preview).to_be_visible()
        await expect(preview).to_have_attribute("src", re.compile("^blob:"))
        assert await shown(preview)
        # The thumbnail, not the 800 by 600 original, is what the thread loads.
        assert await preview.evaluate("node => node.naturalWidth") == 320
        await app_page.screenshot(path=SCREENSHOTS / "app-attachment.png")
        await page.screenshot(path=SCREENSHOTS / "desk-attachment.png")
        assert page_errors == []

    async def test_a_document_from_the_app_downloads_in_the_console(
        self,
        page: Page,
        app_page: Page,
        api: httpx.AsyncClient,
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        follower = await new_follower(api, world, "Noah")
        await open_app(app_page, live_server, follower)
        await app_page.get_by_role("button", name=world.a.channel.name).click()
        held = asyncio.Event()

        async def hold_upload(route: Route) -> None:
            await held.wait()
            await route.continue_()

        await app_page.route("**/api/v1/attachments", hold_upload)
        await attach(app_page, "receipt.pdf", "application/pdf", PDF)
        uploading = uploads(app_page).filter(has_text="receipt.pdf")
        await expect(uploading.get_by_role("progressbar")).to_be_visible()
        await composer(app_page).press("Enter")
        await expect(app_page.get_by_role("alert")).to_have_text(
            "Wait for the files to finish uploading, then send."
        )
        held.set()
        await expect(uploading.get_by_role("progressbar")).to_be_hidden()
        await app_page.unroute("**/api/v1/attachments", hold_upload)
        await attach(app_page, "not really.png", "image/png", b"<html>not an image</html>")
        await expect(uploads(app_page)).to_have_count(2)
        refused = uploads(app_page).filter(has_text="not really.png")
        await expect(refused).to_contain_text("The file's content is not a .png file.")
        await expect(uploads(app_page).filter(has_text="receipt.pdf")).to_have_class(
            "upload uploaded"
        )
        await composer(app_page).press("Enter")
        await expect(
            messages(app_page).last.get_by_role("link", name="receipt.pdf")
        ).to_be_visible()

        await open_desk(page, live_server, factory, settings, world.a.agent)
        chat = inbox(page).filter(has_text="Noah")
        await expect(chat).to_contain_text("receipt.pdf")
        await chat.click()
        link = messages(page).last.get_by_role("link", name="receipt.pdf")
        async with page.expect_download() as download_info:
            await link.click()
        download = await download_info.value
        assert download.suggested_filename == "receipt.pdf"
        assert (await download.path()).read_bytes() == PDF
