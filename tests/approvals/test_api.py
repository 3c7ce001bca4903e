"""One workflow for partnership and add-on requests: submit, list, decide once, e-mail."""

import asyncio
import csv
import io
import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.catalogue.models import Package
from relaydesk.clock import clock, now
from relaydesk.errors import Conflict
from relaydesk.notify.models import Email
from relaydesk.tenancy.models import Partner, PartnerStatus, Tenant
from relaydesk.tenancy.service import create_partner
from tests.approvals.conftest import Requests, registration
from tests.factories import Factory, World


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def mails_to(mail: Any, address: str) -> list[EmailMessage]:
    return [message for message in mail.messages if address in message["To"]]


async def email_count(factory: Factory) -> int:
    async with factory.database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Email))


class TestRegistration:
    async def test_a_registration_waits_with_every_field_the_guide_lists(
        self, requests: Requests, package: Package, mail: Any
    ) -> None:
        request = await requests.register(package, partner_name="Café Nova", description="Beans")
        assert request | {"id": None, "requested_at": None, "details": None} == {
            "id": None,
            "kind": "partnership",
            "status": "pending",
            "title": package.name,
            "partner": {"id": None, "name": "Café Nova", "status": "new"},
            "price": {"amount": "99.00", "currency": "EUR"},
            "description": "Beans",
            "requested_at": None,
            "decided_at": None,
            "decided_by": None,
            "rejection_reason": None,
            "details": None,
        }
        details = request["details"]
        assert details["package"]["name"] == package.name
        assert details["phone"] == "+386 40 123 456"
        assert details["website"] == "https://brand.example"
        assert details["email"].endswith("@brand.example")
        await mail.deliver()
        (received,) = mails_to(mail, details["email"])
        assert "Café Nova" in body_of(received)

    async def test_refusals_change_nothing(
        self,
        client: httpx.AsyncClient,
        requests: Requests,
        package: Package,
        factory: Factory,
        world: World,
    ) -> None:
        url = f"/api/v1/public/{world.tenant.slug}/partnership-requests"
        other_package = await factory.package(world.other_tenant)
        archived = await factory.package(world.tenant)
        await client.patch(
            f"/api/v1/tenant/packages/{archived.id}",
            json={"archived": True},
            headers=await requests.as_(world.tenant_admin),
        )
        taken = await requests.register(package)
        cases: list[tuple[dict[str, Any], int, str]] = [
            (registration(package, email="not-an-address"), 422, "validation_error"),
            (registration(package, phone="call me"), 422, "validation_error"),
            (registration(package, partner_name=""), 422, "validation_error"),
            (registration(package, description="x" * 2001), 422, "validation_error"),
            (registration(package) | {"extra": 1}, 422, "validation_error"),
            (registration(package, package_id="nope"), 422, "validation_error"),
            (registration(other_package), 404, "not_found"),
            (registration(archived), 409, "archived"),
            (registration(package, partner_name=world.a.partner.name.upper()), 409, "name_taken"),
            (registration(package, partner_name=taken["partner"]["name"]), 409, "request_pending"),
            (registration(package, email=taken["details"]["email"]), 409, "request_pending"),
        ]
        before = len(await requests.listed(kind="partnership"))
        mails = await email_count(factory)
        for body, status, code in cases:
            response = await client.post(url, json=body)
            assert (response.status_code, response.json()["code"]) == (status, code), body
            assert response.headers["content-type"] == "application/problem+json"
        missing = await client.post(
            "/api/v1/public/no-such-tenant/partnership-requests", json=registration(package)
        )
        assert missing.status_code == 404
        assert len(await requests.listed(kind="partnership")) == before
        assert await email_count(factory) == mails

    async def test_an_address_with_an_account_is_told_by_mail_and_the_form_reveals_nothing(
        self,
        client: httpx.AsyncClient,
        requests: Requests,
        package: Package,
        world: World,
        mail: Any,
    ) -> None:
        url = f"/api/v1/public/{world.tenant.slug}/partnership-requests"
        response = await client.post(
            url, json=registration(package, email=world.a.admin.email.upper())
        )
        fresh = await client.post(url, json=registration(package))
        assert response.status_code == fresh.status_code == 202
        assert response.json().keys() == fresh.json().keys()
        assert response.json()["status"] == "pending"
        listed = await requests.listed(kind="partnership")
        assert [item["id"] for item in listed] == [fresh.json()["id"]]
        missing = await client.get(
            f"/api/v1/tenant/requests/{response.json()['id']}",
            headers=await requests.as_(world.tenant_admin),
        )
        assert missing.status_code == 404
        await mail.deliver()
        (told,) = mails_to(mail, world.a.admin.email)
        assert "already has an account" in body_of(told)

    async def test_one_address_may_register_only_a_few_times_an_hour(
        self, client: httpx.AsyncClient, package: Package, world: World
    ) -> None:
        url = f"/api/v1/public/{world.tenant.slug}/partnership-requests"
        statuses = [
            (await client.post(url, json=registration(package))).status_code for _ in range(11)
        ]
        assert statuses == [202] * 10 + [429]


