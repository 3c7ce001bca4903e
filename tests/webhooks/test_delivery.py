"""Webhooks on their way out: queued with the chat's changes, sent by the worker's job to a real
HTTP receiver on loopback, signed as docs/webhooks.md says, retried with backoff for a day, and
delivered once however the receiver and the workers behave."""

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from relaydesk.attachments.storage import LocalStorage
from relaydesk.auth.service import principal_of
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.chat import service as chat_service
from relaydesk.chat.schemas import AgentMessageCreate
from relaydesk.clock import clock, now
from relaydesk.db import Database
from relaydesk.realtime import topics
from relaydesk.webhooks import delivery
from relaydesk.webhooks.models import DeliveryState
from relaydesk.worker import run_jobs_once
from tests.broadcasts.conftest import Broadcasts
from tests.chat.conftest import as_agent, new_follower
from tests.engagements.conftest import chatting, engagement_api
from tests.factories import Factory, World
from tests.webhooks.conftest import Receiver, Webhooks, verify_signature


@pytest.fixture
def frozen() -> datetime:
    """The clock stopped at the real time (the chat's tokens are checked against it)."""
    at = datetime.now(UTC).replace(microsecond=0)
    clock.freeze(at)
    return at


pytestmark = pytest.mark.usefixtures("frozen")


def signed_at(received: Any) -> float:
    return float(received.headers["X-Relaydesk-Timestamp"])


