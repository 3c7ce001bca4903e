"""Partner requests driven through the API as partners, the public and tenant staff do."""

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import EngagementType, Package
from relaydesk.clock import now
from relaydesk.tenancy.models import Partner
from tests.attachments.conftest import mp4, png, uploaded
from tests.engagements.conftest import engagement_api, published
from tests.factories import Factory, Side, World

_numbers = itertools.count(1)

ADDON = {
    "name": "Coupons add-on",
    "price": {"amount": "19.00", "currency": "EUR"},
    "description": "Send coupons to your followers",
    "grants": {"engagement_types": ["coupon"], "extra_channels": 2},
}


AD_PACKAGE = {
    "name": "Starter impressions",
    "impressions": 1000,
    "price": {"amount": "50.00", "currency": "EUR"},
}
AD = {
    "ad_type": "banner",
    "title": "Autumn sale",
    "subtitle": "Everything half price",
    "description": "In every shop until Sunday.",
    "click_url": "https://shop.example/sale",
    "cta_text": "Shop now",
    "impressions_budget": 500,
}


def registration(package: Package, **changes: Any) -> dict[str, Any]:
    number = next(_numbers)
    return {
        "partner_name": f"Brand {number}",
        "package_id": str(package.id),
        "email": f"owner{number}@brand.example",
        "phone": "+386 40 123 456",
        "website": "https://brand.example",
        "contact_name": f"Owner {number}",
        "description": "We sell coffee.",
    } | changes


@dataclass
class Requests:
    client: httpx.AsyncClient
    factory: Factory
    world: World

    async def as_(self, user: StaffUser) -> dict[str, str]:
        return await self.factory.headers(user)

    async def register(self, package: Package, **changes: Any) -> dict[str, Any]:
        """A public registration; returns the request as tenant staff see it."""
        body = registration(package, **changes)
        response = await self.client.post(
            f"/api/v1/public/{self.world.tenant.slug}/partnership-requests", json=body
        )
        assert response.status_code == 202, response.text
        return await self.get(response.json()["id"])

    async def submit(self, user: StaffUser, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            "/api/v1/partner/requests", json=body, headers=await self.as_(user)
        )

    async def addon(self, **changes: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/tenant/addons",
            json=ADDON | {"name": f"Add-on {next(_numbers)}"} | changes,
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def asked(self, user: StaffUser, body: dict[str, Any]) -> dict[str, Any]:
        """A request `user`'s partner submitted, pending."""
        response = await self.submit(user, body)
        assert response.status_code == 201, response.text
        return response.json()

    async def ad_package(self, **changes: Any) -> dict[str, Any]:
        """An advertising package of the tenant's catalogue."""
        response = await self.client.post(
            "/api/v1/tenant/ad-packages",
            json=AD_PACKAGE | {"name": f"Impressions {next(_numbers)}"} | changes,
            headers=await self.as_(self.world.tenant_admin),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def ad_package_request(self, side: Side | None = None, **changes: Any) -> dict[str, Any]:
        """A pending request of `side`'s partner (the first) for a new advertising package."""
        ad_package = await self.ad_package(**changes)
        body = {"kind": "ad_package", "ad_package_id": ad_package["id"]}
        return await self.asked((side or self.world.a).admin, body)

    async def broadcast_request(
        self,
        type_: EngagementType = EngagementType.MESSAGE,
        side: Side | None = None,
        *,
        audience: str = "non_followers",
        data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A pending broadcast of a newly published engagement of `side`'s channel, starting
        in an hour."""
        side = side or self.world.a
        engagements = await engagement_api(self.client, self.factory, side.admin, side.channel)
        engagement = await published(engagements, type_, data, **fields)
        body = {
            "kind": "broadcast",
            "engagement_id": engagement["id"],
            "audience": audience,
            "starts_at": (now() + timedelta(hours=1)).isoformat(),
        }
        return await self.asked(side.admin, body)

    async def impressions(self, partner: Partner, count: int) -> None:
        """Gives the partner a balance of impressions, as approved packages would."""
        async with self.factory.database.transaction() as session:
            (await session.get_one(Partner, partner.id)).impressions_balance = count

    async def media(self, kind: str = "image", side: Side | None = None) -> dict[str, Any]:
        """A picture (or a video) uploaded by `side`'s partner admin, for an ad."""
        headers = await self.as_((side or self.world.a).admin)
        if kind == "video":
            return await uploaded(self.client, headers, "spot.mp4", mp4())
        return await uploaded(self.client, headers, "banner.png", png())

    async def ad_request(self, side: Side | None = None, **changes: Any) -> dict[str, Any]:
        """A pending ad of `side`'s partner (the first), running from a minute ago for a week;
        the partner is given the impressions its budget needs."""
        side = side or self.world.a
        body = AD | {
            "kind": "ad",
            "starts_at": now() - timedelta(minutes=1),
            "ends_at": now() + timedelta(days=7),
        }
        body |= changes
        if "media_attachment_id" not in body:
            kind = "video" if body["ad_type"] == "video" else "image"
            body["media_attachment_id"] = (await self.media(kind, side))["id"]
        await self.impressions(side.partner, max(body["impressions_budget"], 1_000))
        stamped = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in body.items()}
        return await self.asked(side.admin, stamped)

    async def get(self, request_id: str, user: StaffUser | None = None) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/tenant/requests/{request_id}",
            headers=await self.as_(user or self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def approve(self, request_id: str, user: StaffUser | None = None) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/tenant/requests/{request_id}/approve",
            headers=await self.as_(user or self.world.tenant_admin),
        )

    async def reject(
        self, request_id: str, reason: Any = "Not now", user: StaffUser | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/tenant/requests/{request_id}/reject",
            json={"reason": reason},
            headers=await self.as_(user or self.world.tenant_admin),
        )

    async def listed(self, user: StaffUser | None = None, **params: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v1/tenant/requests",
            params=params,
            headers=await self.as_(user or self.world.tenant_admin),
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture
async def requests(client: httpx.AsyncClient, factory: Factory, world: World) -> Requests:
    return Requests(client, factory, world)


@pytest.fixture
async def package(factory: Factory, world: World) -> Package:
    return await factory.package(world.tenant, price="99.00")
