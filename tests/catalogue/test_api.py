"""The tenant's partnership packages: managed by tenant admins, visible within the tenant."""

import httpx

from tests.factories import Factory, World

PACKAGE = {
    "name": "Gold",
    "price": {"amount": "99.9", "currency": "EUR"},
    "billing_period": "month",
    "engagement_types": ["coupon", "message", "coupon"],
    "max_channels": 5,
}


class TestPackages:
    async def test_admin_creates_lists_and_updates_a_package(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        created = await client.post("/api/v1/tenant/packages", json=PACKAGE, headers=headers)
        assert created.status_code == 201
        body = created.json()
        assert body["price"] == {"amount": "99.90", "currency": "EUR"}
        assert body["engagement_types"] == ["coupon", "message"]
        assert body["archived"] is False

        changed = await client.patch(
            f"/api/v1/tenant/packages/{body['id']}",
            json={"archived": True, "price": {"amount": "120", "currency": "USD"}},
            headers=headers,
        )
        assert changed.status_code == 200
        assert changed.json() | {"created_at": None} == body | {
            "archived": True,
            "price": {"amount": "120.00", "currency": "USD"},
            "created_at": None,
        }
        listed = await client.get(
            "/api/v1/tenant/packages", headers=await factory.headers(world.tenant_staff)
        )
        assert body["id"] in [item["id"] for item in listed.json()["items"]]

    async def test_invalid_packages_are_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        for change in (
            {"price": {"amount": "-1", "currency": "EUR"}},
            {"price": {"amount": "1.234", "currency": "EUR"}},
            {"price": {"amount": "1", "currency": "euro"}},
            {"billing_period": "week"},
            {"engagement_types": ["fax"]},
            {"max_channels": -1},
            {"max_channels": "lots"},
            {"name": ""},
        ):
            response = await client.post(
                "/api/v1/tenant/packages", json=PACKAGE | change, headers=headers
            )
            assert response.status_code == 422, change
            assert response.json()["errors"], change

    async def test_duplicate_name_is_409(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        assert (
            await client.post("/api/v1/tenant/packages", json=PACKAGE, headers=headers)
        ).status_code == 201
        response = await client.post("/api/v1/tenant/packages", json=PACKAGE, headers=headers)
        assert (response.status_code, response.json()["code"]) == (409, "name_taken")
        other = await client.post(
            "/api/v1/tenant/packages",
            json=PACKAGE,
            headers=await factory.headers(world.other_tenant_admin),
        )
        assert other.status_code == 201


class TestTenantIsolation:
    async def test_another_tenants_package_is_invisible_and_unchangeable(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        theirs = await factory.package(world.other_tenant)
        headers = await factory.headers(world.tenant_admin)
        listed = (await client.get("/api/v1/tenant/packages", headers=headers)).json()["items"]
        assert str(theirs.id) not in [item["id"] for item in listed]
        response = await client.patch(
            f"/api/v1/tenant/packages/{theirs.id}", json={"archived": True}, headers=headers
        )
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        mine = await client.get(
            "/api/v1/tenant/packages", headers=await factory.headers(world.other_tenant_admin)
        )
        assert [
            item["archived"] for item in mine.json()["items"] if item["id"] == str(theirs.id)
        ] == [False]


class TestPermissions:
    async def test_tenant_staff_reads_but_cannot_change_packages(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_staff)
        assert (await client.get("/api/v1/tenant/packages", headers=headers)).status_code == 200
        response = await client.post("/api/v1/tenant/packages", json=PACKAGE, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    async def test_partner_staff_cannot_reach_tenant_catalogue(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        for user in (world.a.admin, world.a.agent):
            headers = await factory.headers(user)
            assert (await client.get("/api/v1/tenant/packages", headers=headers)).status_code == 403
            response = await client.post("/api/v1/tenant/packages", json=PACKAGE, headers=headers)
            assert response.status_code == 403
