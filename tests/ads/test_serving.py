"""Serving approved ads to end users (PM-6): only within their dates, one impression charged
per answer against the ad's budget and the partner's balance, stopping at either limit."""

import asyncio
from datetime import timedelta

from relaydesk.clock import clock
from tests.ads.conftest import ADS, Ads


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


class TestWhenServed:
    async def test_an_approved_ad_is_served_only_between_its_dates(self, ads: Ads) -> None:
        await ads.buy(100)
        media = await ads.media()
        request = await ads.ad(
            media_attachment_id=media["id"],
            title="Autumn sale",
            subtitle="Half price",
            description="Until Sunday.",
            click_url="https://shop.example/sale",
            cta_text="Shop now",
        )

        clock.freeze(ads.start - timedelta(seconds=1))
        assert await ads.served() == []
        clock.freeze(ads.start)
        (ad,) = await ads.served()
        assert ad == {
            "id": ad["id"],
            "ad_type": "banner",
            "title": "Autumn sale",
            "subtitle": "Half price",
            "description": "Until Sunday.",
            "click_url": "https://shop.example/sale",
            "cta_text": "Shop now",
            "media_url": f"/api/v1/attachments/{media['id']}",
        }
        clock.freeze(ads.end - timedelta(seconds=1))
        assert ids(await ads.served()) == [ad["id"]]
        clock.freeze(ads.end)
        assert await ads.served() == []
        assert await ads.used(request) == 2

    async def test_an_ad_waiting_for_approval_is_not_served(self, ads: Ads) -> None:
        await ads.buy(100)
        asked = await ads.submit(await ads.ad_body())
        assert asked.status_code == 201
        clock.freeze(ads.start)
        assert await ads.served() == []
        assert await ads.balance() == 100

    async def test_each_answer_charges_one_impression(self, ads: Ads) -> None:
        await ads.buy(100)
        request = await ads.ad(impressions_budget=50)
        clock.freeze(ads.start)
        end_user = ads.end_user()

        for served in range(1, 4):
            assert len(await ads.served(end_user)) == 1
            assert await ads.used(request) == served
            assert await ads.balance() == 100 - served

    async def test_a_placement_picks_its_type_and_none_gives_one_of_each(self, ads: Ads) -> None:
        await ads.buy(100)
        banner = await ads.ad("banner")
        video = await ads.ad("video")
        native = await ads.ad("native")
        clock.freeze(ads.start)

        everything = await ads.served()
        assert sorted(item["ad_type"] for item in everything) == ["banner", "native", "video"]
        (only_video,) = await ads.served(placement="video")
        assert only_video["ad_type"] == "video"
        assert await ads.served(placement="interstitial") == []
        refused = await ads.client.get(ADS, params={"placement": "popup"}, headers=ads.end_user())
        assert refused.status_code == 422
        assert [await ads.used(request) for request in (banner, video, native)] == [1, 2, 1]
        assert await ads.balance() == 96


class TestLimits:
    async def test_serving_stops_at_the_budget(self, ads: Ads) -> None:
        await ads.buy(100)
        request = await ads.ad(impressions_budget=2)
        clock.freeze(ads.start)

        answers = [len(await ads.served()) for _ in range(4)]

        assert answers == [1, 1, 0, 0]
        assert await ads.used(request) == 2
        assert await ads.balance() == 98

    async def test_at_zero_balance_every_ad_of_the_partner_stops(self, ads: Ads) -> None:
        world = ads.world
        await ads.buy(3)
        await ads.buy(10, world.b.admin)
        banner = await ads.ad("banner", impressions_budget=3)
        native = await ads.ad("native", impressions_budget=3)
        theirs = await ads.ad("video", user=world.b.admin, impressions_budget=5)
        clock.freeze(ads.start)

        first = await ads.served(placement="banner")
        second = await ads.served(placement="banner")
        third = await ads.served(placement="native")
        assert [len(answer) for answer in (first, second, third)] == [1, 1, 1]
        assert await ads.balance() == 0
        assert await ads.served(placement="banner") == []
        assert await ads.served(placement="native") == []
        (still,) = await ads.served()
        assert still["ad_type"] == "video"
        assert [await ads.used(request) for request in (banner, native, theirs)] == [2, 1, 1]
        assert await ads.balance() == 0
        assert await ads.balance(world.b.partner) == 9

    async def test_a_suspended_partner_s_ads_are_not_served(self, ads: Ads) -> None:
        await ads.buy(100)
        request = await ads.ad()
        clock.freeze(ads.start)
        url = f"/api/v1/tenant/partners/{ads.world.a.partner.id}"
        headers = await ads.as_(ads.world.tenant_admin)

        assert (
            await ads.client.patch(url, json={"status": "suspended"}, headers=headers)
        ).status_code == 200
        assert await ads.served() == []
        assert await ads.used(request) == 0
        assert (
            await ads.client.patch(url, json={"status": "active"}, headers=headers)
        ).status_code == 200
        assert len(await ads.served()) == 1


