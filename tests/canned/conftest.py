"""Helpers for canned-response tests: staff who read and change them over the API."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from tests.factories import Factory, World


@dataclass
class CannedApi:
    """One staff member's calls to the canned-response API."""

    client: httpx.AsyncClient
    headers: dict[str, str]

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(
            method, f"/api/v1/canned/{path}", headers=self.headers, **kwargs
        )

    async def category(self, name: str, **fields: object) -> dict[str, Any]:
        response = await self.request("POST", "categories", json={"name": name, **fields})
        assert response.status_code == 201, response.text
        return response.json()

    async def response(
        self, category: dict[str, Any], title: str, body: str = "Thanks!", **fields: object
    ) -> dict[str, Any]:
        data = {"category_id": category["id"], "title": title, "body": body, **fields}
        response = await self.request("POST", "responses", json=data)
        assert response.status_code == 201, response.text
        return response.json()

    async def categories(self, **params: object) -> list[dict[str, Any]]:
        response = await self.request("GET", "categories", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def responses(self, **params: object) -> list[dict[str, Any]]:
        response = await self.request("GET", "responses", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def filled(self, conversation_id: str, response_id: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/conversations/{conversation_id}/canned/{response_id}", headers=self.headers
        )


async def canned_api(client: httpx.AsyncClient, factory: Factory, user: StaffUser) -> CannedApi:
    return CannedApi(client, await factory.headers(user))


@pytest.fixture
async def editor(client: httpx.AsyncClient, factory: Factory, world: World) -> CannedApi:
    """The first partner's admin, who may change canned responses."""
    return await canned_api(client, factory, world.a.admin)


@pytest.fixture
async def reader(client: httpx.AsyncClient, factory: Factory, world: World) -> CannedApi:
    """The first partner's agent, who may only use them."""
    return await canned_api(client, factory, world.a.agent)
