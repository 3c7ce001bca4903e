"""The partner side of requests in the browser: the tenant's public registration form, and the
partner portal's Requests page (current package and add-ons, asking for another package or an
add-on, My requests) through its forms with htmx and without."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.approvals import portal_pages
from relaydesk.approvals.service import REGISTRATIONS_PER_HOUR
from relaydesk.auth.permissions import Role
from relaydesk.catalogue.models import EngagementType, Package
from relaydesk.config import Settings
from tests.approvals.conftest import Requests, registration
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in

PORTAL = "/partner/requests"
CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."
JOIN_LABELS = ["Partner name", "Contact name", "E-mail", "Phone", "Website", "Description"]


def join_path(world: World) -> str:
    return f"/join/{world.tenant.slug}"


def labels(form: Element) -> list[str]:
    """The text of each label of a text field, in order."""
    return [
        label.own_text()
        for label in form.find_all("label")
        if label.find_all("textarea")
        or label.find_all("input", {"type": "text"})
        or any(f.attrs.get("type") in ("email", "tel") for f in label.find_all("input"))
    ]


def field_errors(document: Element) -> dict[str, str]:
    return {
        p.attrs["id"].removeprefix("join-").removesuffix("-error"): p.text()
        for p in document.find_all("p", {"class": "field-error"})
    }


def radio_labels(element: Element, name: str) -> dict[str, str]:
    """The name each radio button is labelled with, by its value."""
    return {
        label.find("input").attrs["value"]: label.text()
        for label in element.find_all("label")
        if label.find_all("input", {"type": "radio", "name": name})
    }


class TestJoinForm:
    async def test_it_shows_the_tenant_and_the_packages_on_offer(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        gold = await factory.package(
            world.tenant,
            price="99.00",
            engagement_types=[EngagementType.COUPON, EngagementType.MESSAGE],
            max_channels=3,
        )
        archived = await factory.package(world.tenant)
        theirs = await factory.package(world.other_tenant)
        headers = await factory.headers(world.tenant_admin)
        await client.patch(
            f"/api/v1/tenant/packages/{archived.id}", json={"archived": True}, headers=headers
        )
        response = await client.get(join_path(world))
        assert response.status_code == 200
        document = parse(response)
        assert document.find("h1").text() == world.tenant.name
        form = document.find("form", {"action": join_path(world)})
        offered = radio_labels(form, "package_id")
        assert offered[str(gold.id)] == gold.name
        assert str(archived.id) not in offered
        assert str(theirs.id) not in offered
        about = document.find("p", {"id": f"package-{gold.id}-about"}).text()
        assert about == "99.00 EUR / month · up to 3 channels · Message, Coupon"
        assert labels(form) == JOIN_LABELS
        assert [b.text() for b in form.find_all("button")] == ["Send request"]
        # Like the sign-in form: nobody is signed in, so there is no session to bind a token to.
        assert form.find_all("input", {"name": "csrf_token"}) == []

    async def test_an_unknown_tenant_is_a_404_page(
        self, client: httpx.AsyncClient, world: World, package: Package
    ) -> None:
        for response in (
            await client.get("/join/no-such-tenant"),
            await client.post("/join/no-such-tenant", data=registration(package)),
            await client.get("/join/no-such-tenant/received"),
        ):
            assert response.status_code == 404
            assert parse(response).find("h1").text() == "Not found"

    async def test_a_tenant_offering_nothing_says_so(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        tenant = await factory.tenant()
        document = parse(await client.get(f"/join/{tenant.slug}"))
        assert "No packages are offered right now" in document.text()
        assert document.find_all("form", {"action": f"/join/{tenant.slug}"}) == []


class TestJoining:
    async def test_a_registration_is_received_and_waits_for_the_tenant(
        self, client: httpx.AsyncClient, requests: Requests, package: Package, world: World
    ) -> None:
        data = registration(package, partner_name="Café Nova", website="")
        response = await client.post(join_path(world), data=data)
        assert redirect_target(response) == f"{join_path(world)}/received"
        received = parse(await client.get(redirect_target(response)))
        assert received.find("h1").text() == world.tenant.name
        status = received.find("p", {"role": "status"}).text()
        assert "received" in status
        assert "e-mail once it is reviewed" in status
        # Said once, so that a browser finding the text "received" finds one element.
        saying = [e for e in received.find("main").iter() if "received" in e.own_text()]
        assert len(saying) == 1

        (pending,) = await requests.listed(kind="partnership", status="pending")
        assert pending["partner"] == {"id": None, "name": "Café Nova", "status": "new"}
        assert pending["title"] == package.name
        assert pending["description"] == data["description"]
        assert {name: pending["details"][name] for name in ("email", "phone", "contact_name")} == {
            "email": data["email"],
            "phone": data["phone"],
            "contact_name": data["contact_name"],
        }

    async def test_invalid_fields_are_marked_and_kept(
        self, client: httpx.AsyncClient, requests: Requests, package: Package, world: World
    ) -> None:
        data = registration(package, partner_name=" ", email="not-an-address", phone="call me")
        response = await client.post(join_path(world), data=data)
        assert response.status_code == 422
        document = parse(response)
        assert alerts(document) == ["Please check the fields marked below."]
        assert field_errors(document) == {
            "partner_name": "Enter your company's or brand's name, at most 120 characters.",
            "email": "Enter an e-mail address such as name@example.com.",
            "phone": "Enter a phone number: digits, spaces and + ( ) . / - only.",
        }
        form = document.find("form", {"action": join_path(world)})
        assert form.find("input", {"name": "email"}).attrs["value"] == "not-an-address"
        assert form.find("input", {"name": "email"}).attrs["aria-invalid"] == "true"
        assert form.find("input", {"name": "contact_name"}).attrs["value"] == data["contact_name"]
        assert form.find("textarea", {"name": "description"}).text() == data["description"]
        chosen = form.find("input", {"value": str(package.id)})
        assert "checked" in chosen.attrs
        assert await requests.listed(kind="partnership") == []

    async def test_no_package_picked_is_asked_for(
        self, client: httpx.AsyncClient, package: Package, world: World
    ) -> None:
        response = await client.post(join_path(world), data=registration(package, package_id=""))
        assert response.status_code == 422
        assert field_errors(parse(response)) == {"package_id": "Pick a package."}

    async def test_a_taken_name_is_409_at_its_field(
        self, client: httpx.AsyncClient, requests: Requests, package: Package, world: World
    ) -> None:
        taken = {"partner_name": world.a.partner.name}
        response = await client.post(join_path(world), data=registration(package, **taken))
        assert response.status_code == 409
        document = parse(response)
        assert alerts(document) == [portal_pages.CHECK_FIELDS]
        assert field_errors(document) == {
            "partner_name": "A partner with this name already exists. "
            "Pick another name, or sign in if it is yours."
        }
        form = document.find("form", {"action": join_path(world)})
        assert form.find("input", {"name": "partner_name"}).attrs["value"] == taken["partner_name"]
        assert await requests.listed(kind="partnership") == []

    async def test_an_address_with_an_account_looks_received_and_is_told_by_mail(
        self, client: httpx.AsyncClient, requests: Requests, package: Package, world: World
    ) -> None:
        """The form reveals no accounts: the owner of the address learns by e-mail."""
        data = registration(package, email=world.a.admin.email)
        assert redirect_target(await client.post(join_path(world), data=data))
        assert await requests.listed(kind="partnership") == []

    async def test_a_request_already_waiting_is_409(
        self, client: httpx.AsyncClient, requests: Requests, package: Package, world: World
    ) -> None:
        data = registration(package)
        assert redirect_target(await client.post(join_path(world), data=data))
        again = await client.post(join_path(world), data=data | {"email": "other@brand.example"})
        assert again.status_code == 409
        assert alerts(parse(again)) == [
            "A request with this partner name or e-mail address is already waiting for a "
            "decision. We'll e-mail you once it is reviewed."
        ]
        assert len(await requests.listed(kind="partnership")) == 1

    async def test_an_archived_package_is_409(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        requests: Requests,
        package: Package,
        world: World,
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        await client.patch(
            f"/api/v1/tenant/packages/{package.id}", json={"archived": True}, headers=headers
        )
        response = await client.post(join_path(world), data=registration(package))
        assert response.status_code == 409
        assert field_errors(parse(response)) == {
            "package_id": "That package is no longer offered. Pick another one."
        }

    async def test_another_tenants_package_is_404(
        self, client: httpx.AsyncClient, factory: Factory, requests: Requests, world: World
    ) -> None:
        theirs = await factory.package(world.other_tenant)
        response = await client.post(join_path(world), data=registration(theirs))
        assert response.status_code == 404
        assert await requests.listed(kind="partnership") == []

    async def test_too_many_from_one_address_are_refused_politely(
        self, client: httpx.AsyncClient, package: Package, world: World
    ) -> None:
        data = registration(package)
        for _ in range(REGISTRATIONS_PER_HOUR):
            # The first is received, the rest wait behind it: each counts all the same.
            assert (await client.post(join_path(world), data=data)).status_code in (303, 409)
        response = await client.post(join_path(world), data=registration(package))
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert alerts(parse(response)) == [portal_pages.TOO_MANY]


# --- The partner portal ----------------------------------------------------------------------


class Portal(FormPage):
    """A partner admin's browser session on the Requests page."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, PORTAL, opens_first=True)

    async def htmx(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.post_htmx(path, data)

    async def plain(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.post_plain(path, data)

    async def fragment(self, path: str, data: dict[str, Any]) -> Element:
        return (await super().fragment(path, data)).find("div", {"id": "portal-panel"})


@pytest.fixture
async def portal(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Portal:
    await signed_in(client, factory, settings, world.a.admin)
    return Portal(client)


def section(document: Element, heading: str) -> Element:
    (found,) = [s for s in document.find_all("section") if s.find("h2").text() == heading]
    return found


def request_rows(document: Element) -> list[list[str]]:
    """Kind, what, price, status and reason of each row of My requests."""
    return [
        [cells[i] for i in (0, 1, 2, 4, 6)]
        for row in section(document, "My requests").find_all("tr", {"class": "request-row"})
        if (cells := [cell.text() for cell in row.find_all("td")])
    ]


def notice(document: Element) -> str:
    return document.find("p", {"role": "status"}).text()


async def my_requests(requests: Requests, world: World) -> list[dict[str, Any]]:
    response = await requests.client.get(
        "/api/v1/partner/requests", headers=await requests.as_(world.a.admin)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def package_named(requests: Requests, package_id: object) -> str:
    response = await requests.client.get(
        "/api/v1/tenant/packages", headers=await requests.as_(requests.world.tenant_admin)
    )
    (name,) = [p["name"] for p in response.json()["items"] if p["id"] == str(package_id)]
    return name


class TestPortalPage:
    async def test_it_shows_the_package_the_add_ons_and_what_was_asked(
        self, portal: Portal, requests: Requests, factory: Factory, world: World
    ) -> None:
        silver = await factory.package(world.tenant, price="19.00", max_channels=1)
        active = await requests.addon(name="Coupons", description="")
        rejected = await requests.addon(name="Stickers", price={"amount": "5", "currency": "EUR"})
        offered = await requests.addon(name="Wallpapers", description="Fresh walls")
        await requests.addon(name="Old", archived=True)
        asked = await requests.submit(world.a.admin, {"kind": "addon", "addon_id": active["id"]})
        assert (await requests.approve(asked.json()["id"])).status_code == 200
        asked = await requests.submit(world.a.admin, {"kind": "addon", "addon_id": rejected["id"]})
        assert (await requests.reject(asked.json()["id"], "Not for you")).status_code == 200
        change = {"kind": "partnership", "package_id": str(silver.id), "description": "Cheaper"}
        assert (await requests.submit(world.a.admin, change)).status_code == 201

        document = await portal.open()
        assert document.find("h1").text() == "Requests"
        nav = document.find("nav", {"aria-label": "Main"})
        assert [a.own_text() for a in nav.find_all("a") if a.attrs.get("aria-current")] == [
            "Requests"
        ]
        package = section(document, "Your package")
        own = await package_named(requests, world.a.partner.package_id)
        assert package.find("p", {"class": "portal-current"}).text() == (
            f"{own} · 49.00 EUR / month · up to 10 channels"
        )
        addons = package.find("ul", {"aria-label": "Active add-ons"})
        assert [li.text() for li in addons.find_all("li")] == [
            "Coupons · 19.00 EUR · adds Coupon · +2 channels"
        ]
        change_section = section(document, "Change package")
        assert "Your request to move to “" + silver.name + "” is waiting" in change_section.text()
        assert change_section.find_all("form") == []
        ask = section(document, "Ask for an add-on")
        assert set(radio_labels(ask, "addon_id").values()) == {"Stickers", "Wallpapers"}
        assert "Fresh walls" in ask.text()
        assert request_rows(document) == [
            ["Partnership", f"{silver.name} Cheaper", "19.00 EUR", "Pending", ""],
            ["Add-on", "Stickers", "5.00 EUR", "Rejected", "Not for you"],
            ["Add-on", "Coupons", "19.00 EUR", "Approved", ""],
        ]
        assert offered["name"] == "Wallpapers"

    async def test_packages_on_offer_leave_out_the_current_and_archived_ones(
        self, portal: Portal, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        gold = await factory.package(world.tenant, price="99.00")
        archived = await factory.package(world.tenant)
        await client.patch(
            f"/api/v1/tenant/packages/{archived.id}",
            json={"archived": True},
            headers=await factory.headers(world.tenant_admin),
        )
        offered = radio_labels(section(await portal.open(), "Change package"), "package_id")
        assert str(world.a.partner.package_id) not in offered
        assert str(archived.id) not in offered
        assert offered[str(gold.id)] == gold.name

    async def test_an_add_on_waiting_for_a_decision_cannot_be_picked_again(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Coupons")
        await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        ask = section(await portal.open(), "Ask for an add-on")
        assert radio_labels(ask, "addon_id") == {}
        assert "Coupons Requested" in ask.text()
        assert ask.find_all("button") == []

    async def test_other_partners_requests_do_not_show(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Theirs only")
        await requests.submit(world.b.admin, {"kind": "addon", "addon_id": addon["id"]})
        document = await portal.open()
        assert request_rows(document) == []
        assert "No requests yet." in section(document, "My requests").text()

    async def test_the_page_takes_the_same_queries_however_much_there_is(
        self, app: FastAPI, portal: Portal, requests: Requests, factory: Factory, world: World
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> int:
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                await portal.open()
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

        few = await queries()
        for number in range(3):
            await factory.package(world.tenant)
            addon = await requests.addon(name=f"Add-on {number}")
            sent = await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
            if number:
                await requests.approve(sent.json()["id"])
        assert await queries() == few

    @pytest.mark.parametrize("role", [Role.AGENT, Role.TENANT_ADMIN, Role.TENANT_STAFF])
    async def test_only_partner_admins_get_in(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        response = await client.get(PORTAL)
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"
        posted = await client.post(f"{PORTAL}/addon", data={"addon_id": "x"})
        assert posted.status_code == 403

    async def test_load_more_adds_the_older_requests(
        self,
        portal: Portal,
        requests: Requests,
        world: World,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(portal_pages, "REQUESTS_SHOWN", 2)
        for name in ("First", "Second", "Third"):
            addon = await requests.addon(name=name)
            await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        document = await portal.open()
        assert [row[1] for row in request_rows(document)] == ["Third", "Second"]
        more = document.find("tr", {"id": "requests-more"}).find("a")
        assert more.text() == "Load more"

        rows = await portal.client.get(more.attrs["href"], headers={"HX-Request": "true"})
        fragment = parse(rows)
        assert fragment.find_all("body") == []
        assert [row.find("strong").text() for row in fragment.find_all("tr")] == ["First"]

        page = parse(await portal.client.get(more.attrs["href"]))
        assert [row[1] for row in request_rows(page)] == ["First"]
        assert "Back to the newest requests" in section(page, "My requests").text()


class TestAskingForAnAddon:
    async def test_asked_with_htmx_and_shown_pending(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Coupons")
        data = {"addon_id": addon["id"], "description": "For the summer"}
        panel = await portal.fragment(f"{PORTAL}/addon", data)
        assert notice(panel) == "Your request for “Coupons” is sent. It waits for a decision."
        assert alerts(panel) == []
        assert request_rows(panel) == [
            ["Add-on", "Coupons For the summer", "19.00 EUR", "Pending", ""]
        ]
        (sent,) = await my_requests(requests, world)
        assert (sent["kind"], sent["status"], sent["description"]) == (
            "addon",
            "pending",
            "For the summer",
        )

    async def test_a_plain_form_post_is_sent_back_to_the_page(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Coupons")
        response = await portal.plain(f"{PORTAL}/addon", {"addon_id": addon["id"]})
        assert redirect_target(response) == PORTAL
        assert [row[3] for row in request_rows(await portal.open())] == ["Pending"]

    async def test_nothing_picked_is_asked_for(self, portal: Portal) -> None:
        response = await portal.plain(f"{PORTAL}/addon", {"description": "x"})
        assert response.status_code == 422
        assert alerts(section(parse(response), "Ask for an add-on")) == ["Pick an add-on."]

    async def test_a_description_too_long_is_refused(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Coupons")
        data = {"addon_id": addon["id"], "description": "x" * 2001}
        panel = await portal.fragment(f"{PORTAL}/addon", data)
        assert alerts(panel) == ["The description has at most 2,000 characters."]
        assert await my_requests(requests, world) == []

    @pytest.mark.parametrize("conflict", ["addon_active", "request_pending", "archived"])
    async def test_conflicts_are_shown_in_the_form(
        self, portal: Portal, requests: Requests, world: World, conflict: str
    ) -> None:
        addon = await requests.addon(name="Coupons")
        ask = {"kind": "addon", "addon_id": addon["id"]}
        expected = {
            "addon_active": "You have 'Coupons' already.",
            "request_pending": "The same request is already waiting for a decision.",
            "archived": "The add-on 'Coupons' is no longer offered.",
        }[conflict]
        if conflict == "addon_active":
            sent = await requests.submit(world.a.admin, ask)
            await requests.approve(sent.json()["id"])
        elif conflict == "request_pending":
            await requests.submit(world.a.admin, ask)
        else:
            await requests.client.patch(
                f"/api/v1/tenant/addons/{addon['id']}",
                json={"archived": True},
                headers=await requests.as_(world.tenant_admin),
            )
        before = await my_requests(requests, world)
        panel = await portal.fragment(f"{PORTAL}/addon", {"addon_id": addon["id"]})
        assert alerts(section(panel, "Ask for an add-on")) == [expected]
        plain = await portal.plain(f"{PORTAL}/addon", {"addon_id": addon["id"]})
        assert plain.status_code == 409
        assert alerts(parse(plain)) == [expected]
        assert await my_requests(requests, world) == before

    async def test_another_tenants_add_on_is_404(
        self,
        portal: Portal,
        client: httpx.AsyncClient,
        factory: Factory,
        requests: Requests,
        world: World,
    ) -> None:
        theirs = await client.post(
            "/api/v1/tenant/addons",
            json={
                "name": "Theirs",
                "price": {"amount": "1", "currency": "EUR"},
                "grants": {"engagement_types": ["coupon"]},
            },
            headers=await factory.headers(world.other_tenant_admin),
        )
        response = await portal.htmx(f"{PORTAL}/addon", {"addon_id": theirs.json()["id"]})
        assert response.status_code == 404
        assert await my_requests(requests, world) == []

    async def test_without_the_csrf_token_nothing_is_asked(
        self, portal: Portal, requests: Requests, world: World
    ) -> None:
        addon = await requests.addon(name="Coupons")
        await portal.open()
        response = await portal.client.post(f"{PORTAL}/addon", data={"addon_id": addon["id"]})
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).text()
        assert await my_requests(requests, world) == []


class TestChangingPackage:
    async def test_asked_with_htmx_and_shown_pending(
        self, portal: Portal, requests: Requests, package: Package, world: World
    ) -> None:
        panel = await portal.fragment(f"{PORTAL}/package", {"package_id": str(package.id)})
        assert (
            notice(panel) == f"Your request for “{package.name}” is sent. It waits for a decision."
        )
        assert request_rows(panel) == [["Partnership", package.name, "99.00 EUR", "Pending", ""]]
        change = section(panel, "Change package")
        assert f"Your request to move to “{package.name}” is waiting" in change.text()

    async def test_a_plain_form_post_is_sent_back_to_the_page(
        self, portal: Portal, requests: Requests, package: Package, world: World
    ) -> None:
        data = {"package_id": str(package.id), "description": "More channels"}
        assert redirect_target(await portal.plain(f"{PORTAL}/package", data)) == PORTAL
        (sent,) = await my_requests(requests, world)
        assert (sent["kind"], sent["title"], sent["description"]) == (
            "partnership",
            package.name,
            "More channels",
        )

    async def test_nothing_picked_is_asked_for(self, portal: Portal, package: Package) -> None:
        panel = await portal.fragment(f"{PORTAL}/package", {"package_id": "gold"})
        assert alerts(section(panel, "Change package")) == ["Pick a package."]

    async def test_the_current_package_is_409(
        self, portal: Portal, requests: Requests, factory: Factory, world: World
    ) -> None:
        current = str(world.a.partner.package_id)
        response = await portal.plain(f"{PORTAL}/package", {"package_id": current})
        assert response.status_code == 409
        (alert,) = alerts(section(parse(response), "Change package"))
        assert alert.startswith("You are on ") and alert.endswith(" already.")
        assert await my_requests(requests, world) == []

    async def test_a_second_change_while_one_waits_is_409(
        self, portal: Portal, requests: Requests, factory: Factory, package: Package, world: World
    ) -> None:
        other = await factory.package(world.tenant)
        await portal.fragment(f"{PORTAL}/package", {"package_id": str(package.id)})
        panel = await portal.fragment(f"{PORTAL}/package", {"package_id": str(other.id)})
        assert alerts(section(panel, "Change package")) == [
            "The same request is already waiting for a decision."
        ]
        assert len(await my_requests(requests, world)) == 1

    async def test_an_archived_package_is_409(
        self, portal: Portal, requests: Requests, package: Package, world: World
    ) -> None:
        await requests.client.patch(
            f"/api/v1/tenant/packages/{package.id}",
            json={"archived": True},
            headers=await requests.as_(world.tenant_admin),
        )
        response = await portal.plain(f"{PORTAL}/package", {"package_id": str(package.id)})
        assert response.status_code == 409
        assert alerts(section(parse(response), "Change package")) == [
            f"The package {package.name!r} is no longer offered."
        ]
        assert await my_requests(requests, world) == []

    async def test_another_tenants_package_is_404(
        self, portal: Portal, requests: Requests, factory: Factory, world: World
    ) -> None:
        theirs = await factory.package(world.other_tenant)
        response = await portal.htmx(f"{PORTAL}/package", {"package_id": str(theirs.id)})
        assert response.status_code == 404
        assert await my_requests(requests, world) == []
