"""The Requests tab (PM-4..PM-7): broadcast, advertising package and ad requests, each in its
own queue with a preview, approved and rejected in place (htmx) and by plain forms, and the
history of all three, narrowed by type, searched and exported."""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.approvals import pages
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.catalogue.models import EngagementType, Package
from relaydesk.clock import clock
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.approvals.conftest import Requests
from tests.approvals.test_pages import (
    HINT,
    Reviewer,
    facts,
    history_rows,
    row_of,
    rows,
    statuses,
)
from tests.engagements.conftest import coupon
from tests.factories import Factory, World
from tests.html import Element, parse
from tests.mail import MailServer
from tests.web.test_pages import alerts, redirect_target, signed_in

# The pages show what the services answer; the services' own tests run on both backends.
pytestmark = pytest.mark.only_backend("sqlite")

PATH = "/tenant/requests"
TABS = ["Broadcast requests", "Advertising packages requests", "Ads requests", "History"]
HISTORY_COLUMNS = [
    "Title",
    "Partner",
    "Approval/Denial date",
    "Type",
    "Decision",
    "Progress",
    "Decided by",
    "Rejection reason",
]


def shown(moment: str) -> str:
    """A moment of a request as the pages show it: in UTC, to the minute."""
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M") + " UTC"


def tabs(document: Element) -> list[tuple[str, str | None]]:
    links = document.find("nav", {"aria-label": "Requests"}).find_all("a")
    return [(a.text(), a.attrs.get("aria-current")) for a in links]


def row_ids(document: Element) -> list[str]:
    return [row.attrs["id"].removeprefix("request-") for row in rows(document)]


class RequestsTab(Reviewer):
    """A signed-in browser on the Requests tab."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client)
        self.path = PATH


async def tab_for(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World, user: Any = None
) -> RequestsTab:
    await signed_in(client, factory, settings, user or world.tenant_admin)
    tab = RequestsTab(client)
    await tab.open()
    return tab


@pytest.fixture
async def admin(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> RequestsTab:
    return await tab_for(client, factory, settings, world)


@pytest.fixture
async def one_of_each(requests: Requests, package: Package) -> dict[str, dict[str, Any]]:
    """A pending request of every kind, the Partnership and Add-ons pages' too."""
    addon = await requests.addon()
    return {
        "partnership": await requests.register(package),
        "addon": await requests.asked(
            requests.world.a.admin, {"kind": "addon", "addon_id": addon["id"]}
        ),
        "broadcast": await requests.broadcast_request(),
        "ad_package": await requests.ad_package_request(),
        "ad": await requests.ad_request(),
    }


class TestTabs:
    @pytest.mark.parametrize(
        ("tab", "kind", "current"),
        [
            ("", "broadcast", 0),
            ("broadcasts", "broadcast", 0),
            ("ad-packages", "ad_package", 1),
            ("ads", "ad", 2),
            ("nonsense", "broadcast", 0),
        ],
    )
    async def test_each_section_lists_only_its_own_kind(
        self,
        admin: RequestsTab,
        one_of_each: dict[str, dict[str, Any]],
        tab: str,
        kind: str,
        current: int,
    ) -> None:
        document = await admin.open(**({"tab": tab} if tab else {}))

        assert document.find("h1").text() == "Requests"
        assert tabs(document) == [
            (label, "page" if index == current else None) for index, label in enumerate(TABS)
        ]
        assert document.find("h2", {"id": "pending-heading"}).text() == TABS[current]
        main_nav = document.find("nav", {"aria-label": "Main"})
        assert main_nav.find("a", {"aria-current": "page"}).own_text() == "Requests"
        assert row_ids(document) == [one_of_each[kind]["id"]]

    async def test_the_tab_links_and_intros_follow_the_guide(self, admin: RequestsTab) -> None:
        document = await admin.open()
        links = document.find("nav", {"aria-label": "Requests"}).find_all("a")
        assert [a.attrs["href"] for a in links] == [
            f"{PATH}?tab=broadcasts",
            f"{PATH}?tab=ad-packages",
            f"{PATH}?tab=ads",
            f"{PATH}?tab=history",
        ]
        assert "send engagements to end users that might not follow their channel" in (
            document.find("p", {"class": "pm-intro"}).text()
        )
        assert "No broadcast requests are waiting for approval." in document.text()
        ads = await admin.open(tab="ads")
        assert "For ads to become visible to your end users, you have to approve them first." in (
            ads.find("p", {"class": "pm-intro"}).text()
        )
        assert "No ad requests are waiting for approval." in ads.text()
        packages = await admin.open(tab="ad-packages")
        assert "No advertising package requests are waiting for approval." in packages.text()

    async def test_the_navigation_shows_the_tab_as_built(self, admin: RequestsTab) -> None:
        document = await admin.open("/tenant")
        link = document.find("nav", {"aria-label": "Main"}).find("a", {"href": PATH})
        assert link.find_all("span", {"class": "soon"}) == []


