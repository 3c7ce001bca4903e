"""Password links: issued with a lifetime per purpose, used once, and what using one changes."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.links import (
    LINK_TTL_HOURS,
    SET_PASSWORD_PATH,
    LinkExpired,
    password_link_holder,
    set_password_with_link,
)
from relaydesk.auth.models import PasswordLink, PasswordLinkPurpose, StaffUser
from relaydesk.auth.secrets import digest
from relaydesk.auth.service import purge_expired_credentials
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.errors import AppError, InvalidInput
from relaydesk.tenancy.models import PartnerStatus
from tests.auth.conftest import issue_link, set_password_by_form
from tests.auth.test_api import sign_in
from tests.factories import Factory, World
from tests.web.test_pages import signed_in

NEW_PASSWORD = "a brand new passphrase"


def token_of(path: str) -> str:
    assert path.startswith(SET_PASSWORD_PATH)
    return path.removeprefix(SET_PASSWORD_PATH)


async def use_link(database: Database, path: str, password: str = NEW_PASSWORD) -> StaffUser:
    async with database.transaction() as session:
        principal = await set_password_with_link(session, token_of(path), password)
        return await session.get_one(StaffUser, principal.id)


async def links_of(database: Database, user: StaffUser) -> list[PasswordLink]:
    async with database.transaction() as session:
        statement = select(PasswordLink).where(PasswordLink.user_id == user.id)
        return list(await session.scalars(statement))


class TestIssuing:
    async def test_only_the_digest_is_stored(self, database: Database, world: World) -> None:
        path = await issue_link(database, world.a.agent)
        (link,) = await links_of(database, world.a.agent)
        assert link.token_hash == digest(token_of(path))
        assert token_of(path) not in link.token_hash
        assert len(token_of(path)) >= 40

    @pytest.mark.parametrize(
        ("purpose", "hours"),
        [(PasswordLinkPurpose.INVITATION, 7 * 24), (PasswordLinkPurpose.RESET, 2)],
    )
    async def test_each_purpose_has_its_lifetime(
        self, database: Database, world: World, purpose: PasswordLinkPurpose, hours: int
    ) -> None:
        clock.freeze(now())
        await issue_link(database, world.a.agent, purpose)
        (link,) = await links_of(database, world.a.agent)
        assert LINK_TTL_HOURS[purpose] == hours
        assert link.expires_at == now() + timedelta(hours=hours)
        assert link.purpose == purpose

    async def test_a_new_link_replaces_the_older_one_of_its_purpose(
        self, database: Database, world: World
    ) -> None:
        first = await issue_link(database, world.a.agent, PasswordLinkPurpose.RESET)
        invitation = await issue_link(database, world.a.agent, PasswordLinkPurpose.INVITATION)
        second = await issue_link(database, world.a.agent, PasswordLinkPurpose.RESET)
        assert len(await links_of(database, world.a.agent)) == 2
        with pytest.raises(LinkExpired):
            await use_link(database, first)
        assert (await use_link(database, second)).id == world.a.agent.id
        # Setting the password made the invitation useless too.
        with pytest.raises(LinkExpired):
            await use_link(database, invitation)

    async def test_links_of_other_people_stay(self, database: Database, world: World) -> None:
        await issue_link(database, world.a.agent)
        await issue_link(database, world.a.admin)
        assert len(await links_of(database, world.a.agent)) == 1


class TestUsing:
    async def test_the_new_password_signs_in(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        await use_link(database, await issue_link(database, world.a.agent))
        assert (await sign_in(client, world.a.agent.email, NEW_PASSWORD)).status_code == 200
        assert (await sign_in(client, world.a.agent.email)).status_code == 401

    async def test_a_link_works_once(self, database: Database, world: World) -> None:
        path = await issue_link(database, world.a.agent)
        await use_link(database, path)
        with pytest.raises(LinkExpired):
            await use_link(database, path, "yet another passphrase")
        assert await links_of(database, world.a.agent) == []

    async def test_an_unknown_token_is_refused(self, database: Database) -> None:
        with pytest.raises(LinkExpired) as raised:
            await use_link(database, SET_PASSWORD_PATH + "made-up")
        assert (raised.value.status, raised.value.code) == (410, "link_expired")

    @pytest.mark.parametrize("purpose", list(PasswordLinkPurpose))
    async def test_a_link_expires_after_its_lifetime(
        self, database: Database, world: World, purpose: PasswordLinkPurpose
    ) -> None:
        clock.freeze(now())
        path = await issue_link(database, world.a.agent, purpose)
        clock.advance(timedelta(hours=LINK_TTL_HOURS[purpose], seconds=-1))
        async with database.transaction() as session:
            assert (await password_link_holder(session, token_of(path))).id == world.a.agent.id
        clock.advance(timedelta(seconds=1))
        with pytest.raises(LinkExpired):
            await use_link(database, path)

    async def test_expired_links_are_purged(self, database: Database, world: World) -> None:
        clock.freeze(now())
        await issue_link(database, world.a.agent, PasswordLinkPurpose.RESET)
        await issue_link(database, world.a.agent, PasswordLinkPurpose.INVITATION)
        clock.advance(timedelta(hours=3))
        async with database.transaction() as session:
            await purge_expired_credentials(session)
        (left,) = await links_of(database, world.a.agent)
        assert left.purpose == PasswordLinkPurpose.INVITATION

    @pytest.mark.parametrize("password", ["short", "x" * 1025])
    async def test_the_password_rule_applies_and_keeps_the_link(
        self, database: Database, world: World, password: str
    ) -> None:
        path = await issue_link(database, world.a.agent)
        with pytest.raises(InvalidInput):
            await use_link(database, path, password)
        assert (await use_link(database, path)).id == world.a.agent.id

    async def test_the_password_is_stored_hashed(self, database: Database, world: World) -> None:
        user = await use_link(database, await issue_link(database, world.a.agent))
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2")
        assert NEW_PASSWORD not in user.password_hash


class TestShutOut:
    async def test_a_deactivated_account_cannot_use_its_link(
        self, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        async with database.transaction() as session:
            (await session.merge(world.a.agent)).is_active = False
        with pytest.raises(AppError) as raised:
            await use_link(database, path)
        assert (raised.value.status, raised.value.code) == (403, "account_disabled")

    async def test_staff_of_a_suspended_partner_cannot_use_theirs(
        self, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        async with database.transaction() as session:
            (await session.merge(world.a.partner)).status = PartnerStatus.SUSPENDED
        with pytest.raises(AppError) as raised:
            await use_link(database, path)
        assert raised.value.code == "account_disabled"
        assert len(await links_of(database, world.a.agent)) == 1


class TestSigningOut:
    async def test_a_reset_ends_every_session_and_token(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        headers = await factory.headers(world.a.agent)
        await signed_in(client, factory, settings, world.a.agent)
        assert (await client.get("/desk")).status_code == 200
        other_headers = await factory.headers(world.a.admin)

        await use_link(database, await issue_link(database, world.a.agent))

        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
        assert (await client.get("/desk")).status_code == 303
        assert (await client.get("/api/v1/me", headers=other_headers)).status_code == 200


class TestRacing:
    async def test_a_link_claimed_while_another_use_is_uncommitted_fails(
        self, database: Database, world: World
    ) -> None:
        """On PostgreSQL the second use sees the link (the first has not committed), hashes, and
        then waits on the row the first deleted: its DELETE finds nothing once that commits."""
        path = await issue_link(database, world.a.agent)
        async with database.transaction() as session:
            await set_password_with_link(session, token_of(path), NEW_PASSWORD)
            second = asyncio.create_task(use_link(database, path, "the second passphrase"))
            await asyncio.sleep(0.5)
            assert not second.done()
        with pytest.raises(LinkExpired):
            await second

    async def test_one_link_used_by_requests_at_once_works_for_exactly_one(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        passwords = [f"racing passphrase {n}" for n in range(4)]
        responses = await asyncio.gather(
            *(set_password_by_form(client, path, password) for password in passwords)
        )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [303, 410, 410, 410]
        (winner,) = [p for p, r in zip(passwords, responses, strict=True) if r.status_code == 303]
        assert (await sign_in(client, world.a.agent.email, winner)).status_code == 200
        async with database.transaction() as session:
            passwords_set = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "staff.password_set")
            )
        assert passwords_set == 1
