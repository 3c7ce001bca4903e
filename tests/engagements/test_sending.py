"""Sending an engagement in a chat (HD-12): the card in the thread, the delivery it records,
the take/overtake rules it shares with a reply, and what is refused."""

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from relaydesk.catalogue.models import EngagementType
from relaydesk.db import Database
from relaydesk.engagements.models import EngagementDelivery
from tests.attachments.conftest import png, uploaded
from tests.chat.conftest import as_agent
from tests.engagements.conftest import Desk, coupon, published
from tests.factories import Factory, World

MESSAGE, COUPON = EngagementType.MESSAGE, EngagementType.COUPON
STICKERS = EngagementType.STICKER_PACK


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


async def deliveries(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(EngagementDelivery))


class TestTheCard:
    async def test_the_card_is_a_message_of_the_thread(self, desk: Desk) -> None:
        engagement = await published(desk.admin, COUPON, coupon(), title="10% off")
        response = await desk.send(engagement["id"])
        assert response.status_code == 201, response.text
        message = response.json()
        assert message["kind"] == "engagement"
        assert message["sender"]["type"] == "agent"
        card = message["engagement"]
        assert {key: card[key] for key in ("id", "type", "title")} == {
            "id": engagement["id"],
            "type": "coupon",
            "title": "10% off",
        }
        assert card["data"]["redemption_type"] == "click_to_redeem"
        assert card["delivery_id"]

        thread = await desk.agent.thread(desk.conversation_id)
        assert thread[-1]["engagement"] == card
        mine = await desk.client.get(
            f"/api/v1/me/conversations/{desk.conversation_id}/messages",
            headers=desk.follower.headers,
        )
        assert mine.json()["items"][-1]["engagement"] == card

    async def test_the_end_user_holds_it_and_the_history_shows_it(self, desk: Desk) -> None:
        engagement = await published(desk.admin, MESSAGE)
        card = await desk.delivered(engagement["id"])
        (held,) = await desk.me.held()
        assert held["id"] == card["delivery_id"]
        assert held["state"] == "received"
        assert held["engagement"]["id"] == engagement["id"]
        assert held["channel_id"] == str(desk.follower.channel.id)

        (item,) = (await desk.panel("engagement-history")).json()["items"]
        assert item["state"] == "received"
        (activity,) = (await desk.panel("recent-activity")).json()["items"]
        assert activity["type"] == "received"
        assert activity["engagement_id"] == engagement["id"]

    async def test_a_retry_answers_200_with_the_original(
        self, desk: Desk, database: Database
    ) -> None:
        engagement = await published(desk.admin, MESSAGE)
        first = await desk.send(engagement["id"], cmid="retry-1")
        again = await desk.send(engagement["id"], cmid="retry-1")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert await deliveries(database) == 1

    async def test_the_end_user_may_fetch_its_files(self, desk: Desk) -> None:
        image = await uploaded(desk.client, desk.admin.headers, "offer.png", png())
        engagement = await published(desk.admin, COUPON, coupon(image_attachment_id=image["id"]))
        url = f"/api/v1/attachments/{image['id']}"
        assert (await desk.client.get(url, headers=desk.follower.headers)).status_code == 404
        await desk.delivered(engagement["id"])
        assert (await desk.client.get(url, headers=desk.follower.headers)).status_code == 200
        other = await desk.with_another_follower()
        assert (await desk.client.get(url, headers=other.follower.headers)).status_code == 404


class TestTakingTheChat:
    async def test_sending_takes_an_unanswered_chat(self, desk: Desk) -> None:
        engagement = await published(desk.admin, MESSAGE)
        await desk.delivered(engagement["id"])
        conversation = await desk.agent.conversation(desk.conversation_id)
        assert conversation["status"] == "active"
        assert conversation["owner"]["id"] == desk.agent.id
        kinds = [m["kind"] for m in await desk.agent.thread(desk.conversation_id)]
        assert kinds == ["text", "activity", "engagement"]

    async def test_another_agent_s_chat_needs_take_over(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        engagement = await published(desk.admin, MESSAGE)
        await desk.agent.reply(desk.conversation_id)
        admin = await as_agent(client, factory, world.a.admin)
        refused = await desk.send(engagement["id"], agent=admin)
        assert code(refused) == (409, "conversation_taken")
        taken = await desk.send(engagement["id"], agent=admin, take_over=True)
        assert taken.status_code == 201
        owner = (await desk.agent.conversation(desk.conversation_id))["owner"]
        assert owner["id"] == admin.id

    async def test_a_finished_chat_is_refused(self, desk: Desk, database: Database) -> None:
        engagement = await published(desk.admin, MESSAGE)
        await desk.agent.reply(desk.conversation_id)
        await desk.agent.finish(desk.conversation_id)
        assert code(await desk.send(engagement["id"])) == (409, "conversation_finished")
        assert await deliveries(database) == 0


class TestRefused:
    async def test_a_draft_is_not_available(self, desk: Desk, database: Database) -> None:
        draft = await desk.admin.create(MESSAGE)
        assert code(await desk.send(draft["id"])) == (409, "engagement_not_available")
        assert await deliveries(database) == 0
        kinds = [m["kind"] for m in await desk.agent.thread(desk.conversation_id)]
        assert kinds == ["text"]

    async def test_content_twice_is_not_available(self, desk: Desk) -> None:
        stickers = await published(desk.admin, STICKERS)
        await desk.delivered(stickers["id"])
        assert code(await desk.send(stickers["id"])) == (409, "engagement_not_available")

    async def test_of_two_agents_racing_for_the_last_per_user_coupon_one_wins(
        self, desk: Desk, database: Database
    ) -> None:
        engagement = await published(desk.admin, COUPON, coupon(per_user_limit=1))
        results = await asyncio.gather(*(desk.send(engagement["id"]) for _ in range(3)))
        assert sorted(r.status_code for r in results) == [201, 409, 409]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {
            "engagement_not_available"
        }
        assert await deliveries(database) == 1

    async def test_another_partner_s_engagement_is_not_available(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        from tests.engagements.conftest import engagement_api

        other = await engagement_api(client, factory, world.b.admin, world.b.channel)
        engagement = await published(other, MESSAGE)
        assert code(await desk.send(engagement["id"])) == (409, "engagement_not_available")

    async def test_another_partner_s_conversation_is_404(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        engagement = await published(desk.admin, MESSAGE)
        outsider = await as_agent(client, factory, world.b.agent)
        assert (await desk.send(engagement["id"], agent=outsider)).status_code == 404

    async def test_a_card_without_the_send_permission_is_refused(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        engagement: dict[str, Any] = await published(desk.admin, MESSAGE)
        tenant_admin = await as_agent(client, factory, world.tenant_admin)
        assert (await desk.send(engagement["id"], agent=tenant_admin)).status_code == 403
