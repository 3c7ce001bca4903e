"""Advertising package and ad requests (PM-5, PM-6) and their history (PM-7)."""

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

from relaydesk.auth.models import StaffUser
from relaydesk.clock import clock
from tests.ads.conftest import Ads
from tests.approvals.test_api import body_of
from tests.mail import MailServer


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


class TestAdPackages:
    async def test_approval_adds_the_package_s_impressions_to_the_balance(
        self, ads: Ads, mail: MailServer
    ) -> None:
        package = await ads.ad_package(1000)
        response = await ads.submit({"kind": "ad_package", "ad_package_id": package["id"]})
        assert response.status_code == 201, response.text
        request = response.json()
        assert (request["kind"], request["status"], request["title"]) == (
            "ad_package",
            "pending",
            package["name"],
        )
        assert request["price"] == {"amount": "25.00", "currency": "EUR"}
        assert request["details"]["ad_package"] == {
            "id": package["id"],
            "name": package["name"],
            "impressions": 1000,
        }
        assert await ads.balance() == 0

        approved = await ads.approve(request)
        assert approved["status"] == "approved"
        assert await ads.balance() == 1000
        await ads.buy(500)
        assert await ads.balance() == 1500
        assert await ads.balance(ads.world.b.partner) == 0
        await mail.deliver()
        subjects = [message["Subject"] for message in mail.to(ads.world.a.partner.email)]
        assert f'Approved: your advertising package request "{package["name"]}"' in subjects

    async def test_the_impressions_are_those_asked_for(self, ads: Ads) -> None:
        package = await ads.ad_package(1000)
        response = await ads.submit({"kind": "ad_package", "ad_package_id": package["id"]})
        changed = await ads.client.patch(
            f"/api/v1/tenant/ad-packages/{package['id']}",
            json={"impressions": 5000},
            headers=await ads.as_(ads.world.tenant_admin),
        )
        assert changed.status_code == 200, changed.text
        await ads.approve(response)
        assert await ads.balance() == 1000

    async def test_refusals(self, ads: Ads) -> None:
        world = ads.world
        offered = await ads.ad_package()
        archived = await ads.ad_package(archived=True)
        foreign = await ads.client.post(
            "/api/v1/tenant/ad-packages",
            json={
                "name": "Theirs",
                "impressions": 10,
                "price": {"amount": "1.00", "currency": "EUR"},
            },
            headers=await ads.as_(world.other_tenant_admin),
        )
        assert foreign.status_code == 201
        asked = await ads.submit({"kind": "ad_package", "ad_package_id": offered["id"]})
        assert asked.status_code == 201

        def body(package_id: str, **changes: Any) -> dict[str, Any]:
            return {"kind": "ad_package", "ad_package_id": package_id} | changes

        cases: list[tuple[StaffUser, dict[str, Any], int, str]] = [
            (world.a.admin, body(offered["id"]), 409, "request_pending"),
            (world.a.admin, body(archived["id"]), 409, "archived"),
            (world.a.admin, body(foreign.json()["id"]), 404, "not_found"),
            (world.a.admin, body("0190f0f0-0000-7000-8000-000000000000"), 404, "not_found"),
            (world.a.admin, body("nope"), 422, "validation_error"),
            (world.a.admin, body(offered["id"], impressions=10**6), 422, "validation_error"),
            (world.a.agent, body(offered["id"]), 403, "permission_denied"),
            (world.tenant_admin, body(offered["id"]), 403, "permission_denied"),
        ]
        for user, request_body, status, expected in cases:
            response = await ads.submit(request_body, user)
            assert code(response) == (status, expected), request_body
        # Another partner may ask for the same package.
        assert (await ads.submit(body(offered["id"]), world.b.admin)).status_code == 201

    async def test_rejection_mails_the_reason_and_adds_nothing(
        self, ads: Ads, mail: MailServer
    ) -> None:
        package = await ads.ad_package(1000)
        asked = await ads.submit({"kind": "ad_package", "ad_package_id": package["id"]})
        rejected = await ads.decide(asked.json()["id"], "reject", reason="Pay the last invoice.")
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["rejection_reason"] == "Pay the last invoice."
        assert await ads.balance() == 0
        await mail.deliver()
        (told,) = mail.to(ads.world.a.partner.email)
        assert "Pay the last invoice." in body_of(told)


