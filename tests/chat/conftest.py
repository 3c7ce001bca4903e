"""Helpers for chat tests: end users who follow and write, agents who reply, all over HTTP."""

import itertools
import uuid
from dataclasses import dataclass

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.auth.service import end_user_token
from relaydesk.tenancy.models import Channel, Tenant
from tests.factories import Factory, World

_client_ids = itertools.count(1)


def client_message_id() -> str:
    return f"cm-{next(_client_ids)}-{uuid.uuid4().hex[:8]}"


@dataclass
class Follower:
    """An end user of the tenant's app who follows a channel, talking through the API."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    channel: Channel

    async def write(self, body: str = "Hello", *, cmid: str | None = None) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/channels/{self.channel.id}/chat/messages",
            json={"client_message_id": cmid or client_message_id(), "body": body},
            headers=self.headers,
        )

    async def conversation_id(self) -> str:
        response = await self.client.get("/api/v1/me/conversations", headers=self.headers)
        (conversation,) = [
            c for c in response.json()["items"] if c["channel_id"] == str(self.channel.id)
        ]
        return conversation["id"]


async def new_follower(
    client: httpx.AsyncClient,
    tenant: Tenant,
    channel: Channel,
    name: str = "",
    **claims: str,
) -> Follower:
    """A new end user (created by their first token) who follows `channel`."""
    sub = f"user-{uuid.uuid4().hex[:10]}"
    token = end_user_token(tenant, sub=sub, name=name or "End User", ttl_seconds=3600, **claims)
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.put(f"/api/v1/channels/{channel.id}/follow", headers=headers)
    assert response.status_code == 204
    return Follower(client, headers, channel)


@dataclass
class Agent:
    client: httpx.AsyncClient
    headers: dict[str, str]
    id: str
    name: str

    async def reply(
        self,
        conversation_id: str,
        body: str = "Hi, how can I help?",
        *,
        take_over: bool = False,
        cmid: str | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={
                "client_message_id": cmid or client_message_id(),
                "body": body,
                "take_over": take_over,
            },
            headers=self.headers,
        )

    async def finish(self, conversation_id: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/conversations/{conversation_id}/finish", headers=self.headers
        )

    async def conversation(self, conversation_id: str) -> dict:
        response = await self.client.get(
            f"/api/v1/conversations/{conversation_id}", headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def thread(self, conversation_id: str, **params: object) -> list[dict]:
        response = await self.client.get(
            f"/api/v1/conversations/{conversation_id}/messages",
            params={"limit": 200, **params},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]


async def as_agent(client: httpx.AsyncClient, factory: Factory, user: StaffUser) -> Agent:
    return Agent(client, await factory.headers(user), str(user.id), user.name)


@pytest.fixture
async def follower(client: httpx.AsyncClient, factory: Factory, world: World) -> Follower:
    return await new_follower(client, world.tenant, world.a.channel, name="Mia Jensen")


@pytest.fixture
async def agent(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(client, factory, world.a.agent)


@pytest.fixture
async def admin(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(client, factory, world.a.admin)
