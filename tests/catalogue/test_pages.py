"""The tenant's Catalogues page: packages, add-ons and advertising packages listed (archived ones
marked), created, edited, archived and deleted through its forms, with htmx and without."""

from typing import Any

import httpx
import pytest

from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in

PAGE = "/tenant/catalogue"
CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."
ADDON = {
    "name": "Coupons add-on",
    "price": {"amount": "19.00", "currency": "EUR"},
    "description": "Send coupons",
    "grants": {"engagement_types": ["coupon"], "extra_channels": 2},
}
AD_PACKAGE = {
    "name": "Starter ads",
    "impressions": 10000,
    "price": {"amount": "50", "currency": "EUR"},
}


def package_form(name: str = "Gold", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "price": "99.9",
        "currency": "eur",
        "billing_period": "year",
        "engagement_types": ["message", "coupon"],
        "max_channels": "5",
    } | changes


def addon_form(name: str = "Extra channels", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "price": "9.50",
        "currency": "EUR",
        "description": "Two more channels",
        "engagement_types": [],
        "extra_channels": "2",
    } | changes


class Catalogue(FormPage):
    """A tenant admin's browser session on the page, posting as its forms do, and the API to
    check what the posts changed."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        super().__init__(client, PAGE, opens_first=True)
        self.headers = headers

    async def htmx(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.post_htmx(path, data)

    async def plain(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.post_plain(path, data)

    async def fragment(self, path: str, data: dict[str, Any]) -> Element:
        """Posts like htmx does and returns the panel it answers with."""
        return (await super().fragment(path, data)).find("div", {"id": "catalogue-panel"})

    async def listed(self, kind: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/api/v1/tenant/{kind}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def created(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/tenant/{kind}", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def catalogue(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Catalogue:
    headers = await factory.headers(world.tenant_admin)
    await signed_in(client, factory, settings, world.tenant_admin)
    return Catalogue(client, headers)


async def held_package(catalogue: Catalogue, world: World) -> dict[str, Any]:
    """The first partner's package: in use."""
    (held,) = [
        package
        for package in await catalogue.listed("packages")
        if package["id"] == str(world.a.partner.package_id)
    ]
    return held


def section(document: Element, slug: str) -> Element:
    return document.find("section", {"id": f"catalogue-{slug}"})


def rows(document: Element, slug: str) -> list[list[str]]:
    """Each item's cells but the actions."""
    return [
        [cell.text() for cell in row.find_all("td")][:-1]
        for row in section(document, slug).find_all("tr", {"class": "catalogue-item"})
    ]


def row_of(document: Element, name: str) -> Element:
    (row,) = [
        row
        for row in document.find_all("tr", {"class": "catalogue-item"})
        if row.find("strong").text() == name
    ]
    return row


def buttons(element: Element) -> list[str]:
    return [button.attrs.get("aria-label", button.text()) for button in element.find_all("button")]


def notice(document: Element) -> str:
    return document.find("p", {"role": "status"}).text()


