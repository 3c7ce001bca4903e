"""Staff sign-in through the API: tokens, /me, revocation and throttling."""

from datetime import timedelta

import httpx

from relaydesk.auth.permissions import ROLE_PERMISSIONS, Role
from relaydesk.clock import clock, now
from relaydesk.tenancy.models import PartnerStatus
from tests.factories import PASSWORD, Factory, World


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/v1/auth/token", json={"email": email, "password": password})


class TestTokenFlow:
    async def test_token_authenticates_me(self, client: httpx.AsyncClient, world: World) -> None:
        response = await sign_in(client, world.a.agent.email)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["user"]["email"] == world.a.agent.email

        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json() == {
            "id": str(world.a.agent.id),
            "email": world.a.agent.email,
            "name": world.a.agent.name,
            "role": "agent",
            "permissions": sorted(ROLE_PERMISSIONS[Role.AGENT]),
            "tenant_id": str(world.tenant.id),
            "partner_id": str(world.a.partner.id),
        }

    async def test_email_is_case_insensitive(self, client: httpx.AsyncClient, world: World) -> None:
        response = await sign_in(client, world.tenant_admin.email.upper())
        assert response.status_code == 200
        assert response.json()["user"]["partner_id"] is None

    async def test_revoked_token_no_longer_works(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        token = (await sign_in(client, world.a.admin.email)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.delete("/api/v1/auth/token", headers=headers)).status_code == 204
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthenticated"

    async def test_expired_token_is_refused(self, client: httpx.AsyncClient, world: World) -> None:
        clock.freeze(now())
        body = (await sign_in(client, world.a.agent.email)).json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        clock.advance(timedelta(days=91))
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401

    async def test_unknown_and_malformed_tokens_are_401(self, client: httpx.AsyncClient) -> None:
        for authorization in ("Bearer rdk_nope", "Bearer ", "Basic abc", "Bearer a.b.c"):
            response = await client.get("/api/v1/me", headers={"Authorization": authorization})
            assert response.status_code == 401, authorization
            assert response.headers["www-authenticate"] == "Bearer"

    async def test_no_credentials_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"

    async def test_end_user_token_cannot_read_staff_me(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.get("/api/v1/me", headers=factory.end_user_headers(world.tenant))
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"


class TestWrongCredentials:
    async def test_wrong_password_is_401(self, client: httpx.AsyncClient, world: World) -> None:
        response = await sign_in(client, world.a.agent.email, "wrong password")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    async def test_unknown_email_answers_like_a_wrong_password(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await sign_in(client, "nobody@example.com")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    async def test_missing_fields_are_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/v1/auth/token", json={"email": "a@b.c"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "password"]

    async def test_deactivated_user_cannot_sign_in(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        async with factory.database.transaction() as session:
            user = await session.merge(world.a.agent)
            user.is_active = False
        response = await sign_in(client, world.a.agent.email)
        assert response.status_code == 403
        assert response.json()["code"] == "account_disabled"

    async def test_suspended_partner_staff_are_shut_out(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        token = (await sign_in(client, world.a.agent.email)).json()["access_token"]
        async with factory.database.transaction() as session:
            partner = await session.merge(world.a.partner)
            partner.status = PartnerStatus.SUSPENDED
        assert (await sign_in(client, world.a.admin.email)).status_code == 403
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401


class TestThrottling:
    async def test_repeated_failures_are_rate_limited(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for _ in range(5):
            assert (await sign_in(client, world.a.agent.email, "wrong")).status_code == 401
        response = await sign_in(client, world.a.agent.email)
        assert response.status_code == 429
        assert response.json()["code"] == "rate_limited"
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60

    async def test_other_users_are_not_locked_out(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for _ in range(6):
            await sign_in(client, world.a.agent.email, "wrong")
        assert (await sign_in(client, world.a.admin.email)).status_code == 200

    async def test_success_before_the_limit_resets_the_count(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for _ in range(4):
            await sign_in(client, world.a.agent.email, "wrong")
        assert (await sign_in(client, world.a.agent.email)).status_code == 200
        for _ in range(4):
            await sign_in(client, world.a.agent.email, "wrong")
        assert (await sign_in(client, world.a.agent.email)).status_code == 200