class TestWhoSeesIt:
    async def test_other_tenants_end_users_never_get_the_ad_nor_its_file(self, ads: Ads) -> None:
        await ads.buy(100)
        media = await ads.media()
        request = await ads.ad(media_attachment_id=media["id"])
        clock.freeze(ads.start)
        ours, theirs = ads.end_user(), ads.end_user(ads.world.other_tenant)

        assert await ads.served(theirs) == []
        (ad,) = await ads.served(ours)
        fetched = await ads.client.get(ad["media_url"], headers=ours)
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/png"
        assert (
            fetched.content
            == (
                await ads.client.get(media["url"], headers=await ads.as_(ads.world.a.admin))
            ).content
        )
        assert (await ads.client.get(ad["media_url"], headers=theirs)).status_code == 404
        assert await ads.used(request) == 1

    async def test_the_file_of_an_ad_not_approved_is_not_shown_to_end_users(self, ads: Ads) -> None:
        await ads.buy(100)
        media = await ads.media()
        asked = await ads.submit(await ads.ad_body(media_attachment_id=media["id"]))
        assert asked.status_code == 201
        assert (await ads.client.get(media["url"], headers=ads.end_user())).status_code == 404


class TestRotation:
    async def test_two_ads_of_a_type_take_turns(self, ads: Ads) -> None:
        await ads.buy(100)
        first = await ads.ad("banner")
        second = await ads.ad("banner")
        clock.freeze(ads.start)

        shown = []
        for _ in range(6):
            (ad,) = await ads.served(placement="banner")
            shown.append(ad["id"])
            clock.advance(timedelta(seconds=1))

        assert shown[0] != shown[1]
        assert shown == shown[:2] * 3
        assert [await ads.used(request) for request in (first, second)] == [3, 3]


class TestAtOnce:
    async def test_twenty_end_users_at_once_take_exactly_the_budget(self, ads: Ads) -> None:
        await ads.buy(100)
        request = await ads.ad(impressions_budget=5)
        clock.freeze(ads.start)
        end_users = [ads.end_user() for _ in range(20)]

        answers = await asyncio.gather(
            *(ads.served(end_user, placement="banner") for end_user in end_users)
        )

        assert sorted(len(answer) for answer in answers) == [0] * 15 + [1] * 5
        assert await ads.used(request) == 5
        assert await ads.balance() == 95

    async def test_twenty_end_users_at_once_never_take_the_balance_below_zero(
        self, ads: Ads
    ) -> None:
        await ads.buy(5)
        banner = await ads.ad("banner", impressions_budget=5)
        native = await ads.ad("native", impressions_budget=5)
        clock.freeze(ads.start)
        end_users = [ads.end_user() for _ in range(20)]

        answers = await asyncio.gather(*(ads.served(end_user) for end_user in end_users))

        assert sum(len(answer) for answer in answers) == 5
        assert await ads.balance() == 0
        assert await ads.used(banner) + await ads.used(native) == 5
