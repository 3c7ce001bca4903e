"""Who is looking at a chat, and who is typing in it (HD-18): ephemeral, never in the database.

A console says which chat it shows (`viewing`) when it opens one and again every
`REFRESH_SECONDS`; a viewer not heard from for `TTL_SECONDS` is gone, so a client that vanishes
without a word (a closed laptop, a crashed process) drops out on its own. Typing is an event
with the same kind of expiry. Both are throttled to one event a second per sender and chat.

Two stores behind one interface, like the event bus: in memory for one process, in Redis (keys
that expire by themselves) for many, so every process sees the same viewers and throttles.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis

from relaydesk.clock import now

# A viewer says it is still there this often; one silent for TTL_SECONDS is gone.
REFRESH_SECONDS = 20
TTL_SECONDS = 45
# "Ana is replying…" shows this long after her last keystroke unless she sends first.
TYPING_SECONDS = 6
# At most one presence or typing event a second per sender and chat.
THROTTLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Viewer:
    """One console showing a chat: a staff member may have several open."""

    socket_id: str
    id: uuid.UUID
    name: str


def _alive(viewers: dict[str, tuple[Viewer, float]], at: datetime) -> list[Viewer]:
    """The viewers not expired at `at`, each staff member once, by name."""
    seen: dict[uuid.UUID, Viewer] = {}
    for viewer, until in viewers.values():
        if until > at.timestamp():
            seen.setdefault(viewer.id, viewer)
    return sorted(seen.values(), key=lambda viewer: (viewer.name, str(viewer.id)))


class PresenceStore(Protocol):
    async def view(self, conversation_id: uuid.UUID, viewer: Viewer) -> list[Viewer]:
        """Adds or refreshes `viewer`; answers the chat's viewers now."""

    async def leave(self, conversation_id: uuid.UUID, socket_id: str) -> list[Viewer]:
        """Removes one console; answers the chat's viewers now."""

    async def allow(self, key: str) -> bool:
        """True at most once every THROTTLE_SECONDS for `key`."""


class MemoryPresence:
    """For one process (the embedded default)."""

    def __init__(self) -> None:
        self._viewers: dict[uuid.UUID, dict[str, tuple[Viewer, float]]] = {}
        self._last_allowed: dict[str, float] = {}

    async def view(self, conversation_id: uuid.UUID, viewer: Viewer) -> list[Viewer]:
        viewers = self._viewers.setdefault(conversation_id, {})
        at = now()
        viewers[viewer.socket_id] = (viewer, at.timestamp() + TTL_SECONDS)
        return self._pruned(conversation_id, at)

    async def leave(self, conversation_id: uuid.UUID, socket_id: str) -> list[Viewer]:
        self._viewers.get(conversation_id, {}).pop(socket_id, None)
        return self._pruned(conversation_id, now())

    def _pruned(self, conversation_id: uuid.UUID, at: datetime) -> list[Viewer]:
        viewers = self._viewers.get(conversation_id, {})
        for socket_id, (_, until) in list(viewers.items()):
            if until <= at.timestamp():
                del viewers[socket_id]
        if not viewers:
            self._viewers.pop(conversation_id, None)
        return _alive(viewers, at)

    async def allow(self, key: str) -> bool:
        # A monotonic clock: throttling must not depend on the injected wall clock.
        moment = time.monotonic()
        if moment - self._last_allowed.get(key, -THROTTLE_SECONDS) < THROTTLE_SECONDS:
            return False
        # Keys of senders gone quiet are dropped now and then, so the map stays small.
        if len(self._last_allowed) > 10_000:
            self._last_allowed = {
                k: t for k, t in self._last_allowed.items() if moment - t < THROTTLE_SECONDS
            }
        self._last_allowed[key] = moment
        return True


class RedisPresence:
    """Across processes: a hash of consoles per chat, each with its expiry, and throttle keys,
    all of which Redis removes once they expire."""

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}presence:"

    def _key(self, conversation_id: uuid.UUID) -> str:
        return f"{self._prefix}viewers:{conversation_id}"

    async def view(self, conversation_id: uuid.UUID, viewer: Viewer) -> list[Viewer]:
        key, at = self._key(conversation_id), now()
        entry = {"id": str(viewer.id), "name": viewer.name, "until": at.timestamp() + TTL_SECONDS}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, viewer.socket_id, json.dumps(entry))
            pipe.expire(key, TTL_SECONDS)
            pipe.hgetall(key)
            *_, stored = await pipe.execute()
        return self._alive_of(stored, at)

    async def leave(self, conversation_id: uuid.UUID, socket_id: str) -> list[Viewer]:
        key = self._key(conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(key, socket_id)
            pipe.hgetall(key)
            _, stored = await pipe.execute()
        return self._alive_of(stored, now())

    @staticmethod
    def _alive_of(stored: dict[bytes, bytes], at: datetime) -> list[Viewer]:
        # Expired entries are passed over, not deleted: deleting them after this read could
        # drop an entry refreshed meanwhile. The hash expires whole once nobody refreshes it.
        viewers: dict[str, tuple[Viewer, float]] = {}
        for socket_id, raw in stored.items():
            entry = json.loads(raw)
            viewer = Viewer(socket_id.decode(), uuid.UUID(entry["id"]), entry["name"])
            viewers[viewer.socket_id] = (viewer, entry["until"])
        return _alive(viewers, at)

    async def allow(self, key: str) -> bool:
        return bool(
            await self._redis.set(
                f"{self._prefix}throttle:{key}", 1, px=int(THROTTLE_SECONDS * 1000), nx=True
            )
        )