class TestAdRequests:
    async def test_an_ad_waits_with_its_campaign(self, ads: Ads) -> None:
        await ads.buy(100)
        media = await ads.media("video")
        body = await ads.ad_body(
            "video", media_attachment_id=media["id"], impressions_budget=100, title="Spot"
        )
        response = await ads.submit(body)
        assert response.status_code == 201, response.text
        request = response.json()
        assert (request["kind"], request["status"], request["title"]) == ("ad", "pending", "Spot")
        details = request["details"]
        fields = ("ad_type", "title", "subtitle", "description", "click_url", "cta_text")
        assert {key: details[key] for key in fields} == {key: body[key] for key in fields}
        assert details["impressions_budget"] == 100
        assert datetime.fromisoformat(details["starts_at"]) == ads.start
        assert datetime.fromisoformat(details["ends_at"]) == ads.end
        assert details["media"] == media
        assert details["impressions_used"] == 0
        # Reviewers may look at the file before they decide.
        shown = await ads.client.get(media["url"], headers=await ads.as_(ads.world.tenant_admin))
        assert shown.status_code == 200
        # The budget is checked against the balance, not taken from it.
        assert await ads.balance() == 100

    async def test_the_dates_are_answered_in_utc_whatever_zone_they_were_given_in(
        self, ads: Ads
    ) -> None:
        await ads.buy(10)
        zone = timezone(timedelta(hours=-5))
        body = await ads.ad_body(
            starts_at=ads.start.astimezone(zone), ends_at=ads.end.astimezone(zone)
        )
        response = await ads.submit(body)
        assert response.status_code == 201, response.text
        for key, expected in (("starts_at", ads.start), ("ends_at", ads.end)):
            answered = datetime.fromisoformat(response.json()["details"][key])
            assert answered == expected
            assert answered.utcoffset() == timedelta(0), key

    async def test_each_type_takes_its_kind_of_file(self, ads: Ads) -> None:
        await ads.buy(10)
        for ad_type, kind in (
            ("banner", "image"),
            ("native", "image"),
            ("interstitial", "image"),
            ("interstitial", "video"),
            ("video", "video"),
        ):
            media = await ads.media(kind)
            body = await ads.ad_body(ad_type, media_attachment_id=media["id"])
            assert (await ads.submit(body)).status_code == 201, (ad_type, kind)

    async def test_refusals_leave_nothing_pending(self, ads: Ads) -> None:
        world = ads.world
        await ads.buy(50)
        image, video, document = [
            (await ads.media(kind))["id"] for kind in ("image", "video", "document")
        ]
        theirs = (await ads.media("image", world.b.admin))["id"]
        body = ads.ad_body
        passed = ads.now - timedelta(days=1)
        cases: list[tuple[StaffUser, dict[str, Any], int, str]] = [
            (world.a.admin, await body(ends_at=ads.start), 422, "validation_error"),
            (
                world.a.admin,
                await body(ends_at=ads.start - timedelta(hours=1)),
                422,
                "validation_error",
            ),
            (
                world.a.admin,
                await body(starts_at=passed - timedelta(days=1), ends_at=passed),
                422,
                "validation_error",
            ),
            (world.a.admin, await body(impressions_budget=51), 422, "validation_error"),
            (world.a.admin, await body(impressions_budget=0), 422, "validation_error"),
            (world.a.admin, await body(impressions_budget="many"), 422, "validation_error"),
            (world.a.admin, await body(media_attachment_id=document), 422, "validation_error"),
            (world.a.admin, await body(media_attachment_id=video), 422, "validation_error"),
            (
                world.a.admin,
                await body("native", media_attachment_id=document),
                422,
                "validation_error",
            ),
            (
                world.a.admin,
                await body("video", media_attachment_id=image),
                422,
                "validation_error",
            ),
            (
                world.a.admin,
                await body("interstitial", media_attachment_id=document),
                422,
                "validation_error",
            ),
            (world.a.admin, await body(media_attachment_id=theirs), 422, "validation_error"),
            (
                world.a.admin,
                await body(media_attachment_id="0190f0f0-0000-7000-8000-000000000000"),
                422,
                "validation_error",
            ),
            (world.a.admin, await body(click_url="not a url"), 422, "validation_error"),
            (world.a.admin, await body(click_url="javascript:alert(1)"), 422, "validation_error"),
            (world.a.admin, await body(click_url="ftp://shop.example/"), 422, "validation_error"),
            # Longer than kept once its accents are percent-encoded.
            (
                world.a.admin,
                await body(click_url="https://shop.example/" + "é" * 700),
                422,
                "validation_error",
            ),
            (
                world.a.admin,
                await body(ends_at="9999-12-31T23:59:59-05:00"),
                422,
                "validation_error",
            ),
            (world.a.admin, await body(title=""), 422, "validation_error"),
            (world.a.admin, await body(title="x" * 81), 422, "validation_error"),
            (world.a.admin, await body(cta_text="x" * 31), 422, "validation_error"),
            (world.a.admin, await body("popup"), 422, "validation_error"),
            (world.a.admin, await body(starts_at="2030-01-01T10:00:00"), 422, "validation_error"),
            (world.a.admin, await body(colour="red"), 422, "validation_error"),
            (world.a.agent, await body(), 403, "permission_denied"),
            (world.tenant_admin, await body(), 403, "permission_denied"),
        ]
        for user, request_body, status, expected in cases:
            response = await ads.submit(request_body, user)
            assert code(response) == (status, expected), request_body
        listed = await ads.client.get(
            "/api/v1/tenant/requests",
            params={"kind": "ad"},
            headers=await ads.as_(world.tenant_admin),
        )
        assert listed.json()["items"] == []

    async def test_a_partner_without_impressions_is_told_to_buy_some(self, ads: Ads) -> None:
        response = await ads.submit(await ads.ad_body(impressions_budget=1))
        assert code(response) == (422, "validation_error")
        assert "impressions_budget" in response.json()["errors"][0]["loc"]

    async def test_rejection_mails_the_reason_and_makes_no_ad(
        self, ads: Ads, mail: MailServer
    ) -> None:
        await ads.buy(10)
        asked = await ads.submit(await ads.ad_body(title="Loud ad"))
        rejected = await ads.decide(asked.json()["id"], "reject", reason="Too loud.")
        assert rejected.status_code == 200, rejected.text
        clock.freeze(ads.start)
        assert await ads.served() == []
        await mail.deliver()
        told = mail.last_to(ads.world.a.partner.email)
        assert "Too loud." in body_of(told)
        assert "Loud ad" in told["Subject"]


