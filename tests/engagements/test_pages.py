"""The partner portal's Engagements page: the catalogue, its create and edit form, and the
publish and finish actions, through its forms with htmx and without."""

from typing import Any

import httpx
import pytest

from relaydesk.catalogue.models import EngagementType
from relaydesk.config import Settings
from tests.engagements.conftest import EngagementApi, allow_only
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.web.test_pages import alerts, csrf_from_body, redirect_target, signed_in

PAGE = "/partner/engagements"


class Portal:
    """A partner admin's browser session on the Engagements page, posting as its forms do."""

    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client = client
        self.world = world
        self.token = ""

    async def open(self, **params: str) -> Element:
        response = await self.client.get(PAGE, params=params)
        assert response.status_code == 200, response.text[:300]
        document = parse(response)
        self.token = csrf_from_body(document)
        return document

    async def htmx(self, path: str, data: dict[str, Any]) -> httpx.Response:
        if not self.token:
            await self.open()
        return await self.client.post(
            path, data=data, headers={"X-CSRF-Token": self.token, "HX-Request": "true"}
        )

    async def fragment(self, path: str, data: dict[str, Any]) -> Element:
        """Posts like htmx does and returns the panel it answers with."""
        response = await self.htmx(path, data)
        assert response.status_code == 200, response.text[:300]
        assert not response.text.lstrip().startswith("<!doctype")
        return parse(response).find("div", {"id": "engagements-panel"})

    def new(self, type_: str, title: str = "Weekend offer", **fields: Any) -> dict[str, Any]:
        return {
            "type": type_,
            "channel_id": str(self.world.a.channel.id),
            "title": title,
            "description": "",
            "starts_at": "",
            "ends_at": "",
            **fields,
        }


