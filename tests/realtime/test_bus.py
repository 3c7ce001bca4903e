"""The bus on its own: fan-out by topic, bounded queues, and Redis between processes."""

import asyncio

import pytest
from redis.asyncio import Redis

from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.realtime.bus import MemoryBus, RedisBus
from relaydesk.realtime.events import queue_event


class TestMemoryBus:
    async def test_a_frame_reaches_each_matching_subscriber_once(self) -> None:
        bus = MemoryBus()
        async with (
            bus.subscribe(["partner:1", "end_user:7"]) as both,
            bus.subscribe(["partner:2"]) as other,
        ):
            await bus.publish(["partner:1", "end_user:7"], "frame")
            assert await both.next_frame() == "frame"
            await bus.publish(["partner:2"], "second")
            assert await other.next_frame() == "second"
            assert both._queue.empty()

    async def test_a_subscriber_that_falls_behind_is_marked_and_dropped(self) -> None:
        bus = MemoryBus()
        async with bus.subscribe(["t"], queue_size=2) as slow:
            for number in range(3):
                await bus.publish(["t"], str(number))
            assert slow.overflowed.is_set()
            assert [await slow.next_frame(), await slow.next_frame()] == ["0", "1"]
            await bus.publish(["t"], "later")
            assert slow._queue.empty()

    async def test_leaving_unsubscribes(self) -> None:
        bus = MemoryBus()
        async with bus.subscribe(["t"]) as subscription:
            pass
        await bus.publish(["t"], "nobody hears this")
        assert subscription._queue.empty()


class TestRedisBus:
    async def test_frames_cross_between_processes(self, redis: Redis, settings: Settings) -> None:
        # Two buses on separate connections stand for two processes.
        buses = [
            RedisBus(Redis.from_url(settings.redis_url), settings.redis_key_prefix) for _ in "ab"
        ]
        for bus in buses:
            await bus.start()
        try:
            sender, receiver = buses
            async with (
                receiver.subscribe(["partner:1"]) as there,
                sender.subscribe(["partner:1"]) as here,
            ):
                await sender.publish(["partner:1"], "hello")
                assert await asyncio.wait_for(there.next_frame(), 5) == "hello"
                assert await asyncio.wait_for(here.next_frame(), 5) == "hello"
        finally:
            for bus in buses:
                await bus.close()
                await bus._redis.aclose()

    async def test_other_prefixes_are_other_deployments(
        self, redis: Redis, settings: Settings
    ) -> None:
        ours = RedisBus(Redis.from_url(settings.redis_url), settings.redis_key_prefix)
        theirs = RedisBus(Redis.from_url(settings.redis_url), settings.redis_key_prefix + "x:")
        for bus in (ours, theirs):
            await bus.start()
        try:
            async with ours.subscribe(["t"]) as subscription:
                await theirs.publish(["t"], "not for us")
                await ours.publish(["t"], "for us")
                assert await asyncio.wait_for(subscription.next_frame(), 5) == "for us"
        finally:
            for bus in (ours, theirs):
                await bus.close()
                await bus._redis.aclose()


@pytest.mark.only_backend("sqlite")
async def test_events_of_a_rolled_back_transaction_are_never_sent(database: Database) -> None:
    bus = MemoryBus()
    database.bus = bus
    async with bus.subscribe(["t"]) as subscription:
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                queue_event(session, ("t",), "x", {"n": 1})
                raise RuntimeError("rolled back")
        async with database.transaction() as session:
            queue_event(session, ("t",), "x", {"n": 2})
            assert subscription._queue.empty(), "nothing goes out before the commit"
        assert await subscription.next_frame() == '{"type":"x","data":{"n":2}}'
