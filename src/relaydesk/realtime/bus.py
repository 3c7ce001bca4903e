"""The event bus: publish a frame to topics, subscribe a socket to topics.

Two backends behind one interface. `MemoryBus` fans out inside the process. `RedisBus` sends
each event once over Redis pub/sub, and every process (the sender included) fans it out to its
own subscribers, so a socket on any process sees what any process published.

Fan-out never waits on a socket: every subscription has a bounded queue, and one that is full
is marked overflowed and dropped; its client reconnects and catches up through the API.
"""

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

SUBSCRIPTION_QUEUE_SIZE = 512


class Subscription:
    """One subscriber's frames, in publish order, up to a bounded backlog."""

    def __init__(self, topics: frozenset[str], queue_size: int) -> None:
        self.topics = topics
        self.overflowed = asyncio.Event()
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)

    def push(self, frame: str) -> None:
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed.set()

    async def next_frame(self) -> str:
        return await self._queue.get()


class Bus(Protocol):
    async def publish(self, topics: Iterable[str], frame: str) -> None: ...

    def subscribe(
        self, topics: Iterable[str], queue_size: int = SUBSCRIPTION_QUEUE_SIZE
    ) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def close(self) -> None: ...


class _LocalFanOut:
    """Subscriptions by topic; a frame reaches each matching subscription once."""

    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscription]] = defaultdict(set)

    def deliver(self, topics: Iterable[str], frame: str) -> None:
        receivers: set[Subscription] = set()
        for topic in topics:
            receivers.update(self._by_topic.get(topic, ()))
        for subscription in receivers:
            subscription.push(frame)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topics: Iterable[str], queue_size: int
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(frozenset(topics), queue_size)
        for topic in subscription.topics:
            self._by_topic[topic].add(subscription)
        try:
            yield subscription
        finally:
            for topic in subscription.topics:
                subscribers = self._by_topic[topic]
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_topic[topic]


class MemoryBus:
    """Delivery within one process (the embedded default)."""

    def __init__(self) -> None:
        self._local = _LocalFanOut()

    async def publish(self, topics: Iterable[str], frame: str) -> None:
        self._local.deliver(topics, frame)

    def subscribe(
        self, topics: Iterable[str], queue_size: int = SUBSCRIPTION_QUEUE_SIZE
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(topics, queue_size)

    async def close(self) -> None:
        pass


class RedisBus:
    """Delivery across processes: one Redis channel carries every event with its topics.

    A message is the topics, space-separated, a newline and the frame as it goes to sockets:
    the frame is not wrapped in JSON again, so no process escapes or unescapes it.
    """

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._redis = redis
        self._channel = f"{key_prefix}events"
        self._local = _LocalFanOut()
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribes before the process serves anyone, so no event published after is missed."""
        await self._pubsub.subscribe(self._channel)
        self._listener = asyncio.create_task(self._listen())

    async def publish(self, topics: Iterable[str], frame: str) -> None:
        try:
            await self._redis.publish(self._channel, f"{' '.join(topics)}\n{frame}")
        except (RedisError, OSError) as error:
            # The change is committed already; sockets catch up through the API.
            log.warning("event_not_published", error=repr(error))

    def subscribe(
        self, topics: Iterable[str], queue_size: int = SUBSCRIPTION_QUEUE_SIZE
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(topics, queue_size)

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        topics, _, frame = message["data"].decode().partition("\n")
                        self._local.deliver(topics.split(), frame)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, UnicodeDecodeError) as error:
                # Sockets miss frames while Redis is away; clients catch up through the API.
                log.warning("event_bus_interrupted", error=repr(error))
                await asyncio.sleep(1)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(self._channel)

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._pubsub.aclose()