class TestPage:
    async def test_an_admin_sees_the_three_catalogues(
        self, catalogue: Catalogue, world: World
    ) -> None:
        held = await held_package(catalogue, world)
        await catalogue.created("addons", ADDON)
        ads = await catalogue.created("ad-packages", AD_PACKAGE)
        await catalogue.client.patch(
            f"/api/v1/tenant/ad-packages/{ads['id']}",
            json={"archived": True},
            headers=catalogue.headers,
        )
        document = await catalogue.open()
        assert document.find("h1").text() == "Catalogues"
        assert [h.text() for h in document.find("main").find_all("h2")] == [
            "Partnership packages",
            "Add-ons",
            "Advertising packages",
        ]
        every_type = "Message, Promo, Coupon, Sticker pack, Ringtone, Wallpaper"
        assert rows(document, "packages")[0] == [
            held["name"],
            "49.00 EUR",
            "Monthly",
            every_type,
            "10",
        ]
        assert len(rows(document, "packages")) == 2
        assert rows(document, "addons") == [
            ["Coupons add-on Send coupons", "19.00 EUR", "Coupon · +2 channels"]
        ]
        assert rows(document, "ad-packages") == [["Starter ads Archived", "10,000", "50.00 EUR"]]
        assert "archived" in row_of(document, "Starter ads").attrs["class"].split()
        nav = document.find("nav", {"aria-label": "Main"})
        current = [a.own_text() for a in nav.find_all("a") if a.attrs.get("aria-current")]
        assert current == ["Catalogues"]

    async def test_items_in_use_offer_archive_but_not_delete(
        self, catalogue: Catalogue, world: World
    ) -> None:
        held = await held_package(catalogue, world)
        await catalogue.created("addons", ADDON)
        document = await catalogue.open()
        held_row = row_of(document, held["name"])
        assert buttons(held_row) == ["Save", f"Archive {held['name']}"]
        assert "In use" in held_row.text()
        assert buttons(row_of(document, "Coupons add-on")) == [
            "Save",
            "Archive Coupons add-on",
            "Delete Coupons add-on",
        ]

    async def test_each_row_has_an_edit_form_filled_in(self, catalogue: Catalogue) -> None:
        await catalogue.created("addons", ADDON)
        form = row_of(await catalogue.open(), "Coupons add-on").find(
            "form", {"aria-label": "Edit Coupons add-on"}
        )
        assert form.find("input", {"name": "name"}).attrs["value"] == "Coupons add-on"
        assert form.find("input", {"name": "price"}).attrs["value"] == "19.00"
        assert form.find("textarea", {"name": "description"}).text() == "Send coupons"
        ticked = [
            box.attrs["value"]
            for box in form.find_all("input", {"type": "checkbox"})
            if "checked" in box.attrs
        ]
        assert ticked == ["coupon"]
        assert form.find("input", {"name": "extra_channels"}).attrs["value"] == "2"

    async def test_another_tenants_items_do_not_show(
        self, catalogue: Catalogue, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        theirs = await factory.package(world.other_tenant)
        document = await catalogue.open()
        assert theirs.name not in document.find("main").text()
        assert len(rows(document, "packages")) == 2

    @pytest.mark.parametrize("role", [Role.TENANT_STAFF, Role.PARTNER_ADMIN, Role.AGENT])
    async def test_only_tenant_admins_get_in(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        response = await client.get(PAGE)
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"
        posted = await client.post(f"{PAGE}/packages", data=package_form())
        assert posted.status_code == 403

    async def test_signed_out_visitors_are_sent_to_sign_in(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        assert redirect_target(await client.get(PAGE)) == f"/login?next={PAGE}"


class TestCreate:
    async def test_a_package_created_with_htmx(self, catalogue: Catalogue) -> None:
        panel = await catalogue.fragment(f"{PAGE}/packages", package_form())
        assert notice(panel) == "The package “Gold” is created."
        assert ["Gold", "99.90 EUR", "Yearly", "Message, Coupon", "5"] in rows(panel, "packages")
        assert alerts(panel) == []
        created = [p for p in await catalogue.listed("packages") if p["name"] == "Gold"]
        assert created[0] | {"id": None, "created_at": None} == {
            "id": None,
            "name": "Gold",
            "price": {"amount": "99.90", "currency": "EUR"},
            "billing_period": "year",
            "engagement_types": ["coupon", "message"],
            "max_channels": 5,
            "archived": False,
            "created_at": None,
        }

    async def test_an_addon_by_plain_form_post_is_sent_back_to_the_page(
        self, catalogue: Catalogue
    ) -> None:
        response = await catalogue.plain(f"{PAGE}/addons", addon_form())
        assert redirect_target(response) == PAGE
        (addon,) = await catalogue.listed("addons")
        assert addon["grants"] == {"engagement_types": [], "extra_channels": 2}
        assert addon["description"] == "Two more channels"
        assert rows(await catalogue.open(), "addons") == [
            ["Extra channels Two more channels", "9.50 EUR", "+2 channels"]
        ]

    async def test_an_advertising_package_created_with_htmx(self, catalogue: Catalogue) -> None:
        data = {"name": "Big reach", "impressions": "250000", "price": "400", "currency": "USD"}
        panel = await catalogue.fragment(f"{PAGE}/ad-packages", data)
        assert rows(panel, "ad-packages") == [["Big reach", "250,000", "400.00 USD"]]
        (ads,) = await catalogue.listed("ad-packages")
        assert (ads["impressions"], ads["price"]) == (
            250000,
            {"amount": "400.00", "currency": "USD"},
        )

    async def test_invalid_fields_are_marked_and_kept_with_htmx(self, catalogue: Catalogue) -> None:
        data = package_form(name="", price="12.345", max_channels="lots")
        panel = await catalogue.fragment(f"{PAGE}/packages", data)
        form = panel.find("form", {"aria-label": "New package"})
        assert alerts(form) == [
            "Give it a name of at most 120 characters. "
            "Enter a price such as 49.00: 0 or more, at most two decimals. "
            "The channel limit is a whole number from 0 to 10,000."
        ]
        invalid = [e.attrs["name"] for e in form.iter() if e.attrs.get("aria-invalid") == "true"]
        assert invalid == ["name", "price", "max_channels"]
        assert form.find("input", {"name": "price"}).attrs["value"] == "12.345"
        assert panel.find("details", {"class": "catalogue-new"}).attrs.get("open") is not None
        assert len(await catalogue.listed("packages")) == 2

    async def test_a_refused_plain_post_answers_422_with_the_page(
        self, catalogue: Catalogue
    ) -> None:
        response = await catalogue.plain(f"{PAGE}/addons", addon_form(currency="euro"))
        assert response.status_code == 422
        document = parse(response)
        assert alerts(document) == ["Enter a three-letter currency code such as EUR."]
        assert document.find("h1").text() == "Catalogues"
        assert await catalogue.listed("addons") == []

    async def test_a_taken_name_is_409_at_the_name(self, catalogue: Catalogue) -> None:
        await catalogue.created("addons", ADDON)
        response = await catalogue.plain(f"{PAGE}/addons", addon_form(name="Coupons add-on"))
        assert response.status_code == 409
        form = parse(response).find("form", {"aria-label": "New add-on"})
        assert alerts(form) == ["The add-on 'Coupons add-on' already exists."]
        assert form.find("input", {"name": "name"}).attrs["aria-invalid"] == "true"
        assert len(await catalogue.listed("addons")) == 1

    async def test_without_the_csrf_token_nothing_is_created(self, catalogue: Catalogue) -> None:
        await catalogue.open()
        response = await catalogue.client.post(f"{PAGE}/packages", data=package_form())
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).text()
        assert len(await catalogue.listed("packages")) == 2

    async def test_an_unknown_catalogue_is_404(self, catalogue: Catalogue) -> None:
        response = await catalogue.htmx(f"{PAGE}/widgets", package_form())
        assert response.status_code == 404


class TestEdit:
    async def test_an_addon_edited_through_its_row(self, catalogue: Catalogue) -> None:
        addon = await catalogue.created("addons", ADDON)
        data = addon_form(name="Coupons plus", engagement_types=["coupon", "promo"])
        panel = await catalogue.fragment(f"{PAGE}/addons/{addon['id']}", data)
        assert notice(panel) == "The add-on “Coupons plus” is saved."
        assert rows(panel, "addons") == [
            ["Coupons plus Two more channels", "9.50 EUR", "Promo, Coupon · +2 channels"]
        ]
        (changed,) = await catalogue.listed("addons")
        assert changed["grants"] == {"engagement_types": ["coupon", "promo"], "extra_channels": 2}

    async def test_a_taken_name_is_refused_in_that_rows_form(
        self, catalogue: Catalogue, world: World
    ) -> None:
        held = await held_package(catalogue, world)
        await catalogue.fragment(f"{PAGE}/packages", package_form())
        gold = row_of(await catalogue.open(), "Gold")
        gold_id = gold.attrs["id"].removeprefix("item-")
        panel = await catalogue.fragment(
            f"{PAGE}/packages/{gold_id}", package_form(name=held["name"])
        )
        edit = row_of(panel, "Gold").find("details", {"class": "catalogue-edit"})
        assert edit.attrs.get("open") is not None
        assert alerts(edit) == [f"The package {held['name']!r} already exists."]
        assert edit.find("input", {"name": "name"}).attrs["value"] == held["name"]
        names = [p["name"] for p in await catalogue.listed("packages")]
        assert (names.count(held["name"]), names.count("Gold")) == (1, 1)

    async def test_another_tenants_item_is_404(
        self, catalogue: Catalogue, factory: Factory, world: World
    ) -> None:
        theirs = await factory.package(world.other_tenant)
        for action in ("", "/archive", "/delete"):
            response = await catalogue.htmx(
                f"{PAGE}/packages/{theirs.id}{action}",
                package_form(name="Mine now") | {"confirmed": "true"},
            )
            assert response.status_code == 404, action
        other = Catalogue(catalogue.client, await factory.headers(world.other_tenant_admin))
        listed = await other.listed("packages")
        assert [(p["name"], p["archived"]) for p in listed if p["id"] == str(theirs.id)] == [
            (theirs.name, False)
        ]


class TestArchive:
    async def test_archive_then_unarchive_with_htmx(self, catalogue: Catalogue) -> None:
        addon = await catalogue.created("addons", ADDON)
        path = f"{PAGE}/addons/{addon['id']}/archive"
        panel = await catalogue.fragment(path, {"archived": "true"})
        assert notice(panel) == "The add-on “Coupons add-on” is archived."
        row = row_of(panel, "Coupons add-on")
        assert "Archived" in row.text()
        assert "Unarchive Coupons add-on" in buttons(row)
        assert (await catalogue.listed("addons"))[0]["archived"] is True

        panel = await catalogue.fragment(path, {"archived": "false"})
        assert notice(panel) == "The add-on “Coupons add-on” is offered again."
        assert "Archive Coupons add-on" in buttons(row_of(panel, "Coupons add-on"))
        assert (await catalogue.listed("addons"))[0]["archived"] is False

    async def test_a_plain_post_archives_an_item_in_use(
        self, catalogue: Catalogue, world: World
    ) -> None:
        held = await held_package(catalogue, world)
        response = await catalogue.plain(
            f"{PAGE}/packages/{held['id']}/archive", {"archived": "true"}
        )
        assert redirect_target(response) == PAGE
        assert (await held_package(catalogue, world))["archived"] is True


class TestDelete:
    async def test_an_unused_item_deleted_with_htmx(self, catalogue: Catalogue) -> None:
        ads = await catalogue.created("ad-packages", AD_PACKAGE)
        panel = await catalogue.fragment(
            f"{PAGE}/ad-packages/{ads['id']}/delete", {"confirmed": "true"}
        )
        assert notice(panel) == "The advertising package “Starter ads” is deleted."
        assert rows(panel, "ad-packages") == []
        assert await catalogue.listed("ad-packages") == []

    async def test_a_plain_post_asks_first(self, catalogue: Catalogue) -> None:
        addon = await catalogue.created("addons", ADDON)
        path = f"{PAGE}/addons/{addon['id']}/delete"
        asked = await catalogue.plain(path, {})
        assert asked.status_code == 200
        document = parse(asked)
        assert alerts(document) == ["Delete the add-on “Coupons add-on”? This can't be undone."]
        confirm = document.find("form", {"action": path})
        assert confirm.find("input", {"name": "confirmed"}).attrs["value"] == "true"
        assert len(await catalogue.listed("addons")) == 1

        assert redirect_target(await catalogue.plain(path, {"confirmed": "true"})) == PAGE
        assert await catalogue.listed("addons") == []

    async def test_an_item_in_use_is_kept_and_the_row_says_to_archive_it(
        self, catalogue: Catalogue, world: World
    ) -> None:
        held = await held_package(catalogue, world)
        path = f"{PAGE}/packages/{held['id']}/delete"
        panel = await catalogue.fragment(path, {"confirmed": "true"})
        assert alerts(row_of(panel, held["name"])) == ["In use: archive it instead."]
        plain = await catalogue.plain(path, {"confirmed": "true"})
        assert plain.status_code == 409
        assert alerts(parse(plain)) == ["In use: archive it instead."]
        assert await held_package(catalogue, world) == held
