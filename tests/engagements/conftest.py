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
