"""Broadcast requests (PM-4): what a partner may ask for, what reviewers see, and deciding."""

from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock, now
from tests.approvals.test_api import body_of
from tests.broadcasts.conftest import REQUESTS, Broadcasts
from tests.engagements.conftest import engagement_api, published
from tests.mail import MailServer


class TestAsking:
    async def test_a_broadcast_waits_with_its_engagement_and_estimated_reach(
        self, broadcasts: Broadcasts
    ) -> None:
        world = broadcasts.world
        await broadcasts.end_users(2, follows=[world.a.channel])
        await broadcasts.end_users(3)
        await broadcasts.end_users(1, follows=[world.b.channel])
        await broadcasts.end_users(4, tenant=world.other_tenant)
        news = await broadcasts.engagement(title="Doors open at nine")
        sale = await broadcasts.engagement(title="Summer sale")

        response = await broadcasts.ask(
            broadcasts.body(news, "non_followers", description="To win new followers")
        )
        assert response.status_code == 201, response.text
        request = response.json()
        assert {key: request[key] for key in ("kind", "status", "title", "price")} == {
            "kind": "broadcast",
            "status": "pending",
            "title": "Doors open at nine",
            "price": None,
        }
        assert request["description"] == "To win new followers"
        assert request["partner"]["id"] == str(world.a.partner.id)
        details = request["details"]
        assert {key: details["engagement"][key] for key in ("id", "type", "title")} == {
            "id": news["id"],
            "type": "message",
            "title": "Doors open at nine",
        }
        assert details["channel_id"] == str(world.a.channel.id)
        assert details["audience"] == "non_followers"
        assert datetime.fromisoformat(details["starts_at"]) == broadcasts.start
        # Followers of another partner's channel don't follow this one.
        assert (details["estimated_reach"], details["delivered_count"]) == (4, 0)

        everyone = await broadcasts.asked(sale, "all_end_users")
        assert everyone["details"]["estimated_reach"] == 6

        seen = await broadcasts.get(request["id"])
        assert seen.json()["details"] == details
        assert (await broadcasts.partner_sees(request["id"]))["details"] == details

    async def test_a_start_a_moment_ago_is_taken_as_now(self, broadcasts: Broadcasts) -> None:
        engagement = await broadcasts.engagement()
        moment_ago = now() - timedelta(minutes=1)
        response = await broadcasts.ask(broadcasts.body(engagement, starts_at=moment_ago))
        assert response.status_code == 201, response.text

    async def test_the_start_is_answered_in_utc_whatever_zone_it_was_given_in(
        self, broadcasts: Broadcasts
    ) -> None:
        engagement = await broadcasts.engagement()
        in_ljubljana = broadcasts.start.astimezone(timezone(timedelta(hours=1)))
        request = await broadcasts.ask(broadcasts.body(engagement, starts_at=in_ljubljana))
        assert request.status_code == 201, request.text
        starts_at = datetime.fromisoformat(request.json()["details"]["starts_at"])
        assert starts_at == broadcasts.start
        assert starts_at.utcoffset() == timedelta(0)

    async def test_an_engagement_starting_after_the_broadcast_can_not_be_broadcast(
        self, broadcasts: Broadcasts
    ) -> None:
        tomorrow = (broadcasts.start + timedelta(days=1)).isoformat()
        later = await broadcasts.engagement(starts_at=tomorrow)
        response = await broadcasts.ask(broadcasts.body(later))
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {
                "loc": ["body", "starts_at"],
                "msg": "The engagement starts after the broadcast would.",
            }
        ]

    async def test_refusals_leave_nothing_pending(self, broadcasts: Broadcasts) -> None:
        world = broadcasts.world
        api = broadcasts.engagements
        draft = await api.create(EngagementType.MESSAGE)
        finished = await broadcasts.engagement()
        assert (await api.finish(finished)).status_code == 200
        ending = await broadcasts.engagement(ends_at=broadcasts.start.isoformat())
        theirs = await published(
            await engagement_api(
                broadcasts.client, broadcasts.factory, world.b.admin, world.b.channel
            ),
            EngagementType.MESSAGE,
        )
        foreign = await published(
            await engagement_api(
                broadcasts.client, broadcasts.factory, world.other.admin, world.other.channel
            ),
            EngagementType.MESSAGE,
        )
        fine = await broadcasts.engagement()
        body = broadcasts.body
        cases: list[tuple[StaffUser, dict[str, Any], int, str]] = [
            (world.a.admin, body(draft), 409, "engagement_not_active"),
            (world.a.admin, body(finished), 409, "engagement_not_active"),
            (world.a.admin, body(theirs), 404, "not_found"),
            (world.a.admin, body(foreign), 404, "not_found"),
            (
                world.a.admin,
                body(fine, starts_at=now() - timedelta(hours=1)),
                422,
                "validation_error",
            ),
            (world.a.admin, body(ending), 422, "validation_error"),
            (world.a.admin, body(fine, audience="everyone"), 422, "validation_error"),
            (world.a.admin, body(fine, starts_at="tomorrow"), 422, "validation_error"),
            (world.a.admin, body(fine, starts_at="2030-01-01T10:00:00"), 422, "validation_error"),
            (world.a.admin, body(fine, engagement_id="nope"), 422, "validation_error"),
            (world.a.admin, body(fine, engagement_id=1), 422, "validation_error"),
            (world.a.admin, body(fine, price="free"), 422, "validation_error"),
            (world.a.admin, body(fine, description="x" * 2001), 422, "validation_error"),
            (world.a.agent, body(fine), 403, "permission_denied"),
            (world.tenant_admin, body(fine), 403, "permission_denied"),
            (world.tenant_staff, body(fine), 403, "permission_denied"),
        ]
        for user, request_body, status, code in cases:
            response = await broadcasts.ask(request_body, user)
            assert (response.status_code, response.json()["code"]) == (status, code), request_body
            assert response.headers["content-type"] == "application/problem+json"
        listed = await broadcasts.client.get(
            "/api/v1/tenant/requests",
            params={"kind": "broadcast"},
            headers=await broadcasts.as_(world.tenant_admin),
        )
        assert listed.json()["items"] == []

    async def test_one_pending_broadcast_per_engagement(self, broadcasts: Broadcasts) -> None:
        engagement = await broadcasts.engagement()
        first = await broadcasts.asked(engagement)
        again = await broadcasts.ask(broadcasts.body(engagement, "all_end_users"))
        assert (again.status_code, again.json()["code"]) == (409, "request_pending")
        rejected = await broadcasts.decide(first["id"], "reject", reason="Not this week.")
        assert rejected.status_code == 200
        assert (await broadcasts.ask(broadcasts.body(engagement))).status_code == 201