@pytest.fixture
async def portal(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Portal:
    await signed_in(client, factory, settings, world.a.admin)
    return Portal(client, world)


def rows(document: Element) -> list[list[str]]:
    table = document.find("table", {"class": "engagements-table"})
    return [[cell.text() for cell in row.find_all("td")][:6] for row in table.find_all("tr")[1:]]


def row_of(document: Element, title: str) -> Element:
    (row,) = [
        row
        for row in document.find_all("tr", {"class": "engagement-row"})
        if row.find("strong").text() == title
    ]
    return row


def field_error(document: Element, name: str) -> str:
    return document.find("p", {"id": f"field-{name}-error"}).text()


def type_options(document: Element) -> list[str]:
    form = document.find("form", {"class": "engagement-form"})
    return [option.text() for option in form.find("select", {"name": "type"}).find_all("option")]


class TestPage:
    async def test_an_admin_sees_the_catalogue_newest_first(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        await admin.create(EngagementType.MESSAGE, title="Opening hours")
        coupon = await admin.create(
            EngagementType.COUPON,
            {"redemption_type": "qr_code", "quantity": 40},
            title="Ten percent off",
            starts_at="2030-01-01T09:00:00Z",
            ends_at="2030-01-31T18:30:00Z",
        )
        assert (await admin.publish(coupon)).status_code == 200
        document = await portal.open()
        assert document.find("h1").text() == "Engagements"
        channel = portal.world.a.channel.name
        assert rows(document) == [
            [
                "Coupon",
                "Ten percent off For our followers.",
                channel,
                "active",
                "2030-01-01 09:00 UTC – 2030-01-31 18:30 UTC",
                "40 / 40",
            ],
            ["Message", "Opening hours For our followers.", channel, "draft", "No dates", ""],
        ]
        nav = document.find("nav", {"aria-label": "Main"})
        current = [a.own_text() for a in nav.find_all("a") if a.attrs.get("aria-current")]
        assert current == ["Engagements"]

    async def test_only_the_types_of_the_package_are_offered(
        self,
        portal: Portal,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
    ) -> None:
        await allow_only(client, factory, world, [EngagementType.MESSAGE, EngagementType.COUPON])
        document = await portal.open()
        assert type_options(document) == ["Message", "Coupon"]
        package = document.find("p", {"id": "engagements-package"}).text()
        assert package == "Your package includes: Message, Coupon."

    async def test_a_package_without_types_offers_no_form(
        self, portal: Portal, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await allow_only(client, factory, world, [])
        document = await portal.open()
        assert document.find_all("form", {"class": "engagement-form"}) == []
        assert "includes no engagement types" in document.find("main").text()

    async def test_filters_narrow_the_list(self, portal: Portal, admin: EngagementApi) -> None:
        await admin.create(EngagementType.MESSAGE, title="Hello")
        await admin.publish(await admin.create(EngagementType.COUPON, title="Deal"))
        await admin.create(EngagementType.COUPON, title="Later deal")
        document = await portal.open(type="coupon")
        assert [row[1].split(" For")[0] for row in rows(document)] == ["Later deal", "Deal"]
        document = await portal.open(type="coupon", status="active")
        assert [row[1].split(" For")[0] for row in rows(document)] == ["Deal"]
        selected = document.find("select", {"name": "status"}).find("option", {"selected": ""})
        assert selected.text() == "Active"
        document = await portal.open(status="finished")
        assert "No engagements match these filters." in document.find("main").text()

    async def test_other_partners_engagements_do_not_show(
        self, portal: Portal, other_admin: EngagementApi
    ) -> None:
        await other_admin.create(EngagementType.MESSAGE, title="Their secret")
        document = await portal.open()
        assert "Their secret" not in document.find("main").text()
        assert "No engagements yet. Create the first one above." in document.find("main").text()

    @pytest.mark.parametrize("who", ["tenant_admin", "tenant_staff"])
    async def test_tenant_staff_get_no_access(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        who: str,
    ) -> None:
        await signed_in(client, factory, settings, getattr(world, who))
        response = await client.get(PAGE)
        assert response.status_code == 403

    async def test_an_agent_gets_403(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.get(PAGE)
        assert response.status_code == 403
        assert parse(response).find("h1").text() == "No access"
        posted = await client.post(PAGE, data={"title": "x"})
        assert posted.status_code == 403


class TestCreate:
    async def test_a_coupon_created_with_htmx(self, portal: Portal, admin: EngagementApi) -> None:
        data = portal.new(
            "coupon",
            "Spring sale",
            description="Ten off",
            starts_at="2030-03-01T08:00",
            ends_at="2030-03-31T20:00",
            redemption_type="time_based",
            quantity="50",
            per_user_limit="2",
            points_price="15",
            image_attachment_id="",
        )
        panel = await portal.fragment(PAGE, data)
        assert panel.find("p", {"role": "status"}).text().startswith("Draft “Spring sale” created.")
        assert rows(panel)[0][:4] == [
            "Coupon",
            "Spring sale Ten off",
            portal.world.a.channel.name,
            "draft",
        ]
        assert rows(panel)[0][5] == "50 / 50"
        (created,) = await admin.list()
        assert created["starts_at"].startswith("2030-03-01T08:00:00")
        assert created["starts_at"].endswith(("Z", "+00:00"))
        assert created["data"] | {"remaining": None} == {
            "redemption_type": "time_based",
            "quantity": 50,
            "per_user_limit": 2,
            "points_price": 15,
            "image_attachment_id": None,
            "remaining": None,
        }
        # The form is empty again for the next one.
        title = panel.find("form", {"class": "engagement-form"}).find("input", {"name": "title"})
        assert title.attrs["value"] == ""

    async def test_a_message_created_with_htmx(self, portal: Portal, admin: EngagementApi) -> None:
        panel = await portal.fragment(
            PAGE, portal.new("message", "Hours", text="Open at nine.", media_attachment_id="")
        )
        assert rows(panel)[0][:4] == ["Message", "Hours", portal.world.a.channel.name, "draft"]
        (created,) = await admin.list()
        assert created["data"] == {"text": "Open at nine.", "media_attachment_id": None}

    async def test_a_promo_with_its_uploaded_media(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        media = [await admin.upload_id(), await admin.upload_id("second.png")]
        data = portal.new("promo", "Big promo", cta_text="Shop", cta_url="https://example.com/s")
        data |= {"media_attachment_ids": media, "hide_in_chat": "true"}
        await portal.fragment(PAGE, data)
        (created,) = await admin.list()
        assert created["data"]["media_attachment_ids"] == media
        assert created["data"]["hide_in_chat"] is True
        assert created["data"]["cta_url"] == "https://example.com/s"

    async def test_a_plain_form_post_is_sent_back_to_the_list(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        await portal.open()
        data = portal.new("message", "Plain", text="Hi") | {"csrf_token": portal.token}
        response = await portal.client.post(PAGE, data=data)
        assert redirect_target(response) == PAGE
        assert [item["title"] for item in await admin.list()] == ["Plain"]

    async def test_an_empty_title_is_refused_inline(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        panel = await portal.fragment(PAGE, portal.new("message", "", text="Still here"))
        form = panel.find("form", {"class": "engagement-form"})
        assert form.find("input", {"name": "title"}).attrs["aria-invalid"] == "true"
        assert field_error(form, "title").startswith("Give it a title")
        assert "Still here" in form.find("textarea", {"name": "text"}).text()
        assert await admin.list() == []

    async def test_a_coupon_quantity_of_zero_is_refused_inline(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        data = portal.new("coupon", "None left", redemption_type="qr_code", quantity="0")
        panel = await portal.fragment(PAGE, data)
        assert field_error(panel, "quantity") == "The quantity is a whole number of at least 1."
        form = panel.find("form", {"class": "engagement-form"})
        assert form.find("input", {"name": "title"}).attrs["value"] == "None left"
        coupon_fields = form.find("fieldset", {"data-engagement-types": "coupon"})
        assert "hidden" not in coupon_fields.attrs
        assert "hidden" in form.find("fieldset", {"data-engagement-types": "message"}).attrs
        assert await admin.list() == []

    async def test_a_plain_refused_post_answers_422_with_the_page(self, portal: Portal) -> None:
        await portal.open()
        data = portal.new("coupon", "Bad", redemption_type="qr_code", quantity="2")
        data |= {"per_user_limit": "5", "csrf_token": portal.token}
        response = await portal.client.post(PAGE, data=data)
        assert response.status_code == 422
        assert field_error(parse(response), "per_user_limit").startswith("The per-user limit")

    async def test_an_end_before_the_start_is_refused_inline(self, portal: Portal) -> None:
        data = portal.new(
            "message", "Dates", text="x", starts_at="2030-02-02T10:00", ends_at="2030-02-01T10:00"
        )
        panel = await portal.fragment(PAGE, data)
        assert field_error(panel, "ends_at") == "The end must be after the start."

    async def test_a_file_that_cant_be_used_is_refused_at_its_field(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        used = await admin.create(EngagementType.COUPON, title="First")
        stranger = "00000000-0000-4000-8000-000000000000"
        data = portal.new("coupon", "Second", redemption_type="qr_code", quantity="3")
        panel = await portal.fragment(PAGE, data | {"image_attachment_id": stranger})
        reason = field_error(panel, "image_attachment_id")
        assert reason == "No unsent upload by your partner's staff has this id."
        assert [item["id"] for item in await admin.list()] == [used["id"]]

    async def test_a_missing_type_is_asked_for(self, portal: Portal) -> None:
        panel = await portal.fragment(PAGE, portal.new("", "Untyped"))
        assert field_error(panel, "type") == "Pick a type."

    async def test_a_type_not_in_the_package_is_refused_inline(
        self,
        portal: Portal,
        admin: EngagementApi,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
    ) -> None:
        await allow_only(client, factory, world, [EngagementType.MESSAGE])
        panel = await portal.fragment(
            PAGE, portal.new("coupon", "Sneaky", redemption_type="qr_code", quantity="5")
        )
        assert "Your package and add-ons don't include coupons." in alerts(panel)
        assert await admin.list() == []

    async def test_without_the_csrf_token_nothing_is_created(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        await portal.open()
        response = await portal.client.post(PAGE, data=portal.new("message", "x", text="y"))
        assert response.status_code == 403
        assert await admin.list() == []


class TestEdit:
    async def test_a_draft_is_edited_through_its_form(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        coupon = await admin.create(EngagementType.COUPON, title="Old name")
        document = await portal.open(edit=coupon["id"])
        form = document.find("form", {"class": "engagement-form"})
        assert form.attrs["hx-post"] == f"{PAGE}/{coupon['id']}"
        assert form.find("input", {"name": "quantity"}).attrs["value"] == "100"
        data = portal.new("coupon", "New name", redemption_type="qr_code", quantity="30")
        data |= {"ends_at": "2031-05-05T05:05"}
        panel = await portal.fragment(f"{PAGE}/{coupon['id']}", data)
        assert panel.find("p", {"role": "status"}).text() == "“New name” saved."
        (updated,) = await admin.list()
        assert (updated["title"], updated["data"]["quantity"]) == ("New name", 30)
        assert updated["ends_at"].startswith("2031-05-05T05:05:00")

    async def test_an_active_one_keeps_its_dates(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        message = await admin.create(
            EngagementType.MESSAGE, title="Live", ends_at="2031-01-01T00:00:00Z"
        )
        await admin.publish(message)
        document = await portal.open(edit=message["id"])
        form = document.find("form", {"class": "engagement-form"})
        assert "disabled" in form.find("input", {"name": "ends_at"}).attrs
        data = portal.new("message", "Still live", text="Changed text", ends_at="2032-01-01T00:00")
        await portal.fragment(f"{PAGE}/{message['id']}", data)
        (updated,) = await admin.list()
        assert (updated["title"], updated["data"]["text"]) == ("Still live", "Changed text")
        assert updated["ends_at"].startswith("2031-01-01T00:00:00")

    async def test_a_finished_one_is_read_only(self, portal: Portal, admin: EngagementApi) -> None:
        message = await admin.create(EngagementType.MESSAGE, title="Over")
        await admin.publish(message)
        await admin.finish(message)
        document = await portal.open(edit=message["id"])
        assert document.find_all("form", {"class": "engagement-form"}) == []
        assert "is finished and can't change any more" in document.find("main").text()
        assert row_of(document, "Over").find_all("a") == []
        panel = await portal.fragment(
            f"{PAGE}/{message['id']}", portal.new("message", "Again", text="x")
        )
        assert "A finished engagement can't be changed." in alerts(panel)


class TestPublishAndFinish:
    async def test_publish_then_finish_through_the_page(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        coupon = await admin.create(EngagementType.COUPON, title="Deal")
        document = await portal.open()
        publish = row_of(document, "Deal").find(
            "form", {"action": f"{PAGE}/{coupon['id']}/publish"}
        )
        assert (
            publish.attrs["hx-confirm"] == "Publish this coupon? Its dates can't change afterwards."
        )
        panel = await portal.fragment(f"{PAGE}/{coupon['id']}/publish", {"confirmed": "true"})
        assert panel.find("p", {"role": "status"}).text() == "“Deal” published."
        row = row_of(panel, "Deal")
        assert row.find("span", {"class": "badge"}).text() == "active"
        finish = row.find("form", {"action": f"{PAGE}/{coupon['id']}/finish"})
        assert finish.attrs["hx-confirm"] == "Finish this coupon? Agents can't send it any more."
        panel = await portal.fragment(f"{PAGE}/{coupon['id']}/finish", {"confirmed": "true"})
        assert row_of(panel, "Deal").find("span", {"class": "badge"}).text() == "finished"
        assert row_of(panel, "Deal").find_all("form") == []
        (finished,) = await admin.list()
        assert finished["status"] == "finished"

    async def test_a_plain_post_asks_first(self, portal: Portal, admin: EngagementApi) -> None:
        coupon = await admin.create(EngagementType.COUPON, title="Deal")
        await portal.open()
        path = f"{PAGE}/{coupon['id']}/publish"
        response = await portal.client.post(path, data={"csrf_token": portal.token})
        assert response.status_code == 200
        question = parse(response)
        assert "Publish this coupon? Its dates can't change afterwards." in alerts(question)
        assert (await admin.list())[0]["status"] == "draft"
        confirmed = question.find("form", {"action": path})
        data = {"csrf_token": portal.token, "confirmed": "true"}
        assert redirect_target(await portal.client.post(path, data=data)) == PAGE
        assert confirmed.find("input", {"name": "confirmed"}).attrs["value"] == "true"
        assert (await admin.list())[0]["status"] == "active"

    async def test_publishing_twice_says_why_inline(
        self, portal: Portal, admin: EngagementApi
    ) -> None:
        message = await admin.create(EngagementType.MESSAGE, title="Once")
        await admin.publish(message)
        panel = await portal.fragment(f"{PAGE}/{message['id']}/publish", {"confirmed": "true"})
        assert alerts(panel) == ["This engagement is active already."]

    @pytest.mark.parametrize("action", ["publish", "finish", ""])
    async def test_other_partners_engagement_gets_404(
        self, portal: Portal, other_admin: EngagementApi, action: str
    ) -> None:
        theirs = await other_admin.create(EngagementType.MESSAGE, title="Theirs")
        path = f"{PAGE}/{theirs['id']}/{action}".rstrip("/")
        data = {"confirmed": "true"} | portal.new("message", "Mine now", text="x")
        response = await portal.htmx(path, data)
        assert response.status_code == 404
        assert "Theirs" not in response.text
        assert (await portal.client.get(PAGE, params={"edit": theirs["id"]})).status_code == 404
        (unchanged,) = await other_admin.list()
        assert (unchanged["title"], unchanged["status"]) == ("Theirs", "draft")
