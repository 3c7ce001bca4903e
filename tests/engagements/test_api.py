"""The engagement catalogue over HTTP (SU-2): creating each type, what is refused, the type
gate of the partner's package, draft → active → finished, who may do what, lists, audit."""

import copy
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.permissions import Role
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from relaydesk.db import Database
from relaydesk.engagements.models import Engagement
from tests.engagements.conftest import EngagementApi, data_for, engagement_api
from tests.factories import Factory, World

MESSAGE, PROMO, COUPON = EngagementType.MESSAGE, EngagementType.PROMO, EngagementType.COUPON
STICKERS, RINGTONE = EngagementType.STICKER_PACK, EngagementType.RINGTONE
WALLPAPER = EngagementType.WALLPAPER
# A future moment for dates that are only stored.
NOON = (clock.now() + timedelta(days=30)).replace(hour=12, minute=0, second=0, microsecond=0)


def frozen() -> datetime:
    """Freezes the clock at the present second (staff tokens stay valid) and returns it."""
    moment = clock.now().replace(microsecond=0)
    clock.freeze(moment)
    return moment


def problem(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["code"]


def error_locs(response: httpx.Response) -> list[list[str]]:
    return [error["loc"] for error in response.json()["errors"]]


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def stored(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Engagement))


class TestCreating:
    @pytest.mark.parametrize("type_", list(EngagementType))
    async def test_every_type_is_created_as_a_draft(
        self, admin: EngagementApi, world: World, type_: EngagementType
    ) -> None:
        created = await admin.create(type_, title="Autumn", description="Leaves are falling.")
        assert set(created) >= {
            "id",
            "type",
            "channel_id",
            "title",
            "description",
            "status",
            "starts_at",
            "ends_at",
            "data",
            "created_at",
        }
        assert created["type"] == type_
        assert created["channel_id"] == str(world.a.channel.id)
        assert (created["title"], created["description"]) == ("Autumn", "Leaves are falling.")
        assert created["status"] == "draft"
        assert (created["starts_at"], created["ends_at"]) == (None, None)
        fetched = await admin.request("GET", created["id"])
        assert fetched.status_code == 200
        assert fetched.json() == created

    async def test_each_type_keeps_its_fields_with_their_defaults(
        self, admin: EngagementApi
    ) -> None:
        message = await admin.create(MESSAGE, {"text": "  Hello there  "})
        assert message["data"] == {"text": "Hello there", "media_attachment_id": None}
        media = [await admin.upload_id(), await admin.upload_id("clip.png")]
        promo = await admin.create(
            PROMO,
            {"media_attachment_ids": media, "cta_text": "Buy", "cta_url": "https://shop.example/a"},
        )
        assert promo["data"] == {
            "cta_text": "Buy",
            "cta_url": "https://shop.example/a",
            "media_attachment_ids": media,
            "hide_in_chat": False,
        }
        coupon = await admin.create(COUPON, {"redemption_type": "time_based", "quantity": 3})
        assert coupon["data"] == {
            "redemption_type": "time_based",
            "quantity": 3,
            "per_user_limit": 1,
            "points_price": 0,
            "image_attachment_id": None,
            "remaining": None,
        }
        ringtone = await admin.create(RINGTONE, {})
        assert ringtone["data"] == {
            "content_attachment_id": None,
            "points_price": 0,
            "bonus_points": 0,
        }

    async def test_dates_are_kept(self, admin: EngagementApi) -> None:
        created = await admin.create(
            MESSAGE,
            starts_at=NOON.astimezone(timezone(timedelta(hours=1))).isoformat(),
            ends_at=iso(NOON + timedelta(days=7)),
        )
        assert datetime.fromisoformat(created["starts_at"]) == NOON
        assert datetime.fromisoformat(created["ends_at"]) == NOON + timedelta(days=7)

    @pytest.mark.parametrize("text", ["x" * 2_000, "x"])
    async def test_message_text_up_to_2000_characters(
        self, admin: EngagementApi, text: str
    ) -> None:
        assert (await admin.create(MESSAGE, {"text": text}))["data"]["text"] == text

    async def test_a_promo_name_of_80_characters(self, admin: EngagementApi) -> None:
        assert (await admin.create(PROMO, title="n" * 80))["title"] == "n" * 80

    async def test_five_promo_media(self, admin: EngagementApi) -> None:
        media = [await admin.upload_id() for _ in range(5)]
        created = await admin.create(PROMO, {"media_attachment_ids": media})
        assert created["data"]["media_attachment_ids"] == media

    async def test_another_partners_channel_is_not_found(
        self, admin: EngagementApi, world: World, database: Database
    ) -> None:
        for channel in (world.b.channel, world.other.channel):
            response = await admin.post(MESSAGE, data_for(MESSAGE), channel_id=str(channel.id))
            assert problem(response) == (404, "not_found")
        assert await stored(database) == 0


