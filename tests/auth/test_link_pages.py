"""The pages around passwords: choosing one from a link, asking for a reset, and the sign-in
page that leads to both.

These forms are used signed out, like the sign-in form, so they carry no CSRF token: setting
a password needs the link's secret, and asking for a reset only mails the account's owner.
"""

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from relaydesk.auth.models import PasswordLinkPurpose
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.tenancy.models import PartnerStatus
from tests.auth.conftest import issue_link, link_in, mailed_link, set_password_by_form
from tests.factories import PASSWORD, Factory, World
from tests.html import Element, parse
from tests.mail import MailServer
from tests.web.test_pages import alerts, redirect_target, sign_in_by_form, signed_in

NEW_PASSWORD = "a brand new passphrase"
LINK_UNUSABLE = "This link has expired or was already used."
RESET_ANSWER = "If an account exists for that address, we've sent a link."
TOO_MANY = "Too many attempts. Try again later."


def statuses(document: Element) -> list[str]:
    return [e.text() for e in document.iter() if e.attrs.get("role") == "status"]


def links(document: Element) -> dict[str, str]:
    return {a.text(): a.attrs["href"] for a in document.find_all("a")}


async def ask_for_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/forgot-password", data={"email": email})


class TestSignInPage:
    async def test_it_offers_a_way_back_in(self, client: httpx.AsyncClient) -> None:
        document = parse(await client.get("/login"))
        assert links(document)["Forgot password?"] == "/forgot-password"
        assert statuses(document) == []

    async def test_after_setting_a_password_it_says_so(self, client: httpx.AsyncClient) -> None:
        document = parse(await client.get("/login", params={"password_set": "true"}))
        assert statuses(document) == ["Your password is set. Sign in."]
        assert alerts(document) == []