class TestPartnerRequests:
    async def test_a_partner_asks_for_another_package_and_sees_it_pending(
        self, requests: Requests, factory: Factory, world: World
    ) -> None:
        gold = await factory.package(world.tenant, price="149.00")
        response = await requests.submit(
            world.a.admin, {"kind": "partnership", "package_id": str(gold.id)}
        )
        assert response.status_code == 201, response.text
        request = response.json()
        assert request["partner"] == {
            "id": str(world.a.partner.id),
            "name": world.a.partner.name,
            "status": "active",
        }
        assert (request["title"], request["price"]) == (
            gold.name,
            {"amount": "149.00", "currency": "EUR"},
        )
        mine = await requests.client.get(
            "/api/v1/partner/requests", headers=await requests.as_(world.a.admin)
        )
        assert [item["id"] for item in mine.json()["items"]] == [request["id"]]
        theirs = await requests.client.get(
            "/api/v1/partner/requests", headers=await requests.as_(world.b.admin)
        )
        assert theirs.json()["items"] == []

    async def test_partner_refusals(
        self, requests: Requests, factory: Factory, world: World
    ) -> None:
        gold = await factory.package(world.tenant)
        foreign = await factory.package(world.other_tenant)
        addon = await requests.addon()
        retired = await requests.addon(archived=True)
        assert (
            await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        ).status_code == 201
        cases: list[tuple[StaffUser, dict[str, Any], int, str]] = [
            (
                world.a.admin,
                {"kind": "partnership", "package_id": str(world.a.partner.package_id)},
                409,
                "already_on_package",
            ),
            (
                world.a.admin,
                {"kind": "partnership", "package_id": str(foreign.id)},
                404,
                "not_found",
            ),
            (world.a.admin, {"kind": "addon", "addon_id": addon["id"]}, 409, "request_pending"),
            (world.a.admin, {"kind": "addon", "addon_id": retired["id"]}, 409, "archived"),
            (world.a.admin, {"kind": "fax", "package_id": str(gold.id)}, 422, "validation_error"),
            (world.a.admin, {"kind": "addon", "package_id": str(gold.id)}, 422, "validation_error"),
            (
                world.a.agent,
                {"kind": "partnership", "package_id": str(gold.id)},
                403,
                "permission_denied",
            ),
            (
                world.tenant_admin,
                {"kind": "partnership", "package_id": str(gold.id)},
                403,
                "permission_denied",
            ),
        ]
        for user, body, status, code in cases:
            response = await requests.submit(user, body)
            assert (response.status_code, response.json()["code"]) == (status, code), body
        first = await requests.submit(
            world.a.admin, {"kind": "partnership", "package_id": str(gold.id)}
        )
        assert first.status_code == 201
        second = await requests.submit(
            world.a.admin, {"kind": "partnership", "package_id": str(gold.id)}
        )
        assert second.json()["code"] == "request_pending"


class TestSubmittedAtOnce:
    async def test_the_same_request_twice_at_once_waits_once(
        self, requests: Requests, package: Package, world: World
    ) -> None:
        addon = await requests.addon()
        responses = await asyncio.gather(
            *(
                requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
                for _ in range(2)
            )
        )
        assert sorted(response.status_code for response in responses) == [201, 409]
        url = f"/api/v1/public/{world.tenant.slug}/partnership-requests"
        registrations = await asyncio.gather(
            *(
                requests.client.post(
                    url,
                    json=registration(package, partner_name="Twice Co", email=f"t{n}@x.example"),
                )
                for n in range(2)
            )
        )
        assert sorted(response.status_code for response in registrations) == [202, 409]
        pending = await requests.listed(status="pending")
        assert sorted(item["title"] for item in pending) == sorted([addon["name"], package.name])