def _long(n: int) -> str:
    return "x" * n


BAD_DATA = {
    "unknown message field": (MESSAGE, {"text": "Hi", "colour": "red"}, ["colour"]),
    "message text of 2001 characters": (MESSAGE, {"text": _long(2_001)}, ["text"]),
    "empty message text": (MESSAGE, {"text": "   "}, ["text"]),
    "message without text": (MESSAGE, {}, ["text"]),
    "unknown promo field": (PROMO, {"media_attachment_ids": ["MEDIA"], "x": 1}, ["x"]),
    "six promo media": (PROMO, {"media_attachment_ids": ["MEDIA"] * 6}, ["media_attachment_ids"]),
    "no promo media": (PROMO, {"media_attachment_ids": []}, ["media_attachment_ids"]),
    "promo without media": (PROMO, {}, ["media_attachment_ids"]),
    "a promo medium twice": (
        PROMO,
        {"media_attachment_ids": ["MEDIA", "MEDIA"]},
        ["media_attachment_ids"],
    ),
    "call to action of 41 characters": (
        PROMO,
        {"media_attachment_ids": ["MEDIA"], "cta_text": _long(41)},
        ["cta_text"],
    ),
    "ftp call-to-action url": (
        PROMO,
        {"media_attachment_ids": ["MEDIA"], "cta_url": "ftp://shop.example/a"},
        ["cta_url"],
    ),
    "call-to-action url without scheme": (
        PROMO,
        {"media_attachment_ids": ["MEDIA"], "cta_url": "shop dot example"},
        ["cta_url"],
    ),
    "unknown coupon field": (
        COUPON,
        {"redemption_type": "qr_code", "quantity": 5, "remaining": 5},
        ["remaining"],
    ),
    "per-user limit above quantity": (
        COUPON,
        {"redemption_type": "qr_code", "quantity": 2, "per_user_limit": 3},
        [],
    ),
    "no coupons": (COUPON, {"redemption_type": "qr_code", "quantity": 0}, ["quantity"]),
    "unknown redemption": (
        COUPON,
        {"redemption_type": "scratch", "quantity": 5},
        ["redemption_type"],
    ),
    "negative coupon price": (
        COUPON,
        {"redemption_type": "qr_code", "quantity": 5, "points_price": -1},
        ["points_price"],
    ),
    "unknown content field": (WALLPAPER, {"text": "Hi"}, ["text"]),
    "negative bonus points": (STICKERS, {"bonus_points": -1}, ["bonus_points"]),
    "negative content price": (RINGTONE, {"points_price": -5}, ["points_price"]),
}


