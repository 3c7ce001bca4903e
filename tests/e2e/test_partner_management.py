"""Partner Management in a real chromium: a would-be partner registers, is rejected with a
reason that reaches their mailbox, registers again, is approved, sets a password from the
welcome e-mail and signs in to the partner portal; and a tenant admin's My partners page."""

import re
from email.message import EmailMessage

import pytest
from playwright.async_api import Dialog, Locator, Page, expect

from relaydesk.config import Settings
from tests.e2e.test_sign_in import SCREENSHOTS, path_of, sign_in_through_form, signed_in_browser
from tests.factories import Factory, World
from tests.mail import MailServer

# The pages behave the same on every backend; the browser proves them once.
pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PARTNER = "Café Nova"
EMAIL = "owner@cafe-nova.example"
NEW_PASSWORD = "a long and new password"
REASON = "We take partners with a shop in Ljubljana only."


async def register(page: Page, live_server: str, world: World, package_name: str) -> None:
    await page.goto(f"{live_server}/join/{world.tenant.slug}")
    await page.get_by_label(package_name, exact=True).check()
    await page.get_by_label("Partner name").fill(PARTNER)
    await page.get_by_label("Contact name").fill("Nova Owner")
    await page.get_by_label("E-mail").fill(EMAIL)
    await page.get_by_label("Phone").fill("+386 40 123 456")
    await page.get_by_label("Website").fill("https://cafe-nova.example")
    await page.get_by_label("Description").fill("Coffee roasters with three cafés.")
    await page.get_by_role("button", name="Send request").click()
    await expect(page.get_by_text(re.compile("received"))).to_be_visible()


def request_of(page: Page) -> Locator:
    return page.get_by_role("list", name="Pending partnership requests").get_by_role("listitem")


def mail_with(mail: MailServer, subject_start: str) -> EmailMessage:
    (message,) = [m for m in mail.to(EMAIL) if m["Subject"].startswith(subject_start)]
    return message


class TestPartnership:
    async def test_rejected_then_approved_partner_signs_in_to_the_portal(
        self,
        page: Page,
        app_page: Page,
        page_errors: list[str],
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
        mail: MailServer,
    ) -> None:
        package = await factory.package(world.tenant, price="99.00")
        await register(app_page, live_server, world, package.name)

        await signed_in_browser(page, live_server, factory, settings, world.tenant_admin)
        await page.goto(f"{live_server}/tenant/partnerships")
        row = request_of(page).filter(has_text=PARTNER)
        await expect(row).to_contain_text(f"{package.name} (99.00 EUR / month)")
        await expect(row).to_contain_text("New")
        await expect(row).to_contain_text("Coffee roasters with three cafés.")
        await row.get_by_role("link", name=f"Reject {PARTNER}").click()
        dialog = page.get_by_role("dialog", name="Reject the partnership request?")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await row.get_by_role("link", name=f"Reject {PARTNER}").click()
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text(
            "This description will be sent to the partner's e-mail."
        )
        # Blanks pass the browser's own check; the server asks again in the same dialog.
        await dialog.get_by_label("Description").fill("   ")
        await dialog.get_by_role("button", name="Reject").click()
        dialog = page.get_by_role("dialog", name="Reject the partnership request?")
        await expect(dialog.get_by_role("alert")).to_contain_text("Write a description")
        await expect(dialog).to_be_visible()
        await dialog.get_by_label("Description").fill(REASON)
        await page.screenshot(path=SCREENSHOTS / "partnership-reject.png")
        await dialog.get_by_role("button", name="Reject").click()
        await expect(page.get_by_role("status")).to_have_text(
            f"Rejected. {PARTNER} has been sent the description by e-mail."
        )

        await mail.deliver()
        assert REASON in mail.body(mail_with(mail, "Not approved"))

        await register(app_page, live_server, world, package.name)
        await page.goto(f"{live_server}/tenant/partnerships")
        await (
            request_of(page)
            .filter(has_text=PARTNER)
            .get_by_role("button", name=f"Approve {PARTNER}")
            .click()
        )
        await expect(page.get_by_role("status")).to_have_text(
            f"Approved. {PARTNER} is now on the {package.name} package and has been told by e-mail."
        )
        await page.get_by_role("link", name="History").click()
        history = page.get_by_role("table")
        await expect(history.get_by_role("row")).to_have_count(3)
        await expect(history.get_by_role("row").nth(1)).to_contain_text("Approved")
        await expect(history.get_by_role("row").nth(2)).to_contain_text(REASON)
        await page.screenshot(path=SCREENSHOTS / "partnership-history.png")

        await mail.deliver()
        welcome = mail.body(mail_with(mail, "Welcome"))
        link = re.search(r"/set-password/\S+", welcome)
        assert link, welcome
        await app_page.goto(f"{live_server}{link.group()}")
        await app_page.get_by_label("New password").fill(NEW_PASSWORD)
        await app_page.get_by_label("Repeat").fill(NEW_PASSWORD)
        await app_page.get_by_role("button", name="Set password").click()
        await expect(app_page).to_have_url(re.compile("/login"))

        await sign_in_through_form(app_page, live_server, EMAIL, NEW_PASSWORD)
        assert path_of(app_page) == "/partner"
        await expect(app_page.get_by_role("heading", name=PARTNER)).to_be_visible()
        assert page_errors == []


class TestMyPartners:
    async def test_an_admin_expands_a_partner_sets_its_invoice_id_and_suspends_it(
        self,
        page: Page,
        page_errors: list[str],
        live_server: str,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await signed_in_browser(page, live_server, factory, settings, world.tenant_admin)
        await page.goto(f"{live_server}/tenant/partners")
        name = world.a.partner.name
        partner = page.locator("tbody.partner").filter(has=page.get_by_role("rowheader", name=name))
        channels = partner.get_by_role("table", name=f"Channels of {name}")
        await expect(channels).to_be_hidden()
        await partner.get_by_text("Contact information and channels").click()
        await expect(channels).to_contain_text(world.a.channel.name)
        await expect(partner).to_contain_text(world.a.partner.email)

        await partner.get_by_label(f"Invoice ID of {name}", exact=True).fill("INV-2042")
        await partner.get_by_role("button", name=f"Save the invoice ID of {name}").click()
        await expect(partner.get_by_role("status")).to_have_text("Invoice ID saved.")
        await expect(partner.get_by_label(f"Invoice ID of {name}", exact=True)).to_have_value(
            "INV-2042"
        )

        asked: list[str] = []

        async def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)
        await partner.get_by_role("button", name=f"Suspend {name}").click()
        await expect(partner.get_by_role("status")).to_have_text(
            "Suspended: its staff are signed out."
        )
        await expect(partner.get_by_role("button", name=f"Reactivate {name}")).to_be_visible()
        assert asked == [
            f"Suspend {name}? Its staff will be signed out and its channels will take no new chats."
        ]
        await page.screenshot(path=SCREENSHOTS / "my-partners.png")
        await page.reload()
        await expect(partner.get_by_label(f"Invoice ID of {name}", exact=True)).to_have_value(
            "INV-2042"
        )
        await expect(partner).to_contain_text("Suspended")
        assert page_errors == []
