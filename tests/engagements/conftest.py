"""Helpers for engagement tests: staff who manage or read the catalogue over the API, valid
bodies for every type, and files to refer to."""

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relaydesk.auth.models import StaffUser
from relaydesk.catalogue.models import EngagementType
from relaydesk.tenancy.models import Channel
from tests.attachments.conftest import iso_media, png, uploaded
from tests.chat.conftest import Agent, Follower, as_agent, client_message_id, new_follower
from tests.factories import Factory, World

ENGAGEMENTS = "/api/v1/engagements"


def mp3() -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64


def m4a() -> bytes:
    return iso_media(b"M4A ", [b"M4A ", b"isom"])


def ogg() -> bytes:
    return b"OggS\x00\x02" + b"\x00" * 64


def sticker_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sticker-1.png", png())
    return buffer.getvalue()


def data_for(type_: EngagementType, media: list[str] | None = None) -> dict[str, Any]:
    """Valid `data` of each type; a promo needs the ids of its images or videos."""
    return {
        EngagementType.MESSAGE: {"text": "Our shop opens at nine tomorrow."},
        EngagementType.PROMO: {"media_attachment_ids": media or [], "cta_text": "Shop now"},
        EngagementType.COUPON: {"redemption_type": "qr_code", "quantity": 100},
        EngagementType.STICKER_PACK: {"points_price": 20, "bonus_points": 5},
        EngagementType.RINGTONE: {"points_price": 10},
        EngagementType.WALLPAPER: {},
    }[type_]


@dataclass
class EngagementApi:
    """One person's calls to the engagement API."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    channel: Channel | None = None

    async def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        url = f"{ENGAGEMENTS}/{path}".rstrip("/")
        return await self.client.request(method, url, headers=self.headers, **kwargs)

    def body(self, type_: EngagementType, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
        assert self.channel is not None
        return {
            "type": type_,
            "channel_id": str(self.channel.id),
            "title": f"A {type_}",
            "description": "For our followers.",
            "data": data,
            **fields,
        }

    async def post(self, type_: EngagementType, data: dict[str, Any], **fields: Any):
        return await self.request("POST", json=self.body(type_, data, **fields))

    async def create(
        self, type_: EngagementType, data: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        if data is None:
            media = [await self.upload_id()] if type_ == EngagementType.PROMO else None
            data = data_for(type_, media)
        response = await self.post(type_, data, **fields)
        assert response.status_code == 201, response.text
        return response.json()

    async def publish(self, engagement: dict[str, Any]) -> httpx.Response:
        return await self.request("POST", f"{engagement['id']}/publish")

    async def finish(self, engagement: dict[str, Any]) -> httpx.Response:
        return await self.request("POST", f"{engagement['id']}/finish")

    async def patch(self, engagement: dict[str, Any], **fields: Any) -> httpx.Response:
        return await self.request("PATCH", engagement["id"], json=fields)

    async def list(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.request("GET", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def upload_id(self, filename: str = "photo.png", data: bytes | None = None) -> str:
        return (await uploaded(self.client, self.headers, filename, data or png()))["id"]


async def engagement_api(
    client: httpx.AsyncClient, factory: Factory, user: StaffUser, channel: Channel | None = None
) -> EngagementApi:
    return EngagementApi(client, await factory.headers(user), channel)


@pytest.fixture
async def admin(client: httpx.AsyncClient, factory: Factory, world: World) -> EngagementApi:
    """The first partner's admin, who manages its engagements."""
    return await engagement_api(client, factory, world.a.admin, world.a.channel)


@pytest.fixture
async def agent(client: httpx.AsyncClient, factory: Factory, world: World) -> EngagementApi:
    """The first partner's agent, who reads them to send in chats."""
    return await engagement_api(client, factory, world.a.agent, world.a.channel)


@pytest.fixture
async def other_admin(client: httpx.AsyncClient, factory: Factory, world: World) -> EngagementApi:
    """The admin of the second partner of the same tenant."""
    return await engagement_api(client, factory, world.b.admin, world.b.channel)


