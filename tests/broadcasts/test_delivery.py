"""Delivering approved broadcasts (PM-4): at the start time, to the audience, at most once per
end user, in chat threads that exist, resumable after a pause or a crash, with progress."""

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event

from relaydesk.app import create_app
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.broadcasts.conftest import Broadcasts, Crash, SlowBatches, crash_on, once_each
from tests.chat.conftest import Follower, as_agent
from tests.engagements.conftest import chatting

LEASE = timedelta(minutes=2)


class TestTheStart:
    async def test_nothing_is_delivered_before_the_start(self, broadcasts: Broadcasts) -> None:
        reached = await broadcasts.end_users(3)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)

        clock.freeze(broadcasts.start - timedelta(seconds=1))
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == {}
        assert (await broadcasts.details(request["id"]))["delivery"]["state"] == "scheduled"

        clock.freeze(broadcasts.start)
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == once_each(reached)

    async def test_non_followers_get_it_once_each_and_followers_never(
        self, broadcasts: Broadcasts
    ) -> None:
        world = broadcasts.world
        followers = await broadcasts.end_users(2, follows=[world.a.channel])
        reached = await broadcasts.end_users(5)
        reached += await broadcasts.end_users(1, follows=[world.b.channel])
        engagement = await broadcasts.engagement(title="Doors open at nine")
        request = await broadcasts.approved(engagement, "non_followers")
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver(batch=4) is False
        assert await broadcasts.deliver(batch=4) is False

        assert await broadcasts.deliveries(engagement) == once_each(reached)
        assert await broadcasts.received_lines(engagement) == once_each(reached)
        for end_user in reached:
            (held,) = await broadcasts.held(end_user)
            assert held["engagement"]["id"] == engagement["id"]
            assert held["engagement"]["title"] == "Doors open at nine"
            assert (held["state"], held["channel_id"]) == ("received", str(world.a.channel.id))
        for end_user in followers:
            assert await broadcasts.held(end_user) == []
        details = await broadcasts.details(request["id"])
        assert details["delivered_count"] == 6
        assert details["delivery"] == {
            "state": "done",
            "total": 6,
            "started_at": broadcasts.start.isoformat(),
            "finished_at": broadcasts.start.isoformat(),
            "stopped_reason": None,
        }

    async def test_all_end_users_takes_in_the_followers(self, broadcasts: Broadcasts) -> None:
        followers = await broadcasts.end_users(2, follows=[broadcasts.world.a.channel])
        others = await broadcasts.end_users(2)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver() is False

        assert await broadcasts.deliveries(engagement) == once_each(followers + others)
        assert (await broadcasts.details(request["id"]))["delivered_count"] == 4

    async def test_one_approved_after_its_start_goes_out_at_the_next_pass(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(2)
        engagement = await broadcasts.engagement()
        request = await broadcasts.asked(engagement)
        clock.freeze(broadcasts.start + timedelta(hours=2))
        assert (await broadcasts.decide(request["id"], "approve")).status_code == 200

        assert await broadcasts.deliver() is False

        assert await broadcasts.deliveries(engagement) == once_each(reached)

    async def test_end_users_who_hold_it_already_are_passed_over(
        self, broadcasts: Broadcasts
    ) -> None:
        client, world = broadcasts.client, broadcasts.world
        agent = await as_agent(client, broadcasts.factory, world.a.agent)
        follower, conversation_id = await chatting(client, world)
        engagement = await broadcasts.engagement()
        sent = await client.post(
            f"/api/v1/conversations/{conversation_id}/engagements",
            json={"client_message_id": "sent-by-hand", "engagement_id": engagement["id"]},
            headers=agent.headers,
        )
        assert sent.status_code == 201, sent.text
        others = await broadcasts.end_users(3)
        request = await broadcasts.approved(engagement, "all_end_users")
        thread_before = await agent.thread(conversation_id)
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver(batch=2) is False

        (held,) = await follower_holds(follower)
        assert held["id"] == sent.json()["engagement"]["delivery_id"]
        assert await agent.thread(conversation_id) == thread_before
        holdings = await broadcasts.deliveries(engagement)
        assert sorted(holdings.values()) == [1, 1, 1, 1]
        assert all(holdings[end_user.id] == 1 for end_user in others)
        details = await broadcasts.details(request["id"])
        assert (details["delivery"]["total"], details["delivered_count"]) == (4, 3)
        assert details["delivery"]["state"] == "done"

    async def test_a_second_broadcast_of_it_reaches_only_the_end_users_new_since(
        self, broadcasts: Broadcasts
    ) -> None:
        first = await broadcasts.end_users(3)
        engagement = await broadcasts.engagement()
        await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)
        await broadcasts.deliver()
        newcomers = await broadcasts.end_users(2)
        broadcasts.start += timedelta(hours=1)
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver(batch=2) is False

        assert await broadcasts.deliveries(engagement) == once_each(first + newcomers)
        details = await broadcasts.details(request["id"])
        assert (details["delivery"]["total"], details["delivered_count"]) == (5, 2)

    async def test_a_tenant_without_end_users_is_done_at_once(self, broadcasts: Broadcasts) -> None:
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver() is False

        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (0, "done")
        assert details["delivery"]["total"] == 0

    async def test_the_reached_end_users_may_fetch_the_engagement_s_files(
        self, broadcasts: Broadcasts
    ) -> None:
        (reached,) = await broadcasts.end_users(1)
        (missed,) = await broadcasts.end_users(1, follows=[broadcasts.world.a.channel])
        engagement = await broadcasts.engagement(EngagementType.PROMO)
        (media_id,) = engagement["data"]["media_attachment_ids"]
        url = f"/api/v1/attachments/{media_id}"
        headers = broadcasts.headers_of(reached)
        assert (await broadcasts.client.get(url, headers=headers)).status_code == 404
        await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        await broadcasts.deliver()

        assert (await broadcasts.client.get(url, headers=headers)).status_code == 200
        missed_headers = broadcasts.headers_of(missed)
        assert (await broadcasts.client.get(url, headers=missed_headers)).status_code == 404


