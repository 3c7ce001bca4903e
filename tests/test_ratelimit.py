"""Sign-in throttling is shared by every process that uses the same Redis."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from relaydesk.app import create_app
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.ratelimit import MemoryFailureCounter
from tests.factories import World


@asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A separate app instance, as another `relaydesk serve` process would be."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.mark.only_backend("postgresql")  # the backend that comes with Redis
class TestSharedThrottling:
    async def test_failures_on_one_process_limit_the_other(
        self, settings: Settings, redis: Redis, world: World
    ) -> None:
        wrong = {"email": world.a.agent.email, "password": "wrong"}
        async with process(settings) as first, process(settings) as second:
            for client in (first, second, first, second, first):
                assert (await client.post("/api/v1/auth/token", json=wrong)).status_code == 401
            response = await second.post("/api/v1/auth/token", json=wrong)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert await redis.exists(
            f"{settings.redis_key_prefix}login:198.51.100.9:{world.a.agent.email}"
        )


class TestMemoryCounter:
    async def test_counts_within_the_window_and_forgets_after_it(self) -> None:
        counter = MemoryFailureCounter()
        clock.freeze(now())
        await counter.add_failure("k", 60)
        clock.advance(timedelta(seconds=20))
        await counter.add_failure("k", 60)
        assert await counter.failures("k") == (2, 40)
        clock.advance(timedelta(seconds=40))
        assert await counter.failures("k") == (0, 0)

    async def test_closed_windows_are_dropped_when_many_keys_pile_up(self) -> None:
        counter = MemoryFailureCounter()
        clock.freeze(now())
        for number in range(MemoryFailureCounter.PRUNE_ABOVE):
            await counter.add_failure(f"old-{number}", 60)
        clock.advance(timedelta(seconds=61))
        await counter.add_failure("new", 60)
        assert len(counter._windows) == 1
