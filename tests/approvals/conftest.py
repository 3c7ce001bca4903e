"""Partner requests driven through the API as partners, the public and tenant staff do."""

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import Package
from tests.factories import Factory, World

_numbers = itertools.count(1)

ADDON = {
    "name": "Coupons add-on",
    "price": {"amount": "19.00", "currency": "EUR"},
    "description": "Send coupons to your followers",
    "grants": {"engagement_types": ["coupon"], "extra_channels": 2},
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
