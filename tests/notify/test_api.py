"""The mail log over the API: a tenant's own e-mails newest first, by delivery state, in pages,
for those who manage partners only."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.auth.permissions import Role
from tests.factories import Factory, World
from tests.mail import MailServer
from tests.notify.conftest import MailLog, mail_in_every_state, queue

FIELDS = {"id", "to", "subject", "state", "attempts", "created_at", "sent_at", "last_error"}


@pytest.fixture
async def log(mail: MailServer, world: World) -> MailLog:
    return await mail_in_every_state(mail, world)


async def emails(
    client: httpx.AsyncClient, headers: dict[str, str], **params: object
) -> httpx.Response:
    return await client.get("/api/v1/tenant/emails", params=params, headers=headers)


async def admin_headers(factory: Factory, world: World) -> dict[str, str]:
    return await factory.headers(world.tenant_admin)


class TestMailLog:
    async def test_my_tenants_emails_newest_first_with_their_delivery(
        self, client: httpx.AsyncClient, factory: Factory, world: World, log: MailLog
    ) -> None:
        response = await emails(client, await admin_headers(factory, world))

        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [item["to"] for item in items] == [
            "sent@acme.example",
            "pending@acme.example",
            "failed@acme.example",
        ]
        assert all(set(item) == FIELDS for item in items)
        sent, pending, failed = items
        assert (sent["state"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
        assert sent["sent_at"] is not None
        assert sent["subject"] == log.sent.subject
        assert (pending["state"], pending["attempts"], pending["sent_at"]) == ("pending", 1, None)
        assert pending["last_error"]
        assert (failed["state"], failed["attempts"]) == ("failed", 12)
        assert response.json()["next_cursor"] is None

    async def test_another_tenant_sees_only_its_own(
        self, client: httpx.AsyncClient, factory: Factory, world: World, log: MailLog
    ) -> None:
        response = await emails(client, await factory.headers(world.other_tenant_admin))
        assert [item["id"] for item in response.json()["items"]] == [str(log.others.id)]

    @pytest.mark.parametrize("state", ["pending", "sent", "failed"])
    async def test_filtered_by_state(
        self, client: httpx.AsyncClient, factory: Factory, world: World, log: MailLog, state: str
    ) -> None:
        response = await emails(client, await admin_headers(factory, world), state=state)
        assert [item["id"] for item in response.json()["items"]] == [str(getattr(log, state).id)]

    @pytest.mark.parametrize("state", ["delivered", "SENT", ""])
    async def test_an_unknown_state_is_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World, state: str
    ) -> None:
        response = await emails(client, await admin_headers(factory, world), state=state)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"

    async def test_a_bad_cursor_is_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await emails(client, await admin_headers(factory, world), cursor="%%%")
        assert response.status_code == 422

    async def test_nothing_sent_yet_is_an_empty_page(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await emails(client, await admin_headers(factory, world))
        assert response.json() == {"items": [], "next_cursor": None}


class TestPagination:
    async def test_pages_follow_each_other_newest_first_without_gaps(
        self, client: httpx.AsyncClient, factory: Factory, world: World, mail: MailServer
    ) -> None:
        queued = [
            await queue(mail.database, world.tenant, f"owner-{number}@acme.example")
            for number in range(5)
        ]
        headers = await admin_headers(factory, world)
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await emails(client, headers, **params)).json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        # Newest first as far as ids tell (UUIDv7: to the millisecond), each once.
        assert seen == sorted((str(email.id) for email in queued), reverse=True)

    async def test_a_page_takes_the_same_queries_however_long(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        factory: Factory,
        world: World,
        mail: MailServer,
    ) -> None:
        for number in range(4):
            await queue(mail.database, world.tenant, f"owner-{number}@acme.example")
        headers = await admin_headers(factory, world)
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        event.listen(engine, "before_cursor_execute", count)
        try:
            await emails(client, headers, limit=1)
            one = len(statements)
            statements.clear()
            await emails(client, headers, limit=50)
            assert len(statements) == one
        finally:
            event.remove(engine, "before_cursor_execute", count)


class TestPermissions:
    @pytest.mark.parametrize("role", [Role.TENANT_STAFF, Role.PARTNER_ADMIN, Role.AGENT])
    async def test_staff_who_do_not_manage_partners_get_403(
        self, client: httpx.AsyncClient, factory: Factory, world: World, role: Role
    ) -> None:
        response = await emails(client, await factory.headers(world.staff_with(role)))
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    async def test_signed_out_gets_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/v1/tenant/emails")).status_code == 401

    async def test_an_end_user_gets_403(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await emails(client, factory.end_user_headers(world.tenant))
        assert response.status_code == 403
