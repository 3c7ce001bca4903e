"""Helpers for webhook tests: a real HTTP receiver on loopback, the first partner's admin managing
endpoints over the API, the worker's delivery job run on demand, and the signature check that
docs/webhooks.md gives receivers, taken from the document itself."""

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.webhooks.delivery import deliver_due_webhooks
from relaydesk.webhooks.models import WebhookDelivery
from tests.chat.conftest import Follower, new_follower
from tests.factories import Factory, World

WEBHOOKS = "/api/v1/webhooks"
EVENTS = ["message.created", "conversation.updated"]
DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_verifier() -> Callable[..., bool]:
    """`verify_signature` exactly as docs/webhooks.md shows it to receivers."""
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["verify_signature"]


verify_signature = _documented_verifier()


@dataclass
class Received:
    """One request as the receiver got it."""

    path: str
    headers: Message
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Relaydesk-Delivery"]

    def signatures(self) -> list[str]:
        return self.headers["X-Relaydesk-Signature"].split(",")


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with receiver.lock:
            receiver.requests.append(Received(self.path, self.headers, body))
            failing = receiver.failures > 0
            receiver.failures -= failing
        if receiver.hang:
            receiver.released.wait(receiver.hang)
        status = 500 if failing else receiver.status
        answer = b"Internal trouble: the receiver failed on purpose" if failing else b"ok"
        try:
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the sender gave up waiting

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    receiver: "Receiver"


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every request: it answers `status`, or 500
    to the next `failures` requests, after `hang` seconds if set; `location` adds a Location
    header (for redirects)."""

    status: int = 204
    failures: int = 0
    hang: float = 0.0
    location: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        # Polled often, so that stopping it takes no time.
        serve = partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def bodies(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings, with plain http:// to loopback allowed: the receiver's."""
    return settings.model_copy(update={"allow_http_loopback_webhooks": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@dataclass
class Webhooks:
    """The first partner's admin calling the webhook API, and the worker's job on demand."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    database: Database
    settings: Settings
    world: World

    async def register(self, url: str, events: list[str] | None = None, **fields: Any) -> dict:
        """A new endpoint, with its secret."""
        response = await self.client.post(
            WEBHOOKS, json={"url": url, "events": events or EVENTS, **fields}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def change(self, endpoint: dict, **fields: Any) -> dict:
        response = await self.client.patch(
            f"{WEBHOOKS}/{endpoint['id']}", json=fields, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def rotate(self, endpoint: dict) -> dict:
        response = await self.client.post(
            f"{WEBHOOKS}/{endpoint['id']}/rotate-secret", headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def log(self, endpoint: dict, **params: Any) -> list[dict]:
        """The endpoint's delivery log, newest first."""
        response = await self.client.get(
            f"{WEBHOOKS}/{endpoint['id']}/deliveries",
            params={"limit": 200, **params},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def deliver(self, **kwargs: Any) -> bool:
        """One pass of the worker's webhook job."""
        return await deliver_due_webhooks(self.database, self.settings, **kwargs)

    async def follower(self) -> Follower:
        """A new follower of the first partner's channel."""
        return await new_follower(self.client, self.world.tenant, self.world.a.channel)

    async def stored(self) -> list[WebhookDelivery]:
        """Every delivery row, oldest first."""
        async with self.database.transaction() as session:
            return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))

    async def stored_one(self, delivery_id: str | uuid.UUID) -> WebhookDelivery:
        async with self.database.transaction() as session:
            return await session.get_one(WebhookDelivery, uuid.UUID(str(delivery_id)))


@pytest.fixture
async def webhooks(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    database: Database,
    settings: Settings,
) -> Webhooks:
    return Webhooks(client, await factory.headers(world.a.admin), database, settings, world)
