"""The Staff pages of partner and tenant admins: the list, inviting, roles, deactivating and
resending invitations, through their forms with htmx and without."""

import uuid
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.config import Settings
from tests.auth.conftest import mailed_link, set_password_by_form
from tests.auth.test_api import sign_in
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.mail import MailServer
from tests.web.test_pages import (
    alerts,
    nav_links,
    redirect_target,
    signed_in,
)

CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."
NEW_PASSWORD = "a brand new passphrase"


def statuses(element: Element) -> list[str]:
    return [e.text() for e in element.iter() if e.attrs.get("role") == "status"]


def row_of(element: Element, user_id: object) -> Element:
    return element.find("tr", {"id": f"staff-{user_id}"})


def cells(element: Element, user_id: object) -> dict[str, str]:
    """The plain columns of a person's row."""
    name, email, _role, status, last_sign_in, _actions = row_of(element, user_id).find_all("td")
    return {
        "name": name.text(),
        "email": email.text(),
        "status": status.text(),
        "last_sign_in": last_sign_in.text(),
    }


def row_with(element: Element, text: str) -> Element:
    (row,) = [row for row in element.find_all("tr") if text in row.text()]
    return row


def chosen_role(element: Element, user_id: object) -> str:
    select = row_of(element, user_id).find("select", {"name": "role"})
    (option,) = [o for o in select.find_all("option") if "selected" in o.attrs]
    return option.attrs["value"]


def buttons(element: Element) -> list[str]:
    return [button.text() for button in element.find_all("button")]


class StaffPage(FormPage):
    """A signed-in admin on their Staff page, posting to paths under it."""

    async def post(self, path: str = "", data: dict[str, Any] | None = None) -> httpx.Response:
        """A plain form post, the token in its field."""
        return await self.post_plain(self.path + path, data or {})

    async def htmx(self, path: str = "", data: dict[str, Any] | None = None) -> Element:
        """Posts like htmx does and returns the panel it answers with."""
        fragment = await self.fragment(self.path + path, data or {})
        return fragment.find("section", {"id": "staff-panel"})


async def staff_page(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, user: StaffUser
) -> StaffPage:
    await signed_in(client, factory, settings, user)
    page = StaffPage(client, "/partner/staff" if user.partner_id else "/tenant/staff")
    await page.open()
    return page


