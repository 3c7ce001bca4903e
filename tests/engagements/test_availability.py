"""Which engagements an agent may send to an end user (HD-12), one rule at a time."""

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.auth.permissions import Role
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from tests.engagements.conftest import Desk, allow_only, coupon, engagement_api, published
from tests.factories import Factory, World

MESSAGE, PROMO, COUPON = EngagementType.MESSAGE, EngagementType.PROMO, EngagementType.COUPON
STICKERS, RINGTONE = EngagementType.STICKER_PACK, EngagementType.RINGTONE


class TestWhatIsAvailable:
    async def test_active_engagements_of_every_type_are_listed_newest_first(
        self, desk: Desk
    ) -> None:
        made = [(await published(desk.admin, type_))["id"] for type_ in EngagementType]
        assert await desk.available() == made[::-1]

    async def test_the_type_narrows_the_list(self, desk: Desk) -> None:
        await published(desk.admin, MESSAGE)
        wanted = await published(desk.admin, COUPON)
        assert await desk.available(type="coupon") == [wanted["id"]]

    async def test_a_draft_is_not_available(self, desk: Desk) -> None:
        await desk.admin.create(MESSAGE)
        assert await desk.available() == []

    async def test_a_finished_engagement_is_not_available(self, desk: Desk) -> None:
        engagement = await published(desk.admin, MESSAGE)
        await desk.admin.finish(engagement)
        assert await desk.available() == []

    async def test_one_not_started_yet_is_not_available(self, desk: Desk) -> None:
        starts = clock.now() + timedelta(hours=1)
        await published(desk.admin, MESSAGE, starts_at=starts.isoformat())
        assert await desk.available() == []

    async def test_one_past_its_end_is_not_available(self, desk: Desk) -> None:
        ends = clock.now() + timedelta(hours=1)
        await published(desk.admin, MESSAGE, ends_at=ends.isoformat())
        clock.freeze(ends)
        assert await desk.available() == []

    async def test_a_type_the_package_no_longer_allows_is_not_available(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await published(desk.admin, COUPON)
        allowed = await published(desk.admin, MESSAGE)
        await allow_only(client, factory, world, [MESSAGE])
        assert await desk.available() == [allowed["id"]]

    async def test_a_coupon_with_none_left_is_not_available(self, desk: Desk) -> None:
        engagement = await published(desk.admin, COUPON, coupon(quantity=1))
        other_follower_desk = await desk.with_another_follower()
        await other_follower_desk.delivered(engagement["id"])
        (held,) = await other_follower_desk.me.held()
        assert (await other_follower_desk.me.act(held["id"], "redeem")).status_code == 200
        assert await desk.available() == []

    async def test_a_coupon_is_available_until_the_per_user_limit(self, desk: Desk) -> None:
        engagement = await published(desk.admin, COUPON, coupon(per_user_limit=2))
        await desk.delivered(engagement["id"])
        assert await desk.available() == [engagement["id"]]
        await desk.delivered(engagement["id"])
        assert await desk.available() == []

    async def test_the_limit_counts_per_end_user(self, desk: Desk) -> None:
        engagement = await published(desk.admin, COUPON, coupon())
        await desk.delivered(engagement["id"])
        assert await (await desk.with_another_follower()).available() == [engagement["id"]]

    async def test_content_already_held_is_not_available(self, desk: Desk) -> None:
        stickers = await published(desk.admin, STICKERS)
        await desk.delivered(stickers["id"])
        assert await desk.available() == []

    async def test_messages_and_promos_can_be_sent_again(self, desk: Desk) -> None:
        message = await published(desk.admin, MESSAGE)
        promo = await published(desk.admin, PROMO)
        for engagement in (message, promo):
            await desk.delivered(engagement["id"])
        assert await desk.available() == [promo["id"], message["id"]]

    async def test_a_promo_marked_not_for_chat_is_not_available(self, desk: Desk) -> None:
        media = [await desk.admin.upload_id()]
        await published(desk.admin, PROMO, {"media_attachment_ids": media, "hide_in_chat": True})
        shown = await published(desk.admin, PROMO, {"media_attachment_ids": media})
        assert await desk.available() == [shown["id"]]

    async def test_another_channel_s_engagements_are_not_available(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        elsewhere = await factory.channel(world.a.partner, chat_enabled=True)
        admin = await engagement_api(client, factory, world.a.admin, elsewhere)
        await published(admin, MESSAGE)
        assert await desk.available() == []


class TestWhoMayAsk:
    async def test_another_partner_gets_404(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.b.agent)
        response = await client.get(
            f"/api/v1/conversations/{desk.conversation_id}/available-engagements",
            headers=headers,
        )
        assert response.status_code == 404

    async def test_tenant_staff_are_refused(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.staff_with(Role.TENANT_ADMIN))
        response = await client.get(
            f"/api/v1/conversations/{desk.conversation_id}/available-engagements",
            headers=headers,
        )
        assert response.status_code == 403

    async def test_the_list_takes_the_same_queries_however_long(
        self, app: FastAPI, desk: Desk
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        await published(desk.admin, MESSAGE)
        event.listen(engine, "before_cursor_execute", count)
        try:
            await desk.available()
            one = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        for type_ in (COUPON, STICKERS, RINGTONE, PROMO):
            await published(desk.admin, type_)
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert len(await desk.available()) == 5
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)
