"""A socket client for the real-time tests (frames as dicts, with a timeout on every wait), and
the people who talk through the live server."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.chat.conftest import Agent, Follower, as_agent, new_follower
from tests.factories import Factory, World

WAIT_SECONDS = 5


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def frame(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.connection.recv(), WAIT_SECONDS))

    async def frame_of(self, type_: str) -> dict[str, Any]:
        """The next frame of `type_`, skipping others."""
        while (frame := await self.frame())["type"] != type_:
            pass
        return frame["data"]

    async def nothing_pending(self) -> bool:
        """True if no frame is waiting: a ping's pong comes back first."""
        await self.connection.send(json.dumps({"type": "ping"}))
        return (await self.frame())["type"] == "pong"


@asynccontextmanager
async def socket(
    base_url: str, *, token: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Socket]:
    """A connected socket, past its `hello` frame."""
    url = base_url.replace("http", "ws", 1) + "/api/v1/ws"
    if token:
        url += f"?access_token={token}"
    async with connect(url, additional_headers=headers or {}) as connection:
        client = Socket(connection)
        assert (await client.frame())["type"] == "hello"
        yield client


def bearer_token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the live server, whose sockets the tests listen on."""
    async with httpx.AsyncClient(base_url=live_server) as client:
        yield client


@pytest.fixture
async def follower(http: httpx.AsyncClient, world: World) -> Follower:
    return await new_follower(http, world.tenant, world.a.channel, name="Mia Jensen")


@pytest.fixture
async def agent(http: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(http, factory, world.a.agent)