class TestValidation:
    @pytest.mark.parametrize("case", list(BAD_DATA))
    async def test_bad_data_is_refused_naming_the_field(
        self, admin: EngagementApi, database: Database, case: str
    ) -> None:
        type_, data, field = copy.deepcopy(BAD_DATA[case])
        if "media_attachment_ids" in data:
            media = await admin.upload_id()
            data["media_attachment_ids"] = [media for _ in data["media_attachment_ids"]]
        response = await admin.post(type_, data)
        assert problem(response) == (422, "validation_error")
        locs = error_locs(response)
        assert any(loc[:1] == ["body"] and "data" in loc for loc in locs), locs
        if field:
            assert any(loc[-len(field) :] == field for loc in locs), locs
        assert await stored(database) == 0

    @pytest.mark.parametrize(
        ("fields", "where"),
        [
            ({"title": ""}, "title"),
            ({"title": _long(201)}, "title"),
            ({"description": _long(2_001)}, "description"),
            ({"starts_at": iso(NOON), "ends_at": iso(NOON - timedelta(hours=1))}, ""),
            ({"starts_at": iso(NOON), "ends_at": iso(NOON)}, ""),
            ({"starts_at": "2026-12-01T12:00:00"}, "starts_at"),
            ({"type": "newsletter"}, ""),
            ({"colour": "red"}, "colour"),
            ({"channel_id": "not-an-id"}, "channel_id"),
        ],
    )
    async def test_bad_engagements_are_refused(
        self, admin: EngagementApi, database: Database, fields: dict[str, Any], where: str
    ) -> None:
        response = await admin.request("POST", json=admin.body(MESSAGE, {"text": "Hi"}) | fields)
        assert problem(response) == (422, "validation_error")
        if where:
            assert any(where in loc for loc in error_locs(response)), error_locs(response)
        assert await stored(database) == 0

    async def test_a_promo_name_has_at_most_80_characters(
        self, admin: EngagementApi, database: Database
    ) -> None:
        data = data_for(PROMO, [await admin.upload_id()])
        response = await admin.post(PROMO, data, title=_long(81))
        assert problem(response) == (422, "validation_error")
        assert any(loc[-1] == "title" for loc in error_locs(response))
        assert await stored(database) == 0

    async def test_another_types_data_is_refused(self, admin: EngagementApi) -> None:
        response = await admin.post(COUPON, data_for(MESSAGE))
        assert problem(response) == (422, "validation_error")


