"""Signing in, moving around and signing out in a real chromium against a live server."""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Locator, Page, expect

from relaydesk.auth.deps import SESSION_COOKIE
from relaydesk.auth.models import StaffUser
from relaydesk.auth.service import principal_of, start_web_session
from relaydesk.config import Settings
from tests.factories import PASSWORD, Factory, World

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

SCREENSHOTS = Path("test-results")


async def sign_in_through_form(
    page: Page, live_server: str, email: str, password: str = PASSWORD
) -> None:
    await page.goto(f"{live_server}/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


async def signed_in_browser(
    page: Page, live_server: str, factory: Factory, settings: Settings, user: StaffUser
) -> None:
    """Gives the browser the session cookie `POST /login` would set, without going through it."""
    async with factory.database.transaction() as session:
        token = await start_web_session(
            session, principal_of(user), ttl=timedelta(hours=settings.session_ttl_hours)
        )
    await page.context.add_cookies(
        [
            {
                "name": SESSION_COOKIE,
                "value": token,
                "url": live_server,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )


async def sign_out_from_the_desk(
    page: Page, live_server: str, factory: Factory, settings: Settings, world: World
) -> None:
    """An agent opens the desk and signs out, ending on the sign-in page."""
    await signed_in_browser(page, live_server, factory, settings, world.a.agent)
    await page.goto(f"{live_server}/desk")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


class TestLandingAfterSignIn:
    async def test_partner_admin_sees_their_partner_and_channels(
        self, page: Page, live_server: str, world: World
    ) -> None:
        await sign_in_through_form(page, live_server, world.a.admin.email)
        assert path_of(page) == "/partner"
        await expect(page.get_by_role("heading", name=world.a.partner.name)).to_be_visible()
        await expect(page.get_by_role("cell", name=world.a.channel.name)).to_be_visible()
        await expect(page.get_by_text(world.b.channel.name)).to_have_count(0)
        for label in ("Chat", "Channels", "Engagements", "Webhooks", "Staff"):
            await expect(main_nav(page).get_by_role("link", name=label)).to_be_visible()
        await expect(page.get_by_text(world.a.admin.name)).to_be_visible()

    async def test_agent_lands_on_the_chat_desk(
        self, page: Page, live_server: str, world: World
    ) -> None:
        await sign_in_through_form(page, live_server, world.a.agent.email)
        assert path_of(page) == "/desk"
        await expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
        await expect(page.get_by_role("tab", name="Unanswered")).to_be_visible()
        await expect(page.get_by_label("Channel")).to_contain_text(world.a.channel.name)
        await expect(main_nav(page).get_by_role("link", name="Channels")).to_have_count(0)

    async def test_tenant_admin_lands_on_partner_management(
        self, page: Page, live_server: str, world: World
    ) -> None:
        await sign_in_through_form(page, live_server, world.tenant_admin.email)
        assert path_of(page) == "/tenant"
        await expect(page).to_have_title(re.compile("^Partner Management"))
        await expect(page.get_by_role("heading", name="Partnership packages")).to_be_visible()
        await expect(main_nav(page).get_by_text("Partner Management")).to_be_visible()
        await expect(main_nav(page).get_by_role("link", name="Overview")).to_be_visible()

    async def test_sign_in_returns_to_the_page_asked_for(
        self, page: Page, live_server: str, world: World
    ) -> None:
        await page.goto(f"{live_server}/desk/canned")
        assert path_of(page) == "/login"
        await page.get_by_label("E-mail").fill(world.a.agent.email)
        await page.get_by_label("Password").fill(PASSWORD)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Sign in").click()
        assert path_of(page) == "/desk/canned"
        await expect(page.get_by_role("heading", name="Canned responses")).to_be_visible()


class TestWrongPassword:
    async def test_wrong_password_shows_the_error(
        self, page: Page, live_server: str, world: World
    ) -> None:
        await sign_in_through_form(page, live_server, world.a.admin.email, "not the password")
        await expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
        await expect(page.get_by_label("E-mail")).to_have_value(world.a.admin.email)
        await expect(page.get_by_label("Password")).to_have_value("")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert await page.context.cookies() == []


class TestPartnerHome:
    async def test_partner_home_shows_channels_and_navigation(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await factory.end_user(world.tenant, follows=[world.a.channel])
        await factory.channel(world.a.partner)
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner")

        await expect(page.get_by_role("heading", name=world.a.partner.name)).to_be_visible()
        row = page.get_by_role("row").filter(has_text=world.a.channel.name)
        await expect(row.get_by_role("cell")).to_have_text(
            [world.a.channel.name, "1", "enabled", "Disable chat"]
        )
        await expect(main_nav(page).get_by_role("link")).to_have_count(8)
        await expect(main_nav(page).get_by_role("link", name="Channels")).to_have_attribute(
            "aria-current", "page"
        )
        await page.screenshot(path=SCREENSHOTS / "partner-home.png", full_page=True)

        await main_nav(page).get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()

    async def test_adding_a_channel_swaps_the_table_in_place(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        csp_complaints: list[str] = []
        page.on(
            "console",
            lambda message: (
                csp_complaints.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        navigations: list[str] = []
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner")
        await page.wait_for_load_state("load")
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        await page.evaluate("window.loadedOnce = true")

        await page.get_by_label("Name").fill("Weekend deals")
        await page.get_by_label("Description").fill("Offers every Saturday")
        async with page.expect_request(
            lambda request: request.method == "POST" and request.url.endswith("/partner/channels")
        ) as posted:
            await page.get_by_role("button", name="Add channel").click()
        row = page.get_by_role("row").filter(has_text="Weekend deals")
        await expect(row.get_by_role("cell")).to_have_text(
            [re.compile("^Weekend deals"), "0", "disabled", "Enable chat"]
        )
        await expect(row.get_by_text("Offers every Saturday")).to_be_visible()

        headers = await (await posted.value).all_headers()
        assert headers["hx-request"] == "true"
        assert headers["x-csrf-token"]
        assert await page.evaluate("window.loadedOnce") is True
        assert navigations == []
        assert csp_complaints == []
        await expect(page.get_by_role("row")).to_have_count(3)
        await expect(page.get_by_label("Name")).to_have_value("")

        await page.reload()
        await expect(page.get_by_role("cell", name="Weekend deals")).to_be_visible()

    async def test_a_duplicate_channel_name_shows_the_reason(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner")
        await page.get_by_label("Name").fill(world.a.channel.name)
        await page.get_by_role("button", name="Add channel").click()
        await expect(page.get_by_role("alert")).to_have_text(
            f"A channel named {world.a.channel.name!r} already exists."
        )
        await expect(page.get_by_role("row")).to_have_count(2)


class TestSignOut:
    async def test_sign_out_returns_to_the_sign_in_page(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.agent)
        await page.goto(f"{live_server}/desk")
        await expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()

        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert path_of(page) == "/login"

        await page.reload()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await page.goto(f"{live_server}/desk")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert path_of(page) == "/login"

    async def test_refresh_after_going_back_asks_to_sign_in_again(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await sign_out_from_the_desk(page, live_server, factory, settings, world)

        await page.go_back()
        await page.reload()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await expect(page.get_by_text(world.a.channel.name)).to_have_count(0)
        assert path_of(page) == "/login"

    async def test_back_after_sign_out_shows_nothing_of_the_session(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await sign_out_from_the_desk(page, live_server, factory, settings, world)

        await page.go_back()
        assert await page.get_by_text(world.a.channel.name).count() == 0
        assert await page.get_by_role("button", name="Sign out").count() == 0
