"""The partner portal's Requests page for reaching end users: broadcasting an engagement, buying
an advertising package and submitting an ad, through the forms with htmx and without, and what
My requests then says of each (a broadcast's delivery, an ad's impressions)."""

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from relaydesk.approvals import portal_pages
from relaydesk.broadcasts import delivery
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.approvals.portal_helpers import Campaigns, local, minute_ahead
from tests.approvals.test_portal_pages import PORTAL, Portal, notice, request_rows, section
from tests.attachments.conftest import mp4
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in

# The pages show what the services answer; the services' own tests run on both backends.
pytestmark = pytest.mark.only_backend("sqlite")

BROADCAST = "Broadcast an engagement"
AD_PACKAGE = "Buy an advertising package"
AD = "Submit an ad"
ZONE = "Europe/Ljubljana"


@pytest.fixture
async def portal(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Portal:
    await signed_in(client, factory, settings, world.a.admin)
    return Portal(client)


@pytest.fixture
async def campaigns(client: httpx.AsyncClient, factory: Factory, world: World) -> Campaigns:
    return Campaigns(client, factory, world)


@pytest.fixture
def start() -> datetime:
    """A start time in the near future, with the clock stopped before it."""
    at = minute_ahead()
    clock.freeze(at - timedelta(minutes=1))
    return at + timedelta(hours=1)


def field_errors(element: Element) -> dict[str, str]:
    """Each refused field's reason, by field name."""
    return {
        p.attrs["id"].split("-", 1)[1].removesuffix("-error"): p.text()
        for p in element.find_all("p", {"class": "field-error"})
    }


def radio_labels(element: Element, name: str) -> dict[str, str]:
    return {
        label.find("input").attrs["value"]: label.text()
        for label in element.find_all("label")
        if label.find_all("input", {"type": "radio", "name": name})
    }


def about(element: Element, prefix: str, item: dict[str, Any]) -> str:
    return element.find("p", {"id": f"{prefix}-{item['id']}-about"}).text()


def label_of(form: Element, name: str) -> str:
    """The text of the label around field `name`."""
    (found,) = [
        label.text()
        for label in form.find_all("label")
        if any(f.attrs.get("name") == name for f in label.iter())
    ]
    return found


def broadcast(engagement: dict[str, Any], starts_at: str, **changes: str) -> dict[str, str]:
    return {
        "engagement_id": engagement["id"],
        "audience": "non_followers",
        "starts_at": starts_at,
        "description": "For everyone in town",
    } | changes


def ad_form(media_id: str, start: datetime, zone: str = "UTC", **changes: str) -> dict[str, str]:
    return {
        "ad_type": "banner",
        "title": "Spring banner",
        "subtitle": "Everything half price",
        "description": "",
        "click_url": "https://shop.example/spring",
        "cta_text": "Shop now",
        "media_attachment_id": media_id,
        "starts_at": local(start, zone),
        "ends_at": local(start + timedelta(days=7), zone),
        "impressions_budget": "500",
    } | changes


class TestTheForms:
    async def test_they_list_what_may_be_asked_for_in_the_partners_zone(
        self, portal: Portal, campaigns: Campaigns, factory: Factory, world: World
    ) -> None:
        await campaigns.time_zone(ZONE)
        sale = await campaigns.engagement("Spring sale", EngagementType.COUPON)
        draft = await campaigns.engagement("Not yet", publish=False)
        theirs = await campaigns.engagement("Theirs", user=world.b.admin, channel=world.b.channel)
        starter = await campaigns.ad_package(impressions=10_000, price="50.00")
        archived = await campaigns.ad_package(archived=True)
        await campaigns.balance(1_500)

        document = await portal.open()
        asks = section(document, BROADCAST)
        offered = radio_labels(asks, "engagement_id")
        assert offered == {sale["id"]: "Spring sale"}
        assert draft["id"] not in offered and theirs["id"] not in offered
        assert about(asks, "engagement", sale) == f"Coupon · {world.a.channel.name}"
        assert list(radio_labels(asks, "audience").values()) == [
            "End users who don't follow the channel",
            "All end users",
        ]
        assert "checked" in asks.find("input", {"value": "non_followers"}).attrs
        assert label_of(asks, "starts_at") == f"Start ({ZONE})"

        packages = section(document, AD_PACKAGE)
        assert "Your impressions balance: 1,500" in packages.text()
        on_offer = radio_labels(packages, "ad_package_id")
        assert on_offer[starter["id"]] == starter["name"]
        assert archived["id"] not in on_offer
        assert about(packages, "ad-package", starter) == "10,000 impressions · 50.00 EUR"

        ad = section(document, AD)
        assert "Your impressions balance: 1,500" in ad.text()
        budget = ad.find("input", {"name": "impressions_budget"})
        assert (budget.attrs["min"], budget.attrs["max"]) == ("1", "1500")
        assert [o.text() for o in ad.find_all("option")] == [
            "Banner",
            "Interstitial",
            "Video",
            "Native",
        ]
        assert label_of(ad, "starts_at") == f"Start ({ZONE})"
        assert label_of(ad, "ends_at") == f"End ({ZONE})"
        assert ad.find("input", {"type": "file"}).attrs["data-upload-for"] == "media_attachment_id"

    async def test_without_active_engagements_or_packages_they_say_so(
        self, portal: Portal, campaigns: Campaigns
    ) -> None:
        await campaigns.engagement("Draft", publish=False)
        document = await portal.open()
        assert "You have no active engagements to broadcast" in section(document, BROADCAST).text()
        packages = section(document, AD_PACKAGE)
        assert "No advertising packages are offered right now." in packages.text()
        assert packages.find_all("form") == []
        ad = section(document, AD)
        assert "buy an advertising package before you submit an ad" in ad.text()
        # No maximum of 0 for the browser to puzzle over: the page says why instead.
        assert "max" not in ad.find("input", {"name": "impressions_budget"}).attrs


class TestBroadcastForm:
    async def test_sent_with_htmx_it_shows_the_estimated_reach(
        self,
        portal: Portal,
        campaigns: Campaigns,
        factory: Factory,
        world: World,
        start: datetime,
    ) -> None:
        await campaigns.time_zone(ZONE)
        for follows in ([world.a.channel], [], []):
            await factory.end_user(world.tenant, follows=follows)
        await factory.end_user(world.other_tenant)
        sale = await campaigns.engagement()
        panel = await portal.fragment(f"{PORTAL}/broadcast", broadcast(sale, local(start, ZONE)))
        assert alerts(panel) == []
        assert notice(panel) == (
            "Your request for “Spring sale” is sent. It waits for a decision. "
            "Estimated reach: 2 end users."
        )
        shown = local(start, ZONE).replace("T", " ")
        assert request_rows(panel) == [
            [
                "Broadcast",
                "Spring sale For everyone in town "
                "Message · End users who don't follow the channel · estimated reach 2 "
                f"Starts {shown} {ZONE}",
                "",
                "Pending",
                "",
            ]
        ]
        (sent,) = await campaigns.mine()
        assert datetime.fromisoformat(sent["details"]["starts_at"]) == start
        assert sent["details"]["audience"] == "non_followers"
        # Asked for once, the engagement can't be picked again while it waits.
        asks = section(panel, BROADCAST)
        assert radio_labels(asks, "engagement_id") == {}
        assert "Spring sale Requested" in asks.text()

    async def test_a_plain_form_post_is_sent_back_to_the_page(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        sale = await campaigns.engagement()
        data = broadcast(sale, local(start), audience="all_end_users")
        assert redirect_target(await portal.plain(f"{PORTAL}/broadcast", data)) == PORTAL
        (sent,) = await campaigns.mine()
        assert (sent["kind"], sent["status"], sent["details"]["audience"]) == (
            "broadcast",
            "pending",
            "all_end_users",
        )
        assert datetime.fromisoformat(sent["details"]["starts_at"]) == start

    async def test_missing_fields_are_marked_and_nothing_is_sent(
        self, portal: Portal, campaigns: Campaigns
    ) -> None:
        await campaigns.engagement()
        response = await portal.plain(f"{PORTAL}/broadcast", {"description": "x" * 2001})
        assert response.status_code == 422
        asks = section(parse(response), BROADCAST)
        assert alerts(asks) == [portal_pages.CHECK_FIELDS]
        assert field_errors(asks) == {
            "engagement_id": "Pick one of your active engagements.",
            "audience": "Pick who gets it.",
            "starts_at": "Pick the date and time to start.",
            "description": "The description has at most 2,000 characters.",
        }
        assert asks.find("input", {"name": "starts_at"}).attrs["aria-invalid"] == "true"
        assert await campaigns.mine() == []

    async def test_a_start_that_has_passed_is_refused_at_its_field(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        sale = await campaigns.engagement()
        typed = local(start - timedelta(days=1))
        panel = await portal.fragment(f"{PORTAL}/broadcast", broadcast(sale, typed))
        asks = section(panel, BROADCAST)
        assert field_errors(asks) == {"starts_at": "The start time has passed."}
        assert asks.find("input", {"name": "starts_at"}).attrs["value"] == typed
        assert "checked" in asks.find("input", {"value": sale["id"]}).attrs
        assert asks.find("textarea", {"name": "description"}).text() == "For everyone in town"
        assert await campaigns.mine() == []

    async def test_a_finished_engagement_is_409_in_the_form(
        self, portal: Portal, campaigns: Campaigns, client: httpx.AsyncClient, start: datetime
    ) -> None:
        sale = await campaigns.engagement()
        await portal.open()
        finished = await client.post(
            f"/api/v1/engagements/{sale['id']}/finish", headers=await campaigns.as_()
        )
        assert finished.status_code == 200, finished.text
        response = await portal.plain(f"{PORTAL}/broadcast", broadcast(sale, local(start)))
        assert response.status_code == 409
        assert alerts(parse(response)) == [
            "Only an active engagement can be broadcast: publish it first."
        ]
        assert await campaigns.mine() == []

    async def test_another_partners_engagement_is_404(
        self, portal: Portal, campaigns: Campaigns, world: World, start: datetime
    ) -> None:
        theirs = await campaigns.engagement(user=world.b.admin, channel=world.b.channel)
        response = await portal.htmx(f"{PORTAL}/broadcast", broadcast(theirs, local(start)))
        assert response.status_code == 404
        assert await campaigns.mine() == []


class TestAdPackageForm:
    async def test_asked_with_htmx_and_shown_pending(
        self, portal: Portal, campaigns: Campaigns
    ) -> None:
        starter = await campaigns.ad_package(impressions=10_000, price="50.00")
        data = {"ad_package_id": starter["id"], "description": "For the summer"}
        panel = await portal.fragment(f"{PORTAL}/ad-package", data)
        assert notice(panel) == (
            f"Your request for “{starter['name']}” is sent. It waits for a decision."
        )
        assert request_rows(panel) == [
            [
                "Advertising package",
                f"{starter['name']} For the summer 10,000 impressions",
                "50.00 EUR",
                "Pending",
                "",
            ]
        ]
        assert "Requested" in section(panel, AD_PACKAGE).text()

    async def test_approved_its_impressions_join_the_balance(
        self, portal: Portal, campaigns: Campaigns
    ) -> None:
        starter = await campaigns.ad_package(impressions=10_000)
        data = {"ad_package_id": starter["id"]}
        assert redirect_target(await portal.plain(f"{PORTAL}/ad-package", data)) == PORTAL
        (sent,) = await campaigns.mine()
        await campaigns.decide(sent["id"])
        document = await portal.open()
        assert "Your impressions balance: 10,000" in section(document, AD_PACKAGE).text()
        assert [row[3] for row in request_rows(document)] == ["Approved"]

    async def test_nothing_picked_is_asked_for(self, portal: Portal, campaigns: Campaigns) -> None:
        await campaigns.ad_package()
        response = await portal.plain(f"{PORTAL}/ad-package", {"ad_package_id": "gold"})
        assert response.status_code == 422
        asks = section(parse(response), AD_PACKAGE)
        assert alerts(asks) == [portal_pages.CHECK_FIELDS]
        assert field_errors(asks) == {"ad_package_id": "Pick an advertising package."}
        assert await campaigns.mine() == []

    async def test_a_second_while_one_waits_is_409(
        self, portal: Portal, campaigns: Campaigns
    ) -> None:
        starter = await campaigns.ad_package()
        await campaigns.submit({"kind": "ad_package", "ad_package_id": starter["id"]})
        panel = await portal.fragment(f"{PORTAL}/ad-package", {"ad_package_id": starter["id"]})
        assert alerts(section(panel, AD_PACKAGE)) == [
            "The same request is already waiting for a decision."
        ]
        assert len(await campaigns.mine()) == 1

    async def test_another_tenants_package_is_404(
        self, portal: Portal, campaigns: Campaigns, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await client.post(
            "/api/v1/tenant/ad-packages",
            json={"name": "Theirs", "impressions": 5, "price": {"amount": "1", "currency": "EUR"}},
            headers=await campaigns.as_(world.other_tenant_admin),
        )
        assert theirs.status_code == 201, theirs.text
        data = {"ad_package_id": theirs.json()["id"]}
        assert (await portal.htmx(f"{PORTAL}/ad-package", data)).status_code == 404
        assert await campaigns.mine() == []


class TestAdForm:
    async def test_submitted_with_htmx_and_shown_pending(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.time_zone(ZONE)
        await campaigns.balance(1_000)
        media = await campaigns.upload()
        panel = await portal.fragment(f"{PORTAL}/ad", ad_form(media, start, ZONE))
        assert alerts(panel) == []
        assert notice(panel) == "Your request for “Spring banner” is sent. It waits for a decision."
        begins = local(start, ZONE).replace("T", " ")
        ends = local(start + timedelta(days=7), ZONE).replace("T", " ")
        row = request_rows(panel)[0]
        assert row == [
            "Ad",
            f"Spring banner Banner · {begins} {ZONE} – {ends} {ZONE} Budget: 500 impressions",
            "",
            "Pending",
            "",
        ]
        sent = (await campaigns.mine())[0]
        details = sent["details"]
        assert datetime.fromisoformat(details["starts_at"]) == start
        assert details["impressions_budget"] == 500
        assert details["media"]["id"] == media
        assert details["click_url"] == "https://shop.example/spring"
        # The form is empty again, ready for the next ad.
        form = section(panel, AD).find("form")
        assert form.find("input", {"name": "title"}).attrs["value"] == ""
        assert form.find("input", {"name": "media_attachment_id"}).attrs["value"] == ""

    async def test_a_plain_form_post_is_sent_back_to_the_page(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        media = await campaigns.upload("clip.mp4", mp4())
        data = ad_form(media, start, ad_type="video", impressions_budget="1000")
        assert redirect_target(await portal.plain(f"{PORTAL}/ad", data)) == PORTAL
        ads = [r for r in await campaigns.mine() if r["kind"] == "ad"]
        assert [(r["details"]["ad_type"], r["status"]) for r in ads] == [("video", "pending")]

    async def test_invalid_fields_are_marked_kept_and_nothing_is_sent(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        data = ad_form(
            "",
            start,
            title="Spring banner",
            click_url="ftp://shop.example",
            cta_text="x" * 31,
            starts_at="",
            impressions_budget="lots",
        )
        response = await portal.plain(f"{PORTAL}/ad", data)
        assert response.status_code == 422
        asks = section(parse(response), AD)
        assert alerts(asks) == [portal_pages.CHECK_FIELDS]
        assert field_errors(asks) == {
            "click_url": "Give a full web address starting with https:// or http://.",
            "cta_text": "The call-to-action text has at most 30 characters.",
            "media_attachment_id": "Add an image, or a video for a video or interstitial ad.",
            "starts_at": "Pick the date and time to start.",
            "impressions_budget": "Give a whole number of impressions, from 1 up to your balance.",
        }
        form = asks.find("form")
        assert form.find("input", {"name": "title"}).attrs["value"] == "Spring banner"
        assert form.find("input", {"name": "click_url"}).attrs["aria-invalid"] == "true"
        assert "aria-invalid" not in form.find("input", {"name": "title"}).attrs
        assert [r["kind"] for r in await campaigns.mine()] == ["ad_package"]

    async def test_an_end_before_the_start_is_marked(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        media = await campaigns.upload()
        data = ad_form(media, start, ends_at=local(start - timedelta(hours=1)))
        panel = await portal.fragment(f"{PORTAL}/ad", data)
        asks = section(panel, AD)
        assert field_errors(asks) == {"ends_at": "Pick an end date and time after the start."}
        # The upload stays attached for the next try.
        assert asks.find("input", {"name": "media_attachment_id"}).attrs["value"] == media
        assert "File attached" in asks.text()

    async def test_a_budget_above_the_balance_is_refused_with_the_reason(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        media = await campaigns.upload()
        data = ad_form(media, start, impressions_budget="1001")
        response = await portal.plain(f"{PORTAL}/ad", data)
        assert response.status_code == 422
        asks = section(parse(response), AD)
        assert alerts(asks) == [portal_pages.CHECK_FIELDS]
        assert field_errors(asks) == {
            "impressions_budget": "The budget is more than your 1,000 impressions. "
            "Ask for an advertising package first."
        }
        assert [r["kind"] for r in await campaigns.mine()] == ["ad_package"]

    async def test_a_video_for_a_banner_is_refused_at_the_file(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        media = await campaigns.upload("clip.mp4", mp4())
        panel = await portal.fragment(f"{PORTAL}/ad", ad_form(media, start))
        assert field_errors(section(panel, AD)) == {
            "media_attachment_id": "This file must be an image."
        }
        assert [r["kind"] for r in await campaigns.mine()] == ["ad_package"]

    async def test_another_partners_upload_is_refused_at_the_file(
        self, portal: Portal, campaigns: Campaigns, world: World, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        theirs = await campaigns.upload(user=world.b.admin)
        panel = await portal.fragment(f"{PORTAL}/ad", ad_form(theirs, start))
        assert field_errors(section(panel, AD)) == {
            "media_attachment_id": "No unsent upload by your partner's staff has this id."
        }
        assert [r["kind"] for r in await campaigns.mine()] == ["ad_package"]

    async def test_a_rejected_ad_shows_the_reason(
        self, portal: Portal, campaigns: Campaigns, start: datetime
    ) -> None:
        await campaigns.balance(1_000)
        sent = await campaigns.submit(campaigns.ad(await campaigns.upload(), start))
        await campaigns.decide(sent["id"], "reject", reason="Too loud")
        row = request_rows(await portal.open())[0]
        assert row[0] == "Ad"
        assert row[1].endswith("Budget: 100 impressions")
        assert row[3:] == ["Rejected", "Too loud"]


class TestProgress:
    async def test_a_broadcast_is_scheduled_delivered_and_counted(
        self,
        portal: Portal,
        campaigns: Campaigns,
        database: Database,
        factory: Factory,
        world: World,
        start: datetime,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for _ in range(3):
            await factory.end_user(world.tenant)
        sale = await campaigns.engagement()
        await portal.fragment(f"{PORTAL}/broadcast", broadcast(sale, local(start)))
        (sent,) = await campaigns.mine()
        await campaigns.decide(sent["id"])
        shown = local(start).replace("T", " ")
        progress = await self.progress(portal)
        assert progress == f"Scheduled for {shown} UTC"

        clock.advance(timedelta(hours=2))
        # One batch of one end user, then the pass runs out of time.
        ticks = iter([0.0, 0.0, 5.0])
        monkeypatch.setattr(delivery, "time", SimpleNamespace(monotonic=lambda: next(ticks)))
        assert await delivery.deliver_due_broadcasts(database, batch=1, budget_seconds=1)
        assert await self.progress(portal) == "Delivering: 1 of 3"

        monkeypatch.undo()
        assert not await delivery.deliver_due_broadcasts(database)
        assert await self.progress(portal) == "Delivered to 3"
        assert (await campaigns.request(sent["id"]))["details"]["delivered_count"] == 3

    async def test_a_broadcast_whose_engagement_finished_says_it_stopped(
        self,
        portal: Portal,
        campaigns: Campaigns,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        world: World,
        start: datetime,
    ) -> None:
        await factory.end_user(world.tenant)
        sale = await campaigns.engagement()
        await portal.plain(f"{PORTAL}/broadcast", broadcast(sale, local(start)))
        (sent,) = await campaigns.mine()
        await campaigns.decide(sent["id"])
        finished = await client.post(
            f"/api/v1/engagements/{sale['id']}/finish", headers=await campaigns.as_()
        )
        assert finished.status_code == 200, finished.text
        clock.advance(timedelta(hours=2))
        await delivery.deliver_due_broadcasts(database)
        assert await self.progress(portal) == "Stopped: The engagement was finished."

    async def test_an_ad_counts_the_impressions_used(
        self,
        portal: Portal,
        campaigns: Campaigns,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        start: datetime,
    ) -> None:
        approved = await campaigns.approved_ad(start, impressions_budget=500)
        assert await self.progress(portal) == "Impressions used 0 of 500"
        clock.advance(timedelta(hours=2))
        for _ in range(2):
            served = await client.get(
                "/api/v1/me/ads",
                params={"placement": "banner"},
                headers=factory.end_user_headers(world.tenant),
            )
            assert [ad["title"] for ad in served.json()["items"]] == ["Spring banner"]
        assert await self.progress(portal) == "Impressions used 2 of 500"
        assert (await campaigns.request(approved["id"]))["details"]["impressions_used"] == 2

    @staticmethod
    async def progress(portal: Portal) -> str:
        """What the newest row of My requests says of its progress."""
        document = await portal.open()
        rows = section(document, "My requests").find_all("tr", {"class": "request-row"})
        return rows[0].find("div", {"class": "request-progress"}).text()
