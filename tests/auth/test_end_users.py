"""End users authenticate with a JWT their tenant's app signs (HS256, tenant secret)."""

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from relaydesk.auth.principal import EndUserPrincipal
from relaydesk.auth.service import end_user_from_token
from relaydesk.auth.verified_tokens import VerifiedTokens
from relaydesk.clock import clock, now
from relaydesk.db import Database
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


class TestVerifiedTokens:
    """A token seen before is trusted for a minute without checking it and reading its user."""

    @staticmethod
    def tenant_reads(app: FastAPI) -> list[str]:
        reads: list[str] = []

        @event.listens_for(app.state.database.engine.sync_engine, "before_cursor_execute")
        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "FROM tenant" in statement:
                reads.append(statement)

        return reads

    async def test_a_token_seen_again_skips_verification(
        self, app: FastAPI, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = token(world.tenant)
        reads = self.tenant_reads(app)
        for _ in range(4):
            assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 200
        # The first use creates the end user, the second finds them unchanged and remembers.
        assert len(reads) == 2

    async def test_a_changed_profile_is_verified_and_stored(
        self, app: FastAPI, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        for _ in range(2):
            await client.get("/api/v1/me/channels", headers=token(world.tenant))
        await client.get("/api/v1/me/channels", headers=token(world.tenant, name="Lena K."))
        [end_user] = await end_users(factory, world.tenant)
        assert end_user.name == "Lena K."

    async def test_a_remembered_token_still_expires(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        clock.freeze(now())
        headers = token(world.tenant, exp=int(now().timestamp()) + 30)
        for _ in range(2):
            assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 200
        clock.advance(timedelta(seconds=31))
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]

    async def test_remembered_for_a_minute_at_most(
        self, app: FastAPI, client: httpx.AsyncClient, world: World
    ) -> None:
        clock.freeze(now())
        headers = token(world.tenant, exp=int(now().timestamp()) + 3600)
        for _ in range(2):
            await client.get("/api/v1/me/channels", headers=headers)
        reads = self.tenant_reads(app)
        clock.advance(timedelta(seconds=61))
        await client.get("/api/v1/me/channels", headers=headers)
        assert len(reads) == 1

    async def test_an_end_user_created_in_a_rolled_back_request_is_not_remembered(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        world: World,
    ) -> None:
        headers = token(world.tenant)
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                encoded = headers["Authorization"].removeprefix("Bearer ")
                await end_user_from_token(session, encoded, app.state.verified_tokens)
                raise RuntimeError("the request failed")
        assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 200
        [end_user] = await end_users(factory, world.tenant)
        assert end_user.external_id == "app-user-42"

    def test_the_oldest_token_makes_room(self) -> None:
        tokens = VerifiedTokens(capacity=2)
        people = [
            EndUserPrincipal(id=uuid.uuid4(), tenant_id=uuid.uuid4(), external_id=str(i), name="A")
            for i in range(3)
        ]
        later = now() + timedelta(hours=1)
        for i, person in enumerate(people):
            tokens.remember(f"token-{i}", person, later)
        assert [tokens.get(f"token-{i}") for i in range(3)] == [None, people[1], people[2]]
