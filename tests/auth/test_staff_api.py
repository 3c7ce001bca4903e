"""The staff API: admins list, invite, change and deactivate the people of their own side."""

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.permissions import Role
from relaydesk.db import Database
from relaydesk.tenancy.models import PartnerStatus
from tests.auth.conftest import (
    StaffApi,
    mailed_link,
    problem,
    set_password_by_form,
    staff_api,
)
from tests.auth.test_api import sign_in
from tests.factories import PASSWORD, Factory, World
from tests.mail import MailServer

NEW_PASSWORD = "a brand new passphrase"


def emails(members: list[dict[str, object]]) -> set[object]:
    return {member["email"] for member in members}


class TestListing:
    async def test_a_partner_admin_sees_their_partners_staff(
        self, partner_admin: StaffApi, world: World
    ) -> None:
        members = await partner_admin.members()
        assert emails(members) == {world.a.admin.email, world.a.agent.email}
        agent = next(m for m in members if m["email"] == world.a.agent.email)
        assert agent == {
            "id": str(world.a.agent.id),
            "email": world.a.agent.email,
            "name": world.a.agent.name,
            "role": "agent",
            "is_active": True,
            "invited": False,
            "created_at": agent["created_at"],
            "last_login_at": None,
        }

    async def test_a_tenant_admin_sees_only_the_tenants_own_staff(
        self, tenant_admin: StaffApi, world: World
    ) -> None:
        assert emails(await tenant_admin.members()) == {
            world.tenant_admin.email,
            world.tenant_staff.email,
        }

    async def test_sign_ins_and_invitations_show(
        self, client: httpx.AsyncClient, partner_admin: StaffApi, world: World
    ) -> None:
        await sign_in(client, world.a.agent.email)
        await partner_admin.invite("new@staff.example")
        members = {m["email"]: m for m in await partner_admin.members()}
        assert members[world.a.agent.email]["last_login_at"] is not None
        assert members["new@staff.example"]["invited"] is True

    async def test_pages_follow_the_cursor(self, partner_admin: StaffApi, world: World) -> None:
        for n in range(3):
            await partner_admin.invite(f"page{n}@staff.example")
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            body = (await partner_admin.request("GET", params=params)).json()
            seen += [item["email"] for item in body["items"]]
            if (cursor := body["next_cursor"]) is None:
                break
        assert len(seen) == 5
        assert set(seen) == {world.a.admin.email, world.a.agent.email} | {
            f"page{n}@staff.example" for n in range(3)
        }

    async def test_a_list_takes_the_same_queries_however_long(
        self, app: FastAPI, partner_admin: StaffApi
    ) -> None:
        for n in range(3):
            await partner_admin.invite(f"count{n}@staff.example")
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        event.listen(engine, "before_cursor_execute", count)
        try:
            await partner_admin.request("GET", params={"limit": 1})
            one = len(statements)
            statements.clear()
            await partner_admin.request("GET", params={"limit": 50})
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)


