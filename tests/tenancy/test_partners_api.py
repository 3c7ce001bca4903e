"""My partners (PM-8): the tenant's list, invoice IDs, suspension, CSV."""

import csv
import io
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from tests.factories import PASSWORD, Factory, World

URL = "/api/v1/tenant/partners"


async def listed(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    response = await client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestList:
    async def test_each_partner_with_package_channels_and_contacts(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await factory.end_user(world.tenant, follows=[world.a.channel])
        await factory.end_user(world.tenant, follows=[world.a.channel])
        items = await listed(client, await factory.headers(world.tenant_staff))
        assert [item["id"] for item in items] == [str(world.a.partner.id), str(world.b.partner.id)]
        first = items[0]
        assert first | {"created_at": None, "package": None} == {
            "id": str(world.a.partner.id),
            "name": world.a.partner.name,
            "status": "active",
            "package": None,
            "invoice_id": None,
            "addons": [],
            "impressions_balance": 0,
            "email": world.a.partner.email,
            "phone": "",
            "website": "",
            "contact_name": "",
            "channels": [
                {
                    "id": str(world.a.channel.id),
                    "name": world.a.channel.name,
                    "chat_enabled": True,
                    "follower_count": 2,
                }
            ],
            "created_at": None,
        }
        assert first["package"] == {
            "id": str(world.a.partner.package_id),
            "name": first["package"]["name"],
            "price": {"amount": "49.00", "currency": "EUR"},
        }

    async def test_search_and_status_filter(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        admin = await factory.headers(world.tenant_admin)
        await client.patch(
            f"{URL}/{world.b.partner.id}", json={"status": "suspended"}, headers=admin
        )
        suspended = await listed(client, admin, status="suspended")
        assert [item["id"] for item in suspended] == [str(world.b.partner.id)]
        name = world.a.partner.name
        found = await listed(client, admin, q=name[2:-2].upper())
        assert [item["id"] for item in found] == [str(world.a.partner.id)]
        assert await listed(client, admin, q="_") == []
        for params in ({"status": "gone"}, {"q": "x" * 201}):
            assert (await client.get(URL, params=params, headers=admin)).status_code == 422

    async def test_the_list_takes_the_same_queries_however_many_partners(
        self, app: FastAPI, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> int:
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                await listed(client, headers)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

        two = await queries()
        for _ in range(3):
            partner = await factory.partner(world.tenant)
            await factory.channel(partner)
        assert await queries() == two

    async def test_only_tenant_staff_of_the_tenant(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        for user in (world.a.admin, world.a.agent):
            response = await client.get(URL, headers=await factory.headers(user))
            assert response.status_code == 403
        theirs = await listed(client, await factory.headers(world.other_tenant_admin))
        assert [item["id"] for item in theirs] == [str(world.other.partner.id)]
        foreign = await client.get(
            f"{URL}/{world.other.partner.id}", headers=await factory.headers(world.tenant_admin)
        )
        assert foreign.status_code == 404


class TestChanges:
    async def test_the_invoice_id_is_set_and_cleared(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        url = f"{URL}/{world.a.partner.id}"
        changed = await client.patch(url, json={"invoice_id": " INV-2026-01 "}, headers=headers)
        assert changed.json()["invoice_id"] == "INV-2026-01"
        cleared = await client.patch(url, json={"invoice_id": ""}, headers=headers)
        assert cleared.json()["invoice_id"] is None
        for body in ({"invoice_id": "x" * 65}, {"status": "pending"}, {"name": "New"}):
            response = await client.patch(url, json=body, headers=headers)
            assert response.status_code == 422, body

    async def test_suspension_shuts_staff_out_and_stops_new_chats_until_reactivated(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        url = f"{URL}/{world.a.partner.id}"
        agent_headers = await factory.headers(world.a.agent)
        end_user = factory.end_user_headers(world.tenant, "suspense-fan")
        follow = await client.put(f"/api/v1/channels/{world.a.channel.id}/follow", headers=end_user)
        assert follow.status_code == 204

        async def write(text: str) -> httpx.Response:
            return await client.post(
                f"/api/v1/channels/{world.a.channel.id}/chat/messages",
                json={"client_message_id": text, "body": text},
                headers=end_user,
            )

        suspended = await client.patch(url, json={"status": "suspended"}, headers=headers)
        assert suspended.json()["status"] == "suspended"
        sign_in = await client.post(
            "/api/v1/auth/token", json={"email": world.a.admin.email, "password": PASSWORD}
        )
        assert (sign_in.status_code, sign_in.json()["code"]) == (403, "account_disabled")
        assert (await client.get("/api/v1/me", headers=agent_headers)).status_code == 401
        assert (await write("hello?")).status_code == 404

        await client.patch(url, json={"status": "active"}, headers=headers)
        assert (await client.get("/api/v1/me", headers=agent_headers)).status_code == 200
        assert (await write("hello again")).status_code == 201

    async def test_only_tenant_admins_change_partners(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        for user, status in (
            (world.tenant_staff, 403),
            (world.a.admin, 403),
            (world.other_tenant_admin, 404),
        ):
            response = await client.patch(
                f"{URL}/{world.a.partner.id}",
                json={"status": "suspended"},
                headers=await factory.headers(user),
            )
            assert response.status_code == status
        (item,) = [
            item
            for item in await listed(client, await factory.headers(world.tenant_admin))
            if item["id"] == str(world.a.partner.id)
        ]
        assert item["status"] == "active"


class TestExport:
    async def test_every_partner_as_csv(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        await client.patch(
            f"{URL}/{world.a.partner.id}", json={"invoice_id": "=SUM(1)"}, headers=headers
        )
        response = await client.get(f"{URL}/export.csv", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:6] == ["Partner", "Status", "Package", "Price", "Currency", "Invoice ID"]
        by_name = {row[0]: row for row in rows[1:]}
        assert set(by_name) == {world.a.partner.name, world.b.partner.name}
        assert by_name[world.a.partner.name][5] == "'=SUM(1)"
        assert by_name[world.a.partner.name][12] == world.a.channel.name
        filtered = await client.get(
            f"{URL}/export.csv", params={"q": world.b.partner.name}, headers=headers
        )
        assert len(list(csv.reader(io.StringIO(filtered.text)))) == 2
        agent = await client.get(f"{URL}/export.csv", headers=await factory.headers(world.a.agent))
        assert agent.status_code == 403