class TestChoosingAPassword:
    async def test_the_form_names_the_account(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        response = await client.get(await issue_link(database, world.a.agent))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        document = parse(response)
        assert world.a.agent.email in document.text()
        form = document.find("form")
        fields = {i.attrs["name"]: i.attrs["type"] for i in form.find_all("input")}
        assert fields["password"] == fields["password_repeat"] == "password"
        assert form.find("button").text() == "Set password"

    async def test_the_new_password_signs_in_after_the_redirect(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        response = await set_password_by_form(client, path, NEW_PASSWORD)
        target = redirect_target(response)
        assert target == "/login?password_set=true"
        assert statuses(parse(await client.get(target))) == ["Your password is set. Sign in."]
        assert (
            urlsplit(
                redirect_target(await sign_in_by_form(client, world.a.agent.email, NEW_PASSWORD))
            ).path
            == "/desk"
        )

    @pytest.mark.parametrize(
        ("password", "repeat", "reason"),
        [
            (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords are not the same."),
            ("short", "short", "A password needs at least 8 characters."),
            ("", "", "A password needs at least 8 characters."),
        ],
    )
    async def test_a_refused_password_shows_why_and_keeps_the_link(
        self,
        client: httpx.AsyncClient,
        database: Database,
        world: World,
        password: str,
        repeat: str,
        reason: str,
    ) -> None:
        path = await issue_link(database, world.a.agent)
        response = await set_password_by_form(client, path, password, repeat)
        assert response.status_code == 422
        document = parse(response)
        assert alerts(document) == [reason]
        assert document.find("input", {"name": "password"}).attrs["aria-invalid"] == "true"
        assert (await set_password_by_form(client, path, NEW_PASSWORD)).status_code == 303

    async def test_a_used_link_offers_a_new_one(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        await set_password_by_form(client, path, NEW_PASSWORD)
        for response in (
            await client.get(path),
            await set_password_by_form(client, path, "another passphrase"),
        ):
            assert response.status_code == 410
            document = parse(response)
            assert alerts(document) == [LINK_UNUSABLE]
            assert links(document)["Forgot password?"] == "/forgot-password"
            assert document.find_all("form") == []
        assert (await sign_in_by_form(client, world.a.agent.email, NEW_PASSWORD)).status_code == 303

    async def test_an_expired_or_made_up_link_says_the_same(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        clock.freeze(now())
        path = await issue_link(database, world.a.agent, PasswordLinkPurpose.RESET)
        clock.advance(timedelta(hours=2))
        for target in (path, "/set-password/made-up-token"):
            response = await client.get(target)
            assert response.status_code == 410
            assert alerts(parse(response)) == [LINK_UNUSABLE]

    async def test_a_suspended_partners_staff_are_told_their_account_is_disabled(
        self, client: httpx.AsyncClient, database: Database, world: World
    ) -> None:
        path = await issue_link(database, world.a.agent)
        async with database.transaction() as session:
            (await session.merge(world.a.partner)).status = PartnerStatus.SUSPENDED
        for response in (
            await client.get(path),
            await set_password_by_form(client, path, NEW_PASSWORD),
        ):
            assert response.status_code == 403
            assert alerts(parse(response)) == ["This account is disabled."]

    async def test_a_signed_in_browser_is_signed_out_by_the_new_password(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        path = await issue_link(database, world.a.agent)
        assert (await set_password_by_form(client, path, NEW_PASSWORD)).status_code == 303
        assert urlsplit(redirect_target(await client.get("/desk"))).path == "/login"


class TestForgotPassword:
    async def test_the_form_asks_for_an_address(self, client: httpx.AsyncClient) -> None:
        document = parse(await client.get("/forgot-password"))
        form = document.find("form")
        assert form.attrs["action"] == "/forgot-password"
        assert form.find("input", {"name": "email"}).attrs["type"] == "email"
        assert form.find("button").text() == "Send link"

    async def test_a_reset_mail_leads_to_a_new_password(
        self, client: httpx.AsyncClient, mail: MailServer, world: World
    ) -> None:
        response = await ask_for_reset(client, f"  {world.a.agent.email.upper()} ")
        assert response.status_code == 200
        assert statuses(parse(response)) == [RESET_ANSWER]

        await mail.deliver()
        message = mail.last_to(world.a.agent.email)
        assert message["Subject"] == "Reset your relaydesk password"
        assert f"Hello {world.a.agent.name}," in mail.body(message)
        assert "This link works for 2 hours." in mail.body(message)

        path = link_in(message)
        assert (await client.get(path)).status_code == 200
        assert (await set_password_by_form(client, path, NEW_PASSWORD)).status_code == 303
        assert (await sign_in_by_form(client, world.a.agent.email, PASSWORD)).status_code == 401
        assert (await sign_in_by_form(client, world.a.agent.email, NEW_PASSWORD)).status_code == 303

    async def test_only_the_newest_reset_link_works(
        self, client: httpx.AsyncClient, mail: MailServer, world: World
    ) -> None:
        await ask_for_reset(client, world.a.agent.email)
        first = await mailed_link(mail, world.a.agent.email)
        await ask_for_reset(client, world.a.agent.email)
        second = await mailed_link(mail, world.a.agent.email)
        assert (await client.get(first)).status_code == 410
        assert (await client.get(second)).status_code == 200

    async def test_the_answer_reveals_no_account(
        self, client: httpx.AsyncClient, database: Database, mail: MailServer, world: World
    ) -> None:
        async with database.transaction() as session:
            (await session.merge(world.b.agent)).is_active = False
            (await session.merge(world.other.partner)).status = PartnerStatus.SUSPENDED
        answers = set()
        for email in (
            world.a.agent.email,
            "nobody@staff.example",
            world.b.agent.email,
            world.other.agent.email,
        ):
            response = await ask_for_reset(client, email)
            assert response.status_code == 200
            answers.add(parse(response).find("main").text())
        assert len(answers) == 1
        await mail.deliver()
        assert [message["To"] for message in mail.messages] == [world.a.agent.email]

    @pytest.mark.parametrize("email", ["", "   ", "x" * 250 + "@a.example"])
    async def test_a_missing_address_is_asked_for(
        self, client: httpx.AsyncClient, email: str
    ) -> None:
        response = await ask_for_reset(client, email)
        assert response.status_code == 422
        assert alerts(parse(response)) == ["Enter your e-mail address."]


def client_from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestThrottling:
    async def test_one_address_gets_few_mails_whoever_asks(
        self, app: FastAPI, client: httpx.AsyncClient, mail: MailServer, world: World
    ) -> None:
        for _ in range(5):
            assert (await ask_for_reset(client, world.a.agent.email)).status_code == 200
        async with client_from(app, "198.51.100.9") as elsewhere:
            response = await ask_for_reset(elsewhere, world.a.agent.email)
        assert response.status_code == 429
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60
        assert alerts(parse(response)) == [TOO_MANY]
        assert (await ask_for_reset(client, world.a.admin.email)).status_code == 200
        await mail.deliver()
        assert len(mail.to(world.a.agent.email)) == 5

    async def test_unknown_addresses_count_alike(self, client: httpx.AsyncClient) -> None:
        for _ in range(5):
            await ask_for_reset(client, "nobody@staff.example")
        assert (await ask_for_reset(client, "nobody@staff.example")).status_code == 429

    async def test_one_client_cannot_ask_for_many_addresses(
        self, app: FastAPI, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        settings.login_max_failures_per_ip = 3
        for n in range(3):
            assert (await ask_for_reset(client, f"probe{n}@staff.example")).status_code == 200
        assert (await ask_for_reset(client, "probe9@staff.example")).status_code == 429
        async with client_from(app, "198.51.100.9") as elsewhere:
            assert (await ask_for_reset(elsewhere, "probe9@staff.example")).status_code == 200

    # The memory counter follows the frozen clock; Redis keeps time of its own.
    @pytest.mark.only_backend("sqlite")
    async def test_the_window_closes(self, client: httpx.AsyncClient, world: World) -> None:
        clock.freeze(now())
        for _ in range(5):
            await ask_for_reset(client, world.a.agent.email)
        assert (await ask_for_reset(client, world.a.agent.email)).status_code == 429
        clock.advance(timedelta(minutes=15, seconds=1))
        assert (await ask_for_reset(client, world.a.agent.email)).status_code == 200
