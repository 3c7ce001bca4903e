"""The Partnership and Add-ons pages: pending requests with every field the guide lists,
approved and rejected in place (htmx) and by plain forms, and the searchable history."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.approvals import pages
from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import Package
from relaydesk.config import Settings
from relaydesk.tenancy.service import create_partner
from tests.approvals.conftest import Requests
from tests.factories import Factory, World
from tests.forms import FormPage
from tests.html import Element, parse
from tests.web.test_pages import alerts, redirect_target, signed_in

CSRF_REFUSED = "The CSRF token is missing or wrong. Reload the page."
HINT = (
    "This description will be sent to the partner's e-mail. "
    "Use it to describe why you have rejected the request."
)


def rows(document: Element) -> list[Element]:
    return document.find_all("li", {"class": "request"})


def facts(row: Element) -> dict[str, str]:
    """The row's fields by their labels."""
    return {
        pair.find("dt").text(): pair.find("dd").text()
        for pair in row.find("dl", {"class": "request-facts"}).find_all("div")
    }


def row_of(document: Element, request_id: str) -> Element:
    return document.find("li", {"id": f"request-{request_id}"})


def history_rows(document: Element) -> list[list[str]]:
    table = document.find("table", {"class": "requests-history"})
    return [[cell.text() for cell in row.find_all("td")] for row in table.find_all("tr")[1:]]


def statuses(element: Element) -> list[str]:
    return [e.text() for e in element.iter() if e.attrs.get("role") == "status"]


