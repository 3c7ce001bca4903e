"""The `relaydesk` command line, run as real subprocesses against the test database.

Commands that create something print one JSON object on stdout; errors exit with status 1,
print `error: …` on stderr and leave the database as it was.
"""

import asyncio
import signal
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from relaydesk.attachments.models import Attachment
from relaydesk.auth.models import ApiToken
from relaydesk.auth.permissions import Role
from relaydesk.auth.secrets import digest
from relaydesk.auth.service import issue_api_token, principal_of
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.catalogue.models import EngagementType, Package
from relaydesk.catalogue.service import EVERYTHING_PACKAGE
from relaydesk.clock import clock, now
from relaydesk.db import Database
from relaydesk.models import Base
from relaydesk.tenancy.models import EndUser, Partner, PartnerStatus, Tenant
from tests.conftest import Backend
from tests.factories import Factory
from tests.processes import Relaydesk, free_port, wait_until_serving

PASSWORD = "a long enough password"


async def row_counts(database: Database) -> dict[str, int]:
    """How many rows each table holds: an error must leave every count as it was."""
    async with database.transaction() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


async def signed_in_me(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """Signs in through the API as a client would and returns `GET /api/v1/me`."""
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return me.json()


async def cannot_sign_in(client: httpx.AsyncClient, email: str, password: str) -> bool:
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    return response.status_code == 401


class TestMigrate:
    async def test_an_already_migrated_database_is_left_working(
        self, relaydesk: Relaydesk, database: Database
    ) -> None:
        result = await relaydesk("migrate")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert set(await row_counts(database)) == {t.name for t in Base.metadata.sorted_tables}


class TestCreateTenant:
    async def test_prints_the_tenant_whose_admin_can_sign_in(
        self, relaydesk: Relaydesk, client: httpx.AsyncClient, database: Database
    ) -> None:
        created = (
            await relaydesk(
                "create-tenant",
                "acme",
                "--name",
                "Acme Platform",
                "--admin-email",
                "Boss@Acme.Example",
                "--admin-password",
                PASSWORD,
            )
        ).json()

        assert set(created) == {"tenant_id", "slug", "end_user_secret", "admin_id"}
        assert created["slug"] == "acme"
        async with database.transaction() as session:
            tenant = await session.get_one(Tenant, uuid.UUID(created["tenant_id"]))
        assert (tenant.slug, tenant.name) == ("acme", "Acme Platform")
        assert tenant.end_user_secret == created["end_user_secret"]
        me = await signed_in_me(client, "boss@acme.example", PASSWORD)
        assert me["id"] == created["admin_id"]
        assert me["email"] == "boss@acme.example"
        assert me["role"] == "tenant_admin"
        assert (me["tenant_id"], me["partner_id"]) == (created["tenant_id"], None)

    async def test_duplicate_slug_fails_and_creates_nothing(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
    ) -> None:
        await factory.tenant(slug="acme")
        before = await row_counts(database)

        result = await relaydesk(
            "create-tenant",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "two@acme.example",
            "--admin-password",
            PASSWORD,
        )

        result.assert_failed("A tenant with slug 'acme' already exists.")
        assert await row_counts(database) == before
        assert await cannot_sign_in(client, "two@acme.example", PASSWORD)

    async def test_bad_slug_fails_and_creates_nothing(
        self, relaydesk: Relaydesk, database: Database
    ) -> None:
        before = await row_counts(database)
        result = await relaydesk(
            "create-tenant",
            "Bad Slug",
            "--name",
            "Bad",
            "--admin-email",
            "admin@bad.example",
            "--admin-password",
            PASSWORD,
        )
        result.assert_failed("A slug is lowercase letters, digits and inner hyphens.")
        assert await row_counts(database) == before

    async def test_taken_admin_email_fails_and_creates_no_tenant(
        self, relaydesk: Relaydesk, database: Database, factory: Factory
    ) -> None:
        existing = await factory.staff(await factory.tenant(), Role.TENANT_ADMIN)
        before = await row_counts(database)

        result = await relaydesk(
            "create-tenant",
            "newco",
            "--name",
            "Newco",
            "--admin-email",
            existing.email.upper(),
            "--admin-password",
            PASSWORD,
        )

        result.assert_failed(f"{existing.email} already has an account.")
        assert await row_counts(database) == before
        async with database.transaction() as session:
            assert await session.scalar(select(Tenant).where(Tenant.slug == "newco")) is None


class TestCreatePartner:
    async def test_without_package_partners_share_the_all_engagements_package(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
    ) -> None:
        tenant = await factory.tenant()
        created = []
        for name, email in (
            ("Café Aurora", "maja@aurora.example"),
            ("Nordwind", "jonas@nordwind.example"),
        ):
            created.append(
                (
                    await relaydesk(
                        "create-partner",
                        "--tenant",
                        tenant.slug,
                        "--name",
                        name,
                        "--admin-email",
                        email,
                        "--admin-password",
                        PASSWORD,
                    )
                ).json()
            )

        assert all(set(c) == {"partner_id", "admin_id"} for c in created)
        async with database.transaction() as session:
            partners = [await session.get_one(Partner, uuid.UUID(c["partner_id"])) for c in created]
            packages = list(await session.scalars(select(Package)))
        assert [(p.name, p.tenant_id, p.status) for p in partners] == [
            ("Café Aurora", tenant.id, PartnerStatus.ACTIVE),
            ("Nordwind", tenant.id, PartnerStatus.ACTIVE),
        ]
        assert len(packages) == 1
        assert packages[0].name == EVERYTHING_PACKAGE
        assert sorted(packages[0].engagement_types) == sorted(EngagementType)
        assert {p.package_id for p in partners} == {packages[0].id}

        me = await signed_in_me(client, "maja@aurora.example", PASSWORD)
        assert me["id"] == created[0]["admin_id"]
        assert me["role"] == "partner_admin"
        assert (me["tenant_id"], me["partner_id"]) == (str(tenant.id), created[0]["partner_id"])

    async def test_named_package_is_used(
        self, relaydesk: Relaydesk, database: Database, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        package = await factory.package(tenant, engagement_types=[EngagementType.MESSAGE])

        created = (
            await relaydesk(
                "create-partner",
                "--tenant",
                tenant.slug,
                "--name",
                "Lumen Books",
                "--admin-email",
                "admin@lumen.example",
                "--admin-password",
                PASSWORD,
                "--package",
                package.name,
            )
        ).json()

        async with database.transaction() as session:
            partner = await session.get_one(Partner, uuid.UUID(created["partner_id"]))
            package_names = list(await session.scalars(select(Package.name)))
        assert partner.package_id == package.id
        assert package_names == [package.name]

    @pytest.mark.parametrize(
        ("tenant", "package", "message"),
        [
            ("nowhere", None, "No tenant 'nowhere'."),
            (None, "Gold", "No package named 'Gold'."),
        ],
        ids=["unknown tenant", "unknown package"],
    )
    async def test_unknown_tenant_or_package_fails_and_creates_nothing(
        self,
        relaydesk: Relaydesk,
        database: Database,
        factory: Factory,
        tenant: str | None,
        package: str | None,
        message: str,
    ) -> None:
        slug = tenant or (await factory.tenant()).slug
        before = await row_counts(database)
        result = await relaydesk(
            "create-partner",
            "--tenant",
            slug,
            "--name",
            "Nordwind",
            "--admin-email",
            "admin@nordwind.example",
            "--admin-password",
            PASSWORD,
            *(["--package", package] if package else []),
        )
        result.assert_failed(message)
        assert await row_counts(database) == before

    async def test_taken_admin_email_fails_and_creates_no_partner_or_package(
        self, relaydesk: Relaydesk, database: Database, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        existing = await factory.staff(tenant, Role.TENANT_STAFF)
        before = await row_counts(database)

        result = await relaydesk(
            "create-partner",
            "--tenant",
            tenant.slug,
            "--name",
            "Nordwind",
            "--admin-email",
            existing.email,
            "--admin-password",
            PASSWORD,
        )

        result.assert_failed(f"{existing.email} already has an account.")
        assert await row_counts(database) == before


class TestCreateUser:
    async def test_tenant_staff_can_sign_in(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        factory: Factory,
    ) -> None:
        tenant = await factory.tenant()
        created = (
            await relaydesk(
                "create-user",
                "--tenant",
                tenant.slug,
                "--role",
                "tenant_staff",
                "--email",
                "rui@staff.example",
                "--password",
                PASSWORD,
                "--name",
                "Rui Reviewer",
            )
        ).json()

        assert set(created) == {"user_id"}
        me = await signed_in_me(client, "rui@staff.example", PASSWORD)
        assert me["id"] == created["user_id"]
        assert (me["name"], me["role"]) == ("Rui Reviewer", "tenant_staff")
        assert (me["tenant_id"], me["partner_id"]) == (str(tenant.id), None)

    async def test_agent_belongs_to_the_partner(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        factory: Factory,
    ) -> None:
        tenant = await factory.tenant()
        partner = await factory.partner(tenant)
        created = (
            await relaydesk(
                "create-user",
                "--tenant",
                tenant.slug,
                "--partner-id",
                str(partner.id),
                "--role",
                "agent",
                "--email",
                "ana@partner.example",
                "--password",
                PASSWORD,
                "--name",
                "Ana Kovač",
            )
        ).json()

        me = await signed_in_me(client, "ana@partner.example", PASSWORD)
        assert me["id"] == created["user_id"]
        assert (me["name"], me["role"]) == ("Ana Kovač", "agent")
        assert (me["tenant_id"], me["partner_id"]) == (str(tenant.id), str(partner.id))

    @pytest.mark.parametrize(
        ("case", "role", "message"),
        [
            ("no partner", "agent", "The role agent needs a partner."),
            ("own partner", "tenant_staff", "The role tenant_staff takes no partner."),
            ("unknown partner", "agent", "No such partner."),
            ("garbage partner", "partner_admin", "No partner 'not-a-uuid'."),
            ("other tenant's partner", "agent", "That partner belongs to another tenant."),
            ("taken e-mail", "tenant_admin", "{email} already has an account."),
        ],
    )
    async def test_invalid_request_fails_and_creates_nothing(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        case: str,
        role: str,
        message: str,
    ) -> None:
        tenant, other_tenant = await factory.tenant(), await factory.tenant()
        partner = await factory.partner(tenant)
        existing = await factory.staff(tenant, Role.TENANT_STAFF)
        email = existing.email if case == "taken e-mail" else "new@staff.example"
        partner_id = {
            "own partner": str(partner.id),
            "unknown partner": str(uuid.uuid4()),
            "garbage partner": "not-a-uuid",
            "other tenant's partner": str((await factory.partner(other_tenant)).id),
        }.get(case)
        before = await row_counts(database)

        result = await relaydesk(
            "create-user",
            "--tenant",
            tenant.slug,
            *(["--partner-id", partner_id] if partner_id else []),
            "--role",
            role,
            "--email",
            email,
            "--password",
            PASSWORD,
            "--name",
            "New Person",
        )

        result.assert_failed(message.format(email=email))
        assert await row_counts(database) == before
        assert await cannot_sign_in(client, email, PASSWORD)


class TestPasswords:
    async def test_short_password_fails_and_creates_nothing(
        self, relaydesk: Relaydesk, database: Database, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        before = await row_counts(database)
        result = await relaydesk(
            "create-user",
            "--tenant",
            tenant.slug,
            "--role",
            "tenant_staff",
            "--email",
            "short@staff.example",
            "--password",
            "",
            "--name",
            "Short",
        )
        result.assert_failed("A password needs at least 8 characters.")
        assert await row_counts(database) == before


class TestToken:
    async def test_token_authenticates_and_creates_the_end_user(
        self,
        relaydesk: Relaydesk,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
    ) -> None:
        tenant = await factory.tenant()
        channel = await factory.channel(await factory.partner(tenant))
        issued_at = int(now().timestamp())

        result = await relaydesk(
            "token", "--tenant", tenant.slug, "--sub", "app-user-7", "--name", "Zoë Example"
        )

        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1
        token = result.stdout.strip()
        claims = jwt.decode(token, tenant.end_user_secret, algorithms=["HS256"])
        assert (claims["iss"], claims["sub"], claims["name"]) == (
            tenant.slug,
            "app-user-7",
            "Zoë Example",
        )
        assert issued_at + 3600 <= claims["exp"] <= issued_at + 3600 + 30

        headers = {"Authorization": f"Bearer {token}"}
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        async with database.transaction() as session:
            end_user = await session.scalar(
                select(EndUser).where(EndUser.external_id == "app-user-7")
            )
        assert end_user is not None
        assert (end_user.tenant_id, end_user.name) == (tenant.id, "Zoë Example")

        follow = await client.put(f"/api/v1/channels/{channel.id}/follow", headers=headers)
        assert follow.status_code == 204
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert [item["id"] for item in response.json()["items"]] == [str(channel.id)]

    async def test_token_expires_after_its_ttl(
        self, relaydesk: Relaydesk, client: httpx.AsyncClient, factory: Factory
    ) -> None:
        tenant = await factory.tenant()
        result = await relaydesk(
            "token", "--tenant", tenant.slug, "--sub", "u1", "--name", "U", "--ttl", "120"
        )
        headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
        assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 200

        clock.freeze(now() + timedelta(seconds=150))
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"] == "The token has expired."

    async def test_unknown_tenant_fails(self, relaydesk: Relaydesk) -> None:
        result = await relaydesk("token", "--tenant", "nowhere", "--sub", "u1", "--name", "U")
        result.assert_failed("No tenant 'nowhere'.")

    async def test_blank_sub_fails(self, relaydesk: Relaydesk, factory: Factory) -> None:
        tenant = await factory.tenant()
        result = await relaydesk("token", "--tenant", tenant.slug, "--sub", " ", "--name", "U")
        result.assert_failed("An end-user token needs a non-blank sub and name.")


class TestDemo:
    async def test_loads_an_empty_database_and_every_sign_in_works(
        self, relaydesk: Relaydesk, client: httpx.AsyncClient, database: Database
    ) -> None:
        demo = (await relaydesk("demo", env={"RELAYDESK_BASE_URL": "https://desk.example"})).json()

        assert demo["loaded"] is True
        assert demo["url"] == "https://desk.example/login"
        assert {"email": "admin@demo.example", "role": "tenant_admin", "partner": None} in demo[
            "sign_ins"
        ]
        assert {s["role"] for s in demo["sign_ins"]} == {str(role) for role in Role}
        async with database.transaction() as session:
            partner_names = {p.id: p.name for p in await session.scalars(select(Partner))}
        for sign_in in demo["sign_ins"]:
            me = await signed_in_me(client, sign_in["email"], demo["password"])
            assert me["role"] == sign_in["role"], sign_in
            partner_id = me["partner_id"] and uuid.UUID(me["partner_id"])
            assert partner_names.get(partner_id) == sign_in["partner"], sign_in

        headers = {"Authorization": f"Bearer {demo['end_user_token']}"}
        response = await client.get("/api/v1/me/channels", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"]
        assert all(item["following"] for item in response.json()["items"])

        # Ana's desk opens on chats in every state.
        token = (
            await client.post(
                "/api/v1/auth/token",
                json={"email": "ana@aurora.example", "password": demo["password"]},
            )
        ).json()["access_token"]
        ana = {"Authorization": f"Bearer {token}"}
        counts = (await client.get("/api/v1/conversations/counts", headers=ana)).json()
        assert (counts["mine"], counts["unanswered"], counts["active"]) == (1, 1, 2)
        # Weeks of finished chats behind them, which the analytics pages chart.
        assert counts["finished"] > 10
        daily = await client.get("/api/v1/analytics/chat/daily", headers=ana)
        days = daily.json()["days"]
        assert sum(day["opened"] for day in days[:-1]) > 50
        assert all(day["avg_response_seconds"] for day in days[:-1])
        summary = (await client.get("/api/v1/analytics/chat/summary", headers=ana)).json()
        assert summary["finished"] >= 1
        assert (summary["active"], summary["unanswered"]) == (2, 1)
        # And with canned responses to insert, placeholders filled for the chat.
        conversations = await client.get(
            "/api/v1/conversations",
            params={"filter": "mine"},
            headers=ana,
        )
        (mine,) = conversations.json()["items"]
        canned = await client.get(
            "/api/v1/canned/responses",
            params={"q": "hi"},
            headers=ana,
        )
        welcome = canned.json()["items"][0]
        assert welcome["shortcode"] == "hi"
        filled = await client.get(
            f"/api/v1/conversations/{mine['id']}/canned/{welcome['id']}", headers=ana
        )
        assert filled.json()["text"] == "Hi Bruno Costa! This is Ana Kovač from Aurora Deals."
        # And with a coupon ready to send in Bruno's chat on Aurora Deals.
        available = await client.get(
            f"/api/v1/conversations/{mine['id']}/available-engagements", headers=ana
        )
        assert [item["title"] for item in available.json()["items"]] == ["Free cappuccino"]

        # Partner Management has requests waiting, and decided ones in its histories.
        assert demo["registration_form"] == "https://desk.example/join/demo"
        admin = (
            await client.post(
                "/api/v1/auth/token",
                json={"email": "admin@demo.example", "password": demo["password"]},
            )
        ).json()["access_token"]
        requests = await client.get(
            "/api/v1/tenant/requests", headers={"Authorization": f"Bearer {admin}"}
        )
        waiting = {
            (item["kind"], item["partner"]["name"], item["status"])
            for item in requests.json()["items"]
        }
        assert waiting == {
            ("partnership", "Lumen Books", "pending"),
            ("partnership", "Pixel Arcade", "pending"),
            ("partnership", "Nordwind Sports", "pending"),
            ("addon", "Café Aurora", "pending"),
            ("ad", "Café Aurora", "approved"),
            ("addon", "Nordwind Sports", "approved"),
            ("partnership", "QuickLoans 24", "rejected"),
            ("ad_package", "Café Aurora", "approved"),
            ("ad_package", "Nordwind Sports", "pending"),
            ("broadcast", "Café Aurora", "approved"),
            ("broadcast", "Café Aurora", "pending"),
        }
        # The approved broadcast reaches every end user once the worker runs.
        assert await deliver_due_broadcasts(database) is False
        (delivered,) = [
            item
            for item in requests.json()["items"]
            if item["kind"] == "broadcast" and item["status"] == "approved"
        ]
        delivered = await client.get(
            f"/api/v1/tenant/requests/{delivered['id']}",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert delivered.json()["details"]["delivery"]["state"] == "done"
        assert delivered.json()["details"]["delivered_count"] == 12
        # And the end-user app has Café Aurora's banner to show, its picture fetchable.
        served = (await client.get("/api/v1/me/ads", headers=headers)).json()["items"]
        assert [(ad["ad_type"], ad["title"]) for ad in served] == [
            ("banner", "Autumn menu at Café Aurora")
        ]
        async with database.transaction() as session:
            picture = await session.get_one(
                Attachment, uuid.UUID(served[0]["media_url"].rsplit("/", 1)[1])
            )
        assert picture.content_type == "image/png"
        assert (relaydesk.data_dir / "attachments" / picture.storage_key).stat().st_size > 0

    async def test_second_run_loads_nothing_and_repeats_the_sign_ins(
        self, relaydesk: Relaydesk, client: httpx.AsyncClient, database: Database
    ) -> None:
        first = (await relaydesk("demo")).json()
        counts = await row_counts(database)

        second = (await relaydesk("demo")).json()

        assert second["loaded"] is False
        assert (second["password"], second["sign_ins"]) == (first["password"], first["sign_ins"])
        assert second["url"] == first["url"]
        assert await row_counts(database) == counts
        headers = {"Authorization": f"Bearer {second['end_user_token']}"}
        assert (await client.get("/api/v1/me/channels", headers=headers)).status_code == 200

    @pytest.mark.parametrize("slug", [None, "demo"], ids=["other slug", "demo slug"])
    async def test_a_database_with_another_tenant_is_left_alone(
        self, relaydesk: Relaydesk, database: Database, factory: Factory, slug: str | None
    ) -> None:
        """Also when that tenant happens to be called "demo": its sign-ins are not ours."""
        await factory.tenant(slug)
        before = await row_counts(database)

        demo = (await relaydesk("demo")).json()

        assert demo["loaded"] is False
        assert demo["detail"]
        assert "sign_ins" not in demo
        assert "end_user_token" not in demo
        assert await row_counts(database) == before


class TestServe:
    @pytest.mark.only_backend("sqlite")  # one backend is enough to see it start and stop
    async def test_serves_the_app_until_terminated(
        self, relaydesk: Relaydesk, backend: Backend
    ) -> None:
        port = free_port()
        server = await relaydesk.start("serve", "--port", str(port), "--no-worker")

        base_url = f"http://127.0.0.1:{port}"
        await wait_until_serving(server, base_url)
        async with httpx.AsyncClient(base_url=base_url) as http:
            login = await http.get("/login")

        assert login.status_code == 200
        assert login.headers["content-type"].startswith("text/html")
        assert "<form" in login.text
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (uvicorn >= 0.29).
        assert await server.terminate() in (0, -signal.SIGTERM), server.text
        assert "Application shutdown complete." in server.text
        assert "worker_started" not in server.text


class TestWorker:
    async def test_purges_expired_tokens_and_stops_cleanly_on_sigterm(
        self, relaydesk: Relaydesk, database: Database, factory: Factory
    ) -> None:
        user = await factory.staff(await factory.tenant(), Role.TENANT_STAFF)
        async with database.transaction() as session:
            live, _ = await issue_api_token(session, principal_of(user), ttl=timedelta(days=1))
            clock.freeze(now() - timedelta(hours=2))
            expired, _ = await issue_api_token(session, principal_of(user), ttl=timedelta(hours=1))
            clock.unfreeze()

        worker = await relaydesk.start("worker")
        await worker.wait_for_output("worker_started")
        async with asyncio.timeout(10):
            while True:
                async with database.transaction() as session:
                    hashes = set(await session.scalars(select(ApiToken.token_hash)))
                if digest(expired) not in hashes:
                    break
                await asyncio.sleep(0.1)
        assert hashes == {digest(live)}
        await asyncio.sleep(1)
        assert worker.process.returncode is None, worker.text

        assert await worker.terminate() == 0, worker.text
        assert "worker_stopped" in worker.text