async def follower_holds(follower: Follower) -> list[dict]:
    response = await follower.client.get("/api/v1/me/engagements", headers=follower.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def my_conversations(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict]:
    response = await client.get("/api/v1/me/conversations", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestChatThreads:
    async def test_a_card_goes_into_each_thread_at_its_next_seq_leaving_its_state(
        self, broadcasts: Broadcasts
    ) -> None:
        client, world = broadcasts.client, broadcasts.world
        agent = await as_agent(client, broadcasts.factory, world.a.agent)
        waiting, waiting_id = await chatting(client, world)
        taken, taken_id = await chatting(client, world)
        assert (await agent.reply(taken_id)).status_code == 201
        done, done_id = await chatting(client, world)
        assert (await agent.reply(done_id)).status_code == 201
        assert (await agent.finish(done_id)).status_code == 200
        (silent,) = await broadcasts.end_users(1, follows=[world.a.channel])
        engagement = await broadcasts.engagement(title="Doors open at nine")
        before = {
            conversation_id: (
                await agent.conversation(conversation_id),
                await agent.thread(conversation_id),
            )
            for conversation_id in (waiting_id, taken_id, done_id)
        }
        await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver(batch=2) is False

        threads = {waiting_id: waiting, taken_id: taken, done_id: done}
        for conversation_id, follower in threads.items():
            conversation, thread = before[conversation_id]
            (held,) = await follower_holds(follower)
            after = await agent.thread(conversation_id)
            assert after[:-1] == thread
            card = after[-1]
            assert card["seq"] == thread[-1]["seq"] + 1
            assert (card["kind"], card["sender"]["type"]) == ("engagement", "system")
            assert card["engagement"] == {
                "id": engagement["id"],
                "type": "message",
                "title": "Doors open at nine",
                "description": engagement["description"],
                "data": engagement["data"],
                "delivery_id": held["id"],
            }
            mine = await client.get(
                f"/api/v1/me/conversations/{conversation_id}/messages", headers=follower.headers
            )
            assert mine.json()["items"][-1] == card
            now = await agent.conversation(conversation_id)
            assert {key: now[key] for key in ("status", "owner", "finished_by")} == {
                key: conversation[key] for key in ("status", "owner", "finished_by")
            }
        assert (await agent.conversation(taken_id))["owner"]["id"] == str(world.a.agent.id)
        assert (await agent.conversation(done_id))["status"] == "finished"
        assert (await agent.conversation(waiting_id))["status"] == "unanswered"

        # Nobody is made a thread; the next message of a thread takes the number after the card.
        silent_headers = broadcasts.headers_of(silent)
        assert await my_conversations(client, silent_headers) == []
        assert len(await broadcasts.held(silent)) == 1
        assert (await taken.write("Thanks!")).status_code == 201
        last = (await agent.thread(taken_id))[-1]
        assert (last["seq"], last["body"]) == (before[taken_id][1][-1]["seq"] + 2, "Thanks!")

    async def test_a_non_follower_with_a_thread_from_before_gets_the_card(
        self, broadcasts: Broadcasts
    ) -> None:
        client, world = broadcasts.client, broadcasts.world
        agent = await as_agent(client, broadcasts.factory, world.a.agent)
        gone, conversation_id = await chatting(client, world)
        unfollowed = await client.delete(
            f"/api/v1/channels/{world.a.channel.id}/follow", headers=gone.headers
        )
        assert unfollowed.status_code == 204
        staying, staying_id = await chatting(client, world)
        staying_thread = await agent.thread(staying_id)
        engagement = await broadcasts.engagement()
        await broadcasts.approved(engagement, "non_followers")
        clock.freeze(broadcasts.start)

        await broadcasts.deliver()

        (held,) = await follower_holds(gone)
        card = (await agent.thread(conversation_id))[-1]
        assert card["engagement"]["delivery_id"] == held["id"]
        assert await follower_holds(staying) == []
        assert await agent.thread(staying_id) == staying_thread

    async def test_a_promo_hidden_from_chat_gives_no_card(self, broadcasts: Broadcasts) -> None:
        client, world = broadcasts.client, broadcasts.world
        agent = await as_agent(client, broadcasts.factory, world.a.agent)
        follower, conversation_id = await chatting(client, world)
        thread = await agent.thread(conversation_id)
        api = broadcasts.engagements
        data = {"media_attachment_ids": [await api.upload_id()], "hide_in_chat": True}
        engagement = await broadcasts.engagement(EngagementType.PROMO, data=data)
        await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)

        await broadcasts.deliver()

        (held,) = await follower_holds(follower)
        assert held["engagement"]["id"] == engagement["id"]
        assert await agent.thread(conversation_id) == thread


class TestProgress:
    async def test_progress_shows_while_it_runs_and_each_pass_goes_on_from_the_last(
        self, broadcasts: Broadcasts, slow_batches: SlowBatches
    ) -> None:
        reached = await broadcasts.end_users(7)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        seen = []
        for _ in range(3):
            work_left = await broadcasts.deliver(batch=3, budget_seconds=1)
            details = await broadcasts.details(request["id"])
            mine = (await broadcasts.partner_sees(request["id"]))["details"]
            assert mine == details
            seen.append((work_left, details["delivered_count"], details["delivery"]["state"]))
            assert details["delivery"]["total"] == 7
            assert details["delivery"]["started_at"] == broadcasts.start.isoformat()
            assert (
                sum((await broadcasts.deliveries(engagement)).values())
                == details["delivered_count"]
            )
        assert seen == [(True, 3, "running"), (True, 6, "running"), (False, 7, "done")]
        assert await broadcasts.deliveries(engagement) == once_each(reached)
        assert await broadcasts.deliver(batch=3, budget_seconds=1) is False
        assert (await broadcasts.details(request["id"]))["delivered_count"] == 7

    async def test_a_pass_out_of_time_before_its_first_batch_leaves_it_to_the_next(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(4)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver(budget_seconds=0) is True

        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (0, "running")
        assert details["delivery"]["total"] == 4
        # Let go at once: the next pass needs no lease to run out.
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == once_each(reached)


class TestCrashes:
    async def test_a_crash_mid_batch_leaves_nothing_of_it_and_is_resumed_after_the_lease(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(8)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        # The first batch commits; the process dies while writing the second.
        with crash_on(broadcasts.database, "engagement_activity", after=1), pytest.raises(Crash):
            await broadcasts.deliver(batch=3)

        assert sorted((await broadcasts.deliveries(engagement)).values()) == [1, 1, 1]
        assert await broadcasts.received_lines(engagement) == await broadcasts.deliveries(
            engagement
        )
        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (3, "running")

        clock.advance(LEASE - timedelta(seconds=1))
        assert await broadcasts.deliver(batch=3) is False
        assert sum((await broadcasts.deliveries(engagement)).values()) == 3

        clock.advance(timedelta(seconds=1))
        assert await broadcasts.deliver(batch=3) is False

        assert await broadcasts.deliveries(engagement) == once_each(reached)
        assert await broadcasts.received_lines(engagement) == once_each(reached)
        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (8, "done")
        assert details["delivery"]["total"] == 8

    async def test_a_worker_that_died_holding_it_is_taken_over_when_its_lease_ends(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(3)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)

        # Claimed, then dead before its first batch was written.
        with crash_on(broadcasts.database, "engagement_delivery"), pytest.raises(Crash):
            await broadcasts.deliver()
        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (0, "running")

        clock.advance(LEASE - timedelta(milliseconds=1))
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == {}
        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (0, "running")

        clock.advance(timedelta(milliseconds=1))
        assert await broadcasts.deliver() is False
        assert await broadcasts.deliveries(engagement) == once_each(reached)
        assert (await broadcasts.details(request["id"]))["delivered_count"] == 3


class TestStopping:
    async def test_an_engagement_finished_before_the_start_is_not_delivered(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(2)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        assert (await broadcasts.engagements.finish(engagement)).status_code == 200
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver() is False

        details = await broadcasts.details(request["id"])
        assert details["delivered_count"] == 0
        assert details["delivery"]["state"] == "stopped"
        assert "finished" in details["delivery"]["stopped_reason"]
        assert details["delivery"]["finished_at"] == broadcasts.start.isoformat()
        for end_user in reached:
            assert await broadcasts.held(end_user) == []

    async def test_a_suspended_partner_s_broadcast_is_not_delivered(
        self, broadcasts: Broadcasts
    ) -> None:
        reached = await broadcasts.end_users(2)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        suspended = await broadcasts.client.patch(
            f"/api/v1/tenant/partners/{broadcasts.world.a.partner.id}",
            json={"status": "suspended"},
            headers=await broadcasts.as_(broadcasts.world.tenant_admin),
        )
        assert suspended.status_code == 200, suspended.text
        clock.freeze(broadcasts.start)

        assert await broadcasts.deliver() is False

        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (0, "stopped")
        assert "suspended" in details["delivery"]["stopped_reason"]
        for end_user in reached:
            assert await broadcasts.held(end_user) == []

    async def test_finishing_the_engagement_mid_way_stops_the_later_batches(
        self, broadcasts: Broadcasts, slow_batches: SlowBatches
    ) -> None:
        await broadcasts.end_users(7)
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)
        assert await broadcasts.deliver(batch=3, budget_seconds=1) is True

        clock.advance(timedelta(minutes=1))
        assert (await broadcasts.engagements.finish(engagement)).status_code == 200
        assert await broadcasts.deliver(batch=3, budget_seconds=1) is False

        assert sum((await broadcasts.deliveries(engagement)).values()) == 3
        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["total"]) == (3, 7)
        assert details["delivery"]["state"] == "stopped"
        assert "finished" in details["delivery"]["stopped_reason"]
        assert details["delivery"]["finished_at"] == clock.now().isoformat()

    async def test_an_engagement_that_ends_mid_way_stops_the_later_batches(
        self, broadcasts: Broadcasts, slow_batches: SlowBatches
    ) -> None:
        await broadcasts.end_users(7)
        ends_at = broadcasts.start + timedelta(minutes=10)
        engagement = await broadcasts.engagement(ends_at=ends_at.isoformat())
        request = await broadcasts.approved(engagement)
        clock.freeze(broadcasts.start)
        assert await broadcasts.deliver(batch=3, budget_seconds=1) is True

        clock.freeze(ends_at)
        assert await broadcasts.deliver(batch=3, budget_seconds=1) is False

        details = await broadcasts.details(request["id"])
        assert (details["delivered_count"], details["delivery"]["state"]) == (3, "stopped")
        assert "ended" in details["delivery"]["stopped_reason"]


class TestTwoWorkers:
    @pytest.mark.parametrize("handles", ["one", "two"])
    async def test_two_workers_at_once_deliver_each_broadcast_once(
        self, broadcasts: Broadcasts, settings: Settings, handles: str
    ) -> None:
        reached = await broadcasts.end_users(9)
        first, second = await broadcasts.engagement(), await broadcasts.engagement()
        requests = [await broadcasts.approved(first), await broadcasts.approved(second)]
        clock.freeze(broadcasts.start)
        # Two handles are two worker processes, each with its own connections.
        other = Database(settings.database_url) if handles == "two" else broadcasts.database
        try:
            results = await asyncio.gather(
                broadcasts.deliver(batch=2), deliver_due_broadcasts(other, batch=2)
            )
        finally:
            if other is not broadcasts.database:
                await other.dispose()

        assert results == [False, False]
        for engagement in (first, second):
            assert await broadcasts.deliveries(engagement) == once_each(reached)
            assert await broadcasts.received_lines(engagement) == once_each(reached)
        for request in requests:
            details = await broadcasts.details(request["id"])
            assert (details["delivered_count"], details["delivery"]["state"]) == (9, "done")


# A SQLAlchemy `after_cursor_execute` listener: (connection, cursor, statement, …).
StatementHook = Callable[..., None]


async def send_from_another_process(
    settings: Settings,
    conversation_id: str,
    engagement_id: str,
    headers: dict[str, str],
    hook: StatementHook | None = None,
) -> int:
    """The agent sends the engagement in the chat through another web process; `hook` sees
    each statement that process runs."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if hook is not None:
            event.listen(app.state.database.engine.sync_engine, "after_cursor_execute", hook)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                f"/api/v1/conversations/{conversation_id}/engagements",
                json={"client_message_id": "meanwhile", "engagement_id": engagement_id},
                headers=headers,
            )
    return response.status_code


def writes_deliveries(statement: str) -> bool:
    return statement.startswith("INSERT INTO engagement_delivery")


# SQLite lets one transaction write at a time, so there the two can't overlap.
@pytest.mark.only_backend("postgresql")
class TestSentInChatMeanwhile:
    """An agent sends the broadcast's sticker pack in a chat while a batch is written: content
    is held once at most, whichever comes first, and neither side fails."""

    @pytest.fixture
    async def race(self, broadcasts: Broadcasts, settings: Settings) -> "Race":
        follower, conversation_id = await chatting(broadcasts.client, broadcasts.world)
        stickers = await broadcasts.engagement(EngagementType.STICKER_PACK)
        await broadcasts.approved(stickers, "all_end_users")
        headers = await broadcasts.as_(broadcasts.world.a.agent)
        clock.freeze(broadcasts.start)
        return Race(broadcasts, settings, follower, conversation_id, stickers, headers)

    async def test_a_send_while_the_batch_is_being_written(self, race: "Race") -> None:
        def meanwhile(conn: object, cursor: object, statement: str, *_: object) -> None:
            if writes_deliveries(statement) and not race.sender.is_alive():
                race.sender.start()
                # Long enough for the send to be written, unless it waits for the batch.
                race.sender.join(timeout=3)

        engine = race.broadcasts.database.engine.sync_engine
        event.listen(engine, "after_cursor_execute", meanwhile)
        try:
            await race.broadcasts.deliver()
        finally:
            event.remove(engine, "after_cursor_execute", meanwhile)
            await asyncio.to_thread(race.sender.join, 30)

        assert race.answers in ([201], [409])
        await race.held_once()

    async def test_a_batch_written_while_the_send_is_being_written(self, race: "Race") -> None:
        sent, batch_started = threading.Event(), threading.Event()

        def sending(conn: object, cursor: object, statement: str, *_: object) -> None:
            if writes_deliveries(statement):
                sent.set()
                batch_started.wait(timeout=10)
                # The batch starts (and waits for the thread this send has locked) before
                # the send commits.
                time.sleep(0.5)

        def batch(conn: object, cursor: object, statement: str, *_: object) -> None:
            # The batch's first lock is on its threads, where it waits for the send.
            if statement.startswith("SELECT conversation.id") and "FOR UPDATE" in statement:
                batch_started.set()

        # Started in an earlier pass: this pass only goes on with it.
        assert await race.broadcasts.deliver(budget_seconds=0) is True
        race.hook = sending
        race.sender.start()
        assert await asyncio.to_thread(sent.wait, 10)
        engine = race.broadcasts.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", batch)
        try:
            await race.broadcasts.deliver()
        finally:
            event.remove(engine, "before_cursor_execute", batch)
            batch_started.set()
            await asyncio.to_thread(race.sender.join, 30)

        assert race.answers == [201]
        await race.held_once()


class Race:
    """The agent's send through another web process, run in a thread of its own."""

    def __init__(
        self,
        broadcasts: Broadcasts,
        settings: Settings,
        follower: Follower,
        conversation_id: str,
        stickers: dict,
        headers: dict[str, str],
    ) -> None:
        self.broadcasts, self.follower, self.stickers = broadcasts, follower, stickers
        self.answers: list[int] = []
        self.hook: StatementHook | None = None

        def send() -> None:
            sending = send_from_another_process(
                settings, conversation_id, stickers["id"], headers, self.hook
            )
            self.answers.append(asyncio.run(sending))

        self.sender = threading.Thread(target=send)

    async def held_once(self) -> None:
        assert len(await follower_holds(self.follower)) == 1
        assert sum((await self.broadcasts.deliveries(self.stickers)).values()) == 1


class TestIsolation:
    async def test_other_tenants_end_users_never_get_it(self, broadcasts: Broadcasts) -> None:
        world = broadcasts.world
        ours = await broadcasts.end_users(3)
        theirs = await broadcasts.end_users(2, tenant=world.other_tenant)
        theirs += await broadcasts.end_users(
            1, tenant=world.other_tenant, follows=[world.other.channel]
        )
        engagement = await broadcasts.engagement()
        request = await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)

        await broadcasts.deliver()

        assert await broadcasts.deliveries(engagement) == once_each(ours)
        for end_user in theirs:
            assert await broadcasts.held(end_user, world.other_tenant) == []
        foreign = await broadcasts.get(request["id"], world.other_tenant_admin)
        assert foreign.status_code == 404