@pytest.fixture
async def partner_page(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> StaffPage:
    return await staff_page(client, factory, settings, world.a.admin)


def invitation(email: str, role: str = "agent", name: str = "Grace Hopper") -> dict[str, str]:
    return {"email": email, "name": name, "role": role}


class TestTheList:
    async def test_a_partner_admin_sees_their_people(
        self, client: httpx.AsyncClient, partner_page: StaffPage, world: World
    ) -> None:
        await sign_in(client, world.a.agent.email)
        document = await partner_page.open()
        assert cells(document, world.a.agent.id) | {"last_sign_in": ""} == {
            "name": world.a.agent.name,
            "email": world.a.agent.email,
            "status": "Active",
            "last_sign_in": "",
        }
        assert cells(document, world.a.agent.id)["last_sign_in"].endswith(" UTC")
        assert cells(document, world.a.admin.id)["last_sign_in"] == "Never"
        assert chosen_role(document, world.a.agent.id) == "agent"
        assert world.b.agent.email not in document.text()
        assert world.tenant_staff.email not in document.text()
        assert ("Staff", "/partner/staff") in nav_links(document)

    async def test_the_admins_own_row_has_no_controls(
        self, partner_page: StaffPage, world: World
    ) -> None:
        own = row_of(await partner_page.open(), world.a.admin.id)
        assert "(you)" in own.text()
        assert own.find_all("form") == []
        other = row_of(await partner_page.open(), world.a.agent.id)
        assert buttons(other) == ["Change role", "Deactivate"]

    async def test_a_tenant_admin_sees_tenant_staff_and_tenant_roles(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        page = await staff_page(client, factory, settings, world.tenant_admin)
        document = await page.open()
        rows = document.find("tbody").find_all("tr")
        assert {row.attrs["id"] for row in rows} == {
            f"staff-{world.tenant_admin.id}",
            f"staff-{world.tenant_staff.id}",
        }
        invite = document.find("select", {"name": "role"})
        assert [o.attrs["value"] for o in invite.find_all("option")] == [
            "tenant_staff",
            "tenant_admin",
        ]

    @pytest.mark.parametrize(
        ("role", "path"),
        [
            (Role.AGENT, "/partner/staff"),
            (Role.TENANT_STAFF, "/tenant/staff"),
            (Role.PARTNER_ADMIN, "/tenant/staff"),
            (Role.TENANT_ADMIN, "/partner/staff"),
        ],
    )
    async def test_others_are_refused(
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


class TestInviting:
    async def test_an_invitation_by_htmx_shows_in_place_and_is_mailed(
        self, client: httpx.AsyncClient, mail: MailServer, partner_page: StaffPage, world: World
    ) -> None:
        panel = await partner_page.htmx(data=invitation("Grace@Staff.example"))
        assert statuses(panel) == ["Invitation sent to grace@staff.example."]
        row = row_with(panel, "grace@staff.example")
        assert "Invited" in row.text()
        assert "Resend invitation" in buttons(row)
        assert panel.find("input", {"name": "email"}).attrs["value"] == ""

        link = await mailed_link(mail, "grace@staff.example")
        assert (await set_password_by_form(client, link, NEW_PASSWORD)).status_code == 303
        assert "Active" in row_with(await partner_page.open(), "grace@staff.example").text()

    async def test_a_plain_form_post_goes_back_to_the_page(self, partner_page: StaffPage) -> None:
        response = await partner_page.post(data=invitation("plain@staff.example", "partner_admin"))
        assert redirect_target(response) == "/partner/staff"
        assert "plain@staff.example" in (await partner_page.open()).text()

    async def test_a_taken_address_is_refused_in_place_keeping_what_was_typed(
        self, mail: MailServer, partner_page: StaffPage, world: World
    ) -> None:
        panel = await partner_page.htmx(data=invitation(world.b.admin.email, name="Copy Cat"))
        assert alerts(panel) == [f"{world.b.admin.email} already has an account."]
        assert panel.find("input", {"name": "name"}).attrs["value"] == "Copy Cat"
        assert panel.find("input", {"name": "email"}).attrs["aria-invalid"] == "true"
        assert await mail.deliver() == 0

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (invitation("not-an-address"), "Enter a valid e-mail address."),
            (invitation("a@staff.example", name=""), "Enter a name of at most 120 characters."),
            (
                invitation("a@staff.example", role="tenant_admin"),
                "The role must be agent or partner_admin.",
            ),
        ],
    )
    async def test_bad_input_gets_the_page_with_the_reason(
        self, partner_page: StaffPage, data: dict[str, str], reason: str
    ) -> None:
        response = await partner_page.post(data=data)
        assert response.status_code == 422
        document = parse(response)
        assert alerts(document) == [reason]
        assert document.find("input", {"name": "email"}).attrs["value"] == data["email"]


class TestChanging:
    async def test_a_role_changes_in_place(self, partner_page: StaffPage, world: World) -> None:
        panel = await partner_page.htmx(f"/{world.a.agent.id}", {"role": "partner_admin"})
        assert statuses(panel) == [f"{world.a.agent.name} is now partner admin."]
        assert chosen_role(panel, world.a.agent.id) == "partner_admin"

    async def test_deactivating_signs_them_out_and_reactivating_lets_them_back(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        partner_page: StaffPage,
        world: World,
    ) -> None:
        headers = await factory.headers(world.a.agent)
        response = await partner_page.post(f"/{world.a.agent.id}", {"is_active": "false"})
        assert redirect_target(response) == "/partner/staff"
        document = await partner_page.open()
        assert cells(document, world.a.agent.id)["status"] == "Deactivated"
        assert "Reactivate" in buttons(row_of(document, world.a.agent.id))
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401

        panel = await partner_page.htmx(f"/{world.a.agent.id}", {"is_active": "true"})
        assert statuses(panel) == [f"{world.a.agent.name} is active again."]
        assert cells(panel, world.a.agent.id)["status"] == "Active"

    async def test_a_refused_change_shows_by_its_row(
        self, partner_page: StaffPage, world: World
    ) -> None:
        panel = await partner_page.htmx(f"/{world.a.agent.id}", {"role": "tenant_admin"})
        assert alerts(row_of(panel, world.a.agent.id)) == [
            "The role must be agent or partner_admin."
        ]

    async def test_someone_of_another_partner_is_not_found(
        self, partner_page: StaffPage, world: World, factory: Factory
    ) -> None:
        """Missing and not-yours are the same 404 page, by htmx and plain post alike."""
        for user_id in (world.b.agent.id, uuid.uuid4()):
            response = await partner_page.client.post(
                f"{partner_page.path}/{user_id}",
                data={"is_active": "false"},
                headers={"X-CSRF-Token": partner_page.token, "HX-Request": "true"},
            )
            assert response.status_code == 404
        response = await partner_page.post(f"/{world.b.agent.id}", {"is_active": "false"})
        assert response.status_code == 404
        assert "No such staff member." in response.text
        async with factory.database.transaction() as session:
            assert (await session.get_one(StaffUser, world.b.agent.id)).is_active

    async def test_resending_an_invitation_mails_a_new_link(
        self, mail: MailServer, partner_page: StaffPage
    ) -> None:
        await partner_page.htmx(data=invitation("again@staff.example"))
        row = row_with(await partner_page.open(), "again@staff.example")
        user_id = row.attrs["id"].removeprefix("staff-")
        panel = await partner_page.htmx(f"/{user_id}/invitation")
        assert statuses(panel) == ["A new invitation is on its way to again@staff.example."]
        await mail.deliver()
        assert len(mail.to("again@staff.example")) == 2

    async def test_people_with_a_password_get_no_invitation(
        self, partner_page: StaffPage, world: World
    ) -> None:
        panel = await partner_page.htmx(f"/{world.a.agent.id}/invitation")
        assert alerts(panel) == [f"{world.a.agent.name} has already set a password."]


class TestCsrf:
    async def test_a_post_without_the_token_changes_nothing(
        self, client: httpx.AsyncClient, partner_page: StaffPage, world: World
    ) -> None:
        for token in ("", "wrong"):
            response = await client.post(
                f"/partner/staff/{world.a.agent.id}",
                data={"csrf_token": token, "is_active": "false"},
            )
            assert response.status_code == 403
            assert CSRF_REFUSED in response.text
        response = await client.post("/partner/staff", data=invitation("csrf@staff.example"))
        assert response.status_code == 403
        document = await partner_page.open()
        assert cells(document, world.a.agent.id)["status"] == "Active"
        assert "csrf@staff.example" not in document.text()

    async def test_every_form_carries_the_token(self, partner_page: StaffPage) -> None:
        await partner_page.htmx(data=invitation("token@staff.example"))
        document = await partner_page.open()
        forms = [f for f in document.find_all("form") if f.attrs.get("method") == "post"]
        assert len(forms) >= 5
        for form in forms:
            field = form.find("input", {"name": "csrf_token"})
            assert field.attrs["value"] == partner_page.token