# --- Engagements in chats ----------------------------------------------------------------------


async def published(
    admin: EngagementApi, type_: EngagementType, data: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """An active engagement of `admin`'s channel."""
    created = await admin.create(type_, data, **fields)
    response = await admin.publish(created)
    assert response.status_code == 200, response.text
    return response.json()


def coupon(**data: Any) -> dict[str, Any]:
    return {"redemption_type": "click_to_redeem", "quantity": 10, **data}


@dataclass
class EndUserApi:
    """A follower's calls about the engagements they hold."""

    follower: Follower

    async def held(self) -> list[dict[str, Any]]:
        response = await self.follower.client.get(
            "/api/v1/me/engagements", headers=self.follower.headers
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def act(self, delivery_id: str, verb: str) -> httpx.Response:
        return await self.follower.client.post(
            f"/api/v1/me/engagements/{delivery_id}/{verb}", headers=self.follower.headers
        )


@dataclass
class Desk:
    """A chat between the first partner's agent and a follower of its channel, and the
    partner's admin who publishes engagements."""

    client: httpx.AsyncClient
    world: World
    admin: EngagementApi
    agent: Agent
    follower: Follower
    conversation_id: str

    async def with_another_follower(self) -> "Desk":
        """The same agent chatting with another follower of the channel."""
        follower, conversation_id = await chatting(self.client, self.world)
        return Desk(self.client, self.world, self.admin, self.agent, follower, conversation_id)

    @property
    def me(self) -> EndUserApi:
        return EndUserApi(self.follower)

    async def send(
        self,
        engagement_id: str,
        *,
        agent: Agent | None = None,
        take_over: bool = False,
        cmid: str | None = None,
        conversation_id: str | None = None,
    ) -> httpx.Response:
        sender = agent or self.agent
        return await self.client.post(
            f"/api/v1/conversations/{conversation_id or self.conversation_id}/engagements",
            json={
                "client_message_id": cmid or client_message_id(),
                "engagement_id": engagement_id,
                "take_over": take_over,
            },
            headers=sender.headers,
        )

    async def delivered(self, engagement_id: str, **kwargs: Any) -> dict[str, Any]:
        """Sends the engagement and returns the card of the message."""
        response = await self.send(engagement_id, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()["engagement"]

    async def available(self, **params: Any) -> list[str]:
        response = await self.client.get(
            f"/api/v1/conversations/{self.conversation_id}/available-engagements",
            params=params,
            headers=self.agent.headers,
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    async def panel(self, name: str, agent: Agent | None = None, **params: Any) -> httpx.Response:
        end_user_id = (await self.agent.conversation(self.conversation_id))["end_user"]["id"]
        return await self.client.get(
            f"/api/v1/end-users/{end_user_id}/{name}",
            params=params,
            headers=(agent or self.agent).headers,
        )


async def chatting(client: httpx.AsyncClient, world: World, name: str = "") -> tuple[Follower, str]:
    """A new follower of the first partner's channel who has written to it."""
    follower = await new_follower(client, world.tenant, world.a.channel, name=name)
    response = await follower.write("Any offers?")
    assert response.status_code == 201, response.text
    return follower, response.json()["conversation_id"]


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, factory: Factory, world: World, admin: EngagementApi
) -> Desk:
    agent = await as_agent(client, factory, world.a.agent)
    follower, conversation_id = await chatting(client, world, "Mia Jensen")
    return Desk(client, world, admin, agent, follower, conversation_id)


async def allow_only(
    client: httpx.AsyncClient, factory: Factory, world: World, types: list[EngagementType]
) -> None:
    """The first partner's package narrowed to `types`, as the tenant's admin does it."""
    response = await client.patch(
        f"/api/v1/tenant/packages/{world.a.partner.package_id}",
        json={"engagement_types": [str(type_) for type_ in types]},
        headers=await factory.headers(world.tenant_admin),
    )
    assert response.status_code == 200, response.text
