"""The end user's engagements (SU-3): viewing, redeeming coupons (once, while any are left,
never more than the quantity however many redeem at once), downloading content, points."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from tests.engagements.conftest import Desk, coupon, published

MESSAGE, COUPON = EngagementType.MESSAGE, EngagementType.COUPON
STICKERS, WALLPAPER = EngagementType.STICKER_PACK, EngagementType.WALLPAPER


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


async def given(
    desk: Desk, type_: EngagementType, data: dict[str, Any] | None = None, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """An engagement published and sent to the desk's follower; its delivery id."""
    engagement = await published(desk.admin, type_, data, **fields)
    return (await desk.delivered(engagement["id"]))["delivery_id"], engagement


async def activity(desk: Desk, **params: Any) -> list[tuple[str, int]]:
    items = (await desk.panel("recent-activity", **params)).json()["items"]
    return [(item["type"], item["points"]) for item in items]


class TestViewing:
    async def test_viewing_marks_it_viewed_once(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, MESSAGE)
        first = await desk.me.act(delivery_id, "view")
        assert first.status_code == 200, first.text
        assert first.json()["state"] == "viewed"
        assert first.json()["viewed_at"]
        again = await desk.me.act(delivery_id, "view")
        assert again.json() == first.json()
        assert await activity(desk) == [("viewed", 0), ("received", 0)]

    async def test_my_engagements_are_newest_first(self, desk: Desk) -> None:
        older, _ = await given(desk, MESSAGE)
        newer, _ = await given(desk, COUPON, coupon())
        assert [held["id"] for held in await desk.me.held()] == [newer, older]


class TestRedeeming:
    async def test_a_click_to_redeem_coupon_is_redeemed(self, desk: Desk) -> None:
        delivery_id, engagement = await given(desk, COUPON, coupon(quantity=5))
        response = await desk.me.act(delivery_id, "redeem")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "redeemed"
        assert response.json()["redeemed_at"]
        stored = (await desk.admin.request("GET", engagement["id"])).json()
        assert stored["data"]["remaining"] == 4
        assert await activity(desk, type="coupon") == [("redeemed", 0), ("received", 0)]

    async def test_a_time_based_coupon_is_redeemed(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, COUPON, coupon(redemption_type="time_based"))
        assert (await desk.me.act(delivery_id, "redeem")).status_code == 200

    async def test_a_qr_code_coupon_is_redeemed_at_the_partner_s(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, COUPON, coupon(redemption_type="qr_code"))
        assert code(await desk.me.act(delivery_id, "redeem")) == (
            409,
            "engagement_not_redeemable",
        )

    async def test_a_message_is_not_redeemable(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, MESSAGE)
        assert code(await desk.me.act(delivery_id, "redeem")) == (
            409,
            "engagement_not_redeemable",
        )

    async def test_a_second_redemption_is_refused(self, desk: Desk) -> None:
        delivery_id, engagement = await given(desk, COUPON, coupon(quantity=5))
        await desk.me.act(delivery_id, "redeem")
        assert code(await desk.me.act(delivery_id, "redeem")) == (409, "already_redeemed")
        stored = (await desk.admin.request("GET", engagement["id"])).json()
        assert stored["data"]["remaining"] == 4

    async def test_taps_at_once_redeem_once(self, desk: Desk) -> None:
        delivery_id, engagement = await given(desk, COUPON, coupon(quantity=5))
        results = await asyncio.gather(*(desk.me.act(delivery_id, "redeem") for _ in range(4)))
        assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
        stored = (await desk.admin.request("GET", engagement["id"])).json()
        assert stored["data"]["remaining"] == 4

    async def test_a_finished_coupon_has_expired(self, desk: Desk) -> None:
        delivery_id, engagement = await given(desk, COUPON, coupon())
        await desk.admin.finish(engagement)
        assert code(await desk.me.act(delivery_id, "redeem")) == (409, "engagement_expired")

    async def test_a_coupon_past_its_end_has_expired(self, desk: Desk) -> None:
        ends = clock.now() + timedelta(minutes=10)
        delivery_id, _ = await given(desk, COUPON, coupon(), ends_at=ends.isoformat())
        clock.freeze(ends)
        assert code(await desk.me.act(delivery_id, "redeem")) == (409, "engagement_expired")

    async def test_more_end_users_than_coupons_redeem_at_once(self, desk: Desk) -> None:
        engagement = await published(desk.admin, COUPON, coupon(quantity=3))
        desks = [desk, *[await desk.with_another_follower() for _ in range(7)]]
        delivery_ids = [(await d.delivered(engagement["id"]))["delivery_id"] for d in desks]
        pairs = zip(desks, delivery_ids, strict=True)
        results = await asyncio.gather(*(d.me.act(delivery, "redeem") for d, delivery in pairs))
        assert sorted(r.status_code for r in results) == [200] * 3 + [409] * 5
        assert {r.json()["code"] for r in results if r.status_code == 409} == {
            "engagement_not_available"
        }
        stored = (await desk.admin.request("GET", engagement["id"])).json()
        assert stored["data"]["remaining"] == 0
        losers = [d for d, r in zip(desks, results, strict=True) if r.status_code == 409]
        assert {(await d.me.held())[0]["state"] for d in losers} == {"received"}


class TestContentAndPoints:
    async def test_a_download_earns_the_bonus_once(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, STICKERS, {"bonus_points": 15})
        first = await desk.me.act(delivery_id, "download")
        assert first.status_code == 200, first.text
        assert first.json()["state"] == "downloaded"
        await desk.me.act(delivery_id, "download")
        *download, received = await activity(desk)
        assert sorted(download) == [("downloaded", 0), ("points_earned", 15)]
        assert received == ("received", 0)

    async def test_a_coupon_is_not_downloadable(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, COUPON, coupon())
        assert code(await desk.me.act(delivery_id, "download")) == (
            409,
            "engagement_not_downloadable",
        )

    async def test_points_pay_for_a_coupon(self, desk: Desk) -> None:
        earned, _ = await given(desk, STICKERS, {"bonus_points": 30})
        pricey, _ = await given(desk, COUPON, coupon(points_price=40))
        cheap, _ = await given(desk, COUPON, coupon(points_price=20))
        await desk.me.act(earned, "download")
        refused = await desk.me.act(pricey, "redeem")
        assert code(refused) == (409, "not_enough_points")
        assert (await desk.me.act(cheap, "redeem")).status_code == 200
        spent = [entry for entry in await activity(desk) if entry[0] == "points_spent"]
        assert spent == [("points_spent", -20)]
        assert code(await desk.me.act(pricey, "redeem")) == (409, "not_enough_points")

    async def test_content_with_a_price_needs_the_points(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, WALLPAPER, {"points_price": 5})
        assert code(await desk.me.act(delivery_id, "download")) == (409, "not_enough_points")


class TestIsolation:
    async def test_another_end_user_s_delivery_is_404(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, COUPON, coupon())
        other = await desk.with_another_follower()
        for verb in ("view", "redeem", "download"):
            assert (await other.me.act(delivery_id, verb)).status_code == 404
        assert await other.me.held() == []

    async def test_staff_can_t_act_as_an_end_user(self, desk: Desk) -> None:
        delivery_id, _ = await given(desk, COUPON, coupon())
        response = await desk.client.post(
            f"/api/v1/me/engagements/{delivery_id}/redeem", headers=desk.agent.headers
        )
        assert response.status_code == 403