class TestDeciding:
    async def test_approval_schedules_the_delivery_and_mails_the_partner(
        self, broadcasts: Broadcasts, mail: MailServer
    ) -> None:
        engagement = await broadcasts.engagement(title="Opening day")
        request = await broadcasts.approved(engagement)
        assert request["status"] == "approved"
        assert request["decided_by"]["id"] == str(broadcasts.world.tenant_admin.id)
        assert request["details"]["delivered_count"] == 0
        assert request["details"]["delivery"] == {
            "state": "scheduled",
            "total": None,
            "started_at": None,
            "finished_at": None,
            "stopped_reason": None,
        }
        await mail.deliver()
        approval = mail.last_to(broadcasts.world.a.partner.email)
        assert approval["Subject"] == 'Approved: your broadcast request "Opening day"'

    async def test_rejection_mails_the_reason_and_schedules_nothing(
        self, broadcasts: Broadcasts, mail: MailServer
    ) -> None:
        reached = await broadcasts.end_users(3)
        engagement = await broadcasts.engagement(title="Opening day")
        request = await broadcasts.asked(engagement)
        for reason in ("", "  "):
            refused = await broadcasts.decide(request["id"], "reject", reason=reason)
            assert refused.status_code == 422
        response = await broadcasts.decide(
            request["id"], "reject", reason="Too many broadcasts this week."
        )
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["rejection_reason"]) == (
            "rejected",
            "Too many broadcasts this week.",
        )
        assert "delivery" not in response.json()["details"]
        again = await broadcasts.decide(request["id"], "approve")
        assert (again.status_code, again.json()["code"]) == (409, "request_already_decided")

        await mail.deliver()
        (rejection,) = mail.to(broadcasts.world.a.partner.email)
        assert "Too many broadcasts this week." in body_of(rejection)
        assert "Opening day" in rejection["Subject"]

        clock.freeze(broadcasts.start)
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == {}
        for end_user in reached:
            assert await broadcasts.held(end_user) == []
        mine = await broadcasts.partner_sees(request["id"])
        assert (mine["status"], mine["rejection_reason"]) == (
            "rejected",
            "Too many broadcasts this week.",
        )


class TestTheLists:
    async def test_the_lists_take_the_same_queries_however_many_broadcasts(
        self, app: FastAPI, broadcasts: Broadcasts
    ) -> None:
        await broadcasts.end_users(2)
        engine = app.state.database.engine.sync_engine
        statements: list[str] = []

        def count(*_: object) -> None:
            statements.append("query")

        async def queries() -> tuple[int, int]:
            counted = []
            for path, user in (
                ("/api/v1/tenant/requests", broadcasts.world.tenant_admin),
                (REQUESTS, broadcasts.world.a.admin),
            ):
                headers = await broadcasts.as_(user)
                statements.clear()
                event.listen(engine, "before_cursor_execute", count)
                try:
                    response = await broadcasts.client.get(path, headers=headers)
                finally:
                    event.remove(engine, "before_cursor_execute", count)
                assert response.status_code == 200
                counted.append(len(statements))
            return counted[0], counted[1]

        await broadcasts.approved(await broadcasts.engagement())
        one = await queries()
        for _ in range(3):
            await broadcasts.approved(await broadcasts.engagement())
        await broadcasts.asked(await broadcasts.engagement())
        clock.freeze(broadcasts.start)
        await broadcasts.deliver()
        assert await queries() == one


class TestWhoSeesIt:
    async def test_other_tenants_and_partners_get_404_or_nothing(
        self, broadcasts: Broadcasts
    ) -> None:
        world = broadcasts.world
        request = await broadcasts.asked(await broadcasts.engagement())
        for verb in ("approve", "reject"):
            body = {"reason": "No"} if verb == "reject" else {}
            response = await broadcasts.decide(
                request["id"], verb, world.other_tenant_admin, **body
            )
            assert response.status_code == 404
        assert (await broadcasts.get(request["id"], world.other_tenant_admin)).status_code == 404
        assert (await broadcasts.get(request["id"], world.a.admin)).status_code == 403
        theirs = await broadcasts.client.get(REQUESTS, headers=await broadcasts.as_(world.b.admin))
        assert theirs.json()["items"] == []
        seen = await broadcasts.get(request["id"])
        assert seen.json()["status"] == "pending"
