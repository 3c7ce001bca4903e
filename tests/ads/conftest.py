"""Helpers for advertising tests: the tenant's advertising packages, a partner buying
impressions and asking for ads, the tenant's admin deciding, and end users being served, all
over HTTP with a frozen clock."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.clock import clock
from relaydesk.tenancy.models import Partner, Tenant
from tests.attachments.conftest import mp4, pdf, png, uploaded
from tests.factories import Factory, World

REQUESTS = "/api/v1/partner/requests"
ADS = "/api/v1/me/ads"
_numbers = itertools.count(1)
FILES = {
    "image": ("banner.png", png),
    "video": ("spot.mp4", mp4),
    "document": ("terms.pdf", pdf),
}


@dataclass
class Ads:
    client: httpx.AsyncClient
    factory: Factory
    world: World
    # The clock is frozen here; ads run from `start` to `end` unless told otherwise.
    now: datetime

    @property
    def start(self) -> datetime:
        return self.now + timedelta(hours=1)

    @property
    def end(self) -> datetime:
        return self.now + timedelta(days=7)

    async def as_(self, user: StaffUser) -> dict[str, str]:
        return await self.factory.headers(user)

    async def ad_package(self, impressions: int = 1000, **changes: Any) -> dict[str, Any]:
        """An advertising package of the tenant's catalogue."""
        response = await self.client.post(
            "/api/v1/tenant/ad-packages",
            json={
                "name": f"{impressions} impressions #{next(_numbers)}",
                "impressions": impressions,
                "price": {"amount": "25.00", "currency": "EUR"},
            }
            | changes,
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def submit(self, body: dict[str, Any], user: StaffUser | None = None) -> httpx.Response:
        return await self.client.post(
            REQUESTS, json=body, headers=await self.as_(user or self.world.a.admin)
        )

    async def decide(
        self, request_id: str, verb: str, user: StaffUser | None = None, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/tenant/requests/{request_id}/{verb}",
            json=body or None,
            headers=await self.as_(user or self.world.tenant_admin),
        )

    async def approve(self, request: dict[str, Any] | httpx.Response) -> dict[str, Any]:
        if isinstance(request, httpx.Response):
            assert request.status_code == 201, request.text
            request = request.json()
        response = await self.decide(request["id"], "approve")
        assert response.status_code == 200, response.text
        return response.json()

    async def buy(self, impressions: int, user: StaffUser | None = None) -> dict[str, Any]:
        """A package of `impressions` asked for by `user`'s partner and approved."""
        package = await self.ad_package(impressions)
        asked = await self.submit({"kind": "ad_package", "ad_package_id": package["id"]}, user)
        return await self.approve(asked)

    async def partner(self, partner: Partner | None = None) -> dict[str, Any]:
        """The partner as the tenant's "My partners" list shows it."""
        partner = partner or self.world.a.partner
        response = await self.client.get(
            "/api/v1/tenant/partners",
            params={"q": partner.name},
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        (listed,) = response.json()["items"]
        return listed

    async def balance(self, partner: Partner | None = None) -> int:
        return (await self.partner(partner))["impressions_balance"]

    async def media(self, kind: str = "image", user: StaffUser | None = None) -> dict[str, Any]:
        """A file uploaded by `user` (the first partner's admin), for an ad."""
        filename, make = FILES[kind]
        return await uploaded(
            self.client, await self.as_(user or self.world.a.admin), filename, make()
        )

    async def ad_body(
        self, ad_type: str = "banner", user: StaffUser | None = None, **changes: Any
    ) -> dict[str, Any]:
        """A valid ad request; its media is uploaded (by `user`) unless given."""
        if "media_attachment_id" not in changes:
            kind = "video" if ad_type == "video" else "image"
            changes["media_attachment_id"] = (await self.media(kind, user))["id"]
        return {
            "kind": "ad",
            "ad_type": ad_type,
            "title": f"Autumn sale {next(_numbers)}",
            "subtitle": "Everything half price",
            "description": "In every shop until Sunday.",
            "click_url": "https://shop.example/sale",
            "cta_text": "Shop now",
            "starts_at": self.start.isoformat(),
            "ends_at": self.end.isoformat(),
            "impressions_budget": 10,
        } | {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in changes.items()
        }

    async def ad(
        self, ad_type: str = "banner", user: StaffUser | None = None, **changes: Any
    ) -> dict[str, Any]:
        """An ad asked for by `user`'s partner and approved."""
        response = await self.submit(await self.ad_body(ad_type, user, **changes), user)
        return await self.approve(response)

    async def request(self, request_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/tenant/requests/{request_id}",
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def used(self, request: dict[str, Any]) -> int:
        """The ad's impressions so far, as its request's details show them."""
        return (await self.request(request["id"]))["details"]["impressions_used"]

    def end_user(self, tenant: Tenant | None = None) -> dict[str, str]:
        """The headers of a new end user of the tenant (made by their first call)."""
        return self.factory.end_user_headers(tenant or self.world.tenant)

    async def served(
        self, headers: dict[str, str] | None = None, placement: str | None = None
    ) -> list[dict[str, Any]]:
        """The ads `GET /api/v1/me/ads` answers (each one an impression)."""
        response = await self.client.get(
            ADS,
            params={"placement": placement} if placement else None,
            headers=headers or self.end_user(),
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture
async def ads(client: httpx.AsyncClient, factory: Factory, world: World) -> Ads:
    at = datetime.now(UTC)
    clock.freeze(at)
    return Ads(client, factory, world, at)
