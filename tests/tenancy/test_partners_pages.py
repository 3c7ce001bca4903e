"""The My partners page: every partner with its package, status, invoice ID, add-ons and
impressions, expanding to contacts and channels; invoice IDs and suspension for tenant admins."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.auth.models import StaffUser
from relaydesk.config import Settings
from relaydesk.tenancy import partners_pages
from relaydesk.tenancy.models import Partner, PartnerStatus
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in

SUSPEND_QUESTION = (
    "Suspend {}? Its staff will be signed out and its channels will take no new chats."
)


def partner_rows(document: Element) -> list[Element]:
    return document.find_all("tbody", {"class": "partner"})


def names(document: Element) -> list[str]:
    return [row.find("th").own_text() for row in partner_rows(document)]


def row_of(document: Element, partner: Partner) -> Element:
    return document.find("tbody", {"id": f"partner-{partner.id}"})


def cells(row: Element) -> list[str]:
    return [cell.text() for cell in row.find("tr", {"class": "partner-main"}).find_all("td")]


def statuses(element: Element) -> list[str]:
    return [e.text() for e in element.iter() if e.attrs.get("role") == "status"]


def buttons(element: Element) -> dict[str, Element]:
    return {b.attrs["aria-label"]: b for b in element.find_all("button") if "aria-label" in b.attrs}


class Browser(FormPage):
    """A signed-in browser on My partners."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "/tenant/partners")

    async def htmx(self, path: str, **data: str) -> Element:
        """Posts like htmx does; returns the partner's rows it answers with."""
        return (await self.fragment(path, data)).find("tbody")

    async def plain(self, path: str, **data: str) -> httpx.Response:
        return await self.post_plain(path, data)


async def browser_for(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, user: StaffUser
) -> Browser:
    await signed_in(client, factory, settings, user)
    browser = Browser(client)
    await browser.open()
    return browser


