"""Helpers for broadcast tests: the first partner's admin who publishes engagements and asks to
broadcast them, the tenant's admin who decides, end users to reach, and the worker's delivery
job run on demand, with a frozen clock."""

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from relaydesk.auth.models import StaffUser
from relaydesk.broadcasts import delivery
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock
from relaydesk.db import Database
from relaydesk.engagements.models import ActivityKind, EngagementActivity, EngagementDelivery
from relaydesk.tenancy.models import Channel, EndUser, Tenant
from tests.engagements.conftest import EngagementApi, engagement_api, published
from tests.factories import Factory, World

REQUESTS = "/api/v1/partner/requests"
# Broadcasts in these tests start this long after "now".
LEAD = timedelta(minutes=30)


@dataclass
class Broadcasts:
    """Asking for, deciding and delivering broadcasts of the first partner's engagements."""

    client: httpx.AsyncClient
    factory: Factory
    world: World
    database: Database
    engagements: EngagementApi
    start: datetime

    async def as_(self, user: StaffUser) -> dict[str, str]:
        return await self.factory.headers(user)

    async def engagement(
        self, type_: EngagementType = EngagementType.MESSAGE, **fields: Any
    ) -> dict[str, Any]:
        """An active engagement of the first partner's channel."""
        return await published(self.engagements, type_, **fields)

    def body(
        self,
        engagement: dict[str, Any],
        audience: str = "non_followers",
        starts_at: datetime | str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """A broadcast request's body; `starts_at` may be any text, to be refused."""
        starts_at = starts_at or self.start
        return {
            "kind": "broadcast",
            "engagement_id": engagement["id"],
            "audience": audience,
            "starts_at": starts_at if isinstance(starts_at, str) else starts_at.isoformat(),
        } | changes

    async def ask(self, body: dict[str, Any], user: StaffUser | None = None) -> httpx.Response:
        return await self.client.post(
            REQUESTS, json=body, headers=await self.as_(user or self.world.a.admin)
        )

    async def asked(self, engagement: dict[str, Any], audience: str = "non_followers") -> dict:
        response = await self.ask(self.body(engagement, audience))
        assert response.status_code == 201, response.text
        return response.json()

    async def approved(self, engagement: dict[str, Any], audience: str = "non_followers") -> dict:
        """A broadcast of `engagement` from `start`, asked for and approved."""
        request = await self.asked(engagement, audience)
        response = await self.decide(request["id"], "approve")
        assert response.status_code == 200, response.text
        return response.json()

    async def decide(
        self, request_id: str, verb: str, user: StaffUser | None = None, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/tenant/requests/{request_id}/{verb}",
            json=body or None,
            headers=await self.as_(user or self.world.tenant_admin),
        )

    async def get(self, request_id: str, user: StaffUser | None = None) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/tenant/requests/{request_id}",
            headers=await self.as_(user or self.world.tenant_admin),
        )

    async def details(self, request_id: str) -> dict[str, Any]:
        """The request's details as the tenant's reviewers see them."""
        response = await self.get(request_id)
        assert response.status_code == 200, response.text
        return response.json()["details"]

    async def partner_sees(self, request_id: str) -> dict[str, Any]:
        """The request as the partner's own list shows it."""
        response = await self.client.get(
            REQUESTS, params={"kind": "broadcast"}, headers=await self.as_(self.world.a.admin)
        )
        assert response.status_code == 200, response.text
        (request,) = [item for item in response.json()["items"] if item["id"] == request_id]
        return request

    async def deliver(self, **kwargs: Any) -> bool:
        """One pass of the worker's broadcast job."""
        return await deliver_due_broadcasts(self.database, **kwargs)

    async def end_users(
        self, count: int, *, follows: list[Channel] = (), tenant: Tenant | None = None
    ) -> list[EndUser]:
        return [
            await self.factory.end_user(tenant or self.world.tenant, follows=follows)
            for _ in range(count)
        ]

    def headers_of(self, end_user: EndUser, tenant: Tenant | None = None) -> dict[str, str]:
        return self.factory.end_user_headers(tenant or self.world.tenant, end_user.external_id)

    async def held(self, end_user: EndUser, tenant: Tenant | None = None) -> list[dict]:
        """What `GET /api/v1/me/engagements` shows the end user."""
        response = await self.client.get(
            "/api/v1/me/engagements", headers=self.headers_of(end_user, tenant)
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def deliveries(self, engagement: dict[str, Any]) -> Counter[uuid.UUID]:
        """How many times each end user was given the engagement."""
        async with self.database.transaction() as session:
            rows = await session.scalars(
                select(EngagementDelivery.end_user_id).where(
                    EngagementDelivery.engagement_id == uuid.UUID(engagement["id"])
                )
            )
            return Counter(rows)

    async def received_lines(self, engagement: dict[str, Any]) -> Counter[uuid.UUID]:
        """How many `received` lines each end user's engagement log has for the engagement."""
        async with self.database.transaction() as session:
            rows = await session.scalars(
                select(EngagementActivity.end_user_id).where(
                    EngagementActivity.engagement_id == uuid.UUID(engagement["id"]),
                    EngagementActivity.kind == ActivityKind.RECEIVED,
                )
            )
            return Counter(rows)


def once_each(end_users: list[EndUser]) -> Counter[uuid.UUID]:
    return Counter({end_user.id: 1 for end_user in end_users})


@pytest.fixture
def start() -> datetime:
    """The clock frozen at the real time (tokens are checked against it); broadcasts start
    `LEAD` later."""
    at = datetime.now(UTC)
    clock.freeze(at)
    return at + LEAD


@pytest.fixture
async def broadcasts(
    client: httpx.AsyncClient, factory: Factory, world: World, database: Database, start: datetime
) -> Broadcasts:
    engagements = await engagement_api(client, factory, world.a.admin, world.a.channel)
    return Broadcasts(client, factory, world, database, engagements, start)


class SlowBatches:
    """Makes every batch take `seconds` of a pass's time budget, as a big batch on a busy
    database does: `deliver(batch=…, budget_seconds=seconds)` then delivers exactly one
    batch per pass. Only the broadcast job's own timer is replaced."""

    def __init__(self, seconds: float) -> None:
        self.elapsed = 0.0
        self.seconds = seconds

    def monotonic(self) -> float:
        return self.elapsed

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ENGAGEMENT_DELIVERY"):
            self.elapsed += self.seconds


@contextmanager
def batches_taking(
    database: Database, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> Iterator[SlowBatches]:
    """Inside the block, each batch of the broadcast job takes `seconds` of its budget."""
    slow = SlowBatches(seconds)
    monkeypatch.setattr(delivery, "time", slow)
    event.listen(database.engine.sync_engine, "after_cursor_execute", slow._after)
    try:
        yield slow
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", slow._after)


@pytest.fixture
def slow_batches(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowBatches]:
    """Each batch uses up a one-second budget."""
    with batches_taking(database, monkeypatch, 1.0) as slow:
        yield slow


class Crash(Exception):
    """The worker process dying in the middle of a statement."""


@contextmanager
def crash_on(database: Database, table: str, *, after: int = 0) -> Iterator[Callable[[], int]]:
    """Inside the block, the worker "dies" at the insert into `table` that comes after `after`
    others (raising `Crash` once the statement ran, before its transaction commits)."""
    seen = 0

    def die(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal seen
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()} "):
            seen += 1
            if seen > after:
                raise Crash(table)

    engine = database.engine.sync_engine
    event.listen(engine, "after_cursor_execute", die)
    try:
        yield lambda: seen
    finally:
        event.remove(engine, "after_cursor_execute", die)
