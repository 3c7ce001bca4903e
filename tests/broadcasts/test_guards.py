"""What keeps a broadcast what the tenant approved and fair to the others: the engagement stays
as asked for, two broadcasts of one engagement still give it once, and due broadcasts take
turns."""

import asyncio
from datetime import timedelta

import pytest

from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.clock import clock
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.broadcasts.conftest import Broadcasts, SlowBatches, once_each


class TestTheEngagementStaysAsApproved:
    async def test_it_can_not_change_while_asked_for_or_delivering_and_can_once_done(
        self, broadcasts: Broadcasts
    ) -> None:
        (reached,) = await broadcasts.end_users(1)
        engagement = await broadcasts.engagement()
        api = broadcasts.engagements
        request = await broadcasts.asked(engagement)

        refused = await api.patch(engagement, data={"text": "Something else entirely"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "engagement_in_broadcast"
        assert (await broadcasts.decide(request["id"], "approve")).status_code == 200
        assert (await api.patch(engagement, title="Renamed")).status_code == 409

        clock.freeze(broadcasts.start)
        assert await broadcasts.deliver() is False
        changed = await api.patch(engagement, title="Renamed")
        assert changed.status_code == 200, changed.text
        (held,) = await broadcasts.held(reached)
        assert held["engagement"]["title"] == "Renamed"

    async def test_a_rejected_broadcast_leaves_it_free_to_change(
        self, broadcasts: Broadcasts
    ) -> None:
        engagement = await broadcasts.engagement()
        request = await broadcasts.asked(engagement)
        rejected = await broadcasts.decide(request["id"], "reject", reason="Not this month")
        assert rejected.status_code == 200, rejected.text
        assert (await broadcasts.engagements.patch(engagement, title="Later")).status_code == 200


class TestTwoBroadcastsOfOneEngagement:
    async def test_two_workers_delivering_both_at_once_give_it_once(
        self, broadcasts: Broadcasts, settings: Settings
    ) -> None:
        reached = await broadcasts.end_users(7)
        engagement = await broadcasts.engagement()
        first = await broadcasts.approved(engagement, "all_end_users")
        second = await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)
        other = Database(settings.database_url)
        try:
            await asyncio.gather(
                broadcasts.deliver(batch=2), deliver_due_broadcasts(other, batch=2)
            )
        finally:
            await other.dispose()

        assert await broadcasts.deliveries(engagement) == once_each(reached)
        delivered = [
            (await broadcasts.details(request["id"]))["delivered_count"]
            for request in (first, second)
        ]
        assert sum(delivered) == 7


class TestDueBroadcastsTakeTurns:
    async def test_a_pass_each_instead_of_the_first_until_it_is_done(
        self, broadcasts: Broadcasts, slow_batches: SlowBatches
    ) -> None:
        await broadcasts.end_users(6)
        first = await broadcasts.approved(await broadcasts.engagement(), "all_end_users")
        second = await broadcasts.approved(await broadcasts.engagement(), "all_end_users")
        clock.freeze(broadcasts.start)

        progress = []
        while await broadcasts.deliver(batch=2, budget_seconds=1):
            counts = [
                (await broadcasts.details(r["id"]))["delivered_count"] for r in (first, second)
            ]
            progress.append(tuple(counts))
            clock.advance(timedelta(seconds=1))
        assert progress[:4] == [(2, 0), (2, 2), (4, 2), (4, 4)]


@pytest.mark.parametrize(
    "starts_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "1999-12-31T23:00Z"]
)
async def test_a_start_off_the_calendar_is_refused_not_a_crash(
    broadcasts: Broadcasts, starts_at: str
) -> None:
    engagement = await broadcasts.engagement()
    response = await broadcasts.ask(broadcasts.body(engagement, starts_at=starts_at))
    assert response.status_code == 422, response.text