class TestInviting:
    async def test_an_invitation_is_mailed_and_its_link_sets_the_password(
        self, client: httpx.AsyncClient, mail: MailServer, partner_admin: StaffApi, world: World
    ) -> None:
        created = await partner_admin.invite(" New.Agent@Staff.example ", "Grace Hopper")
        assert created["email"] == "new.agent@staff.example"
        assert (created["role"], created["invited"], created["is_active"]) == ("agent", True, True)

        await mail.deliver()
        message = mail.last_to("new.agent@staff.example")
        assert message["Subject"] == (
            f"{world.a.admin.name} invited you to {world.a.partner.name} on relaydesk"
        )
        body = mail.body(message)
        assert "Hello Grace Hopper," in body
        assert "This link works for 168 hours." in body

        link = await mailed_link(mail, "new.agent@staff.example")
        assert (await set_password_by_form(client, link, NEW_PASSWORD)).status_code == 303
        assert (await sign_in(client, "new.agent@staff.example", NEW_PASSWORD)).status_code == 200
        (member,) = [m for m in await partner_admin.members() if m["id"] == created["id"]]
        assert member["invited"] is False

    async def test_a_tenant_admin_invites_tenant_staff(
        self, mail: MailServer, tenant_admin: StaffApi, world: World
    ) -> None:
        created = await tenant_admin.invite("colleague@staff.example", role="tenant_admin")
        assert created["role"] == "tenant_admin"
        assert "colleague@staff.example" in emails(await tenant_admin.members())
        await mail.deliver()
        assert world.tenant.name in mail.last_to("colleague@staff.example")["Subject"]

    @pytest.mark.parametrize(
        ("admin", "role"),
        [
            (Role.PARTNER_ADMIN, "tenant_admin"),
            (Role.PARTNER_ADMIN, "tenant_staff"),
            (Role.TENANT_ADMIN, "agent"),
            (Role.TENANT_ADMIN, "partner_admin"),
            (Role.TENANT_ADMIN, "owner"),
        ],
    )
    async def test_roles_of_the_other_side_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        mail: MailServer,
        world: World,
        admin: Role,
        role: str,
    ) -> None:
        api = await staff_api(client, factory, world.staff_with(admin))
        body = {"email": "someone@staff.example", "name": "Someone", "role": role}
        assert problem(await api.request("POST", json=body)) == (422, "validation_error")
        assert "someone@staff.example" not in emails(await api.members())
        assert await mail.deliver() == 0

    async def test_an_address_with_an_account_is_taken(
        self, partner_admin: StaffApi, mail: MailServer, world: World
    ) -> None:
        body = {"email": world.b.agent.email.upper(), "name": "Copy", "role": "agent"}
        assert problem(await partner_admin.request("POST", json=body)) == (409, "email_taken")
        assert await mail.deliver() == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"email": "not-an-address", "name": "A", "role": "agent"},
            {"email": "a@staff.example", "name": " ", "role": "agent"},
            {"email": "a@staff.example", "name": "A"},
            {"email": "a@staff.example", "name": "A", "role": "agent", "password": "x"},
        ],
    )
    async def test_bad_bodies_are_422(self, partner_admin: StaffApi, body: dict[str, str]) -> None:
        assert problem(await partner_admin.request("POST", json=body)) == (422, "validation_error")


class TestUpdating:
    async def test_a_role_changes(
        self, client: httpx.AsyncClient, factory: Factory, partner_admin: StaffApi, world: World
    ) -> None:
        response = await partner_admin.update(world.a.agent.id, role="partner_admin")
        assert response.status_code == 200
        assert response.json()["role"] == "partner_admin"
        headers = await factory.headers(world.a.agent)
        me = await client.get("/api/v1/me", headers=headers)
        assert "staff.manage" in me.json()["permissions"]

    async def test_deactivation_signs_them_out_and_reactivation_lets_them_back(
        self, client: httpx.AsyncClient, factory: Factory, partner_admin: StaffApi, world: World
    ) -> None:
        headers = await factory.headers(world.a.agent)
        response = await partner_admin.update(world.a.agent.id, is_active=False)
        assert response.json()["is_active"] is False
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
        assert problem(await sign_in(client, world.a.agent.email)) == (403, "account_disabled")

        await partner_admin.update(world.a.agent.id, is_active=True)
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
        assert (await sign_in(client, world.a.agent.email)).status_code == 200

    async def test_nobody_changes_themselves(self, partner_admin: StaffApi, world: World) -> None:
        for fields in ({"role": "agent"}, {"is_active": False}, {}):
            response = await partner_admin.update(world.a.admin.id, **fields)
            assert problem(response) == (409, "cannot_change_self")

    async def test_a_role_of_the_other_side_is_refused(
        self, tenant_admin: StaffApi, world: World
    ) -> None:
        response = await tenant_admin.update(world.tenant_staff.id, role="agent")
        assert problem(response) == (422, "validation_error")

    @pytest.mark.parametrize(
        ("admin", "target"),
        [
            (Role.PARTNER_ADMIN, "b_agent"),
            (Role.PARTNER_ADMIN, "other_agent"),
            (Role.PARTNER_ADMIN, "tenant_staff"),
            (Role.TENANT_ADMIN, "a_agent"),
            (Role.TENANT_ADMIN, "other_tenant_admin"),
            (Role.TENANT_ADMIN, "unknown"),
        ],
    )
    async def test_people_out_of_reach_are_404(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        admin: Role,
        target: str,
    ) -> None:
        api = await staff_api(client, factory, world.staff_with(admin))
        user_id = {
            "b_agent": world.b.agent.id,
            "other_agent": world.other.agent.id,
            "tenant_staff": world.tenant_staff.id,
            "a_agent": world.a.agent.id,
            "other_tenant_admin": world.other_tenant_admin.id,
            "unknown": uuid.uuid4(),
        }[target]
        assert problem(await api.update(user_id, is_active=False)) == (404, "not_found")
        resend = await api.request("POST", f"/{user_id}/invitation")
        assert problem(resend) == (404, "not_found")

    async def test_changes_are_audited(
        self, database: Database, partner_admin: StaffApi, world: World
    ) -> None:
        await partner_admin.update(world.a.agent.id, role="partner_admin", is_active=False)
        invited = await partner_admin.invite("audited@staff.example")
        async with database.transaction() as session:
            statement = select(AuditEntry).where(AuditEntry.actor_id == world.a.admin.id)
            entries = {entry.action: entry for entry in await session.scalars(statement)}
        assert sorted(entries) == ["staff.created", "staff.invited", "staff.updated"]
        assert entries["staff.updated"].data == {"role": "partner_admin", "is_active": False}
        assert entries["staff.updated"].subject_id == world.a.agent.id
        assert entries["staff.created"].data == {"role": "agent"}
        assert entries["staff.invited"].subject_id == uuid.UUID(invited["id"])
        assert {e.partner_id for e in entries.values()} == {world.a.partner.id}


