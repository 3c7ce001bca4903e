"""Channels for partner staff and for end users, always within the caller's partner/tenant."""

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from relaydesk.audit.models import ActorType, AuditEntry
from relaydesk.auth.permissions import Role
from relaydesk.tenancy.models import Channel, Follow, PartnerStatus
from tests.factories import Factory, World


async def channel_count(factory: Factory) -> int:
    async with factory.database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Channel))


class TestPartnerChannels:
    async def test_admin_creates_a_channel_with_chat_disabled(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        response = await client.post(
            "/api/v1/channels",
            json={"name": "  Weekly deals ", "description": "Every Monday"},
            headers=headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert body | {"id": None} == {
            "id": None,
            "name": "Weekly deals",
            "description": "Every Monday",
            "chat_enabled": False,
            "follower_count": 0,
        }
        listed = (await client.get("/api/v1/channels", headers=headers)).json()
        assert body["id"] in [item["id"] for item in listed["items"]]

    async def test_list_shows_only_my_partners_channels_with_follower_counts(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await factory.end_user(world.tenant, follows=[world.a.channel])
        await factory.end_user(world.tenant, follows=[world.a.channel, world.b.channel])
        response = await client.get(
            "/api/v1/channels", headers=await factory.headers(world.a.agent)
        )
        assert response.json() == {
            "items": [
                {
                    "id": str(world.a.channel.id),
                    "name": world.a.channel.name,
                    "description": "",
                    "chat_enabled": True,
                    "follower_count": 2,
                }
            ],
            "next_cursor": None,
        }

    async def test_pages_through_channels_with_a_cursor(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        for _ in range(4):
            await factory.channel(world.a.partner)
        headers = await factory.headers(world.a.admin)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/v1/channels", params=params, headers=headers)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5

    async def test_bad_paging_parameters_are_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        for params in ({"limit": 0}, {"limit": 201}, {"limit": "many"}, {"cursor": "!!"}):
            response = await client.get("/api/v1/channels", params=params, headers=headers)
            assert response.status_code == 422, params
            assert response.json()["code"] == "validation_error"

    async def test_admin_enables_and_disables_chat(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        path = f"/api/v1/channels/{world.a.channel.id}/chat"
        assert (await client.post(f"{path}/disable", headers=headers)).json()[
            "chat_enabled"
        ] is False
        assert (await client.post(f"{path}/enable", headers=headers)).json()["chat_enabled"] is True

    async def test_package_channel_limit_is_enforced(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        package = await factory.package(world.tenant, max_channels=2)
        partner = await factory.partner(world.tenant, package=package)
        headers = await factory.headers(
            await factory.staff(world.tenant, Role.PARTNER_ADMIN, partner)
        )
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/channels", json={"name": f"C{i}"}, headers=headers)
                for i in range(4)
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 201, 409, 409]
        refused = next(r for r in responses if r.status_code == 409)
        assert refused.json()["code"] == "channel_limit_reached"

    async def test_duplicate_name_is_409_and_blank_name_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        taken = await client.post(
            "/api/v1/channels", json={"name": world.a.channel.name}, headers=headers
        )
        assert (taken.status_code, taken.json()["code"]) == (409, "name_taken")
        for body in (
            {"name": "   "},
            {"name": "x" * 121},
            {"name": 7},
            {"name": "ok", "color": "red"},
            {},
        ):
            response = await client.post("/api/v1/channels", json=body, headers=headers)
            assert response.status_code == 422, body
        assert await channel_count(factory) == 3


class TestPartnerIsolation:
    async def test_other_partners_channel_is_404_to_read_and_change(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        other = world.b.channel.id
        for method, path in (
            ("GET", f"/api/v1/channels/{other}"),
            ("POST", f"/api/v1/channels/{other}/chat/disable"),
            ("POST", f"/api/v1/channels/{other}/chat/enable"),
        ):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 404, path
            assert response.json()["code"] == "not_found"
        response = await client.get(
            f"/api/v1/channels/{world.b.channel.id}", headers=await factory.headers(world.b.admin)
        )
        assert response.json()["chat_enabled"] is True

    async def test_other_tenants_channel_is_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.other_tenant_admin)
        response = await client.get(f"/api/v1/channels/{world.a.channel.id}", headers=headers)
        assert response.status_code == 404

    async def test_tenant_staff_see_every_channel_of_their_tenant_only(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.get(
            "/api/v1/channels", headers=await factory.headers(world.tenant_staff)
        )
        ids = {item["id"] for item in response.json()["items"]}
        assert ids == {str(world.a.channel.id), str(world.b.channel.id)}

    async def test_missing_and_malformed_ids_are_404_and_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        missing = await client.get(
            "/api/v1/channels/01a1fc9b-0000-7000-8000-000000000000", headers=headers
        )
        assert missing.status_code == 404
        malformed = await client.get("/api/v1/channels/not-an-id", headers=headers)
        assert malformed.status_code == 422


class TestPermissions:
    async def test_agent_cannot_create_channels_or_switch_chat(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.agent)
        for path in (
            "/api/v1/channels",
            f"/api/v1/channels/{world.a.channel.id}/chat/disable",
        ):
            response = await client.post(path, json={"name": "Mine"}, headers=headers)
            assert response.status_code == 403, path
            assert response.json()["code"] == "permission_denied"
        assert (await client.get(f"/api/v1/channels/{world.a.channel.id}", headers=headers)).json()[
            "chat_enabled"
        ]
        assert await channel_count(factory) == 3

    async def test_tenant_staff_cannot_create_channels(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        response = await client.post("/api/v1/channels", json={"name": "Ours"}, headers=headers)
        assert response.status_code == 403


class TestEndUserChannels:
    async def test_follow_shows_in_my_channels_and_unfollow_removes_it(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = factory.end_user_headers(world.tenant, "follower-1")
        path = f"/api/v1/channels/{world.a.channel.id}"
        assert (await client.put(f"{path}/follow", headers=headers)).status_code == 204
        assert (await client.put(f"{path}/follow", headers=headers)).status_code == 204
        mine = (await client.get("/api/v1/me/channels", headers=headers)).json()["items"]
        assert [(c["id"], c["following"]) for c in mine] == [(str(world.a.channel.id), True)]
        public = (await client.get(f"{path}/public", headers=headers)).json()
        assert public == {
            "id": str(world.a.channel.id),
            "name": world.a.channel.name,
            "description": "",
            "chat_enabled": True,
            "following": True,
        }
        assert (await client.delete(f"{path}/follow", headers=headers)).status_code == 204
        assert (await client.get("/api/v1/me/channels", headers=headers)).json()["items"] == []
        assert (await client.get(f"{path}/public", headers=headers)).json()["following"] is False

    async def test_concurrent_follows_store_one_follow(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = factory.end_user_headers(world.tenant, "eager")
        path = f"/api/v1/channels/{world.a.channel.id}/follow"
        responses = await asyncio.gather(*(client.put(path, headers=headers) for _ in range(6)))
        assert {r.status_code for r in responses} == {204}
        async with factory.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Follow)) == 1

    async def test_other_tenants_channel_is_404_for_end_users(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = factory.end_user_headers(world.other_tenant)
        path = f"/api/v1/channels/{world.a.channel.id}"
        assert (await client.get(f"{path}/public", headers=headers)).status_code == 404
        assert (await client.put(f"{path}/follow", headers=headers)).status_code == 404
        async with factory.database.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Follow)) == 0

    async def test_suspended_partners_channels_cannot_be_followed(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        async with factory.database.transaction() as session:
            (await session.merge(world.b.partner)).status = PartnerStatus.SUSPENDED
        headers = factory.end_user_headers(world.tenant)
        response = await client.put(
            f"/api/v1/channels/{world.b.channel.id}/follow", headers=headers
        )
        assert response.status_code == 404

    async def test_staff_endpoints_refuse_end_users(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = factory.end_user_headers(world.tenant)
        assert (await client.get("/api/v1/channels", headers=headers)).status_code == 403
        response = await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/disable", headers=headers
        )
        assert response.status_code == 403


class TestAuditLog:
    async def test_channel_changes_record_who_made_them(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin)
        created = (
            await client.post("/api/v1/channels", json={"name": "Audited"}, headers=headers)
        ).json()
        await client.post(f"/api/v1/channels/{created['id']}/chat/enable", headers=headers)
        async with factory.database.transaction() as session:
            entries = (
                await session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.subject_id == uuid.UUID(created["id"]))
                    .order_by(AuditEntry.created_at)
                )
            ).all()
        assert [(e.action, e.actor_type, e.actor_id, e.partner_id) for e in entries] == [
            ("channel.created", ActorType.STAFF, world.a.admin.id, world.a.partner.id),
            ("channel.chat_enabled", ActorType.STAFF, world.a.admin.id, world.a.partner.id),
        ]
