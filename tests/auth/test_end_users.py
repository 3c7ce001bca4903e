"""End users authenticate with a JWT their tenant's app signs (HS256, tenant secret)."""

import time

import httpx
import jwt
from sqlalchemy import func, select

from relaydesk.tenancy.models import EndUser, Tenant
from tests.factories import Factory, World


def token(tenant: Tenant, secret: str | None = None, **overrides: object) -> dict[str, str]:
    claims = {"sub": "app-user-42", "name": "Lena", "exp": int(time.time()) + 600} | overrides
    encoded = jwt.encode(
        {k: v for k, v in claims.items() if v is not None},
        secret or tenant.end_user_secret,
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {encoded}"}


async def end_users(factory: Factory, tenant: Tenant) -> list[EndUser]:
    async with factory.database.transaction() as session:
        return list(await session.scalars(select(EndUser).where(EndUser.tenant_id == tenant.id)))


class TestFirstUse:
    async def test_first_valid_token_creates_the_end_user(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = token(world.tenant, email="lena@mail.example", phone="+385 91 000")
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}
        [end_user] = await end_users(factory, world.tenant)
        assert (end_user.external_id, end_user.name, end_user.email, end_user.phone) == (
            "app-user-42",
            "Lena",
            "lena@mail.example",
            "+385 91 000",
        )

    async def test_later_tokens_reuse_the_end_user_and_refresh_the_profile(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        await client.get("/api/v1/me/channels", headers=token(world.tenant))
        await client.get("/api/v1/me/channels", headers=token(world.tenant, name="Lena K."))
        [end_user] = await end_users(factory, world.tenant)
        assert end_user.name == "Lena K."

    async def test_token_without_issuer_is_matched_to_its_tenant(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.get("/api/v1/me/channels", headers=token(world.other_tenant))
        assert response.status_code == 200
        assert len(await end_users(factory, world.other_tenant)) == 1
        assert await end_users(factory, world.tenant) == []

    async def test_concurrent_first_requests_create_one_end_user(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        import asyncio

        headers = token(world.tenant, sub="racer")
        responses = await asyncio.gather(
            *(client.get("/api/v1/me/channels", headers=headers) for _ in range(8))
        )
        assert {r.status_code for r in responses} == {200}
        async with factory.database.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(EndUser).where(EndUser.external_id == "racer")
            )
        assert count == 1


class TestRefusedTokens:
    async def test_expired_token_is_401(self, client: httpx.AsyncClient, world: World) -> None:
        headers = token(world.tenant, exp=int(time.time()) - 1)
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]

    async def test_wrongly_signed_token_is_401(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = token(world.tenant, secret="not the tenant's secret at all, not at all")
        assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 401
        assert await end_users(factory, world.tenant) == []

    async def test_token_naming_another_tenant_is_401(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        """Signed by tenant Y but claiming to come from tenant X."""
        headers = token(world.other_tenant, iss=world.tenant.slug)
        assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 401

    async def test_missing_claims_are_401(self, client: httpx.AsyncClient, world: World) -> None:
        for missing in ("sub", "name", "exp"):
            headers = token(world.tenant, **{missing: None})
            response = await client.get("/api/v1/me/channels", headers=headers)
            assert response.status_code == 401, missing

    async def test_other_algorithms_are_refused(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        claims = {"sub": "x", "name": "X", "exp": int(time.time()) + 600}
        unsigned = jwt.encode(claims, None, algorithm="none")
        for encoded in (unsigned, jwt.encode(claims, world.tenant.end_user_secret, "HS512")):
            headers = {"Authorization": f"Bearer {encoded}"}
            assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 401

    async def test_staff_token_is_not_an_end_user(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.agent)
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