@pytest.fixture
async def admin(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Browser:
    return await browser_for(client, factory, settings, world.tenant_admin)


async def api_partner(
    client: httpx.AsyncClient, factory: Factory, world: World, partner: Partner
) -> dict:
    response = await client.get(
        f"/api/v1/tenant/partners/{partner.id}",
        headers=await factory.headers(world.tenant_admin),
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestList:
    async def test_every_partner_with_what_the_guide_lists(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        addon = await client.post(
            "/api/v1/tenant/addons",
            json={
                "name": "Coupons add-on",
                "price": {"amount": "19.00", "currency": "EUR"},
                "grants": {"engagement_types": ["coupon"], "extra_channels": 0},
            },
            headers=headers,
        )
        asked = await client.post(
            "/api/v1/partner/requests",
            json={"kind": "addon", "addon_id": addon.json()["id"]},
            headers=await factory.headers(world.a.admin),
        )
        approved = await client.post(
            f"/api/v1/tenant/requests/{asked.json()['id']}/approve", headers=headers
        )
        assert approved.status_code == 200, approved.text
        await client.patch(
            f"/api/v1/tenant/partners/{world.a.partner.id}",
            json={"invoice_id": "INV-0042"},
            headers=headers,
        )
        await factory.end_user(world.tenant, follows=[world.a.channel])
        quiet = await factory.channel(world.a.partner)
        document = await admin.open()

        assert document.find("h1").text() == "My partners"
        main_nav = document.find("nav", {"aria-label": "Main"})
        assert main_nav.find("a", {"aria-current": "page"}).own_text() == "My partners"
        headings = [th.text() for th in document.find("thead").find_all("th")]
        assert headings == [
            "Partner",
            "Package",
            "Status",
            "Invoice ID",
            "Add-ons",
            "Impressions balance",
            "Actions",
        ]
        assert names(document) == [world.a.partner.name, world.b.partner.name]
        a = await api_partner(client, factory, world, world.a.partner)
        row = row_of(document, world.a.partner)
        assert cells(row) == [
            f"{a['package']['name']} (49.00 EUR)",
            "Active",
            "Save",
            "Coupons add-on",
            "0",
            "Suspend",
        ]
        invoice = row.find("input", {"name": "invoice_id"})
        assert invoice.attrs["value"] == "INV-0042"
        assert cells(row_of(document, world.b.partner))[3] == "None"

        more = row.find("details")
        assert "open" not in more.attrs
        assert more.find("summary").text() == (
            f"Contact information and channels of {world.a.partner.name}"
        )
        contact = {
            pair.find("dt").text(): pair.find("dd").text()
            for pair in more.find("dl").find_all("div")
        }
        assert contact == {
            "Contact name": "—",
            "E-mail": world.a.partner.email,
            "Phone": "—",
            "Website": "None given",
        }
        assert more.find("a", {"href": f"mailto:{world.a.partner.email}"})
        channels = more.find("table", {"aria-label": f"Channels of {world.a.partner.name}"})
        listed = [[td.text() for td in tr.find_all("td")] for tr in channels.find_all("tr")[1:]]
        assert listed == sorted([[world.a.channel.name, "1", "On"], [quiet.name, "0", "Off"]])
        assert world.other.partner.name not in document.text()

    async def test_contact_information_of_a_registered_partner(
        self, admin: Browser, factory: Factory, world: World
    ) -> None:
        async with factory.database.transaction() as session:
            partner = await session.get_one(Partner, world.b.partner.id)
            partner.phone, partner.contact_name = "+386 1 234 5678", "Ana Novak"
            partner.website, partner.impressions_balance = "https://b.example", 1_250_000
        document = await admin.open()

        row = row_of(document, world.b.partner)
        assert cells(row)[4] == "1,250,000"
        contact = row.find("details").find("dl").text()
        assert "Contact name Ana Novak" in contact
        assert "Phone +386 1 234 5678" in contact
        assert row.find("details").find("a", {"href": "https://b.example"})
        assert "No channels yet." not in row.text()

    async def test_search_by_name_filter_by_status_and_export_the_same(
        self, admin: Browser, factory: Factory, world: World
    ) -> None:
        suspended = await factory.partner(world.tenant, status=PartnerStatus.SUSPENDED)
        pending = await factory.partner(world.tenant, status=PartnerStatus.PENDING)

        assert names(await admin.open(status="suspended")) == [suspended.name]
        assert names(await admin.open(status="pending")) == [pending.name]
        assert names(await admin.open(status="active")) == [
            world.a.partner.name,
            world.b.partner.name,
        ]
        document = await admin.open(q=f"  {world.b.partner.name.upper()} ", status="active")
        assert names(document) == [world.b.partner.name]
        search = document.find("form", {"role": "search"})
        options = search.find("select", {"name": "status"}).find_all("option")
        assert [(o.text(), "selected" in o.attrs) for o in options] == [
            ("All", False),
            ("Pending", False),
            ("Active", True),
            ("Suspended", False),
        ]
        export = document.find("a", {"class": "pm-button"})
        assert export.text() == "Export CSV"
        url = urlsplit(export.attrs["href"])
        assert url.path == "/api/v1/tenant/partners/export.csv"
        assert parse_qs(url.query) == {"q": [world.b.partner.name.upper()], "status": ["active"]}
        csv = await admin.client.get(export.attrs["href"])
        assert csv.status_code == 200
        assert world.b.partner.name in csv.text
        assert world.a.partner.name not in csv.text

        assert names(await admin.open(status="gone")) == names(await admin.open())
        assert "No partners match this search." in (await admin.open(q="nobody")).text()

    async def test_load_more_brings_the_next_partners(
        self, admin: Browser, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(partners_pages, "ROWS_SHOWN", 1)
        document = await admin.open()

        assert names(document) == [world.a.partner.name]
        more = document.find("tbody", {"id": "partners-more"}).find("a")
        assert more.text() == "Load more"
        response = await admin.client.get(more.attrs["hx-get"], headers={"HX-Request": "true"})
        assert not response.text.lstrip().startswith("<!doctype")
        assert names(parse(response)) == [world.b.partner.name]
        assert names(
            await admin.open(cursor=parse_qs(urlsplit(more.attrs["href"]).query)["cursor"][0])
        ) == [world.b.partner.name]

    async def test_the_page_takes_the_same_queries_however_many_partners(
        self, app: FastAPI, admin: Browser, factory: Factory, world: World
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> int:
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                await admin.open()
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

        two = await queries()
        for _ in range(3):
            partner = await factory.partner(world.tenant)
            await factory.channel(partner)
        assert await queries() == two


class TestInvoiceId:
    async def test_saved_in_place(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        row = await admin.htmx(
            f"/tenant/partners/{world.a.partner.id}/invoice", invoice_id="  INV-7 "
        )

        assert row.attrs["id"] == f"partner-{world.a.partner.id}"
        assert row.find("input", {"name": "invoice_id"}).attrs["value"] == "INV-7"
        assert statuses(row) == ["Invoice ID saved."]
        assert (await api_partner(client, factory, world, world.a.partner))["invoice_id"] == "INV-7"
        await admin.htmx(f"/tenant/partners/{world.a.partner.id}/invoice", invoice_id="")
        assert (await api_partner(client, factory, world, world.a.partner))["invoice_id"] is None

    async def test_a_too_long_id_is_refused_in_place(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        path = f"/tenant/partners/{world.a.partner.id}/invoice"
        row = await admin.htmx(path, invoice_id="x" * 65)

        field = row.find("input", {"name": "invoice_id"})
        assert (field.attrs["value"], field.attrs["aria-invalid"]) == ("x" * 65, "true")
        assert alerts(row) == [partners_pages.INVOICE_TOO_LONG]
        plain = await admin.plain(path, invoice_id="x" * 65, q=world.a.partner.name)
        assert plain.status_code == 422
        document = parse(plain)
        assert names(document) == [world.a.partner.name]
        assert alerts(document) == [partners_pages.INVOICE_TOO_LONG]
        assert (await api_partner(client, factory, world, world.a.partner))["invoice_id"] is None

    async def test_a_plain_form_goes_back_to_the_same_list(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        document = await admin.open(q=world.a.partner.name, status="active")
        form = row_of(document, world.a.partner).find("form", {"class": "invoice-form"})
        fields = {
            field.attrs["name"]: field.attrs.get("value", "") for field in form.find_all("input")
        }
        response = await admin.client.post(
            form.attrs["action"], data=fields | {"invoice_id": "B-1"}
        )

        target = urlsplit(redirect_target(response))
        assert target.path == "/tenant/partners"
        assert parse_qs(target.query) == {"q": [world.a.partner.name], "status": ["active"]}
        assert (await api_partner(client, factory, world, world.a.partner))["invoice_id"] == "B-1"


class TestSuspension:
    async def test_suspend_asks_first_and_signs_the_partners_staff_out(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        partner_headers = await factory.headers(world.a.admin)
        document = await admin.open()
        suspend = buttons(row_of(document, world.a.partner))[f"Suspend {world.a.partner.name}"]
        form = next(
            f for f in row_of(document, world.a.partner).find_all("form") if suspend in f.iter()
        )
        question = SUSPEND_QUESTION.format(world.a.partner.name)
        assert form.attrs["hx-confirm"] == question
        assert form.attrs["hx-vals"] == '{"confirmed": "true"}'

        path = f"/tenant/partners/{world.a.partner.id}/status"
        asked = await admin.plain(path, status="suspended")
        assert asked.status_code == 200
        page = parse(asked)
        assert alerts(page) == [question]
        confirm = page.find("main").find("form", {"action": path})
        assert confirm.find("input", {"name": "confirmed"}).attrs["value"] == "true"
        assert (await api_partner(client, factory, world, world.a.partner))["status"] == "active"

        row = await admin.htmx(path, status="suspended", confirmed="true")
        assert cells(row)[1] == "Suspended"
        assert statuses(row) == ["Suspended: its staff are signed out."]
        assert f"Reactivate {world.a.partner.name}" in buttons(row)
        assert (await client.get("/api/v1/me", headers=partner_headers)).status_code == 401

        row = await admin.htmx(path, status="active")
        assert cells(row)[1] == "Active"
        assert statuses(row) == ["Active: its staff can sign in again."]
        assert (await client.get("/api/v1/me", headers=partner_headers)).status_code == 200

    async def test_a_plain_confirmation_goes_back_to_the_list(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        path = f"/tenant/partners/{world.b.partner.id}/status"
        response = await admin.plain(
            path, status="suspended", confirmed="true", status_shown="active"
        )

        assert redirect_target(response) == "/tenant/partners?status=active"
        assert (await api_partner(client, factory, world, world.b.partner))["status"] == "suspended"
        assert names(await admin.open(status="active")) == [world.a.partner.name]
        bad = await admin.plain(path, status="pending")
        assert bad.status_code == 422

    async def test_a_pending_partner_can_be_activated(
        self, admin: Browser, factory: Factory, world: World
    ) -> None:
        pending = await factory.partner(world.tenant, status=PartnerStatus.PENDING)
        row = row_of(await admin.open(), pending)
        assert list(buttons(row)) == [
            f"Save the invoice ID of {pending.name}",
            f"Activate {pending.name}",
        ]


class TestAccess:
    async def test_tenant_staff_read_without_controls_and_are_refused_changes(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        async with factory.database.transaction() as session:
            partner = await session.get_one(Partner, world.a.partner.id)
            partner.invoice_id = "INV-9"
        staff = await browser_for(client, factory, settings, world.tenant_staff)
        document = await staff.open()

        assert names(document) == [world.a.partner.name, world.b.partner.name]
        content = document.find("main")
        assert [f for f in content.find_all("form") if f.attrs.get("method") == "post"] == []
        assert buttons(content) == {}
        assert "Actions" not in document.find("thead").text()
        assert cells(row_of(document, world.a.partner))[2] == "INV-9"
        base = f"/tenant/partners/{world.a.partner.id}"
        for path, data in (
            (f"{base}/invoice", {"invoice_id": "X"}),
            (f"{base}/status", {"status": "suspended", "confirmed": "true"}),
        ):
            assert (await staff.plain(path, **data)).status_code == 403
        after = row_of(await staff.open(), world.a.partner)
        assert cells(after)[1:3] == ["Active", "INV-9"]

    async def test_partner_staff_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        for user in (world.a.admin, world.a.agent):
            await signed_in(client, factory, settings, user)
            assert (await client.get("/tenant/partners")).status_code == 403

    async def test_a_post_without_the_csrf_token_is_refused(
        self, admin: Browser, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await admin.client.post(
            f"/tenant/partners/{world.a.partner.id}/status",
            data={"status": "suspended", "confirmed": "true"},
        )
        assert response.status_code == 403
        assert (await api_partner(client, factory, world, world.a.partner))["status"] == "active"

    async def test_another_tenants_partner_is_not_found(self, admin: Browser, world: World) -> None:
        base = f"/tenant/partners/{world.other.partner.id}"
        for path, data in (
            (f"{base}/invoice", {"invoice_id": "X"}),
            (f"{base}/invoice", {"invoice_id": "x" * 65}),
            (f"{base}/status", {"status": "suspended"}),
            (f"{base}/status", {"status": "suspended", "confirmed": "true"}),
        ):
            assert (await admin.plain(path, **data)).status_code == 404, (path, data)
