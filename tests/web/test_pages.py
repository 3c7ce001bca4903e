"""The pages staff use in the browser: signing in and out, homes, navigation, CSRF and headers."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from relaydesk.app import create_app
from relaydesk.auth.deps import SESSION_COOKIE
from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.auth.service import principal_of, start_web_session
from relaydesk.config import Settings
from relaydesk.tenancy.models import PartnerStatus
from relaydesk.web.navigation import AREAS
from tests.factories import PASSWORD, Factory, World
from tests.html import Element, parse

WRONG_CREDENTIALS = "Wrong e-mail or password."
TOO_MANY_ATTEMPTS = "Too many attempts. Try again later."
CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."

# What each role's sidebar offers, written out rather than derived from AREAS.
TENANT_STAFF_NAV = {
    ("Overview", "/tenant"),
    ("Partnership", "/tenant/partnerships"),
    ("Add-ons", "/tenant/addons"),
    ("Requests", "/tenant/requests"),
    ("My partners", "/tenant/partners"),
}
TENANT_ADMIN_NAV = TENANT_STAFF_NAV | {
    ("Catalogues", "/tenant/catalogue"),
    ("Mail log", "/tenant/emails"),
    ("Staff", "/tenant/staff"),
}
AGENT_NAV = {
    ("Chat", "/desk"),
    ("Canned responses", "/desk/canned"),
    ("Analytics", "/desk/analytics"),
}
PARTNER_ADMIN_NAV = AGENT_NAV | {
    ("Channels", "/partner"),
    ("Engagements", "/partner/engagements"),
    ("Requests", "/partner/requests"),
    ("Webhooks", "/partner/webhooks"),
    ("Staff", "/partner/staff"),
}
NAV_BY_ROLE = {
    Role.TENANT_ADMIN: TENANT_ADMIN_NAV,
    Role.TENANT_STAFF: TENANT_STAFF_NAV,
    Role.PARTNER_ADMIN: PARTNER_ADMIN_NAV,
    Role.AGENT: AGENT_NAV,
}
HOME_BY_ROLE = {
    Role.TENANT_ADMIN: "/tenant",
    Role.TENANT_STAFF: "/tenant",
    Role.PARTNER_ADMIN: "/partner",
    Role.AGENT: "/desk",
}
# Both sides have a "Staff" area guarded by the same permission; neither may open the other's.
OTHER_SIDES_STAFF_AREA = {
    (Role.TENANT_ADMIN, "/partner/staff"),
    (Role.PARTNER_ADMIN, "/tenant/staff"),
}


# --- Reading HTML ---------------------------------------------------------------------------


def nav_links(document: Element) -> set[tuple[str, str]]:
    """(label, path) of every link in the main navigation; "soon" badges left out."""
    navs = document.find_all("nav", {"aria-label": "Main"})
    return {(a.own_text(), a.attrs["href"]) for nav in navs for a in nav.find_all("a")}


def alerts(document: Element) -> list[str]:
    return [element.text() for element in document.iter() if element.attrs.get("role") == "alert"]


def table_rows(section: Element) -> list[list[str]]:
    return [[cell.text() for cell in row.find_all("td")] for row in section.find_all("tr")][1:]


def csrf_from_body(document: Element) -> str:
    return json.loads(document.find("body").attrs["hx-headers"])["X-CSRF-Token"]


def hidden_input(form: Element, name: str) -> str:
    return form.find("input", {"type": "hidden", "name": name}).attrs["value"]


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    directives = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


# --- Signing in -----------------------------------------------------------------------------


async def sign_in_by_form(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next: str = ""
) -> httpx.Response:
    return await client.post("/login", data={"email": email, "password": password, "next": next})


async def start_session(factory: Factory, settings: Settings, user: StaffUser) -> str:
    """A browser session made as `POST /login` would make it, without going through it."""
    async with factory.database.transaction() as session:
        return await start_web_session(
            session, principal_of(user), ttl=timedelta(hours=settings.session_ttl_hours)
        )


async def signed_in(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, user: StaffUser
) -> str:
    """Gives `client` a session cookie for `user`; returns the session token."""
    token = await start_session(factory, settings, user)
    client.cookies.set(SESSION_COOKIE, token)
    return token


def redirect_target(response: httpx.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:300])
    return response.headers["location"]


def set_cookie_attributes(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie header for `name`, keys lower-cased."""
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.split("=", 1)[0] == name:
            parsed = {"value": first.split("=", 1)[1]}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                parsed[key.lower()] = value
            return parsed
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