class TestDecisions:
    async def test_approving_a_registration_makes_an_active_partner_with_a_set_password_link(
        self,
        client: httpx.AsyncClient,
        requests: Requests,
        package: Package,
        factory: Factory,
        world: World,
        mail: Any,
    ) -> None:
        request = await requests.register(package, partner_name="Nova Coffee")
        response = await requests.approve(request["id"], world.tenant_staff)
        assert response.status_code == 200, response.text
        approved = response.json()
        assert approved["status"] == "approved"
        assert approved["decided_by"]["id"] == str(world.tenant_staff.id)
        assert approved["partner"]["status"] == "active"
        async with factory.database.transaction() as session:
            partner = await session.scalar(select(Partner).where(Partner.name == "Nova Coffee"))
            admin = await session.scalar(
                select(StaffUser).where(StaffUser.partner_id == partner.id)
            )
        assert (partner.status, partner.package_id) == (PartnerStatus.ACTIVE, package.id)
        assert approved["partner"]["id"] == str(partner.id)
        assert (admin.role, admin.password_hash) == (Role.PARTNER_ADMIN, None)

        await mail.deliver()
        (welcome,) = [m for m in mails_to(mail, admin.email) if "/set-password/" in body_of(m)]
        link = re.search(r"http://testserver(/set-password/\S+)", body_of(welcome))
        assert link is not None
        page = await client.get(link.group(1))
        assert page.status_code == 200
        assert len(mails_to(mail, admin.email)) == 2  # received, then welcome: no approval mail

    async def test_approving_a_package_change_moves_the_partner(
        self, requests: Requests, factory: Factory, world: World, mail: Any
    ) -> None:
        gold = await factory.package(world.tenant)
        asked = await requests.submit(
            world.a.admin, {"kind": "partnership", "package_id": str(gold.id)}
        )
        assert (await requests.approve(asked.json()["id"])).status_code == 200
        async with factory.database.transaction() as session:
            partner = await session.get(Partner, world.a.partner.id)
        assert partner.package_id == gold.id
        await mail.deliver()
        (approved,) = mails_to(mail, world.a.partner.email)
        assert gold.name in body_of(approved)

    async def test_approving_an_add_on_activates_it(
        self, requests: Requests, world: World, client: httpx.AsyncClient
    ) -> None:
        addon = await requests.addon()
        asked = await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        assert (await requests.approve(asked.json()["id"])).status_code == 200
        partner = await client.get(
            f"/api/v1/tenant/partners/{world.a.partner.id}",
            headers=await requests.as_(world.tenant_admin),
        )
        assert partner.json()["addons"] == [{"id": addon["id"], "name": addon["name"]}]
        again = await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        assert again.json()["code"] == "addon_active"

    async def test_rejecting_needs_a_reason_and_mails_it(
        self, requests: Requests, package: Package, factory: Factory, mail: Any
    ) -> None:
        request = await requests.register(package)
        for reason in ("", "   ", None, 5, "x" * 2001):
            response = await requests.reject(request["id"], reason)
            assert response.status_code == 422, reason
        assert (await requests.get(request["id"]))["status"] == "pending"
        rejected = await requests.reject(request["id"], "  Your website is not live yet.  ")
        assert rejected.status_code == 200
        assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
            "rejected",
            "Your website is not live yet.",
        )
        await mail.deliver()
        address = request["details"]["email"]
        rejection = [m for m in mails_to(mail, address) if "website" in body_of(m)]
        assert len(rejection) == 1
        async with factory.database.transaction() as session:
            assert not await session.scalar(
                select(Partner.id).where(Partner.name == request["partner"]["name"])
            )

    async def test_a_decision_made_while_smtp_is_down_is_mailed_once_when_it_is_back(
        self, requests: Requests, package: Package, mail: Any
    ) -> None:
        request = await requests.register(package)
        address = request["details"]["email"]
        await mail.deliver()  # the registration's receipt
        mail.stop()
        clock.freeze(now())
        rejected = await requests.reject(request["id"], "Please add your VAT number.")
        assert rejected.status_code == 200
        assert await mail.deliver() == 0
        clock.advance(timedelta(minutes=1))
        assert await mail.deliver() == 0  # still down: tried again after the backoff
        mail.start()
        clock.advance(timedelta(minutes=2))
        assert await mail.deliver() == 1
        clock.advance(timedelta(hours=1))
        assert await mail.deliver() == 0
        reasons = [m for m in mails_to(mail, address) if "VAT number" in body_of(m)]
        assert len(reasons) == 1

    async def test_a_second_decision_is_409_and_changes_nothing(
        self, requests: Requests, package: Package, factory: Factory
    ) -> None:
        request = await requests.register(package)
        assert (await requests.reject(request["id"], "No")).status_code == 200
        mails = await email_count(factory)
        for response in (
            await requests.approve(request["id"]),
            await requests.reject(request["id"]),
        ):
            assert response.status_code == 409
            assert response.json()["code"] == "request_already_decided"
        after = await requests.get(request["id"])
        assert (after["status"], after["rejection_reason"]) == ("rejected", "No")
        assert await email_count(factory) == mails

    @pytest.mark.parametrize("second", ["approve", "reject"])
    async def test_two_reviewers_at_once_make_exactly_one_decision_and_one_mail(
        self,
        requests: Requests,
        package: Package,
        factory: Factory,
        world: World,
        mail: Any,
        second: str,
    ) -> None:
        request = await requests.register(package)
        await mail.deliver()
        sent_before = len(mail.messages)
        other = getattr(requests, second)
        responses = await asyncio.gather(
            requests.approve(request["id"], world.tenant_admin),
            other(request["id"], user=world.tenant_staff),
        )
        assert sorted(response.status_code for response in responses) == [200, 409]
        await mail.deliver()
        assert len(mail.messages) == sent_before + 1
        async with factory.database.transaction() as session:
            partners = await session.scalar(
                select(func.count()).where(Partner.name == request["partner"]["name"])
            )
        assert partners == (1 if (await requests.get(request["id"]))["status"] == "approved" else 0)

    async def test_a_registration_whose_name_was_taken_meanwhile_stays_pending(
        self, requests: Requests, package: Package, factory: Factory, world: World
    ) -> None:
        request = await requests.register(package, partner_name="Late Brand")
        async with factory.database.transaction() as session:
            await create_partner(
                session,
                tenant=await session.get_one(Tenant, world.tenant.id),
                name="Late Brand",
                package=package,
                email="late@brand.example",
            )
        response = await requests.approve(request["id"])
        assert (response.status_code, response.json()["code"]) == (409, "name_taken")
        assert (await requests.get(request["id"]))["status"] == "pending"

    async def test_approving_while_a_partner_of_that_name_is_made_leaves_one_partner(
        self, requests: Requests, package: Package, factory: Factory, world: World
    ) -> None:
        """A registration approved while an operator creates a partner of the same name (the
        CLI, say): one of the two wins, the other is told `name_taken`, never a 500."""
        request = await requests.register(package, partner_name="Twin Brand")

        async def made_by_the_operator() -> str:
            try:
                async with factory.database.transaction() as session:
                    await create_partner(
                        session,
                        tenant=await session.get_one(Tenant, world.tenant.id),
                        name="Twin Brand",
                        package=package,
                        email="ops@twin.example",
                    )
            except Conflict as error:
                return error.code
            return "created"

        approved, made = await asyncio.gather(
            requests.approve(request["id"]), made_by_the_operator()
        )
        outcomes = {(approved.status_code, approved.json().get("code")), (made,)}
        assert outcomes in (
            {(200, None), ("name_taken",)},
            {(409, "name_taken"), ("created",)},
        )
        async with factory.database.transaction() as session:
            count = await session.scalar(select(func.count()).where(Partner.name == "Twin Brand"))
        assert count == 1

    async def test_who_may_decide(self, requests: Requests, package: Package, world: World) -> None:
        request = await requests.register(package)
        for user, status in (
            (world.a.admin, 403),
            (world.a.agent, 403),
            (world.other_tenant_admin, 404),
        ):
            assert (await requests.approve(request["id"], user)).status_code == status
            assert (await requests.reject(request["id"], user=user)).status_code == status
        missing = await requests.approve("0190f0f0-0000-7000-8000-000000000000")
        assert missing.status_code == 404
        assert (await requests.get(request["id"]))["status"] == "pending"


