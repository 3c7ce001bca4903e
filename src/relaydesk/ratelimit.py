"""Counting failures per key in a time window, in memory or in Redis (shared by processes)."""

import math
from typing import Protocol

from redis.asyncio import Redis

from relaydesk.clock import now


class FailureCounter(Protocol):
    async def failures(self, key: str) -> tuple[int, int]:
        """The failures counted for `key` and the seconds until its window closes."""
        ...

    async def add_failure(self, key: str, window_seconds: int) -> None: ...

    async def reset(self, key: str) -> None: ...


class MemoryFailureCounter:
    """For a single process (the embedded default)."""

    PRUNE_ABOVE = 10_000

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    async def failures(self, key: str) -> tuple[int, int]:
        count, closes_at = self._windows.get(key, (0, 0.0))
        remaining = closes_at - now().timestamp()
        if remaining <= 0:
            self._windows.pop(key, None)
            return 0, 0
        return count, math.ceil(remaining)

    async def add_failure(self, key: str, window_seconds: int) -> None:
        count, remaining = await self.failures(key)
        closes_at = now().timestamp() + (remaining if count else window_seconds)
        self._windows[key] = (count + 1, closes_at)
        if len(self._windows) > self.PRUNE_ABOVE:
            self._drop_closed_windows()

    def _drop_closed_windows(self) -> None:
        """Keeps memory bounded when many different keys fail once and never come back."""
        moment = now().timestamp()
        for key in [key for key, (_, closes_at) in self._windows.items() if closes_at <= moment]:
            del self._windows[key]

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisFailureCounter:
    """Shared by every process that uses the same Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def failures(self, key: str) -> tuple[int, int]:
        async with self._redis.pipeline(transaction=True) as pipe:
            count, ttl = await pipe.get(self._prefix + key).ttl(self._prefix + key).execute()
        return (int(count), max(int(ttl), 1)) if count else (0, 0)

    async def add_failure(self, key: str, window_seconds: int) -> None:
        full_key = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.incr(full_key).expire(full_key, window_seconds, nx=True).execute()

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
