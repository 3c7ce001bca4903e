"""Set-up for broadcast, advertising-package and ad requests, made through the API as tenant
staff and partner admins do: catalogue ad packages, an impressions balance, uploads, active
engagements and valid ad campaigns."""

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import now
from relaydesk.tenancy.models import Channel
from tests.attachments.conftest import png, uploaded
from tests.engagements.conftest import engagement_api, published
from tests.factories import Factory, World

_numbers = itertools.count(1)


def local(moment: datetime, zone: str = "UTC") -> str:
    """`moment` as a `datetime-local` field holds it for a partner in `zone`."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def minute_ahead() -> datetime:
    """The start of the next minute but one: a time a `datetime-local` field can hold exactly,
    later than any token or session the test made so far."""
    return now().replace(second=0, microsecond=0) + timedelta(minutes=2)


class Campaigns:
    """The tenant's admin and the first partner's admin setting up what partners advertise."""

    def __init__(self, client: httpx.AsyncClient, factory: Factory, world: World) -> None:
        self.client = client
        self.factory = factory
        self.world = world

    async def as_(self, user: StaffUser | None = None) -> dict[str, str]:
        return await self.factory.headers(user or self.world.a.admin)

    async def ad_package(
        self, impressions: int = 10_000, price: str = "50.00", **changes: Any
    ) -> dict[str, Any]:
        """An advertising package of the tenant's catalogue."""
        body = {
            "name": f"Ad package {next(_numbers)}",
            "impressions": impressions,
            "price": {"amount": price, "currency": "EUR"},
        } | changes
        response = await self.client.post(
            "/api/v1/tenant/ad-packages", json=body, headers=await self.as_(self.world.tenant_admin)
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def submit(self, body: dict[str, Any], user: StaffUser | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/partner/requests", json=body, headers=await self.as_(user)
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def decide(self, request_id: str, verb: str = "approve", **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/tenant/requests/{request_id}/{verb}",
            json=body or None,
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def request(self, request_id: str) -> dict[str, Any]:
        """The request as the tenant's staff see it, with what became of it so far."""
        response = await self.client.get(
            f"/api/v1/tenant/requests/{request_id}",
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def mine(self) -> list[dict[str, Any]]:
        """The first partner's requests, newest first."""
        response = await self.client.get("/api/v1/partner/requests", headers=await self.as_())
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def balance(self, impressions: int, user: StaffUser | None = None) -> None:
        """Gives the partner `impressions` by an approved advertising package."""
        ad_package = await self.ad_package(impressions=impressions)
        sent = await self.submit({"kind": "ad_package", "ad_package_id": ad_package["id"]}, user)
        await self.decide(sent["id"])

    async def time_zone(self, zone: str, user: StaffUser | None = None) -> None:
        response = await self.client.patch(
            "/api/v1/partner/settings", json={"time_zone": zone}, headers=await self.as_(user)
        )
        assert response.status_code == 200, response.text

    async def upload(
        self, filename: str = "banner.png", data: bytes | None = None, user: StaffUser | None = None
    ) -> str:
        """A file uploaded by the partner's admin; its id."""
        return (await uploaded(self.client, await self.as_(user), filename, data or png()))["id"]

    async def engagement(
        self,
        title: str = "Spring sale",
        type_: EngagementType = EngagementType.MESSAGE,
        *,
        user: StaffUser | None = None,
        channel: Channel | None = None,
        publish: bool = True,
    ) -> dict[str, Any]:
        """An engagement of the partner's channel, published unless told otherwise."""
        admin = await engagement_api(
            self.client, self.factory, user or self.world.a.admin, channel or self.world.a.channel
        )
        if publish:
            return await published(admin, type_, title=title)
        return await admin.create(type_, title=title)

    def ad(self, media_id: str, starts_at: datetime, **changes: Any) -> dict[str, Any]:
        """A valid ad campaign for the API, running for a week from `starts_at`."""
        return {
            "kind": "ad",
            "ad_type": "banner",
            "title": "Spring banner",
            "subtitle": "Everything half price",
            "description": "For the spring sale.",
            "click_url": "https://shop.example/spring",
            "cta_text": "Shop now",
            "media_attachment_id": media_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(days=7)).isoformat(),
            "impressions_budget": 100,
        } | changes

    async def approved_ad(self, starts_at: datetime, **changes: Any) -> dict[str, Any]:
        """An approved banner ad of the first partner, with the impressions to show it."""
        await self.balance(max(int(changes.get("impressions_budget", 100)), 1))
        sent = await self.submit(self.ad(await self.upload(), starts_at, **changes))
        return await self.decide(sent["id"])