# --- Tests ----------------------------------------------------------------------------------


class TestSignInPage:
    async def test_login_renders_the_sign_in_form(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/login")
        assert response.status_code == 200
        document = parse(response)
        form = document.find("form", {"action": "/login"})
        assert form.attrs["method"] == "post"
        assert form.find("input", {"name": "email"}).attrs["type"] == "email"
        assert form.find("input", {"name": "password"}).attrs["type"] == "password"
        assert form.find("button").text() == "Sign in"
        assert "Sign in" in document.find("title").text()
        assert alerts(document) == []
        assert nav_links(document) == set()

    async def test_next_is_carried_in_the_form(self, client: httpx.AsyncClient) -> None:
        document = parse(await client.get("/login", params={"next": "/desk/canned"}))
        assert hidden_input(document.find("form"), "next") == "/desk/canned"

    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/tenant",
            "/partner",
            "/desk",
            "/desk/canned",
            "/tenant/catalogue",
            "/partner/staff",
        ],
    )
    async def test_pages_without_a_session_redirect_to_sign_in(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        target = urlsplit(redirect_target(response))
        assert target.path == "/login"
        assert parse_qs(target.query) == {"next": [path]}

    async def test_the_query_string_is_kept_in_next(self, client: httpx.AsyncClient) -> None:
        target = urlsplit(redirect_target(await client.get("/desk/canned?tab=open")))
        assert parse_qs(target.query) == {"next": ["/desk/canned?tab=open"]}

    async def test_an_unknown_session_cookie_is_sent_to_sign_in(
        self, client: httpx.AsyncClient
    ) -> None:
        client.cookies.set(SESSION_COOKIE, "not-a-session")
        assert redirect_target(await client.get("/desk")) == "/login?next=/desk"

    async def test_signed_in_staff_are_sent_home_from_login(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        assert redirect_target(await client.get("/login")) == "/desk"
        assert redirect_target(await client.get("/login?next=/desk/canned")) == "/desk/canned"
        for evil in ("//evil.example", "https://evil.example", "/\\evil.example"):
            response = await client.get("/login", params={"next": evil})
            assert redirect_target(response) == "/desk", evil

    @pytest.mark.parametrize("role", list(Role))
    async def test_root_sends_each_role_home(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        assert redirect_target(await client.get("/")) == HOME_BY_ROLE[role]


class TestSigningInByForm:
    @pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.PARTNER_ADMIN, Role.AGENT])
    async def test_each_kind_of_staff_lands_on_its_home(
        self, client: httpx.AsyncClient, world: World, role: Role
    ) -> None:
        response = await sign_in_by_form(client, world.staff_with(role).email)
        assert redirect_target(response) == HOME_BY_ROLE[role]
        home = await client.get(HOME_BY_ROLE[role])
        assert home.status_code == 200
        assert nav_links(parse(home)) == NAV_BY_ROLE[role]

    async def test_local_next_is_honoured(self, client: httpx.AsyncClient, world: World) -> None:
        response = await sign_in_by_form(client, world.a.admin.email, next="/partner/webhooks")
        assert redirect_target(response) == "/partner/webhooks"

    @pytest.mark.parametrize(
        "next", ["//evil.example", "https://evil.example", "/\\evil.example", "evil.example"]
    )
    async def test_next_to_another_site_is_ignored(
        self, client: httpx.AsyncClient, world: World, next: str
    ) -> None:
        response = await sign_in_by_form(client, world.a.admin.email, next=next)
        assert redirect_target(response) == "/partner"

    async def test_session_cookie_is_httponly_lax_and_not_secure_over_http(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await sign_in_by_form(client, world.a.agent.email)
        cookie = set_cookie_attributes(response, SESSION_COOKIE)
        assert "httponly" in cookie
        assert cookie["samesite"].lower() == "lax"
        assert "secure" not in cookie
        assert cookie["path"] == "/"
        assert (await client.get("/desk")).status_code == 200

    async def test_session_cookie_is_secure_when_base_url_is_https(
        self, settings: Settings, world: World
    ) -> None:
        https_app: FastAPI = create_app(
            settings.model_copy(update={"base_url": "https://desk.example"})
        )
        async with https_app.router.lifespan_context(https_app):
            transport = httpx.ASGITransport(app=https_app, client=("203.0.113.7", 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                response = await sign_in_by_form(client, world.a.agent.email)
        cookie = set_cookie_attributes(response, SESSION_COOKIE)
        assert "secure" in cookie
        assert "httponly" in cookie

    async def test_session_cookie_is_secure_when_served_over_https(
        self, app: FastAPI, world: World
    ) -> None:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            response = await sign_in_by_form(client, world.a.agent.email)
        assert "secure" in set_cookie_attributes(response, SESSION_COOKIE)


class TestWrongCredentials:
    async def test_wrong_password_shows_the_form_again_with_an_error(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await sign_in_by_form(
            client, world.a.agent.email, "wrong password", next="/desk/canned"
        )
        assert response.status_code == 401
        document = parse(response)
        assert alerts(document) == [WRONG_CREDENTIALS]
        form = document.find("form", {"action": "/login"})
        assert form.find("input", {"name": "email"}).attrs["value"] == world.a.agent.email
        assert form.find("input", {"name": "password"}).attrs.get("value") is None
        assert hidden_input(form, "next") == "/desk/canned"
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")

    async def test_unknown_email_reads_like_a_wrong_password(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await sign_in_by_form(client, "nobody@staff.example")
        assert response.status_code == 401
        assert alerts(parse(response)) == [WRONG_CREDENTIALS]

    async def test_empty_fields_ask_for_both(self, client: httpx.AsyncClient) -> None:
        response = await sign_in_by_form(client, "  ", "")
        assert response.status_code == 422
        assert alerts(parse(response)) == ["Enter your e-mail and password."]

    async def test_sixth_attempt_after_five_failures_is_throttled(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for attempt in range(5):
            response = await sign_in_by_form(client, world.a.agent.email, "wrong")
            assert response.status_code == 401, attempt
        response = await sign_in_by_form(client, world.a.agent.email)
        assert response.status_code == 429
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60
        document = parse(response)
        assert alerts(document) == [TOO_MANY_ATTEMPTS]
        assert document.find("form", {"action": "/login"})
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")

    async def test_another_user_can_still_sign_in(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for _ in range(6):
            await sign_in_by_form(client, world.a.agent.email, "wrong")
        response = await sign_in_by_form(client, world.a.admin.email)
        assert redirect_target(response) == "/partner"


class TestNavigation:
    @pytest.mark.parametrize("role", list(Role))
    async def test_home_shows_every_reachable_area_and_no_other(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        user = world.staff_with(role)
        await signed_in(client, factory, settings, user)
        response = await client.get(HOME_BY_ROLE[role])
        assert response.status_code == 200
        document = parse(response)
        assert nav_links(document) == NAV_BY_ROLE[role]
        current = [
            a.own_text()
            for a in document.find("nav").find_all("a")
            if a.attrs.get("aria-current") == "page"
        ]
        assert len(current) == 1
        assert user.name in document.find("header").text()

    async def test_agent_sees_no_partner_admin_or_tenant_links(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        links = nav_links(parse(await client.get("/desk")))
        labels = {label for label, _ in links}
        paths = {path for _, path in links}
        assert not labels & {"Channels", "Engagements", "Staff", "Webhooks", "Overview"}
        assert not {p for p in paths if p.startswith(("/partner", "/tenant"))}

    @pytest.mark.parametrize("role", list(Role))
    async def test_every_area_answers_as_the_navigation_promises(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        reachable = {path for _, path in NAV_BY_ROLE[role]}
        for path in sorted({area.path for area in AREAS}):
            response = await client.get(path)
            assert response.status_code == (200 if path in reachable else 403), path

    @pytest.mark.parametrize(("role", "path"), sorted(OTHER_SIDES_STAFF_AREA))
    async def test_staff_area_of_the_other_side_is_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
        path: str,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        assert (await client.get(path)).status_code == 403

    @pytest.mark.parametrize("path", ["/partner", "/tenant", "/partner/engagements"])
    async def test_agent_gets_403_on_partner_and_tenant_pages(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        path: str,
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.get(path)
        assert response.status_code == 403
        document = parse(response)
        assert document.find("h1").text() == "No access"
        assert "permission" in document.find("main").text()
        assert world.a.partner.name not in response.text
        assert world.a.channel.name not in response.text

    async def test_tenant_admin_gets_403_on_the_partner_portal(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.tenant_admin)
        for path in ("/partner", "/desk"):
            response = await client.get(path)
            assert response.status_code == 403, path
            assert parse(response).find("h1").text() == "No access"


class TestHomes:
    async def test_partner_home_lists_own_channels_with_follower_counts(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        quiet = await factory.channel(world.a.partner)
        for _ in range(2):
            await factory.end_user(world.tenant, follows=[world.a.channel])
        await signed_in(client, factory, settings, world.a.admin)

        response = await client.get("/partner")
        assert response.status_code == 200
        document = parse(response)
        assert document.find("h1").text() == world.a.partner.name
        rows = table_rows(document.find("section", {"id": "channels"}))
        assert sorted(rows) == sorted(
            [
                [world.a.channel.name, "2", "enabled", "Disable chat"],
                [quiet.name, "0", "disabled", "Enable chat"],
            ]
        )
        assert world.b.channel.name not in response.text
        assert world.other.channel.name not in response.text

    async def test_partner_home_shows_the_package(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        document = parse(await client.get("/partner"))
        package = document.find("section", {"class": "card"}).text()
        assert "49.00 EUR / month" in package
        assert "up to 10 channels" in package

    async def test_partner_without_channels_is_invited_to_create_one(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        partner = await factory.partner(world.tenant)
        admin = await factory.staff(world.tenant, Role.PARTNER_ADMIN, partner)
        await signed_in(client, factory, settings, admin)
        channels = parse(await client.get("/partner")).find("section", {"id": "channels"})
        assert "No channels yet. Create your first one below." in channels.text()
        assert channels.find_all("table") == []

    async def test_tenant_home_lists_packages_with_their_partners(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        unused = await factory.package(world.tenant, price="9.50", max_channels=2)
        await factory.partner(world.tenant, status=PartnerStatus.PENDING)
        await signed_in(client, factory, settings, world.tenant_admin)

        response = await client.get("/tenant")
        assert response.status_code == 200
        document = parse(response)
        assert document.find("h1").text() == world.tenant.name
        rows = {row[0]: row for row in table_rows(document.find("table"))}
        assert rows[unused.name][1:3] == ["9.50 EUR / month", "2"]
        assert rows[unused.name][4] == "0"
        assert len(rows) == 4  # the world's two partners' packages, the pending one's, unused
        assert sorted(row[4] for row in rows.values()) == ["0", "1", "1", "1"]
        stats = document.find("section", {"aria-label": "Partners by status"}).text()
        assert "2 Active partners" in stats
        assert "1 Pending partners" in stats
        assert "0 Suspended partners" in stats

    async def test_tenant_home_counts_requests_waiting_and_links_the_public_form(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        package = await factory.package(world.tenant)
        for number in range(2):
            registered = await client.post(
                f"/api/v1/public/{world.tenant.slug}/partnership-requests",
                json={
                    "partner_name": f"Waiting {number}",
                    "package_id": str(package.id),
                    "email": f"waiting{number}@brand.example",
                    "phone": "+1 555 0100",
                    "contact_name": "Owner",
                },
            )
            assert registered.status_code == 202
        ad_package = await client.post(
            "/api/v1/tenant/ad-packages",
            json={"name": "10k", "impressions": 10_000, "price": {"amount": 49, "currency": "EUR"}},
            headers=await factory.headers(world.tenant_admin),
        )
        impressions = await client.post(
            "/api/v1/partner/requests",
            json={"kind": "ad_package", "ad_package_id": ad_package.json()["id"]},
            headers=await factory.headers(world.a.admin),
        )
        assert impressions.status_code == 201, impressions.text
        await signed_in(client, factory, settings, world.tenant_staff)
        document = parse(await client.get("/tenant"))
        waiting = document.find("section", {"aria-label": "Waiting for a decision"})
        assert [link.text() for link in waiting.find_all("a")] == [
            "2 Partnership requests pending approval",
            "0 Add-on requests pending approval",
            "1 Broadcast, advertising package and ad requests pending approval",
        ]
        assert [link.attrs["href"] for link in waiting.find_all("a")] == [
            "/tenant/partnerships",
            "/tenant/addons",
            "/tenant/requests",
        ]
        join = document.find("p", {"id": "join-link"}).find("a")
        assert join.attrs["href"] == f"http://testserver/join/{world.tenant.slug}"

    async def test_tenant_home_shows_no_other_tenants_packages(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        foreign = await factory.package(world.other_tenant)
        await signed_in(client, factory, settings, world.tenant_admin)
        response = await client.get("/tenant")
        assert foreign.name not in response.text
        assert world.other.partner.name not in response.text

    async def test_agent_desk_offers_the_partners_channels(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.get("/desk")
        assert response.status_code == 200
        document = parse(response)
        assert document.find("h1").text() == "Chat"
        channel_filter = document.find("select", {"id": "channel-filter"})
        assert world.a.channel.name in [
            option.text() for option in channel_filter.find_all("option")
        ]
        assert world.b.channel.name not in response.text


class TestCsrf:
    async def test_adding_a_channel_without_the_token_is_refused(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        response = await client.post(
            "/partner/channels", data={"name": "Sneaky"}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).find("main").text()
        assert "Sneaky" not in (await client.get("/partner")).text

    async def test_the_api_names_the_csrf_failure(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        response = await client.post("/api/v1/channels", json={"name": "Sneaky"})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_failed"
        assert "Sneaky" not in (await client.get("/partner")).text

    async def test_header_token_from_the_page_adds_a_channel_and_returns_the_list(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        document = parse(await client.get("/partner"))
        token = csrf_from_body(document)
        assert hidden_input(document.find("section", {"id": "channels"}), "csrf_token") == token

        response = await client.post(
            "/partner/channels",
            data={"name": "Deals", "description": "Weekly offers"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert response.status_code == 200
        assert not response.text.lstrip().startswith("<!doctype")
        fragment = parse(response)
        section = fragment.find("section", {"id": "channels"})
        assert fragment.find_all("body") == []
        rows = table_rows(section)
        assert ["Deals Weekly offers", "0", "disabled", "Enable chat"] in rows
        assert [world.a.channel.name, "0", "enabled", "Disable chat"] in rows
        assert alerts(fragment) == []
        assert "Deals" in (await client.get("/partner")).text

    async def test_form_field_token_adds_a_channel_and_redirects_without_htmx(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        form = parse(await client.get("/partner")).find("form", {"action": "/partner/channels"})
        response = await client.post(
            "/partner/channels",
            data={"name": "Deals", "csrf_token": hidden_input(form, "csrf_token")},
        )
        assert redirect_target(response) == "/partner"
        rows = table_rows(parse(await client.get("/partner")).find("section", {"id": "channels"}))
        assert ["Deals", "0", "disabled", "Enable chat"] in rows

    async def test_a_rejected_plain_form_post_shows_the_page_with_the_reason(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        form = parse(await client.get("/partner")).find("form", {"action": "/partner/channels"})
        response = await client.post(
            "/partner/channels",
            data={"name": world.a.channel.name, "csrf_token": hidden_input(form, "csrf_token")},
        )
        assert response.status_code == 422
        page = parse(response)
        assert alerts(page) == [f"A channel named {world.a.channel.name!r} already exists."]
        assert "Package" in [heading.text() for heading in page.find_all("h2")]

    async def test_a_rejected_channel_shows_the_reason_in_the_fragment(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        token = csrf_from_body(parse(await client.get("/partner")))
        response = await client.post(
            "/partner/channels",
            data={"name": world.a.channel.name},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert response.status_code == 200
        fragment = parse(response)
        assert alerts(fragment) == [f"A channel named {world.a.channel.name!r} already exists."]
        assert len(table_rows(fragment.find("section", {"id": "channels"}))) == 1

    async def test_a_token_from_another_session_is_refused(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.admin)
        first_token = csrf_from_body(parse(await client.get("/partner")))
        await signed_in(client, factory, settings, world.a.admin)
        second_token = csrf_from_body(parse(await client.get("/partner")))
        assert second_token != first_token

        response = await client.post(
            "/partner/channels",
            data={"name": "Sneaky"},
            headers={"X-CSRF-Token": first_token, "HX-Request": "true"},
        )
        assert response.status_code == 403
        assert "Sneaky" not in (await client.get("/partner")).text

    async def test_logout_without_the_token_is_refused(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        await signed_in(client, factory, settings, world.a.agent)
        response = await client.post("/logout")
        assert response.status_code == 403
        assert CSRF_REFUSED in parse(response).find("main").text()
        assert (await client.get("/desk")).status_code == 200

    async def test_logout_with_the_token_ends_the_session(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        session_token = await signed_in(client, factory, settings, world.a.agent)
        form = parse(await client.get("/desk")).find("form", {"action": "/logout"})
        response = await client.post(
            "/logout", data={"csrf_token": hidden_input(form, "csrf_token")}
        )
        assert redirect_target(response) == "/login"
        cookie = set_cookie_attributes(response, SESSION_COOKIE)
        assert cookie["max-age"] == "0"
        assert parse(await client.get("/login")).find("form", {"action": "/login"})

        client.cookies.set(SESSION_COOKIE, session_token)
        assert redirect_target(await client.get("/desk")) == "/login?next=/desk"


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        ("method", "path", "signed_in_as", "status"),
        [
            ("GET", "/login", None, 200),
            ("GET", "/", None, 303),
            ("GET", "/partner", Role.PARTNER_ADMIN, 200),
            ("GET", "/desk/canned", Role.AGENT, 200),
            ("GET", "/tenant", Role.TENANT_ADMIN, 200),
            ("GET", "/partner", Role.AGENT, 403),
            ("GET", "/no/such/page", None, 404),
            ("POST", "/logout", Role.AGENT, 403),
            ("POST", "/login", None, 422),
            ("GET", "/static/app.css", None, 200),
            ("GET", "/healthz", None, 200),
            ("GET", "/api/v1/me", None, 401),
            ("GET", "/api/v1/me", Role.AGENT, 200),
            ("GET", "/api/v1/nothing", None, 404),
        ],
    )
    async def test_every_answer_carries_the_security_headers(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        method: str,
        path: str,
        signed_in_as: Role | None,
        status: int,
    ) -> None:
        if signed_in_as:
            await signed_in(client, factory, settings, world.staff_with(signed_in_as))
        response = await client.request(method, path)
        assert response.status_code == status
        directives = csp_directives(response)
        assert "'unsafe-inline'" not in directives["script-src"]
        assert "'unsafe-eval'" not in directives["script-src"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(
        ("role", "path"), [(Role.AGENT, "/desk"), (Role.PARTNER_ADMIN, "/partner")]
    )
    async def test_signed_in_pages_are_not_kept_by_the_browser(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        world: World,
        role: Role,
        path: str,
    ) -> None:
        await signed_in(client, factory, settings, world.staff_with(role))
        response = await client.get(path)
        assert response.status_code == 200
        assert "no-store" in response.headers.get("cache-control", "")

    async def test_pages_use_no_inline_script_or_style(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        pages = [await client.get("/login")]
        await signed_in(client, factory, settings, world.a.admin)
        pages += [await client.get("/partner"), await client.get("/partner/webhooks")]
        for page in pages:
            document = parse(page)
            for script in document.find_all("script"):
                source = urlsplit(script.attrs["src"])
                assert source.netloc in ("", "testserver"), script
                assert source.path.startswith("/static/"), script
                assert script.text() == ""
            assert document.find_all("style") == []
            assert not [e for e in document.iter() if "style" in e.attrs]
            assert not [e for e in document.iter() if any(a.startswith("on") for a in e.attrs)]