class TestPackageGate:
    @pytest.fixture
    async def limited(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> EngagementApi:
        """The admin of a partner whose package allows messages and promos only."""
        package = await factory.package(world.tenant, engagement_types=[MESSAGE, PROMO])
        partner = await factory.partner(world.tenant, package=package)
        admin = await factory.staff(world.tenant, Role.PARTNER_ADMIN, partner)
        return await engagement_api(client, factory, admin, await factory.channel(partner))

    @pytest.mark.parametrize(
        ("type_", "name"),
        [(COUPON, "coupons"), (STICKERS, "sticker packs"), (RINGTONE, "ringtones")],
    )
    async def test_a_type_outside_the_package_is_refused_by_name(
        self, limited: EngagementApi, database: Database, type_: EngagementType, name: str
    ) -> None:
        response = await limited.post(type_, data_for(type_))
        assert problem(response) == (403, "permission_denied")
        assert name in response.json()["detail"]
        assert await stored(database) == 0

    async def test_types_in_the_package_are_created(self, limited: EngagementApi) -> None:
        assert (await limited.create(MESSAGE))["type"] == "message"
        assert (await limited.create(PROMO))["type"] == "promo"

    async def test_publishing_checks_the_package_again(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        admin: EngagementApi,
    ) -> None:
        coupon = await admin.create(COUPON)
        message = await admin.create(MESSAGE)
        response = await client.patch(
            f"/api/v1/tenant/packages/{world.a.partner.package_id}",
            json={"engagement_types": ["message"]},
            headers=await factory.headers(world.tenant_admin),
        )
        assert response.status_code == 200, response.text

        refused = await admin.publish(coupon)
        assert problem(refused) == (403, "permission_denied")
        assert "coupons" in refused.json()["detail"]
        assert (await admin.request("GET", coupon["id"])).json()["status"] == "draft"
        assert (await admin.publish(message)).status_code == 200


class TestLifecycle:
    async def test_draft_active_finished(self, admin: EngagementApi) -> None:
        start = frozen()
        created = await admin.create(MESSAGE)
        assert created["published_at"] is None
        clock.advance(timedelta(minutes=5))
        published = await admin.publish(created)
        assert published.status_code == 200, published.text
        assert published.json()["status"] == "active"
        assert datetime.fromisoformat(published.json()["published_at"]) == start + timedelta(
            minutes=5
        )
        clock.advance(timedelta(hours=1))
        finished = await admin.finish(created)
        assert finished.status_code == 200, finished.text
        assert finished.json()["status"] == "finished"
        assert datetime.fromisoformat(finished.json()["finished_at"]) == start + timedelta(
            minutes=65
        )
        assert (await admin.request("GET", created["id"])).json() == finished.json()

    async def test_publishing_twice_is_a_conflict(self, admin: EngagementApi) -> None:
        created = await admin.create(MESSAGE)
        assert (await admin.publish(created)).status_code == 200
        assert problem(await admin.publish(created)) == (409, "engagement_not_draft")
        await admin.finish(created)
        assert problem(await admin.publish(created)) == (409, "engagement_not_draft")

    async def test_only_active_engagements_finish(self, admin: EngagementApi) -> None:
        created = await admin.create(MESSAGE)
        assert problem(await admin.finish(created)) == (409, "engagement_not_active")
        await admin.publish(created)
        assert (await admin.finish(created)).status_code == 200
        assert problem(await admin.finish(created)) == (409, "engagement_not_active")

    async def test_an_engagement_whose_end_passed_is_not_published(
        self, admin: EngagementApi
    ) -> None:
        start = frozen()
        created = await admin.create(MESSAGE, ends_at=iso(start + timedelta(hours=1)))
        clock.advance(timedelta(hours=2))
        refused = await admin.publish(created)
        assert problem(refused) == (409, "engagement_ended")
        assert "end date" in refused.json()["detail"]
        later = iso(start + timedelta(days=1))
        assert (await admin.patch(created, ends_at=later)).status_code == 200
        assert (await admin.publish(created)).json()["status"] == "active"

    async def test_publishing_a_coupon_makes_its_whole_quantity_remain(
        self, admin: EngagementApi
    ) -> None:
        coupon = await admin.create(COUPON, {"redemption_type": "click_to_redeem", "quantity": 7})
        assert coupon["data"]["remaining"] is None
        published = (await admin.publish(coupon)).json()
        assert published["data"]["remaining"] == 7
        assert published["data"]["quantity"] == 7
        listed = await admin.list(type="coupon")
        assert listed[0]["data"]["remaining"] == 7

    async def test_a_published_coupons_new_quantity_moves_what_remains(
        self, admin: EngagementApi, database: Database
    ) -> None:
        coupon = await admin.create(COUPON, {"redemption_type": "qr_code", "quantity": 10})
        await admin.publish(coupon)
        # As the next slice's redemptions will: three taken in the database.
        async with database.transaction() as session:
            row = await session.get_one(Engagement, uuid.UUID(coupon["id"]))
            row.remaining = 7
        raised = await admin.patch(coupon, data={"quantity": 15})
        assert raised.status_code == 200, raised.text
        assert (raised.json()["data"]["quantity"], raised.json()["data"]["remaining"]) == (15, 12)
        refused = await admin.patch(coupon, data={"quantity": 2})
        assert problem(refused) == (409, "coupon_quantity_too_low")
        assert (await admin.request("GET", coupon["id"])).json()["data"]["remaining"] == 12


class TestChanging:
    async def test_a_draft_changes_everything_but_its_type(
        self, admin: EngagementApi, factory: Factory, world: World
    ) -> None:
        created = await admin.create(COUPON, starts_at=iso(NOON))
        channel = await factory.channel(world.a.partner)
        changed = await admin.patch(
            created,
            title="Winter",
            description="Snow.",
            channel_id=str(channel.id),
            starts_at=iso(NOON + timedelta(days=1)),
            ends_at=iso(NOON + timedelta(days=2)),
            data={"quantity": 50, "per_user_limit": 2},
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["title"], body["description"]) == ("Winter", "Snow.")
        assert body["channel_id"] == str(channel.id)
        assert datetime.fromisoformat(body["starts_at"]) == NOON + timedelta(days=1)
        assert body["data"]["quantity"] == 50
        assert body["data"]["per_user_limit"] == 2
        assert body["data"]["redemption_type"] == "qr_code"
        assert (await admin.request("GET", created["id"])).json() == body

        refused = await admin.patch(created, type="message")
        assert problem(refused) == (409, "engagement_locked")
        assert (await admin.patch(created, type="coupon")).status_code == 200

    @pytest.mark.parametrize(
        "change",
        [
            {"starts_at": iso(NOON + timedelta(days=3))},
            {"ends_at": iso(NOON + timedelta(days=9))},
            {"ends_at": None},
            {"type": "promo"},
            {"channel_id": "CHANNEL"},
        ],
    )
    async def test_dates_type_and_channel_are_locked_once_published(
        self,
        admin: EngagementApi,
        factory: Factory,
        world: World,
        change: dict[str, Any],
    ) -> None:
        created = await admin.create(
            MESSAGE, starts_at=iso(NOON), ends_at=iso(NOON + timedelta(days=7))
        )
        await admin.publish(created)
        if change.get("channel_id") == "CHANNEL":
            change = {"channel_id": str((await factory.channel(world.a.partner)).id)}
        response = await admin.patch(created, **change)
        assert problem(response) == (409, "engagement_locked")
        assert (await admin.request("GET", created["id"])).json()["ends_at"] == created["ends_at"]

    async def test_a_published_engagement_changes_its_texts_and_data(
        self, admin: EngagementApi
    ) -> None:
        created = await admin.create(MESSAGE, starts_at=iso(NOON))
        await admin.publish(created)
        changed = await admin.patch(
            created, title="Updated", data={"text": "New text"}, starts_at=iso(NOON)
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["title"], changed.json()["data"]["text"]) == ("Updated", "New text")
        assert changed.json()["status"] == "active"

    async def test_a_finished_engagement_changes_no_more(self, admin: EngagementApi) -> None:
        created = await admin.create(MESSAGE)
        await admin.publish(created)
        await admin.finish(created)
        response = await admin.patch(created, title="Too late")
        assert problem(response) == (409, "engagement_finished")
        assert (await admin.request("GET", created["id"])).json()["title"] == created["title"]

    @pytest.mark.parametrize(
        ("type_", "change", "where"),
        [
            (COUPON, {"data": {"per_user_limit": 101}}, None),
            (COUPON, {"data": {"quantity": "many"}}, "quantity"),
            (MESSAGE, {"data": {"text": "x" * 2_001}}, "text"),
            (MESSAGE, {"data": {"colour": "red"}}, "colour"),
            (PROMO, {"title": "n" * 81}, "title"),
            (PROMO, {"data": {"media_attachment_ids": []}}, "media_attachment_ids"),
            (MESSAGE, {"ends_at": iso(NOON - timedelta(days=1))}, "ends_at"),
            (MESSAGE, {"title": None}, None),
            (MESSAGE, {"data": None}, None),
            (MESSAGE, {"status": "active"}, "status"),
        ],
    )
    async def test_bad_changes_are_refused(
        self,
        admin: EngagementApi,
        type_: EngagementType,
        change: dict[str, Any],
        where: str | None,
    ) -> None:
        created = await admin.create(type_, starts_at=iso(NOON))
        response = await admin.patch(created, **change)
        assert problem(response) == (422, "validation_error")
        if where:
            assert any(loc[-1] == where for loc in error_locs(response)), error_locs(response)
        assert (await admin.request("GET", created["id"])).json() == created


class TestPermissions:
    async def test_agents_read_but_do_not_change(
        self, admin: EngagementApi, agent: EngagementApi, database: Database
    ) -> None:
        created = await admin.create(MESSAGE)
        assert [item["id"] for item in await agent.list()] == [created["id"]]
        assert (await agent.request("GET", created["id"])).json() == created
        for response in (
            await agent.post(MESSAGE, data_for(MESSAGE)),
            await agent.patch(created, title="Mine"),
            await agent.publish(created),
            await agent.finish(created),
        ):
            assert problem(response) == (403, "permission_denied")
        assert await stored(database) == 1
        assert (await admin.request("GET", created["id"])).json() == created

    async def test_another_partner_gets_404(
        self, admin: EngagementApi, other_admin: EngagementApi
    ) -> None:
        created = await admin.create(MESSAGE)
        assert await other_admin.list() == []
        for response in (
            await other_admin.request("GET", created["id"]),
            await other_admin.patch(created, title="Theirs"),
            await other_admin.publish(created),
            await other_admin.finish(created),
        ):
            assert problem(response) == (404, "not_found")
        assert (await admin.request("GET", created["id"])).json() == created

    @pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TENANT_STAFF])
    async def test_tenant_staff_get_403(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        admin: EngagementApi,
        role: Role,
    ) -> None:
        created = await admin.create(MESSAGE)
        tenant_side = await engagement_api(client, factory, world.staff_with(role), world.a.channel)
        for response in (
            await tenant_side.request("GET"),
            await tenant_side.request("GET", created["id"]),
            await tenant_side.post(MESSAGE, data_for(MESSAGE)),
        ):
            assert problem(response) == (403, "permission_denied")

    async def test_end_users_get_403_and_strangers_401(
        self, client: httpx.AsyncClient, factory: Factory, world: World, admin: EngagementApi
    ) -> None:
        created = await admin.create(MESSAGE)
        end_user = EngagementApi(client, factory.end_user_headers(world.tenant), world.a.channel)
        assert problem(await end_user.request("GET")) == (403, "permission_denied")
        assert problem(await end_user.request("GET", created["id"])) == (403, "permission_denied")
        assert problem(await end_user.post(MESSAGE, data_for(MESSAGE))) == (
            403,
            "permission_denied",
        )
        stranger = EngagementApi(client, {}, world.a.channel)
        assert problem(await stranger.request("GET")) == (401, "unauthenticated")