class Reviewer(FormPage):
    """A signed-in browser on the Partnership or Add-ons page."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(client, "/tenant/partnerships")

    async def htmx(self, path: str, **data: str) -> Element:
        """Posts like htmx does; returns the row it answers with."""
        return (await self.fragment(path, data)).find("li")

    async def plain(self, path: str, **data: str) -> httpx.Response:
        return await self.post_plain(path, data)


async def reviewer_for(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, user: StaffUser
) -> Reviewer:
    await signed_in(client, factory, settings, user)
    reviewer = Reviewer(client)
    await reviewer.open()
    return reviewer


@pytest.fixture
async def admin(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> Reviewer:
    return await reviewer_for(client, factory, settings, world.tenant_admin)


@pytest.fixture
async def addon_request(requests: Requests, world: World) -> dict[str, Any]:
    addon = await requests.addon(name="Coupons add-on", description="Send coupons")
    response = await requests.submit(
        world.a.admin, {"kind": "addon", "addon_id": addon["id"], "description": "For Easter"}
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestPendingPartnerships:
    async def test_each_request_shows_every_field_the_guide_lists(
        self, admin: Reviewer, requests: Requests, package: Package, factory: Factory, world: World
    ) -> None:
        new = await requests.register(
            package, partner_name="Café Nova", description="We roast coffee."
        )
        gold = await factory.package(world.tenant, price="149.00")
        change = await requests.submit(
            world.a.admin, {"kind": "partnership", "package_id": str(gold.id)}
        )
        document = await admin.open()

        assert document.find("h1").text() == "Partnership"
        tabs = document.find("nav", {"aria-label": "Partnership"}).find_all("a")
        assert [(a.text(), a.attrs.get("aria-current")) for a in tabs] == [
            ("Pending approval", "page"),
            ("History", None),
        ]
        main_nav = document.find("nav", {"aria-label": "Main"})
        assert main_nav.find("a", {"aria-current": "page"}).own_text() == "Partnership"
        assert [row.find("h3").text() for row in rows(document)] == [
            "Café Nova",
            world.a.partner.name,
        ]
        first, second = rows(document)
        details = new["details"]
        assert facts(first) == {
            "Package": f"{package.name} (99.00 EUR / month)",
            "Requested": new["requested_at"][:16].replace("T", " ") + " UTC",
            "Phone": "+386 40 123 456",
            "E-mail": details["email"],
            "Partner status": "New",
            "Website": "https://brand.example",
            "Contact name": details["contact_name"],
            "Description": "We roast coffee.",
        }
        assert first.find("a", {"href": f"mailto:{details['email']}"})
        assert first.find("a", {"href": "https://brand.example"}).attrs["rel"] == (
            "noopener noreferrer nofollow"
        )
        assert facts(second)["Partner status"] == "Active"
        assert facts(second)["Package"] == f"{gold.name} (149.00 EUR / month)"
        assert facts(second)["Description"] == "None given"
        assert second.attrs["id"] == f"request-{change.json()['id']}"

    async def test_each_row_offers_approve_and_a_reject_dialog(
        self, admin: Reviewer, requests: Requests, package: Package
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        row = row_of(await admin.open(), request["id"])
        base = f"/tenant/partnerships/{request['id']}"
        approve = row.find("form", {"action": f"{base}/approve"})
        assert approve.attrs["hx-post"] == f"{base}/approve"
        assert approve.attrs["hx-target"] == f"#request-{request['id']}"
        assert approve.find("button").text() == "Approve"
        reject = row.find("a", {"data-dialog": f"reject-{request['id']}-dialog"})
        assert (reject.text(), reject.attrs["href"]) == ("Reject", f"{base}/reject")
        dialog = row.find("dialog", {"id": f"reject-{request['id']}-dialog"})
        assert "open" not in dialog.attrs
        assert dialog.find("h3").text() == "Reject the partnership request?"
        textarea = dialog.find("textarea", {"name": "reason"})
        assert "required" in textarea.attrs
        assert HINT in dialog.text()
        form = dialog.find("form", {"class": "reject-form"})
        assert form.attrs["hx-post"] == f"{base}/reject"
        assert dialog.find("button", {"data-close-dialog": ""}).text() == "Cancel"

    async def test_an_empty_queue_says_so(self, admin: Reviewer) -> None:
        document = await admin.open()
        assert rows(document) == []
        assert "No partnership requests are waiting for approval." in document.text()


class TestApprove:
    async def test_approving_a_registration_makes_an_active_partner_and_mails_its_admin(
        self,
        admin: Reviewer,
        requests: Requests,
        package: Package,
        client: httpx.AsyncClient,
        world: World,
        mail: Any,
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        row = await admin.htmx(f"/tenant/partnerships/{request['id']}/approve")

        assert row.attrs["id"] == f"request-{request['id']}"
        assert statuses(row) == [
            f"Approved. Café Nova is now on the {package.name} package and has been told by e-mail."
        ]
        assert row.find_all("form") == []
        decided = await requests.get(request["id"])
        assert decided["status"] == "approved"
        assert decided["decided_by"]["name"] == world.tenant_admin.name
        partners = await client.get(
            "/api/v1/tenant/partners",
            params={"q": "Café Nova"},
            headers=await requests.as_(world.tenant_admin),
        )
        (partner,) = partners.json()["items"]
        assert (partner["status"], partner["package"]["name"]) == ("active", package.name)
        await mail.deliver()
        welcome = mail.last_to(request["details"]["email"])
        assert "/set-password/" in mail.body(welcome)
        assert rows(await admin.open()) == []

    async def test_a_plain_form_goes_back_to_the_list_which_says_what_happened(
        self, admin: Reviewer, requests: Requests, package: Package
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        response = await admin.plain(f"/tenant/partnerships/{request['id']}/approve")
        target = redirect_target(response)
        assert target == f"/tenant/partnerships?decided={request['id']}"
        document = await admin.open("/tenant/partnerships", decided=request["id"])
        assert statuses(document) == [
            f"Approved. Café Nova is now on the {package.name} package and has been told by e-mail."
        ]
        assert rows(document) == []
        waiting = await requests.register(package)
        for hand_made in (waiting["id"], "nonsense"):
            assert statuses(await admin.open(decided=hand_made)) == []

    async def test_a_request_decided_by_someone_else_says_who(
        self, admin: Reviewer, requests: Requests, package: Package, world: World
    ) -> None:
        request = await requests.register(package)
        assert (await requests.reject(request["id"], user=world.tenant_staff)).status_code == 200
        base = f"/tenant/partnerships/{request['id']}"
        already = f"Already rejected by {world.tenant_staff.name}."

        for path, data in ((f"{base}/approve", {}), (f"{base}/reject", {"reason": "No"})):
            row = await admin.htmx(path, **data)
            assert alerts(row) == [already]
            assert row.find_all("form") == []

        plain = await admin.plain(f"{base}/approve")
        assert plain.status_code == 409
        assert alerts(parse(plain)) == [already]
        plain = await admin.plain(f"{base}/reject", reason="No")
        assert plain.status_code == 409
        assert alerts(parse(plain)) == [already]
        assert (await requests.get(request["id"]))["rejection_reason"] == "Not now"

    async def test_a_refused_approval_leaves_the_request_pending(
        self,
        admin: Reviewer,
        requests: Requests,
        package: Package,
        factory: Factory,
        world: World,
    ) -> None:
        """The name was free when the partner registered, and taken by the time of approval."""
        request = await requests.register(package, partner_name="Café Nova")
        async with factory.database.transaction() as session:
            await create_partner(
                session, tenant=world.tenant, name="Café Nova", package=package, email="x@y.example"
            )
        row = await admin.htmx(f"/tenant/partnerships/{request['id']}/approve")

        assert alerts(row) == ["A partner named 'Café Nova' already exists."]
        assert row.find("form", {"action": f"/tenant/partnerships/{request['id']}/approve"})
        assert (await requests.get(request["id"]))["status"] == "pending"
        plain = await admin.plain(f"/tenant/partnerships/{request['id']}/approve")
        assert plain.status_code == 409
        assert alerts(parse(plain)) == ["Café Nova: A partner named 'Café Nova' already exists."]
        assert (await requests.get(request["id"]))["status"] == "pending"


class TestReject:
    async def test_the_description_is_kept_and_mailed_to_the_partner(
        self, admin: Reviewer, requests: Requests, package: Package, world: World, mail: Any
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        reason = "We only take partners from Slovenia for now."
        row = await admin.htmx(f"/tenant/partnerships/{request['id']}/reject", reason=reason)

        assert statuses(row) == ["Rejected. Café Nova has been sent the description by e-mail."]
        decided = await requests.get(request["id"])
        assert (decided["status"], decided["rejection_reason"]) == ("rejected", reason)
        assert decided["decided_by"]["name"] == world.tenant_admin.name
        await mail.deliver()
        assert reason in mail.body(mail.last_to(request["details"]["email"]))

    async def test_a_blank_description_shows_the_dialog_again_with_the_reason(
        self, admin: Reviewer, requests: Requests, package: Package
    ) -> None:
        request = await requests.register(package)
        path = f"/tenant/partnerships/{request['id']}/reject"
        row = await admin.htmx(path, reason="   ")

        dialog = row.find("dialog")
        assert "open" in dialog.attrs
        assert alerts(dialog) == [pages.REASON_MISSING]
        assert dialog.find("textarea").attrs["aria-invalid"] == "true"
        too_long = await admin.htmx(path, reason="x" * 2001)
        assert alerts(too_long.find("dialog")) == [pages.REASON_TOO_LONG]
        assert (await requests.get(request["id"]))["status"] == "pending"

        plain = await admin.plain(path, reason="")
        assert plain.status_code == 422
        document = parse(plain)
        assert alerts(document) == [pages.REASON_MISSING]
        assert document.find("form", {"action": path}).find("textarea").attrs["name"] == "reason"
        assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_without_scripts_reject_leads_to_a_page_with_the_form(
        self, admin: Reviewer, requests: Requests, package: Package
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        path = f"/tenant/partnerships/{request['id']}/reject"
        document = await admin.open(path)

        section = document.find("main").find("section")
        assert section.find("h2").text() == "Reject the partnership request of Café Nova?"
        assert facts(section)["Partner status"] == "New"
        form = section.find("form", {"action": path})
        assert "hx-post" not in form.attrs
        assert HINT in form.text()
        assert form.find("a").attrs["href"] == "/tenant/partnerships"

        target = redirect_target(await admin.plain(path, reason="Not a fit."))
        assert target == f"/tenant/partnerships?decided={request['id']}"
        document = await admin.open(target)
        assert statuses(document) == [
            "Rejected. Café Nova has been sent the description by e-mail."
        ]
        decided = await admin.open(path)
        assert alerts(decided) == [f"Already rejected by {admin_name(decided)}."]
        assert decided.find_all("textarea") == []


def admin_name(document: Element) -> str:
    return document.find("span", {"class": "who"}).find("strong").text()


class TestHistory:
    async def test_decisions_newest_first_with_who_decided_and_why(
        self, admin: Reviewer, requests: Requests, package: Package, world: World
    ) -> None:
        first = await requests.register(package, partner_name="Alpha Roasters")
        second = await requests.register(package, partner_name="Beta Bakery")
        await requests.register(package, partner_name="Still Waiting")
        assert (await requests.approve(first["id"])).status_code == 200
        rejected = await requests.reject(second["id"], "No bakeries.", user=world.tenant_staff)
        assert rejected.status_code == 200
        document = await admin.open(tab="history")

        tabs = document.find("nav", {"aria-label": "Partnership"}).find_all("a")
        assert [a.attrs.get("aria-current") for a in tabs] == [None, "page"]
        headers = [th.text() for th in document.find("table").find_all("th")]
        assert headers == [
            "Partner name",
            "Package (price)",
            "Decision",
            "Approval/Denial date",
            "Decided by",
            "Rejection reason",
        ]
        beta, alpha = (await requests.get(second["id"]), await requests.get(first["id"]))
        assert history_rows(document) == [
            [
                "Beta Bakery",
                f"{package.name} (99.00 EUR / month)",
                "Rejected",
                beta["decided_at"][:16].replace("T", " ") + " UTC",
                world.tenant_staff.name,
                "No bakeries.",
            ],
            [
                "Alpha Roasters",
                f"{package.name} (99.00 EUR / month)",
                "Approved",
                alpha["decided_at"][:16].replace("T", " ") + " UTC",
                world.tenant_admin.name,
                "",
            ],
        ]

    async def test_search_by_partner_name_and_export_the_same(
        self, admin: Reviewer, requests: Requests, package: Package, client: httpx.AsyncClient
    ) -> None:
        for name in ("Alpha Roasters", "Beta Bakery"):
            request = await requests.register(package, partner_name=name)
            assert (await requests.approve(request["id"])).status_code == 200
        document = await admin.open(tab="history", q="  bAKERY ")

        search = document.find("form", {"role": "search"})
        assert search.find("input", {"name": "q"}).attrs["value"] == "bAKERY"
        assert search.find("input", {"name": "tab"}).attrs["value"] == "history"
        assert [row[0] for row in history_rows(document)] == ["Beta Bakery"]
        export = document.find("a", {"class": "pm-button"})
        assert export.text() == "Export CSV"
        url = urlsplit(export.attrs["href"])
        assert url.path == "/api/v1/tenant/requests/export.csv"
        assert parse_qs(url.query) == {
            "kind": ["partnership"],
            "status": ["decided"],
            "q": ["bAKERY"],
        }
        csv = await client.get(export.attrs["href"])
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        assert "Beta Bakery" in csv.text
        assert "Alpha Roasters" not in csv.text

        none = await admin.open(tab="history", q="Gamma")
        assert "No decided partnership requests from a partner whose name contains “Gamma”." in (
            none.text()
        )
        empty = await admin.open("/tenant/addons", tab="history")
        assert "No add-on requests have been approved or rejected yet." in empty.text()

    async def test_load_more_brings_the_next_rows(
        self,
        admin: Reviewer,
        requests: Requests,
        package: Package,
        client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(pages, "ROWS_SHOWN", 2)
        names = ["One", "Two", "Three"]
        for name in names:
            request = await requests.register(package, partner_name=name)
            assert (await requests.approve(request["id"])).status_code == 200
        document = await admin.open(tab="history")

        assert [row[0] for row in history_rows(document)[:2]] == ["Three", "Two"]
        more = document.find("tr", {"id": "requests-more"}).find("a")
        assert more.text() == "Load more"
        assert more.attrs["hx-target"] == "#requests-more"
        response = await client.get(more.attrs["hx-get"], headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert not response.text.lstrip().startswith("<!doctype")
        fragment = parse(response)
        assert [tr.find("td").text() for tr in fragment.find_all("tr")] == ["One"]

        plain = await admin.open(more.attrs["href"])
        assert [row[0] for row in history_rows(plain)] == ["One"]
        assert plain.find_all("tr", {"id": "requests-more"}) == []

    async def test_pending_rows_load_more_too(
        self,
        admin: Reviewer,
        requests: Requests,
        package: Package,
        client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(pages, "ROWS_SHOWN", 1)
        for name in ("First", "Second"):
            await requests.register(package, partner_name=name)
        document = await admin.open()

        assert [row.find("h3").text() for row in rows(document)] == ["First"]
        more = document.find("li", {"id": "requests-more"}).find("a")
        response = await client.get(more.attrs["hx-get"], headers={"HX-Request": "true"})
        assert [row.find("h3").text() for row in rows(parse(response))] == ["Second"]


class TestQueries:
    @pytest.mark.parametrize("tab", ["pending", "history"])
    async def test_the_page_takes_the_same_queries_however_many_requests(
        self, app: FastAPI, admin: Reviewer, requests: Requests, package: Package, tab: str
    ) -> None:
        statements: list[str] = []
        engine = app.state.database.engine.sync_engine

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> int:
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                await admin.open(tab=tab)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

        async def more() -> None:
            request = await requests.register(package)
            if tab == "history":
                assert (await requests.approve(request["id"])).status_code == 200

        await more()
        one = await queries()
        for _ in range(3):
            await more()
        assert await queries() == one


class TestAddons:
    async def test_pending_add_ons_show_what_they_grant(
        self, admin: Reviewer, addon_request: dict[str, Any], world: World
    ) -> None:
        document = await admin.open("/tenant/addons")

        assert document.find("h1").text() == "Add-ons"
        tabs = document.find("nav", {"aria-label": "Add-ons"}).find_all("a")
        assert [a.text() for a in tabs] == ["Pending for approval", "History"]
        (row,) = rows(document)
        assert row.find("h3").text() == world.a.partner.name
        assert facts(row) == {
            "Add-on": "Coupons add-on (19.00 EUR)",
            "Grants": "Engagement types: Coupon · 2 extra channels",
            "Requested": addon_request["requested_at"][:16].replace("T", " ") + " UTC",
            "Description": "For Easter",
        }
        assert row.find("dialog").find("h3").text() == "Reject the add-on request?"

    async def test_approval_activates_the_add_on_for_the_partner(
        self,
        admin: Reviewer,
        addon_request: dict[str, Any],
        requests: Requests,
        client: httpx.AsyncClient,
        world: World,
    ) -> None:
        row = await admin.htmx(f"/tenant/addons/{addon_request['id']}/approve")

        assert statuses(row) == [
            f"Approved. Coupons add-on is now active for {world.a.partner.name}, who has been "
            "told by e-mail."
        ]
        partner = await client.get(
            f"/api/v1/tenant/partners/{world.a.partner.id}",
            headers=await requests.as_(world.tenant_admin),
        )
        assert [addon["name"] for addon in partner.json()["addons"]] == ["Coupons add-on"]
        history = await admin.open("/tenant/addons", tab="history")
        assert history_rows(history)[0][:3] == [
            world.a.partner.name,
            "Coupons add-on (19.00 EUR)",
            "Approved",
        ]
        assert [th.text() for th in history.find("table").find_all("th")][1] == "Add-on (price)"

    async def test_each_page_decides_only_its_own_kind(
        self,
        admin: Reviewer,
        addon_request: dict[str, Any],
        requests: Requests,
        package: Package,
    ) -> None:
        registration = await requests.register(package)
        crossed = [
            f"/tenant/partnerships/{addon_request['id']}/approve",
            f"/tenant/addons/{registration['id']}/approve",
            f"/tenant/addons/{registration['id']}/reject",
        ]
        for path in crossed:
            response = await admin.plain(path, reason="No")
            assert response.status_code == 404, path
        assert (
            await admin.client.get(f"/tenant/addons/{registration['id']}/reject")
        ).status_code == 404
        assert (await requests.get(registration["id"]))["status"] == "pending"
        assert (await requests.get(addon_request["id"]))["status"] == "pending"


class TestAccess:
    async def test_tenant_staff_review_too(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        package: Package,
        world: World,
    ) -> None:
        request = await requests.register(package)
        staff = await reviewer_for(client, factory, settings, world.tenant_staff)
        row = await staff.htmx(f"/tenant/partnerships/{request['id']}/reject", reason="No.")
        assert statuses(row) == [
            f"Rejected. {request['partner']['name']} has been sent the description by e-mail."
        ]

    @pytest.mark.parametrize("path", ["/tenant/partnerships", "/tenant/addons"])
    async def test_partner_staff_are_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        package: Package,
        world: World,
        path: str,
    ) -> None:
        request = await requests.register(package)
        for user in (world.a.admin, world.a.agent):
            await signed_in(client, factory, settings, user)
            assert (await client.get(path)).status_code == 403
            refused = await client.post(f"{path}/{request['id']}/approve")
            assert refused.status_code == 403
        assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_signed_out_visitors_are_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/tenant/partnerships", params={"tab": "history"})
        assert redirect_target(response) == "/login?next=/tenant/partnerships%3Ftab%3Dhistory"

    async def test_a_post_without_the_csrf_token_is_refused(
        self, admin: Reviewer, requests: Requests, package: Package
    ) -> None:
        request = await requests.register(package)
        for data in ({}, {"csrf_token": "forged"}):
            response = await admin.client.post(
                f"/tenant/partnerships/{request['id']}/approve", data=data
            )
            assert response.status_code == 403
            assert CSRF_REFUSED in response.text
        assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_another_tenants_requests_are_not_found(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        requests: Requests,
        package: Package,
        addon_request: dict[str, Any],
        world: World,
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova")
        other = await reviewer_for(client, factory, settings, world.other_tenant_admin)
        assert rows(await other.open()) == []
        assert rows(await other.open("/tenant/addons")) == []
        assert rows(await other.open(decided=request["id"])) == []
        for path in (
            f"/tenant/partnerships/{request['id']}/approve",
            f"/tenant/partnerships/{request['id']}/reject",
            f"/tenant/addons/{addon_request['id']}/approve",
        ):
            assert (await other.plain(path, reason="No")).status_code == 404, path
        reject_page = await client.get(f"/tenant/partnerships/{request['id']}/reject")
        assert reject_page.status_code == 404
        assert (await requests.get(request["id"]))["status"] == "pending"
        assert (await requests.get(addon_request["id"]))["status"] == "pending"