class TestARequest:
    async def test_carries_the_event_signed_as_the_docs_say(
        self, app: Any, webhooks: Webhooks, receiver: Receiver, world: World
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        follower = await webhooks.follower()
        async with app.state.bus.subscribe([topics.partner(world.a.partner.id)]) as socket:
            sent = await follower.write("Is the shop open on Sunday?")
            assert sent.status_code == 201, sent.text
            async with asyncio.timeout(5):
                frame = json.loads(await socket.next_frame())

        assert await webhooks.deliver() is False

        (request,) = receiver.requests
        headers, body = request.headers, request.json
        (stored,) = await webhooks.stored()
        assert request.body == stored.body.encode()
        assert request.path == "/hooks"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "relaydesk-webhooks/1"
        assert headers["X-Relaydesk-Event"] == "message.created"
        assert headers["X-Relaydesk-Delivery"] == body["id"] == str(stored.id)
        assert headers["X-Relaydesk-Timestamp"] == str(int(now().timestamp()))
        assert body["type"] == "message.created"
        assert datetime.fromisoformat(body["created_at"]) == now()
        # The socket frame's data, field for field.
        assert frame["type"] == "message.created"
        assert body["data"] == frame["data"]
        assert body["data"]["id"] == sent.json()["id"]
        assert body["data"]["body"] == "Is the shop open on Sunday?"
        assert body["data"]["conversation"]["status"] == "unanswered"
        assert request.signatures() == [request.signatures()[0]]
        assert verify_signature(endpoint["secret"], headers, request.body, now=signed_at(request))

    async def test_the_signature_fails_with_another_secret_an_old_timestamp_or_other_bytes(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        other = await webhooks.register(receiver.url, ["conversation.updated"])
        await (await webhooks.follower()).write()
        await webhooks.deliver()

        (request,) = receiver.requests
        at = signed_at(request)
        secret = endpoint["secret"]
        assert verify_signature(secret, request.headers, request.body, now=at + 300)
        assert not verify_signature(other["secret"], request.headers, request.body, now=at)
        assert not verify_signature(secret, request.headers, request.body, now=at + 301)
        assert not verify_signature(secret, request.headers, request.body + b" ", now=at)
        assert not verify_signature(secret, {}, request.body, now=at)

    async def test_each_event_goes_only_to_the_endpoints_subscribed_to_it(
        self, client: httpx.AsyncClient, factory: Factory, webhooks: Webhooks, world: World
    ) -> None:
        messages, changes = Receiver(), Receiver()
        for receiver in (messages, changes):
            receiver.start()
        try:
            await webhooks.register(messages.url, ["message.created"])
            await webhooks.register(changes.url, ["conversation.updated"])
            follower = await webhooks.follower()
            await follower.write("Hello?")
            await webhooks.deliver()
            assert [b["type"] for b in messages.bodies()] == ["message.created"]
            assert changes.requests == []

            agent = await as_agent(client, factory, world.a.agent)
            assert (await agent.reply(await follower.conversation_id(), "Hi!")).status_code == 201
            await webhooks.deliver()
        finally:
            messages.stop()
            changes.stop()

        kinds = [(b["type"], b["data"]["kind"]) for b in messages.bodies()[1:]]
        assert sorted(kinds) == [("message.created", "activity"), ("message.created", "text")]
        (change,) = changes.bodies()
        assert change["type"] == "conversation.updated"
        assert change["data"]["status"] == "active"
        assert change["data"]["owner"]["id"] == str(world.a.agent.id)

    async def test_other_partners_chats_are_not_sent(
        self, client: httpx.AsyncClient, webhooks: Webhooks, receiver: Receiver, world: World
    ) -> None:
        await webhooks.register(receiver.url)
        for tenant, side in (
            (world.tenant, world.a),
            (world.tenant, world.b),
            (world.other_tenant, world.other),
        ):
            follower = await new_follower(client, tenant, side.channel)
            assert (await follower.write()).status_code == 201

        await webhooks.deliver()

        (request,) = receiver.requests
        assert request.json["data"]["conversation"]["channel_id"] == str(world.a.channel.id)


class TestQueueing:
    async def test_a_change_that_rolls_back_queues_nothing(
        self, database: Database, webhooks: Webhooks, receiver: Receiver, world: World
    ) -> None:
        await webhooks.register(receiver.url)
        follower = await webhooks.follower()
        await follower.write()
        conversation_id = await follower.conversation_id()
        before = [row.id for row in await webhooks.stored()]

        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                reply = AgentMessageCreate(client_message_id="rolled-back", body="Hi!")
                await chat_service.send_agent_message(
                    session, principal_of(world.a.agent), uuid.UUID(conversation_id), reply
                )
                raise RuntimeError("the change failed")

        assert [row.id for row in await webhooks.stored()] == before
        await webhooks.deliver()
        assert [r.json["data"]["kind"] for r in receiver.requests] == ["text"]

    async def test_a_switched_off_endpoint_gets_nothing(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        follower = await webhooks.follower()
        await follower.write("Queued while on")
        await webhooks.change(endpoint, active=False)
        await follower.write("Sent while off")

        await webhooks.deliver()

        assert receiver.requests == []
        (stopped,) = await webhooks.log(endpoint)
        assert (stopped["state"], stopped["attempts"]) == ("failed", 0)
        assert stopped["last_error"] == delivery.INACTIVE

    async def test_a_deleted_endpoint_s_pending_deliveries_are_not_sent(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        await (await webhooks.follower()).write()
        response = await webhooks.client.delete(
            f"/api/v1/webhooks/{endpoint['id']}", headers=webhooks.headers
        )
        assert response.status_code == 204

        await webhooks.deliver()

        assert receiver.requests == []
        assert await webhooks.stored() == []

    async def test_a_partner_without_endpoints_costs_a_send_no_statement_of_its_own(
        self, app: Any, webhooks: Webhooks
    ) -> None:
        def webhook_statements(seen: list[str]) -> list[str]:
            return [
                s for s in seen if s.startswith(("SELECT webhook_endpoint", "INSERT INTO webhook"))
            ]

        follower = await webhooks.follower()
        # A chat's first message has no conversation to lock yet: one small read.
        with statements(app.state.database) as seen:
            assert (await follower.write()).status_code == 201
        (lookup,) = webhook_statements(seen)
        assert "FROM webhook_endpoint WHERE" in lookup
        # Later, the conversation's lock says whether there are endpoints, in the same statement.
        with statements(app.state.database) as seen:
            assert (await follower.write("again")).status_code == 201
        assert webhook_statements(seen) == []
        assert any("webhook_endpoint" in s and "conversation" in s for s in seen)


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL the database runs inside the block, whitespace squeezed."""
    seen: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = database.engine.sync_engine
    event.listen(engine, "after_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", keep)


class TestRetries:
    async def test_a_receiver_failing_first_gets_it_once_later_with_the_same_body(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        receiver.failures = 2
        await (await webhooks.follower()).write()

        await webhooks.deliver()
        (pending,) = await webhooks.log(endpoint)
        assert (pending["state"], pending["attempts"], pending["response_code"]) == (
            "pending",
            1,
            500,
        )
        assert pending["last_error"] == "HTTP 500: Internal trouble: the receiver failed on purpose"
        assert datetime.fromisoformat(pending["next_attempt_at"]) == now() + timedelta(seconds=30)

        clock.advance(timedelta(seconds=29))
        await webhooks.deliver()
        assert len(receiver.requests) == 1  # not before the backoff
        clock.advance(timedelta(seconds=1))
        await webhooks.deliver()
        clock.advance(timedelta(seconds=60))
        await webhooks.deliver()
        clock.advance(timedelta(hours=2))
        await webhooks.deliver()

        assert len(receiver.requests) == 3
        assert len({r.delivery_id for r in receiver.requests}) == 1
        assert len({r.body for r in receiver.requests}) == 1
        timestamps = [signed_at(r) for r in receiver.requests]
        assert timestamps == sorted(set(timestamps))  # signed afresh each time
        for request in receiver.requests:
            assert verify_signature(
                endpoint["secret"], request.headers, request.body, now=signed_at(request)
            )
        (delivered,) = await webhooks.log(endpoint)
        assert delivered["state"] == "delivered"
        assert (delivered["attempts"], delivered["response_code"]) == (3, 204)
        assert delivered["last_error"] is None
        assert delivered["next_attempt_at"] is None
        assert datetime.fromisoformat(delivered["delivered_at"]) == now() - timedelta(hours=2)

    async def test_the_wait_doubles_up_to_an_hour_and_it_fails_a_day_after_the_event(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        await webhooks.register(receiver.url)
        receiver.failures = 10_000
        await (await webhooks.follower()).write()
        queued = now()
        waits = []
        while True:
            await webhooks.deliver()
            (row,) = await webhooks.stored()
            if row.state != DeliveryState.PENDING:
                break
            assert row.next_attempt_at is not None
            waits.append(int((row.next_attempt_at - now()).total_seconds()))
            clock.advance(row.next_attempt_at - now())

        assert waits[:9] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        assert set(waits[7:-1]) == {3600}
        assert (row.state, row.attempts) == (DeliveryState.FAILED, len(waits) + 1)
        assert now() == queued + timedelta(days=1)  # the last attempt, at the very end
        assert row.last_error is not None and row.last_error.startswith("HTTP 500")
        receiver.failures = 0
        clock.advance(timedelta(days=1))
        await webhooks.deliver()
        assert len(receiver.requests) == len(waits) + 1

    async def test_a_failed_delivery_can_be_tried_again(
        self, factory: Factory, webhooks: Webhooks, receiver: Receiver, world: World
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        receiver.status = 410
        await (await webhooks.follower()).write()
        await webhooks.deliver()
        clock.advance(timedelta(days=1))
        await webhooks.deliver()
        webhooks.headers = await factory.headers(world.a.admin)  # a day on, signed in again
        (failed,) = await webhooks.log(endpoint)
        assert failed["state"] == "failed"
        retry = f"/api/v1/webhooks/{endpoint['id']}/deliveries/{failed['id']}/retry"
        receiver.status = 200

        response = await webhooks.client.post(retry, headers=webhooks.headers)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "pending"
        await webhooks.deliver()

        (delivered,) = await webhooks.log(endpoint)
        assert (delivered["state"], delivered["attempts"]) == ("delivered", 3)
        again = await webhooks.client.post(retry, headers=webhooks.headers)
        assert again.status_code == 409
        assert again.json()["code"] == "webhook_delivery_not_failed"

    async def test_a_receiver_that_hangs_is_given_up_on_and_tried_later(
        self, webhooks: Webhooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(delivery, "REQUEST_TIMEOUT_SECONDS", 0.2)
        endpoint = await webhooks.register(receiver.url)
        receiver.hang = 5
        await (await webhooks.follower()).write()

        await webhooks.deliver()

        (pending,) = await webhooks.log(endpoint)
        assert (pending["state"], pending["attempts"], pending["response_code"]) == (
            "pending",
            1,
            None,
        )
        assert pending["last_error"] == "No answer within 0.2 s."

    async def test_redirects_are_not_followed_and_a_closed_port_is_an_error(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        receiver.status, receiver.location = 307, receiver.url + "/elsewhere"
        moved = await webhooks.register(receiver.url)
        # A port held but not listening: connections to it are refused.
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            gone = await webhooks.register(f"http://127.0.0.1:{closed.getsockname()[1]}/hooks")
            await (await webhooks.follower()).write()

            await webhooks.deliver()

        assert [r.path for r in receiver.requests] == ["/hooks"]
        (redirected,) = await webhooks.log(moved)
        assert (redirected["state"], redirected["response_code"]) == ("pending", 307)
        (refused,) = await webhooks.log(gone)
        assert (refused["state"], refused["response_code"]) == ("pending", None)
        assert refused["last_error"].startswith("ConnectError")

    async def test_a_name_that_points_into_our_network_is_not_posted_to(
        self, webhooks: Webhooks, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        endpoint = await webhooks.register("https://hooks.example.com/in")
        resolve = socket.getaddrinfo

        def pointed_inside(host: str, *args: Any, **kwargs: Any) -> Any:
            if host == "hooks.example.com":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
            return resolve(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", pointed_inside)
        await (await webhooks.follower()).write()

        await webhooks.deliver()

        (refused,) = await webhooks.log(endpoint)
        assert (refused["state"], refused["response_code"]) == ("pending", None)
        assert refused["last_error"] == (
            "Not sent: The host hooks.example.com is at a non-public address (10.0.0.5)."
        )


class TestOrder:
    async def test_one_endpoint_s_deliveries_go_in_order_and_a_failing_one_holds_up_no_other(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        healthy = Receiver()
        healthy.start()
        try:
            failing = await webhooks.register(receiver.url, ["message.created"])
            await webhooks.register(healthy.url, ["message.created"])
            receiver.failures = 1
            follower = await webhooks.follower()
            for text in ("one", "two", "three"):
                await follower.write(text)

            await webhooks.deliver()
            assert [b["data"]["body"] for b in healthy.bodies()] == ["one", "two", "three"]
            assert [b["data"]["body"] for b in receiver.bodies()] == ["one"]
            waiting = (await webhooks.log(failing))[:2]
            assert {(w["attempts"], w["last_error"]) for w in waiting} == {(0, delivery.WAITING)}
            # What happens meanwhile waits behind the failed one too.
            await follower.write("four")
            await webhooks.deliver()
            assert [b["data"]["body"] for b in receiver.bodies()] == ["one"]

            clock.advance(timedelta(seconds=30))
            await webhooks.deliver()
        finally:
            healthy.stop()

        assert [b["data"]["body"] for b in receiver.bodies()] == [
            "one",
            "one",
            "two",
            "three",
            "four",
        ]
        assert {row["state"] for row in await webhooks.log(failing)} == {"delivered"}


class TestRotation:
    async def test_both_secrets_sign_for_a_day_then_only_the_new_one(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        endpoint = await webhooks.register(receiver.url)
        rotated = await webhooks.rotate(endpoint)
        old, new = endpoint["secret"], rotated["secret"]
        assert old != new
        await (await webhooks.follower()).write("during")
        await webhooks.deliver()

        clock.advance(timedelta(days=1, seconds=1))
        await (await webhooks.follower()).write("after")
        await webhooks.deliver()

        during, after = receiver.requests
        assert len(during.signatures()) == 2
        for secret in (old, new):
            assert verify_signature(secret, during.headers, during.body, now=signed_at(during))
        assert len(after.signatures()) == 1
        assert verify_signature(new, after.headers, after.body, now=signed_at(after))
        assert not verify_signature(old, after.headers, after.body, now=signed_at(after))


class TestWorkers:
    async def test_the_worker_s_pass_sends_them(
        self, webhooks: Webhooks, receiver: Receiver, tmp_path: Any
    ) -> None:
        await webhooks.register(receiver.url)
        await (await webhooks.follower()).write()

        storage = LocalStorage(tmp_path / "attachments")
        await run_jobs_once(webhooks.database, webhooks.settings, storage)

        assert len(receiver.requests) == 1

    async def test_a_pass_answers_whether_a_whole_batch_was_due(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        await webhooks.register(receiver.url, ["message.created"])
        follower = await webhooks.follower()
        for _ in range(3):
            await follower.write()

        assert await webhooks.deliver(limit=2) is True
        assert await webhooks.deliver(limit=2) is False
        assert len(receiver.requests) == 3

    @pytest.mark.only_backend("postgresql")
    async def test_workers_at_once_deliver_each_once(
        self, webhooks: Webhooks, receiver: Receiver
    ) -> None:
        await webhooks.register(receiver.url, ["message.created"])
        follower = await webhooks.follower()
        for number in range(8):
            await follower.write(f"message {number}")

        await asyncio.gather(*(webhooks.deliver(limit=3) for _ in range(4)))
        await webhooks.deliver()

        ids = [r.delivery_id for r in receiver.requests]
        assert len(ids) == len(set(ids)) == 8
        assert {row.state for row in await webhooks.stored()} == {DeliveryState.DELIVERED}


class TestBroadcastCards:
    async def test_a_batch_s_cards_are_queued_in_one_statement(
        self,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        webhooks: Webhooks,
        receiver: Receiver,
        world: World,
    ) -> None:
        engagements = await engagement_api(client, factory, world.a.admin, world.a.channel)
        broadcasts = Broadcasts(
            client, factory, world, database, engagements, now() + timedelta(minutes=30)
        )
        threads = [(await chatting(client, world))[1] for _ in range(3)]
        endpoint = await webhooks.register(receiver.url, ["message.created"])
        engagement = await broadcasts.engagement(title="Doors open at nine")
        await broadcasts.approved(engagement, "all_end_users")
        clock.freeze(broadcasts.start)

        with statements(database) as seen:
            await deliver_due_broadcasts(database)

        inserts = [s for s in seen if s.startswith("INSERT INTO webhook_delivery")]
        lookups = [s for s in seen if "FROM webhook_endpoint" in s]
        assert (len(inserts), len(lookups)) == (1, 1)
        cards = await webhooks.log(endpoint)
        assert [card["event_type"] for card in cards] == ["message.created"] * 3
        await webhooks.deliver()
        bodies = [r.json["data"] for r in receiver.requests]
        assert {b["conversation_id"] for b in bodies} == set(threads)
        assert {b["kind"] for b in bodies} == {"engagement"}
        assert {b["engagement"]["title"] for b in bodies} == {"Doors open at nine"}

    async def test_a_partner_without_endpoints_is_looked_up_once_a_batch(
        self, client: httpx.AsyncClient, database: Database, factory: Factory, world: World
    ) -> None:
        engagements = await engagement_api(client, factory, world.a.admin, world.a.channel)
        broadcasts = Broadcasts(
            client, factory, world, database, engagements, now() + timedelta(minutes=30)
        )
        for _ in range(3):
            await chatting(client, world)
        await broadcasts.approved(await broadcasts.engagement(), "all_end_users")
        clock.freeze(broadcasts.start)

        with statements(database) as seen:
            await deliver_due_broadcasts(database)

        assert len([s for s in seen if "webhook" in s]) == 1
