"""Accounts in a real chromium: an invitation from the Staff page to a first sign-in, a
forgotten password to a new one, and deactivating someone in place."""

import re

import pytest
from playwright.async_api import Page, expect

from relaydesk.config import Settings
from tests.auth.conftest import link_in
from tests.e2e.test_sign_in import SCREENSHOTS, path_of, sign_in_through_form, signed_in_browser
from tests.factories import Factory, World
from tests.mail import MailServer

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

NEW_PASSWORD = "a brand new passphrase"


async def choose_password(page: Page, live_server: str, path: str) -> None:
    """Follows a mailed link and sets the password, ending on the sign-in page."""
    await page.goto(live_server + path)
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Set password").click()
    assert path_of(page) == "/login"
    await expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in.")


async def settled(page: Page) -> None:
    """htmx wires up swapped-in forms only once the swap settles, some 20 ms later."""
    await expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)


class TestInvitation:
    async def test_an_invited_agent_sets_a_password_and_signs_in(
        self,
        page: Page,
        app_page: Page,
        live_server: str,
        factory: Factory,
        settings: Settings,
        mail: MailServer,
        world: World,
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner/staff")
        await page.get_by_label("Name", exact=True).fill("Grace Hopper")
        await page.get_by_label("E-mail", exact=True).fill("grace@staff.example")
        await page.get_by_label("Role", exact=True).select_option("agent")
        await page.get_by_role("button", name="Send invitation").click()
        await expect(page.get_by_role("status")).to_have_text(
            "Invitation sent to grace@staff.example."
        )
        row = page.get_by_role("row").filter(has_text="grace@staff.example")
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Invited")
        await page.screenshot(path=SCREENSHOTS / "partner-staff.png", full_page=True)

        await mail.deliver()
        message = mail.last_to("grace@staff.example")
        assert world.a.partner.name in message["Subject"]
        await choose_password(app_page, live_server, link_in(message))

        await sign_in_through_form(app_page, live_server, "grace@staff.example", NEW_PASSWORD)
        assert path_of(app_page) == "/desk"
        await expect(app_page.get_by_text("Grace Hopper")).to_be_visible()

        await page.reload()
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Active")


class TestForgottenPassword:
    async def test_a_reset_link_sets_a_new_password(
        self, page: Page, live_server: str, mail: MailServer, world: World
    ) -> None:
        await page.goto(f"{live_server}/login")
        await page.get_by_role("link", name="Forgot password?").click()
        await page.get_by_label("E-mail").fill(world.a.agent.email)
        await page.get_by_role("button", name="Send link").click()
        await expect(page.get_by_role("status")).to_have_text(
            "If an account exists for that address, we've sent a link."
        )

        await mail.deliver()
        message = mail.last_to(world.a.agent.email)
        assert message["Subject"] == "Reset your relaydesk password"
        await choose_password(page, live_server, link_in(message))

        await sign_in_through_form(page, live_server, world.a.agent.email, NEW_PASSWORD)
        assert path_of(page) == "/desk"

        await page.goto(live_server + link_in(message))
        await expect(page.get_by_role("alert")).to_have_text(
            "This link has expired or was already used."
        )
        await expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()


class TestDeactivating:
    async def test_an_admin_deactivates_and_reactivates_in_place(
        self, page: Page, live_server: str, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.a.admin)
        await page.goto(f"{live_server}/partner/staff")
        await page.evaluate("window.loadedOnce = true")
        row = page.get_by_role("row").filter(has_text=world.a.agent.email)

        await row.get_by_role("button", name="Deactivate").click()
        await expect(page.get_by_role("status")).to_have_text(
            f"{world.a.agent.name} is deactivated and signed out."
        )
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Deactivated")
        await settled(page)

        await row.get_by_role("button", name="Reactivate").click()
        await expect(row.get_by_role("cell").nth(3)).to_have_text("Active")
        await settled(page)

        await row.get_by_label(re.compile("^Role of")).select_option("partner_admin")
        await expect(page.get_by_role("status")).to_have_text(
            f"{world.a.agent.name} is now partner admin."
        )
        assert await page.evaluate("window.loadedOnce") is True