class TestHistory:
    async def test_decided_requests_of_a_kind_latest_decision_first(self, ads: Ads) -> None:
        earlier = await ads.buy(100)
        first = await ads.submit(await ads.ad_body(title="First"))
        second = await ads.submit(await ads.ad_body(title="Second"))
        await ads.submit(await ads.ad_body(title="Waiting"))
        package = await ads.ad_package(10)
        bought = await ads.submit({"kind": "ad_package", "ad_package_id": package["id"]})
        clock.advance(timedelta(minutes=1))
        await ads.decide(second.json()["id"], "reject", reason="No")
        clock.advance(timedelta(minutes=1))
        await ads.approve(first)
        clock.advance(timedelta(minutes=1))
        await ads.approve(bought)

        async def listed(**params: str) -> list[str]:
            response = await ads.client.get(
                "/api/v1/tenant/requests",
                params=params,
                headers=await ads.as_(ads.world.tenant_staff),
            )
            assert response.status_code == 200, response.text
            return [item["title"] for item in response.json()["items"]]

        assert await listed(kind="ad", status="decided") == ["First", "Second"]
        assert await listed(kind="ad", status="pending") == ["Waiting"]
        assert await listed(kind="ad", status="rejected") == ["Second"]
        assert await listed(kind="ad_package", status="decided") == [
            package["name"],
            earlier["title"],
        ]
        assert await listed(status="decided") == [
            package["name"],
            "First",
            "Second",
            earlier["title"],
        ]
        assert await listed(kind="ad", status="decided", q=ads.world.b.partner.name) == []

    async def test_the_export_holds_the_rows_of_the_kind(self, ads: Ads) -> None:
        await ads.buy(100)
        approved = await ads.submit(await ads.ad_body(title="=Kept"))
        rejected = await ads.submit(await ads.ad_body(title="Dropped"))
        await ads.approve(approved)
        await ads.decide(rejected.json()["id"], "reject", reason="-No")
        response = await ads.client.get(
            "/api/v1/tenant/requests/export.csv",
            params={"kind": "ad", "status": "decided"},
            headers=await ads.as_(ads.world.tenant_admin),
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["Partner", "Kind", "Title"]
        assert sorted((row[1], row[2], row[5], row[9]) for row in rows[1:]) == [
            ("ad", "'=Kept", "approved", ""),
            ("ad", "Dropped", "rejected", "'-No"),
        ]
        assert {row[0] for row in rows[1:]} == {ads.world.a.partner.name}
        packages = await ads.client.get(
            "/api/v1/tenant/requests/export.csv",
            params={"kind": "ad_package"},
            headers=await ads.as_(ads.world.tenant_admin),
        )
        (_, package_row) = list(csv.reader(io.StringIO(packages.content.decode("utf-8-sig"))))
        assert (package_row[1], package_row[3], package_row[4]) == ("ad_package", "25.00", "EUR")


class TestErrorsSayWhatIsWrong:
    async def test_a_video_ad_with_a_picture_is_told_it_needs_a_video(self, ads: Ads) -> None:
        await ads.buy(10)
        image = await ads.media("image")
        response = await ads.submit(await ads.ad_body("video", media_attachment_id=image["id"]))
        assert code(response) == (422, "validation_error")
        (error,) = response.json()["errors"]
        assert error["loc"] == ["body", "media_attachment_id"]
        assert "video" in error["msg"], error["msg"]
        document = await ads.media("document")
        banner = await ads.submit(await ads.ad_body(media_attachment_id=document["id"]))
        (error,) = banner.json()["errors"]
        assert "image" in error["msg"], error["msg"]
