"""The floor of relaydesk's chat path: what any server must do for the same load, and no more.

`POST /api/v1/channels/{id}/chat/messages` inserts one message row and fans the frame out to
every agent socket and to the sending end user's sockets (answer and frame have the fields of
relaydesk's, the frame a conversation with its last message); `GET /api/v1/ws` registers a socket
without checking its credentials (an `access_token` query marks an end user, anything else an
agent). Sockets get frames through their own queue and writer task, so a send never waits on a
socket. With a Redis URL every frame goes once through one pub/sub channel and every process
(the sender's too) delivers it to its own sockets, as relaydesk's RedisBus does.

    python -m bench.baseline_app --port 8100
    BENCH_BASELINE_DATABASE: an SQLite file path, or a postgresql:// DSN (asyncpg)
    BENCH_BASELINE_REDIS_URL, BENCH_BASELINE_REDIS_CHANNEL: set both for several processes
"""

import argparse
import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg
import jwt
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

HELLO = json.dumps({"type": "hello", "data": {}})
POOL_SIZE = 15  # relaydesk's SQLAlchemy pool: 5 connections plus 10 overflow
SQLITE_SCHEMA = """CREATE TABLE IF NOT EXISTS message (
    id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, sender TEXT NOT NULL,
    client_message_id TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)"""
POSTGRES_SCHEMA = """CREATE TABLE IF NOT EXISTS message (
    id uuid PRIMARY KEY, channel_id text NOT NULL, sender text NOT NULL,
    client_message_id text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL)"""
INSERT_SQLITE = "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)"
INSERT_POSTGRES = "INSERT INTO message VALUES ($1, $2, $3, $4, $5, $6)"


class Store(Protocol):
    async def insert(
        self, id_: uuid.UUID, channel_id: str, sender: str, cmid: str, body: str, at: datetime
    ) -> None: ...

    async def close(self) -> None: ...


