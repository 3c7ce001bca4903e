"""The agent's side panels about an end user (HD-13): engagement history and recent activity,
their filters, who may read them, and the live event that refreshes them."""

import httpx
import pytest

from relaydesk.catalogue.models import EngagementType
from tests.chat.conftest import as_agent
from tests.engagements.conftest import Desk, chatting, coupon, engagement_api, published
from tests.factories import Factory, World
from tests.realtime.conftest import socket

MESSAGE, COUPON, STICKERS = (
    EngagementType.MESSAGE,
    EngagementType.COUPON,
    EngagementType.STICKER_PACK,
)


class TestEngagementHistory:
    async def test_an_end_user_without_engagements_has_an_empty_history(self, desk: Desk) -> None:
        response = await desk.panel("engagement-history")
        assert response.status_code == 200
        assert response.json() == {"items": []}
        assert (await desk.panel("recent-activity")).json() == {"items": []}

    async def test_the_history_shows_states_newest_first(self, desk: Desk) -> None:
        message = await published(desk.admin, MESSAGE, title="Opening hours")
        offer = await published(desk.admin, COUPON, coupon(), title="10% off")
        await desk.delivered(message["id"])
        delivery_id = (await desk.delivered(offer["id"]))["delivery_id"]
        await desk.me.act(delivery_id, "redeem")
        items = (await desk.panel("engagement-history")).json()["items"]
        assert [(i["engagement"]["title"], i["state"]) for i in items] == [
            ("10% off", "redeemed"),
            ("Opening hours", "received"),
        ]
        assert items[0]["redeemed_at"] and items[1]["redeemed_at"] is None

    async def test_the_type_narrows_both_panels(self, desk: Desk) -> None:
        message = await published(desk.admin, MESSAGE)
        offer = await published(desk.admin, COUPON, coupon())
        await desk.delivered(message["id"])
        await desk.delivered(offer["id"])
        history = (await desk.panel("engagement-history", type="coupon")).json()["items"]
        assert [item["engagement"]["id"] for item in history] == [offer["id"]]
        recent = (await desk.panel("recent-activity", type="message")).json()["items"]
        assert [(item["type"], item["engagement_id"]) for item in recent] == [
            ("received", message["id"])
        ]

    async def test_another_partner_sees_none_of_it(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await desk.delivered((await published(desk.admin, MESSAGE))["id"])
        outsider = await as_agent(client, factory, world.b.agent)
        for panel in ("engagement-history", "recent-activity"):
            response = await desk.panel(panel, agent=outsider)
            assert response.json() == {"items": []}

    async def test_only_the_partner_s_own_engagements_are_listed(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        # The same end user also chats with the second partner, who sends them something.
        other_admin = await engagement_api(client, factory, world.b.admin, world.b.channel)
        theirs = await published(other_admin, MESSAGE)
        follow = await client.put(
            f"/api/v1/channels/{world.b.channel.id}/follow", headers=desk.follower.headers
        )
        assert follow.status_code == 204
        written = await client.post(
            f"/api/v1/channels/{world.b.channel.id}/chat/messages",
            json={"client_message_id": "to-b", "body": "Hi B"},
            headers=desk.follower.headers,
        )
        other_agent = await as_agent(client, factory, world.b.agent)
        await desk.send(
            theirs["id"], agent=other_agent, conversation_id=written.json()["conversation_id"]
        )
        assert (await desk.panel("engagement-history")).json() == {"items": []}
        assert len(await desk.me.held()) == 1

    async def test_an_end_user_of_another_tenant_is_404(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        stranger = await factory.end_user(world.other_tenant)
        for panel in ("engagement-history", "recent-activity"):
            response = await client.get(
                f"/api/v1/end-users/{stranger.id}/{panel}", headers=desk.agent.headers
            )
            assert response.status_code == 404

    async def test_tenant_staff_are_refused(
        self, desk: Desk, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        tenant_admin = await as_agent(client, factory, world.tenant_admin)
        assert (await desk.panel("engagement-history", agent=tenant_admin)).status_code == 403


class TestLiveActivity:
    @pytest.fixture
    async def http(self, live_server: str):  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(base_url=live_server) as client:
            yield client

    async def test_agents_hear_what_the_end_user_does(
        self, live_server: str, http: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        admin = await engagement_api(http, factory, world.a.admin, world.a.channel)
        agent = await as_agent(http, factory, world.a.agent)
        follower, conversation_id = await chatting(http, world)
        desk = Desk(http, world, admin, agent, follower, conversation_id)
        stickers = await published(admin, STICKERS, {"bonus_points": 5})
        delivery_id = (await desk.delivered(stickers["id"]))["delivery_id"]
        outsider = await as_agent(http, factory, world.b.agent)
        async with (
            socket(live_server, headers=agent.headers) as agent_socket,
            socket(live_server, headers=outsider.headers) as outsider_socket,
        ):
            await desk.me.act(delivery_id, "download")
            event = await agent_socket.frame_of("engagement.activity")
            end_user_id = (await agent.conversation(conversation_id))["end_user"]["id"]
            assert event["end_user_id"] == end_user_id
            assert event["delivery_id"] == delivery_id
            assert event["state"] == "downloaded"
            assert sorted((a["type"], a["points"]) for a in event["activities"]) == [
                ("downloaded", 0),
                ("points_earned", 5),
            ]
            assert await outsider_socket.nothing_pending()