class TestLists:
    async def test_filters_search_and_order(
        self, requests: Requests, package: Package, world: World
    ) -> None:
        first = await requests.register(package, partner_name="Alpha Roasters")
        second = await requests.register(package, partner_name="Beta Bakery")
        third = await requests.register(package, partner_name="Gamma Grill")
        addon = await requests.addon()
        asked = (
            await requests.submit(world.a.admin, {"kind": "addon", "addon_id": addon["id"]})
        ).json()
        await requests.approve(second["id"])
        await requests.reject(third["id"], "No")

        def ids(items: list[dict[str, Any]]) -> list[str]:
            return [item["id"] for item in items]

        assert ids(await requests.listed(kind="partnership", status="pending")) == [first["id"]]
        assert ids(await requests.listed(kind="partnership", status="decided")) == [
            third["id"],
            second["id"],
        ]
        assert ids(await requests.listed(status="approved")) == [second["id"]]
        assert ids(await requests.listed(status="rejected")) == [third["id"]]
        assert ids(await requests.listed(kind="addon")) == [asked["id"]]
        assert ids(await requests.listed(kind="partnership", q="bAkE")) == [second["id"]]
        assert ids(await requests.listed(q="%")) == []
        assert await requests.listed(world.other_tenant_admin) == []
        for params in ({"kind": "fax"}, {"status": "maybe"}, {"limit": "0"}, {"cursor": "!"}):
            response = await requests.client.get(
                "/api/v1/tenant/requests",
                params=params,
                headers=await requests.as_(world.tenant_admin),
            )
            assert response.status_code == 422, params

    async def test_history_puts_the_latest_decision_first_across_pages(
        self, requests: Requests, package: Package
    ) -> None:
        made = [(await requests.register(package))["id"] for _ in range(5)]
        for request_id in (made[3], made[0], made[4], made[1], made[2]):
            await requests.reject(request_id, "No")
        seen, cursor = [], None
        headers = await requests.as_(requests.world.tenant_admin)
        while True:
            params = {"status": "decided", "limit": "2"} | ({"cursor": cursor} if cursor else {})
            response = await requests.client.get(
                "/api/v1/tenant/requests", params=params, headers=headers
            )
            page = response.json()
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == [made[2], made[1], made[4], made[0], made[3]]

    async def test_pages_follow_the_cursor(self, requests: Requests, package: Package) -> None:
        made = [(await requests.register(package))["id"] for _ in range(5)]
        seen, cursor = [], None
        headers = await requests.as_(requests.world.tenant_admin)
        while True:
            params = {"status": "pending", "limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = (
                await requests.client.get("/api/v1/tenant/requests", params=params, headers=headers)
            ).json()
            seen += [item["id"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == made

    async def test_history_exports_as_csv_safe_for_spreadsheets(
        self, requests: Requests, package: Package, world: World
    ) -> None:
        evil = await requests.register(package, partner_name="=HYPERLINK(1)")
        plain = await requests.register(package, partner_name="Plain Café")
        await requests.reject(evil["id"], "@no")
        await requests.approve(plain["id"])
        response = await requests.client.get(
            "/api/v1/tenant/requests/export.csv",
            params={"kind": "partnership", "status": "decided"},
            headers=await requests.as_(world.tenant_staff),
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert response.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["Partner", "Kind", "Title"]
        assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(1)", "Plain Café"]
        assert rows[1][5] == "rejected" and rows[1][9] == "'@no"
        assert rows[2][5] == "approved"
        searched = await requests.client.get(
            "/api/v1/tenant/requests/export.csv",
            params={"q": "café"},
            headers=await requests.as_(world.tenant_admin),
        )
        assert len(list(csv.reader(io.StringIO(searched.text)))) == 2
        foreign = await requests.client.get(
            "/api/v1/tenant/requests/export.csv",
            headers=await requests.as_(world.other_tenant_admin),
        )
        assert len(list(csv.reader(io.StringIO(foreign.text)))) == 1
        refused = await requests.client.get(
            "/api/v1/tenant/requests/export.csv", headers=await requests.as_(world.a.admin)
        )
        assert refused.status_code == 403
