"""The tenant's partnership packages: managed by tenant admins, visible within the tenant."""

import httpx

from relaydesk.auth.permissions import Role
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


ADDON = {
    "name": "More channels",
    "price": {"amount": "15", "currency": "EUR"},
    "description": "Two more channels and coupons",
    "grants": {"engagement_types": ["coupon", "coupon"], "extra_channels": 2},
}
AD_PACKAGE = {
    "name": "10k views",
    "impressions": 10000,
    "price": {"amount": "50", "currency": "EUR"},
}


class TestAddonsAndAdPackages:
    async def test_admin_creates_lists_and_updates_an_add_on(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        created = await client.post("/api/v1/tenant/addons", json=ADDON, headers=headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body | {"id": None, "created_at": None} == {
            "id": None,
            "name": "More channels",
            "price": {"amount": "15.00", "currency": "EUR"},
            "description": "Two more channels and coupons",
            "grants": {"engagement_types": ["coupon"], "extra_channels": 2},
            "archived": False,
            "created_at": None,
        }
        changed = await client.patch(
            f"/api/v1/tenant/addons/{body['id']}",
            json={"grants": {"engagement_types": ["promo"], "extra_channels": 0}},
            headers=headers,
        )
        assert changed.json()["grants"] == {"engagement_types": ["promo"], "extra_channels": 0}
        assert changed.json()["price"] == body["price"]
        listed = await client.get(
            "/api/v1/tenant/addons", headers=await factory.headers(world.tenant_staff)
        )
        assert [item["id"] for item in listed.json()["items"]] == [body["id"]]

    async def test_admin_creates_and_updates_an_ad_package(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        created = await client.post("/api/v1/tenant/ad-packages", json=AD_PACKAGE, headers=headers)
        assert created.status_code == 201, created.text
        assert (created.json()["impressions"], created.json()["price"]["amount"]) == (
            10000,
            "50.00",
        )
        changed = await client.patch(
            f"/api/v1/tenant/ad-packages/{created.json()['id']}",
            json={"impressions": 25000, "archived": True},
            headers=headers,
        )
        assert (changed.json()["impressions"], changed.json()["archived"]) == (25000, True)

    async def test_invalid_items_are_422_and_duplicates_409(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        for path, body in (
            ("addons", ADDON | {"grants": {"engagement_types": ["fax"]}}),
            ("addons", ADDON | {"grants": {"extra_channels": -1}}),
            ("addons", ADDON | {"grants": {"extra": 1}}),
            ("addons", ADDON | {"description": "x" * 2001}),
            ("addons", {k: v for k, v in ADDON.items() if k != "grants"}),
            ("ad-packages", AD_PACKAGE | {"impressions": 0}),
            ("ad-packages", AD_PACKAGE | {"impressions": "many"}),
            ("ad-packages", AD_PACKAGE | {"price": {"amount": "1", "currency": "eur"}}),
        ):
            response = await client.post(f"/api/v1/tenant/{path}", json=body, headers=headers)
            assert response.status_code == 422, body
        for path, body in (("addons", ADDON), ("ad-packages", AD_PACKAGE)):
            assert (
                await client.post(f"/api/v1/tenant/{path}", json=body, headers=headers)
            ).status_code == 201
            again = await client.post(f"/api/v1/tenant/{path}", json=body, headers=headers)
            assert (again.status_code, again.json()["code"]) == (409, "name_taken")

    async def test_only_tenant_admins_change_and_other_tenants_get_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        admin = await factory.headers(world.tenant_admin)
        addon = (await client.post("/api/v1/tenant/addons", json=ADDON, headers=admin)).json()
        for user, status in ((world.tenant_staff, 403), (world.a.admin, 403)):
            response = await client.post(
                "/api/v1/tenant/addons", json=ADDON, headers=await factory.headers(user)
            )
            assert response.status_code == status
        foreign = await factory.headers(world.other_tenant_admin)
        for method in ("PATCH", "DELETE"):
            response = await client.request(
                method, f"/api/v1/tenant/addons/{addon['id']}", json={}, headers=foreign
            )
            assert response.status_code == 404


class TestDeletion:
    async def test_an_unused_item_is_deleted_and_one_in_use_is_kept_for_archiving(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        unused = await factory.package(world.tenant)
        deleted = await client.delete(f"/api/v1/tenant/packages/{unused.id}", headers=headers)
        assert deleted.status_code == 204
        assert (
            await client.delete(f"/api/v1/tenant/packages/{unused.id}", headers=headers)
        ).status_code == 404

        in_use = await client.delete(
            f"/api/v1/tenant/packages/{world.a.partner.package_id}", headers=headers
        )
        assert (in_use.status_code, in_use.json()["code"]) == (409, "in_use")

        addon = (await client.post("/api/v1/tenant/addons", json=ADDON, headers=headers)).json()
        asked = await client.post(
            "/api/v1/partner/requests",
            json={"kind": "addon", "addon_id": addon["id"]},
            headers=await factory.headers(world.a.admin),
        )
        assert asked.status_code == 201
        refused = await client.delete(f"/api/v1/tenant/addons/{addon['id']}", headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "in_use")
        archived = await client.patch(
            f"/api/v1/tenant/addons/{addon['id']}", json={"archived": True}, headers=headers
        )
        assert archived.json()["archived"] is True

        ad_package = (
            await client.post("/api/v1/tenant/ad-packages", json=AD_PACKAGE, headers=headers)
        ).json()
        assert (
            await client.delete(f"/api/v1/tenant/ad-packages/{ad_package['id']}", headers=headers)
        ).status_code == 204
        staff = await client.delete(
            f"/api/v1/tenant/addons/{addon['id']}",
            headers=await factory.headers(world.tenant_staff),
        )
        assert staff.status_code == 403


class TestAddonsGrant:
    async def test_an_active_add_on_widens_types_and_the_channel_limit(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        tenant_admin = await factory.headers(world.tenant_admin)
        small = await factory.package(world.tenant, engagement_types=[], max_channels=1)
        partner = await factory.partner(world.tenant, package=small)
        admin = await factory.headers(
            await factory.staff(world.tenant, Role.PARTNER_ADMIN, partner)
        )
        first = await client.post("/api/v1/channels", json={"name": "One"}, headers=admin)
        assert first.status_code == 201
        refused = await client.post("/api/v1/channels", json={"name": "Two"}, headers=admin)
        assert refused.json()["code"] == "channel_limit_reached"
        message = {
            "type": "message",
            "channel_id": first.json()["id"],
            "title": "Hi",
            "description": "",
            "data": {"text": "Hello"},
        }
        no_type = await client.post("/api/v1/engagements", json=message, headers=admin)
        assert no_type.status_code == 403

        addon = await client.post(
            "/api/v1/tenant/addons",
            json=ADDON | {"grants": {"engagement_types": ["message"], "extra_channels": 1}},
            headers=tenant_admin,
        )
        asked = await client.post(
            "/api/v1/partner/requests",
            json={"kind": "addon", "addon_id": addon.json()["id"]},
            headers=admin,
        )
        approved = await client.post(
            f"/api/v1/tenant/requests/{asked.json()['id']}/approve", headers=tenant_admin
        )
        assert approved.status_code == 200
        second = await client.post("/api/v1/channels", json={"name": "Two"}, headers=admin)
        assert second.status_code == 201
        third = await client.post("/api/v1/channels", json={"name": "Three"}, headers=admin)
        assert third.json()["code"] == "channel_limit_reached"
        created = await client.post("/api/v1/engagements", json=message, headers=admin)
        assert created.status_code == 201, created.text
