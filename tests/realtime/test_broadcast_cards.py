"""A broadcast's chat cards reach open sockets like any message, from the server's own worker."""

from datetime import UTC, datetime

import httpx
import pytest

from relaydesk.catalogue.models import EngagementType
from relaydesk.config import Settings
from tests.chat.conftest import as_agent, new_follower
from tests.engagements.conftest import engagement_api, published
from tests.factories import Factory, World
from tests.realtime.conftest import bearer_token, socket


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The served app runs its worker, polling often enough for a test to wait on it."""
    return settings.model_copy(update={"run_worker": True, "worker_poll_seconds": 0.2})


async def test_the_card_reaches_the_end_user_and_the_agents_and_the_chat_stays_unanswered(
    live_server: str, factory: Factory, world: World
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        follower = await new_follower(http, world.tenant, world.a.channel, name="Mia Jensen")
        agent = await as_agent(http, factory, world.a.agent)
        opened = (await follower.write("Is the shop open on Sunday?")).json()
        admin = await engagement_api(http, factory, world.a.admin, world.a.channel)
        engagement = await published(admin, EngagementType.MESSAGE)
        async with (
            socket(live_server, token=bearer_token(follower.headers)) as end_user_socket,
            socket(live_server, token=bearer_token(agent.headers)) as agent_socket,
        ):
            asked = await http.post(
                "/api/v1/partner/requests",
                json={
                    "kind": "broadcast",
                    "engagement_id": engagement["id"],
                    "audience": "all_end_users",
                    "starts_at": datetime.now(UTC).isoformat(),
                },
                headers=admin.headers,
            )
            assert asked.status_code == 201, asked.text
            approved = await http.post(
                f"/api/v1/tenant/requests/{asked.json()['id']}/approve",
                headers=await factory.headers(world.tenant_admin),
            )
            assert approved.status_code == 200, approved.text

            for heard in (end_user_socket, agent_socket):
                card = await heard.frame_of("message.created")
                assert card["conversation_id"] == opened["conversation_id"]
                assert (card["seq"], card["kind"]) == (2, "engagement")
                assert card["sender"]["type"] == "system"
                assert card["engagement"]["id"] == engagement["id"]
                assert card["conversation"]["status"] == "unanswered"
                assert card["conversation"]["owner"] is None