class TestListing:
    @pytest.fixture
    async def catalogue(
        self, admin: EngagementApi, factory: Factory, world: World
    ) -> dict[str, dict[str, Any]]:
        """Five engagements a minute apart; `second` on a channel of its own."""
        frozen()
        second_channel = await factory.channel(world.a.partner)
        made = {}
        for name, type_, fields in (
            ("first", MESSAGE, {}),
            ("second", COUPON, {"channel_id": str(second_channel.id)}),
            ("third", MESSAGE, {}),
            ("fourth", WALLPAPER, {}),
            ("fifth", COUPON, {}),
        ):
            made[name] = await admin.create(type_, title=name, **fields)
            clock.advance(timedelta(minutes=1))
        await admin.publish(made["third"])
        await admin.publish(made["fifth"])
        await admin.finish(made["fifth"])
        return made

    async def test_newest_first(
        self, admin: EngagementApi, catalogue: dict[str, dict[str, Any]]
    ) -> None:
        titles = [item["title"] for item in await admin.list()]
        assert titles == ["fifth", "fourth", "third", "second", "first"]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"type": "coupon"}, ["fifth", "second"]),
            ({"type": "message"}, ["third", "first"]),
            ({"status": "draft"}, ["fourth", "second", "first"]),
            ({"status": "active"}, ["third"]),
            ({"status": "finished"}, ["fifth"]),
            ({"type": "message", "status": "draft"}, ["first"]),
            ({"type": "ringtone"}, []),
        ],
    )
    async def test_filters(
        self,
        admin: EngagementApi,
        catalogue: dict[str, dict[str, Any]],
        params: dict[str, str],
        expected: list[str],
    ) -> None:
        assert [item["title"] for item in await admin.list(**params)] == expected

    async def test_by_channel(
        self, admin: EngagementApi, catalogue: dict[str, dict[str, Any]], world: World
    ) -> None:
        second_channel = catalogue["second"]["channel_id"]
        assert [i["title"] for i in await admin.list(channel_id=second_channel)] == ["second"]
        by_main = await admin.list(channel_id=str(world.a.channel.id))
        assert [i["title"] for i in by_main] == ["fifth", "fourth", "third", "first"]

    @pytest.mark.parametrize("params", [{"type": "poster"}, {"status": "open"}, {"limit": 0}])
    async def test_bad_filters_are_refused(
        self, admin: EngagementApi, params: dict[str, Any]
    ) -> None:
        assert problem(await admin.request("GET", params=params)) == (422, "validation_error")

    async def test_pages(self, admin: EngagementApi, catalogue: dict[str, dict[str, Any]]) -> None:
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await admin.request("GET", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [item["title"] for item in page["items"]]
            cursor, pages = page["next_cursor"], pages + 1
            if cursor is None:
                break
        assert seen == ["fifth", "fourth", "third", "second", "first"]
        assert pages == 3

    async def test_pages_of_engagements_made_at_the_same_moment(self, admin: EngagementApi) -> None:
        frozen()
        made = [(await admin.create(MESSAGE, title=str(n)))["id"] for n in range(5)]
        seen, cursor = [], None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await admin.request("GET", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert sorted(seen) == sorted(made)
        assert len(seen) == 5

    async def test_a_bad_cursor_is_a_validation_error(self, admin: EngagementApi) -> None:
        response = await admin.request("GET", params={"cursor": "nonsense"})
        assert problem(response) == (422, "validation_error")

    async def test_a_list_takes_the_same_queries_however_long(
        self, app: FastAPI, admin: EngagementApi, catalogue: dict[str, dict[str, Any]]
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        event.listen(engine, "before_cursor_execute", count)
        try:
            await admin.request("GET", params={"limit": 1})
            one = len(statements)
            statements.clear()
            await admin.request("GET", params={"limit": 50})
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)


class TestAudit:
    async def test_create_publish_finish_are_recorded(
        self, admin: EngagementApi, database: Database, world: World
    ) -> None:
        created = await admin.create(COUPON)
        await admin.publish(created)
        await admin.finish(created)
        async with database.transaction() as session:
            entries = list(
                await session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.subject_type == "engagement")
                    .order_by(AuditEntry.id)
                )
            )
        assert [entry.action for entry in entries] == [
            "engagement.created",
            "engagement.published",
            "engagement.finished",
        ]
        for entry in entries:
            assert str(entry.subject_id) == created["id"]
            assert entry.actor_id == world.a.admin.id
            assert entry.partner_id == world.a.partner.id
            assert entry.data["type"] == "coupon"

    async def test_refused_changes_leave_no_entry(
        self, agent: EngagementApi, admin: EngagementApi, database: Database
    ) -> None:
        created = await admin.create(MESSAGE)
        await agent.publish(created)
        await admin.finish(created)
        async with database.transaction() as session:
            actions = list(
                await session.scalars(
                    select(AuditEntry.action).where(AuditEntry.subject_type == "engagement")
                )
            )
        assert actions == ["engagement.created"]