class TestBroadcastRequests:
    async def test_a_row_shows_what_the_guide_lists_and_expands_to_a_preview(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        first = await requests.broadcast_request(title="Doors open at nine")
        second = await requests.broadcast_request(
            EngagementType.MESSAGE, world.b, audience="all_end_users", title="Summer sale"
        )
        document = await admin.open()

        assert row_ids(document) == [first["id"], second["id"]]
        row = row_of(document, first["id"])
        assert row.find("h3").text() == "Doors open at nine"
        assert facts(row) == {
            "Partner": world.a.partner.name,
            "Engagement type": "Message",
            "Starts": shown(first["details"]["starts_at"]),
            "Estimated reach": "0 end users",
            "Requested": shown(first["requested_at"]),
            "Description": "None given",
        }
        preview = row.find("details", {"class": "request-preview"})
        assert "open" not in preview.attrs
        assert preview.find("summary").text() == "Preview the broadcast"
        engagement = preview.find("article", {"class": "engagement-preview"})
        assert engagement.find("h4").text() == "Doors open at nine"
        assert "For our followers." in engagement.text()
        assert "Our shop opens at nine tomorrow." in engagement.text()
        assert engagement.find("span", {"class": "badge"}).text() == "Message"
        audience = {
            pair.find("dt").text(): pair.find("dd").text()
            for pair in preview.find_all("dl")[-1].find_all("div")
        }
        assert audience == {
            "Audience": "End users who don't follow the channel",
            "Starts": shown(first["details"]["starts_at"]),
            "Estimated reach": "0 end users",
            "Engagement ends": "No end date",
        }
        other = row_of(document, second["id"])
        assert facts(other)["Partner"] == world.b.partner.name
        assert "All end users" in other.find("details").text()
        approve = row.find("form", {"action": f"{PATH}/{first['id']}/approve"})
        assert approve.attrs["hx-post"] == f"{PATH}/{first['id']}/approve"
        assert approve.find("button").attrs["aria-label"] == (
            f"Approve Doors open at nine from {world.a.partner.name}"
        )
        dialog = row.find("dialog", {"id": f"reject-{first['id']}-dialog"})
        assert dialog.find("h3").text() == "Reject the broadcast request?"
        assert HINT in dialog.text()

    async def test_the_estimated_reach_counts_the_audience(
        self, admin: RequestsTab, requests: Requests, factory: Factory, world: World
    ) -> None:
        for _ in range(3):
            await factory.end_user(world.tenant)
        await factory.end_user(world.tenant, follows=[world.a.channel])
        non_followers = await requests.broadcast_request()
        everyone = await requests.broadcast_request(audience="all_end_users")
        document = await admin.open()

        assert facts(row_of(document, non_followers["id"]))["Estimated reach"] == "3 end users"
        assert facts(row_of(document, everyone["id"]))["Estimated reach"] == "4 end users"

    async def test_a_promo_shows_its_pictures_and_call_to_action(
        self, admin: RequestsTab, requests: Requests, client: httpx.AsyncClient
    ) -> None:
        request = await requests.broadcast_request(EngagementType.PROMO, title="Autumn promo")
        (media_id,) = request["details"]["engagement"]["data"]["media_attachment_ids"]
        row = row_of(await admin.open(), request["id"])

        preview = row.find("article", {"class": "engagement-preview"})
        image = preview.find("img")
        assert image.attrs["src"] == f"/api/v1/attachments/{media_id}/preview"
        assert image.attrs["alt"] == "photo.png"
        assert preview.find("span", {"class": "ad-cta"}).text() == "Shop now"
        fetched = await client.get(image.attrs["src"])
        assert fetched.status_code == 200
        assert fetched.headers["content-type"].startswith("image/")

    async def test_a_promo_call_to_action_links_out_safely(
        self, admin: RequestsTab, requests: Requests
    ) -> None:
        upload = await requests.media()
        data = {
            "media_attachment_ids": [upload["id"]],
            "cta_text": "Shop now",
            "cta_url": "https://shop.example/autumn",
        }
        request = await requests.broadcast_request(EngagementType.PROMO, data=data)
        row = row_of(await admin.open(), request["id"])

        link = row.find("a", {"class": "ad-cta"})
        assert (link.text(), link.attrs["href"]) == ("Shop now", "https://shop.example/autumn")
        assert link.attrs["rel"] == "noopener noreferrer nofollow"
        assert link.attrs["target"] == "_blank"

    async def test_a_coupon_shows_its_redemption_type_and_quantity(
        self, admin: RequestsTab, requests: Requests
    ) -> None:
        data = coupon(redemption_type="qr_code", quantity=1500, per_user_limit=2, points_price=30)
        request = await requests.broadcast_request(EngagementType.COUPON, data=data)
        row = row_of(await admin.open(), request["id"])

        assert facts(row)["Engagement type"] == "Coupon"
        coupon_facts = {
            pair.find("dt").text(): pair.find("dd").text()
            for pair in row.find("article").find("dl").find_all("div")
        }
        assert coupon_facts == {
            "Redemption type": "QR code",
            "Quantity": "1,500",
            "Per end user": "2",
            "Price": "30 points",
        }

    async def test_approving_schedules_the_delivery_shown_in_the_history(
        self,
        admin: RequestsTab,
        requests: Requests,
        factory: Factory,
        database: Database,
        world: World,
        mail: MailServer,
    ) -> None:
        clock.freeze(datetime.now(UTC))
        for _ in range(2):
            await factory.end_user(world.tenant)
        request = await requests.broadcast_request(title="Doors open at nine")
        row = await admin.htmx(f"{PATH}/{request['id']}/approve")

        starts = shown(request["details"]["starts_at"])
        assert statuses(row) == [
            f"Approved. Doors open at nine will be sent from {starts} to end users who don't "
            f"follow the channel; {world.a.partner.name} has been told by e-mail."
        ]
        assert row.find_all("form") == []
        decided = await requests.get(request["id"])
        assert decided["details"]["delivery"]["state"] == "scheduled"
        assert rows(await admin.open()) == []
        history = await admin.open(tab="history")
        assert history_rows(history)[0][3:6] == [
            "Broadcast (Message)",
            "Approved",
            f"Scheduled for {starts}",
        ]

        clock.advance(timedelta(hours=1))
        await deliver_due_broadcasts(database)
        history = await admin.open(tab="history")
        assert history_rows(history)[0][5] == "Delivered 2 of 2 · Done"
        await mail.deliver()
        approved = mail.last_to(world.a.partner.email)
        assert approved["Subject"] == 'Approved: your broadcast request "Doors open at nine"'


class TestAdPackageRequests:
    async def test_a_row_shows_the_package_its_impressions_and_price(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        request = await requests.ad_package_request(
            name="Spring impressions",
            impressions=25000,
            price={"amount": "120.00", "currency": "EUR"},
        )
        document = await admin.open(tab="ad-packages")

        (row,) = rows(document)
        assert row.find("h3").text() == "Spring impressions"
        assert facts(row) == {
            "Partner": world.a.partner.name,
            "Impressions": "25,000",
            "Price": "120.00 EUR",
            "Requested": shown(request["requested_at"]),
            "Description": "None given",
        }
        assert row.find("dialog").find("h3").text() == ("Reject the advertising package request?")
        assert f"{world.a.partner.name} · Spring impressions (120.00 EUR)" in (
            row.find("dialog").text()
        )

    async def test_approval_adds_the_impressions_to_the_partners_balance(
        self,
        admin: RequestsTab,
        requests: Requests,
        client: httpx.AsyncClient,
        world: World,
    ) -> None:
        async def balance() -> int:
            response = await client.get(
                f"/api/v1/tenant/partners/{world.a.partner.id}",
                headers=await requests.as_(world.tenant_admin),
            )
            return response.json()["impressions_balance"]

        request = await requests.ad_package_request(impressions=25000)
        before = await balance()
        row = await admin.htmx(f"{PATH}/{request['id']}/approve")

        assert statuses(row) == [
            f"Approved. 25,000 impressions have been added to the balance of "
            f"{world.a.partner.name}, who has been told by e-mail."
        ]
        assert await balance() == before + 25000
        history = await admin.open(tab="history", kind="ad_package")
        (decided,) = history_rows(history)
        assert decided[0] == f"{request['title']} (50.00 EUR)"
        assert decided[3:6] == ["Advertising package", "Approved", "25,000 impressions added"]

    async def test_a_plain_form_goes_back_to_the_section_which_says_what_happened(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        request = await requests.ad_package_request(impressions=1000)
        response = await admin.plain(f"{PATH}/{request['id']}/approve")

        target = redirect_target(response)
        assert target == f"{PATH}?tab=ad-packages&decided={request['id']}"
        document = await admin.open(target)
        assert tabs(document)[1] == ("Advertising packages requests", "page")
        assert statuses(document) == [
            f"Approved. 1,000 impressions have been added to the balance of "
            f"{world.a.partner.name}, who has been told by e-mail."
        ]
        assert rows(document) == []


class TestAdRequests:
    async def test_a_row_previews_the_ad_as_end_users_will_see_it(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        plus_two = timezone(timedelta(hours=2))
        starts = datetime.now(plus_two).replace(microsecond=0) + timedelta(days=1)
        request = await requests.ad_request(
            ad_type="native", starts_at=starts, ends_at=starts + timedelta(days=14)
        )
        document = await admin.open(tab="ads")

        (row,) = rows(document)
        assert row.find("h3").text() == "Autumn sale"
        details = request["details"]
        assert facts(row) == {
            "Partner": world.a.partner.name,
            "Ad type": "Native",
            "Starts": shown(starts.isoformat()),
            "Ends": shown((starts + timedelta(days=14)).isoformat()),
            "Impressions budget": "500",
            "Requested": shown(request["requested_at"]),
            "Click URL": "https://shop.example/sale",
        }
        assert facts(row)["Starts"].startswith(starts.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))
        preview = row.find("figure", {"class": "ad-preview"})
        assert preview.find("img").attrs["src"] == details["media"]["url"]
        assert preview.find("p", {"class": "ad-title"}).text() == "Autumn sale"
        assert preview.find("p", {"class": "ad-subtitle"}).text() == "Everything half price"
        assert preview.find("p", {"class": "ad-description"}).text() == (
            "In every shop until Sunday."
        )
        cta = preview.find("a", {"class": "ad-cta"})
        assert (cta.text(), cta.attrs["href"]) == ("Shop now", "https://shop.example/sale")
        assert cta.attrs["rel"] == "noopener noreferrer nofollow"
        assert cta.attrs["target"] == "_blank"
        assert row.find("dialog").find("h3").text() == "Reject the ad request?"

    async def test_a_video_ad_plays_its_video(self, admin: RequestsTab, requests: Requests) -> None:
        request = await requests.ad_request(ad_type="video", cta_text="")
        (row,) = rows(await admin.open(tab="ads"))

        video = row.find("figure").find("video")
        assert video.attrs["src"] == request["details"]["media"]["url"]
        assert "controls" in video.attrs
        assert row.find("figure").find_all("img") == []
        # Without a button text the preview shows where the ad leads.
        assert row.find("a", {"class": "ad-cta"}).text() == "https://shop.example/sale"
        assert facts(row)["Ad type"] == "Video"

    async def test_an_approved_ad_is_served_to_end_users(
        self,
        admin: RequestsTab,
        requests: Requests,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
    ) -> None:
        end_user = factory.end_user_headers(world.tenant)

        async def served() -> list[dict[str, Any]]:
            response = await client.get(
                "/api/v1/me/ads", params={"placement": "banner"}, headers=end_user
            )
            assert response.status_code == 200, response.text
            return response.json()["items"]

        request = await requests.ad_request()
        assert await served() == []
        row = await admin.htmx(f"{PATH}/{request['id']}/approve")

        details = request["details"]
        assert statuses(row) == [
            f"Approved. The ad Autumn sale will be shown to end users from "
            f"{shown(details['starts_at'])} to {shown(details['ends_at'])} — "
            f"{world.a.partner.name} has been told by e-mail."
        ]
        (ad,) = await served()
        assert (ad["title"], ad["click_url"], ad["media_url"]) == (
            "Autumn sale",
            "https://shop.example/sale",
            details["media"]["url"],
        )
        history = await admin.open(tab="history")
        assert history_rows(history)[0][3:6] == [
            "Ad (Banner)",
            "Approved",
            "1 of 500 impressions used",
        ]


class TestReject:
    async def test_the_description_is_required_then_mailed_to_the_partner(
        self, admin: RequestsTab, requests: Requests, world: World, mail: MailServer
    ) -> None:
        request = await requests.ad_request()
        path = f"{PATH}/{request['id']}/reject"

        blank = await admin.htmx(path, reason="  ")
        dialog = blank.find("dialog")
        assert "open" in dialog.attrs
        assert alerts(dialog) == [pages.REASON_MISSING]
        assert blank.find("figure", {"class": "ad-preview"})
        plain = await admin.plain(path, reason="")
        assert plain.status_code == 422
        assert alerts(parse(plain)) == [pages.REASON_MISSING]
        assert (await requests.get(request["id"]))["status"] == "pending"

        reason = "The picture is too dark to read on a phone."
        row = await admin.htmx(path, reason=reason)
        assert statuses(row) == [
            f"Rejected. {world.a.partner.name} has been sent the description by e-mail."
        ]
        decided = await requests.get(request["id"])
        assert (decided["status"], decided["rejection_reason"]) == ("rejected", reason)
        await mail.deliver()
        message = mail.last_to(world.a.partner.email)
        assert message["Subject"] == 'Not approved: your ad request "Autumn sale"'
        assert reason in mail.body(message)
        history = await admin.open(tab="history")
        assert history_rows(history)[0][3:] == [
            "Ad (Banner)",
            "Rejected",
            "",
            world.tenant_admin.name,
            reason,
        ]

    async def test_without_scripts_reject_leads_to_a_page_back_to_the_section(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        request = await requests.broadcast_request(title="Doors open at nine")
        path = f"{PATH}/{request['id']}/reject"
        document = await admin.open(path)

        section = document.find("main").find("section")
        assert section.find("h2").text() == (
            f"Reject the broadcast request of {world.a.partner.name}?"
        )
        assert facts(section)["Engagement type"] == "Message"
        assert section.find("details", {"class": "request-preview"})
        form = section.find("form", {"action": path})
        assert "hx-post" not in form.attrs
        assert form.find("a").attrs["href"] == f"{PATH}?tab=broadcasts"

        target = redirect_target(await admin.plain(path, reason="Not this week."))
        assert target == f"{PATH}?tab=broadcasts&decided={request['id']}"
        assert statuses(await admin.open(target)) == [
            f"Rejected. {world.a.partner.name} has been sent the description by e-mail."
        ]
        again = await admin.open(path)
        assert alerts(again) == [f"Already rejected by {world.tenant_admin.name}."]
        assert again.find("main").find("a", {"href": f"{PATH}?tab=broadcasts"})

    async def test_a_request_decided_by_someone_else_says_who(
        self, admin: RequestsTab, requests: Requests, world: World
    ) -> None:
        request = await requests.ad_package_request()
        assert (await requests.approve(request["id"], user=world.tenant_staff)).status_code == 200
        already = f"Already approved by {world.tenant_staff.name}."
        base = f"{PATH}/{request['id']}"

        for path, data in ((f"{base}/approve", {}), (f"{base}/reject", {"reason": "No"})):
            row = await admin.htmx(path, **data)
            assert alerts(row) == [already]
            assert row.find_all("form") == []
        plain = await admin.plain(f"{base}/approve")
        assert plain.status_code == 409
        assert alerts(parse(plain)) == [already]
        assert tabs(parse(plain))[1] == ("Advertising packages requests", "page")


class TestHistory:
    @pytest.fixture
    async def decided(
        self, requests: Requests, package: Package, world: World
    ) -> dict[str, dict[str, Any]]:
        """One decision of each kind, the latest last; the Partnership page's one too."""
        made = {
            "partnership": await requests.register(package, partner_name="Alpha Roasters"),
            "broadcast": await requests.broadcast_request(title="Doors open at nine"),
            "ad_package": await requests.ad_package_request(world.b, name="Gold impressions"),
            "ad": await requests.ad_request(title="Autumn sale"),
        }
        for kind, request in made.items():
            if kind == "ad_package":
                response = await requests.reject(request["id"], "Not for now.")
            else:
                response = await requests.approve(request["id"], user=world.tenant_staff)
            assert response.status_code == 200, response.text
            made[kind] = response.json()
        return made

    async def test_decisions_of_the_three_kinds_latest_first(
        self, admin: RequestsTab, decided: dict[str, dict[str, Any]], world: World
    ) -> None:
        document = await admin.open(tab="history")

        assert tabs(document)[3] == ("History", "page")
        assert [th.text() for th in document.find("table").find_all("th")] == HISTORY_COLUMNS
        ad, ad_package, broadcast = (decided[kind] for kind in ("ad", "ad_package", "broadcast"))
        assert history_rows(document) == [
            [
                "Autumn sale",
                world.a.partner.name,
                shown(ad["decided_at"]),
                "Ad (Banner)",
                "Approved",
                "0 of 500 impressions used",
                world.tenant_staff.name,
                "",
            ],
            [
                "Gold impressions (50.00 EUR)",
                world.b.partner.name,
                shown(ad_package["decided_at"]),
                "Advertising package",
                "Rejected",
                "",
                world.tenant_admin.name,
                "Not for now.",
            ],
            [
                "Doors open at nine",
                world.a.partner.name,
                shown(broadcast["decided_at"]),
                "Broadcast (Message)",
                "Approved",
                f"Scheduled for {shown(broadcast['details']['starts_at'])}",
                world.tenant_staff.name,
                "",
            ],
        ]

    @pytest.mark.parametrize(
        ("kind", "titles"),
        [
            ("broadcast", ["Doors open at nine"]),
            ("ad_package", ["Gold impressions (50.00 EUR)"]),
            ("ad", ["Autumn sale"]),
            ("", ["Autumn sale", "Gold impressions (50.00 EUR)", "Doors open at nine"]),
            ("partnership", ["Autumn sale", "Gold impressions (50.00 EUR)", "Doors open at nine"]),
        ],
    )
    async def test_filter_by_type_and_export_the_same(
        self,
        admin: RequestsTab,
        decided: dict[str, dict[str, Any]],
        client: httpx.AsyncClient,
        kind: str,
        titles: list[str],
    ) -> None:
        document = await admin.open(tab="history", kind=kind)

        assert [row[0] for row in history_rows(document)] == titles
        search = document.find("form", {"role": "search"})
        options = search.find("select", {"name": "kind"}).find_all("option")
        assert [(o.attrs["value"], o.text()) for o in options] == [
            ("", "All requests"),
            ("broadcast", "Broadcast requests"),
            ("ad_package", "Advertising packages requests"),
            ("ad", "Ads requests"),
        ]
        chosen = [o.attrs["value"] for o in options if "selected" in o.attrs]
        assert chosen == ([kind] if kind in ("broadcast", "ad_package", "ad") else [])
        export = document.find("a", {"class": "pm-button"})
        assert export.text() == "Export CSV"
        url = urlsplit(export.attrs["href"])
        assert url.path == "/api/v1/tenant/requests/export.csv"
        kinds = [kind] if chosen else ["broadcast", "ad_package", "ad"]
        assert parse_qs(url.query) == {"kind": kinds, "status": ["decided"]}
        exported = await client.get(export.attrs["href"])
        assert exported.status_code == 200
        lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert sorted(line[2] for line in lines[1:]) == sorted(
            title.removesuffix(" (50.00 EUR)") for title in titles
        )

    async def test_search_by_partner_name(
        self, admin: RequestsTab, decided: dict[str, dict[str, Any]], world: World
    ) -> None:
        query = world.b.partner.name.upper()
        document = await admin.open(tab="history", q=f"  {query} ")

        search = document.find("form", {"role": "search"})
        assert search.find("input", {"name": "q"}).attrs["value"] == query
        assert search.find("input", {"name": "tab"}).attrs["value"] == "history"
        assert [row[1] for row in history_rows(document)] == [world.b.partner.name]
        url = urlsplit(document.find("a", {"class": "pm-button"}).attrs["href"])
        assert parse_qs(url.query)["q"] == [query]
        none = await admin.open(tab="history", kind="ad", q=query)
        assert (
            f"No decided ad requests from a partner whose name contains “{query}”." in none.text()
        )

    async def test_an_empty_history_says_so(self, admin: RequestsTab) -> None:
        document = await admin.open(tab="history")
        assert (
            "No broadcast, advertising package or ad requests have been approved or rejected yet."
            in document.text()
        )

    async def test_load_more_keeps_the_filter(
        self,
        admin: RequestsTab,
        requests: Requests,
        client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(pages, "ROWS_SHOWN", 1)
        for name in ("One", "Two"):
            request = await requests.ad_package_request(name=name)
            assert (await requests.approve(request["id"])).status_code == 200
        await requests.broadcast_request()
        document = await admin.open(tab="history", kind="ad_package")

        assert [row[0] for row in history_rows(document)] == ["Two (50.00 EUR)", "Load more"]
        more = document.find("tr", {"id": "requests-more"})
        assert more.find("td").attrs["colspan"] == str(len(HISTORY_COLUMNS))
        link = more.find("a")
        assert parse_qs(urlsplit(link.attrs["href"]).query)["kind"] == ["ad_package"]
        response = await client.get(link.attrs["hx-get"], headers={"HX-Request": "true"})
        fragment = parse(response)
        assert [tr.find("td").text() for tr in fragment.find_all("tr")] == ["One (50.00 EUR)"]


class TestSeveralKindsInTheApi:
    async def test_kind_may_be_repeated_and_one_kind_works_as_before(
        self, requests: Requests, decided_kinds: dict[str, str]
    ) -> None:
        def listed(items: list[dict[str, Any]]) -> list[str]:
            return sorted(item["kind"] for item in items)

        assert listed(await requests.listed(kind="ad")) == ["ad"]
        both = await requests.client.get(
            "/api/v1/tenant/requests",
            params=[("kind", "ad"), ("kind", "partnership")],
            headers=await requests.as_(requests.world.tenant_admin),
        )
        assert listed(both.json()["items"]) == ["ad", "partnership"]
        refused = await requests.client.get(
            "/api/v1/tenant/requests",
            params=[("kind", "ad"), ("kind", "fax")],
            headers=await requests.as_(requests.world.tenant_admin),
        )
        assert refused.status_code == 422

    async def test_the_export_is_named_after_its_kinds(
        self, requests: Requests, decided_kinds: dict[str, str]
    ) -> None:
        headers = await requests.as_(requests.world.tenant_admin)
        one = await requests.client.get(
            "/api/v1/tenant/requests/export.csv",
            params={"kind": "partnership", "status": "decided"},
            headers=headers,
        )
        assert 'filename="requests-partnership-decided.csv"' in one.headers["content-disposition"]
        assert [row[1] for row in csv.reader(io.StringIO(one.text))][1:] == ["partnership"]
        two = await requests.client.get(
            "/api/v1/tenant/requests/export.csv",
            params=[("kind", "ad"), ("kind", "broadcast")],
            headers=headers,
        )
        assert 'filename="requests-ad-broadcast.csv"' in two.headers["content-disposition"]
        assert sorted(row[1] for row in list(csv.reader(io.StringIO(two.text)))[1:]) == [
            "ad",
            "broadcast",
        ]


@pytest.fixture
async def decided_kinds(requests: Requests, package: Package) -> dict[str, str]:
    """A pending broadcast and ad, and a rejected registration: their ids by kind."""
    registration = await requests.register(package)
    assert (await requests.reject(registration["id"])).status_code == 200
    return {
        "partnership": registration["id"],
        "broadcast": (await requests.broadcast_request())["id"],
        "ad": (await requests.ad_request())["id"],
    }


class TestAccess:
    async def test_tenant_staff_review_too(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        world: World,
    ) -> None:
        request = await requests.ad_package_request()
        staff = await tab_for(client, factory, settings, world, world.tenant_staff)
        row = await staff.htmx(f"{PATH}/{request['id']}/approve")
        assert statuses(row)[0].startswith("Approved.")
        decided = await requests.get(request["id"])
        assert decided["decided_by"]["name"] == world.tenant_staff.name

    async def test_partner_staff_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        world: World,
    ) -> None:
        request = await requests.ad_request()
        for user in (world.a.admin, world.a.agent):
            await signed_in(client, factory, settings, user)
            for tab in ("", "ads", "history"):
                assert (await client.get(PATH, params={"tab": tab})).status_code == 403
            assert (await client.get(f"{PATH}/{request['id']}/reject")).status_code == 403
            refused = await client.post(f"{PATH}/{request['id']}/approve")
            assert refused.status_code == 403
        assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_signed_out_visitors_are_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await client.get(PATH, params={"tab": "ads"})
        assert redirect_target(response) == "/login?next=/tenant/requests%3Ftab%3Dads"

    async def test_another_tenants_requests_are_not_found(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        world: World,
    ) -> None:
        broadcast = await requests.broadcast_request()
        ad = await requests.ad_request()
        other = await tab_for(client, factory, settings, world, world.other_tenant_admin)
        assert rows(await other.open()) == []
        assert rows(await other.open(tab="ads")) == []
        assert rows(await other.open(tab="ads", decided=ad["id"])) == []
        assert statuses(await other.open(tab="ads", decided=ad["id"])) == []
        for request in (broadcast, ad):
            for verb in ("approve", "reject"):
                response = await other.plain(f"{PATH}/{request['id']}/{verb}", reason="No")
                assert response.status_code == 404
                response = await other.post_htmx(f"{PATH}/{request['id']}/{verb}", {"reason": "No"})
                assert response.status_code == 404
            assert (await client.get(f"{PATH}/{request['id']}/reject")).status_code == 404
            assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_each_page_decides_only_its_own_kinds(
        self, admin: RequestsTab, requests: Requests, one_of_each: dict[str, dict[str, Any]]
    ) -> None:
        crossed = [
            f"{PATH}/{one_of_each['partnership']['id']}/approve",
            f"{PATH}/{one_of_each['addon']['id']}/reject",
            f"/tenant/partnerships/{one_of_each['broadcast']['id']}/approve",
            f"/tenant/addons/{one_of_each['ad']['id']}/approve",
            f"/tenant/addons/{one_of_each['ad_package']['id']}/reject",
        ]
        for path in crossed:
            assert (await admin.plain(path, reason="No")).status_code == 404, path
        addon_reject = await admin.client.get(f"{PATH}/{one_of_each['addon']['id']}/reject")
        assert addon_reject.status_code == 404
        for request in one_of_each.values():
            assert (await requests.get(request["id"]))["status"] == "pending"


class TestQueries:
    @pytest.mark.parametrize("tab", ["broadcasts", "ads", "history"])
    async def test_the_tab_takes_the_same_queries_however_many_requests(
        self, app: FastAPI, admin: RequestsTab, requests: Requests, tab: str
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> int:
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                await admin.open(tab=tab)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

        async def more() -> None:
            if tab == "broadcasts":
                await requests.broadcast_request(EngagementType.PROMO)
                return
            request = await requests.ad_request()
            if tab == "history":
                assert (await requests.approve(request["id"])).status_code == 200

        await more()
        one = await queries()
        for _ in range(3):
            await more()
        assert await queries() == one