class TestResendingInvitations:
    async def test_a_new_invitation_replaces_the_old_link(
        self, client: httpx.AsyncClient, mail: MailServer, partner_admin: StaffApi
    ) -> None:
        created = await partner_admin.invite("again@staff.example")
        first = await mailed_link(mail, "again@staff.example")
        response = await partner_admin.request("POST", f"/{created['id']}/invitation")
        assert response.status_code == 200
        second = await mailed_link(mail, "again@staff.example")
        assert first != second
        assert len(mail.to("again@staff.example")) == 2
        assert (await set_password_by_form(client, first, NEW_PASSWORD)).status_code == 410
        assert (await set_password_by_form(client, second, NEW_PASSWORD)).status_code == 303

    async def test_someone_with_a_password_gets_no_invitation(
        self, mail: MailServer, partner_admin: StaffApi, world: World
    ) -> None:
        response = await partner_admin.request("POST", f"/{world.a.agent.id}/invitation")
        assert problem(response) == (409, "password_already_set")
        assert await mail.deliver() == 0

    async def test_a_deactivated_invitee_gets_none(
        self, mail: MailServer, partner_admin: StaffApi
    ) -> None:
        created = await partner_admin.invite("gone@staff.example")
        await partner_admin.update(created["id"], is_active=False)
        response = await partner_admin.request("POST", f"/{created['id']}/invitation")
        assert problem(response) == (409, "account_deactivated")


class TestPermissions:
    @pytest.mark.parametrize("role", [Role.AGENT, Role.TENANT_STAFF])
    async def test_staff_without_staff_manage_get_403(
        self, client: httpx.AsyncClient, factory: Factory, world: World, role: Role
    ) -> None:
        api = await staff_api(client, factory, world.staff_with(role))
        target = world.a.agent if role == Role.TENANT_STAFF else world.a.admin
        for response in (
            await api.request("GET"),
            await api.request(
                "POST", json={"email": "x@staff.example", "name": "X", "role": "agent"}
            ),
            await api.update(target.id, is_active=False),
            await api.request("POST", f"/{target.id}/invitation"),
        ):
            assert problem(response) == (403, "permission_denied")

    async def test_end_users_get_403_and_strangers_401(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        end_user = await client.get("/api/v1/staff", headers=factory.end_user_headers(world.tenant))
        assert problem(end_user) == (403, "permission_denied")
        assert problem(await client.get("/api/v1/staff")) == (401, "unauthenticated")

    async def test_admins_of_a_suspended_partner_are_shut_out(
        self, database: Database, partner_admin: StaffApi, world: World
    ) -> None:
        async with database.transaction() as session:
            (await session.merge(world.a.partner)).status = PartnerStatus.SUSPENDED
        assert problem(await partner_admin.request("GET")) == (401, "unauthenticated")

    async def test_an_agent_made_admin_can_manage(
        self, client: httpx.AsyncClient, factory: Factory, partner_admin: StaffApi, world: World
    ) -> None:
        await partner_admin.update(world.a.agent.id, role="partner_admin")
        promoted = await staff_api(client, factory, world.a.agent)
        assert (await promoted.update(world.a.admin.id, role="agent")).status_code == 200
        assert problem(await partner_admin.request("GET")) == (403, "permission_denied")


class TestInvitedAccounts:
    async def test_an_invitee_cannot_sign_in_before_setting_a_password(
        self, client: httpx.AsyncClient, partner_admin: StaffApi
    ) -> None:
        await partner_admin.invite("waiting@staff.example")
        for password in (PASSWORD, "anything at all"):
            response = await sign_in(client, "waiting@staff.example", password)
            assert problem(response) == (401, "invalid_credentials")