class SqliteStore:
    """One aiosqlite connection in autocommit: each insert is its own committed transaction,
    with relaydesk's pragmas (WAL, synchronous=NORMAL)."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, path: str) -> "SqliteStore":
        connection = await aiosqlite.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            await connection.execute(f"PRAGMA {pragma}")
        await connection.execute(SQLITE_SCHEMA)
        return cls(connection)

    async def insert(
        self, id_: uuid.UUID, channel_id: str, sender: str, cmid: str, body: str, at: datetime
    ) -> None:
        row = (str(id_), channel_id, sender, cmid, body, at.isoformat())
        await self._connection.execute(INSERT_SQLITE, row)

    async def close(self) -> None:
        await self._connection.close()


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> "PostgresStore":
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)
        await pool.execute(POSTGRES_SCHEMA)
        return cls(pool)

    async def insert(
        self, id_: uuid.UUID, channel_id: str, sender: str, cmid: str, body: str, at: datetime
    ) -> None:
        await self._pool.execute(INSERT_POSTGRES, id_, channel_id, sender, cmid, body, at)

    async def close(self) -> None:
        await self._pool.close()


class FanOut:
    """This process's sockets: every agent, and each end user's by their `sub`."""

    def __init__(self) -> None:
        self._agents: set[asyncio.Queue[str]] = set()
        self._end_users: dict[str, set[asyncio.Queue[str]]] = {}

    def deliver(self, end_user: str, frame: str) -> None:
        for queue in self._agents:
            queue.put_nowait(frame)
        for queue in self._end_users.get(end_user, ()):
            queue.put_nowait(frame)

    @contextlib.contextmanager
    def registered(self, queue: asyncio.Queue[str], end_user: str | None) -> Iterator[None]:
        audience = self._agents if end_user is None else self._end_users.setdefault(end_user, set())
        audience.add(queue)
        try:
            yield
        finally:
            audience.discard(queue)


class Bus(Protocol):
    async def publish(self, end_user: str, frame: str) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    def __init__(self, fan_out: FanOut) -> None:
        self._fan_out = fan_out

    async def publish(self, end_user: str, frame: str) -> None:
        self._fan_out.deliver(end_user, frame)

    async def close(self) -> None:
        pass


class RedisBus:
    """One pub/sub channel; a message is `<end user sub>\\n<frame>`."""

    def __init__(self, redis: Redis, channel: str, fan_out: FanOut) -> None:
        self._redis = redis
        self._channel = channel
        self._fan_out = fan_out
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.subscribe(self._channel)
        self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                end_user, _, frame = message["data"].decode().partition("\n")
                self._fan_out.deliver(end_user, frame)

    async def publish(self, end_user: str, frame: str) -> None:
        await self._redis.publish(self._channel, f"{end_user}\n{frame}")

    async def close(self) -> None:
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._pubsub.aclose()
        await self._redis.aclose()


def _subject(token: str) -> str:
    """The end user a JWT names, read without checking its signature (the floor checks none)."""
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def _message(
    id_: uuid.UUID, channel_id: str, sender: str, cmid: str, body: str, at: datetime
) -> dict[str, Any]:
    """A message with every field the API's has, so answers and frames weigh what relaydesk's
    do: the floor skips the work behind the fields, not the bytes every client must read."""
    return {
        "id": str(id_),
        "conversation_id": str(_conversation_id(channel_id, sender)),
        "seq": 1,
        "kind": "text",
        "sender": {"type": "end_user", "id": sender, "name": sender},
        "body": body,
        "attachments": [],
        "engagement": None,
        "activity": None,
        "client_message_id": cmid,
        "created_at": at.isoformat(),
    }


def _conversation(channel_id: str, sender: str, last_message: dict[str, Any]) -> dict[str, Any]:
    """The conversation a `message.created` frame carries, with the message as its last."""
    at = last_message["created_at"]
    return {
        "id": last_message["conversation_id"],
        "channel_id": channel_id,
        "end_user": {"id": sender, "name": sender, "external_id": sender},
        "status": "unanswered",
        "owner": None,
        "finished_by": None,
        "last_message": last_message,
        "last_message_at": at,
        "opened_at": at,
        "created_at": at,
        "unread_count": None,
        "snippet": None,
    }


def _conversation_id(channel_id: str, sender: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{channel_id}/{sender}")


async def send_message(request: Request) -> Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    sender = _subject(token)
    data = await request.json()
    channel_id = request.path_params["channel_id"]
    message_id, at = uuid.uuid4(), datetime.now(UTC)
    cmid, body = str(data["client_message_id"]), str(data["body"])
    await request.app.state.store.insert(message_id, channel_id, sender, cmid, body, at)
    message = _message(message_id, channel_id, sender, cmid, body, at)
    created = {**message, "conversation": _conversation(channel_id, sender, message)}
    await request.app.state.bus.publish(
        sender, json.dumps({"type": "message.created", "data": created}, separators=(",", ":"))
    )
    return JSONResponse(message, status_code=201)


async def _write(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    while True:
        await websocket.send_text(await queue.get())


async def _drain(websocket: WebSocket) -> None:
    """Reads until the client goes away, which is how a closed socket is noticed."""
    while True:
        await websocket.receive_text()


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    token = websocket.query_params.get("access_token")
    queue: asyncio.Queue[str] = asyncio.Queue()
    with websocket.app.state.fan_out.registered(queue, _subject(token) if token else None):
        await websocket.send_text(HELLO)
        tasks = {
            asyncio.create_task(_write(websocket, queue)),
            asyncio.create_task(_drain(websocket)),
        }
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close()


async def health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _open_store(database: str) -> Store:
    if database.startswith("postgresql://"):
        return await PostgresStore.open(database)
    return await SqliteStore.open(database)


async def _open_bus(fan_out: FanOut) -> Bus:
    redis_url = os.environ.get("BENCH_BASELINE_REDIS_URL")
    if not redis_url:
        return LocalBus(fan_out)
    bus = RedisBus(Redis.from_url(redis_url), os.environ["BENCH_BASELINE_REDIS_CHANNEL"], fan_out)
    await bus.start()
    return bus


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.fan_out = FanOut()
    app.state.bus = await _open_bus(app.state.fan_out)
    app.state.store = await _open_store(os.environ["BENCH_BASELINE_DATABASE"])
    try:
        yield
    finally:
        await app.state.store.close()
        await app.state.bus.close()


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/v1/channels/{channel_id}/chat/messages", send_message, methods=["POST"]),
            WebSocketRoute("/api/v1/ws", socket),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    arguments = parser.parse_args()
    # The same uvicorn settings `relaydesk serve` runs with, so only the app differs.
    uvicorn.run(create_app(), host=arguments.host, port=arguments.port, proxy_headers=True)


if __name__ == "__main__":
    main()
