"""Fixtures of the browser tests: the live server's API, the end user's own browser, and the
script errors of the agent's page."""

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page


@pytest.fixture
async def api(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """The live server's API, so what tests send goes through the same event bus as the pages."""
    async with httpx.AsyncClient(base_url=live_server) as client:
        yield client


@pytest.fixture
async def app_page(browser: Browser) -> AsyncIterator[Page]:
    """A second browser, the end user's, with nothing of the agent's session."""
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def page_errors(page: Page) -> list[str]:
    """Script errors and CSP refusals on the agent's page; each test ends with none. Answers
    like 409, which the page handles, show in the console as failed loads and are left out."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors
