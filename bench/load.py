"""The load generator: end users and agents on real sockets, open-loop sends, timed deliveries.

It speaks the client protocol every target serves: `GET /api/v1/ws` (an end user's JWT as
`access_token`, an agent's token as a bearer header; the first frame is `hello`) and
`POST /api/v1/channels/{id}/chat/messages` from end users. Each send is its own task, started
on schedule whether or not earlier sends were answered (an open loop), so a slow server shows
as latency and backlog instead of quietly lowering the offered load.

Every time comes from one clock in this process: a delivery's latency is the moment its
`message.created` frame is read here minus the moment its send started.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore tries `import sniffio` on every request; while it is not installed each try
    # searches sys.path again, a tenth of this process's CPU. A None entry fails it at once.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

SEND_TIMEOUT_SECONDS = 10.0
MAX_HTTP_CONNECTIONS = 200
# Idle connections are dropped before uvicorn's 5 s keep-alive closes them: reusing one the
# server is closing at that moment fails the POST (ReadError), which is no fault of the target.
KEEPALIVE_EXPIRY_SECONDS = 2.0
# Sockets opened at once while connecting; each costs the server an authentication.
CONNECT_CONCURRENCY = 20
# Sends starting this late (p99), half the latency limit, mean this process could not keep up
# with its own schedule; a few milliseconds are only a busy event loop.
SCHEDULE_LAG_LIMIT_SECONDS = 0.050
PRIME_CONCURRENCY = 20
PRIME_GRACE_SECONDS = 15.0
_POLL_SECONDS = 0.05


class BenchError(Exception):
    """The target does not follow the protocol; the message says what it answered."""


@dataclass(frozen=True)
class EndUser:
    """An end user of the tenant's app: its JWT, the channel it writes to, the server it uses."""

    sub: str
    token: str
    channel_id: str
    server: str

    @property
    def messages_url(self) -> str:
        return f"{self.server}/api/v1/channels/{self.channel_id}/chat/messages"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Agent:
    """A partner's agent: an API token, the server its socket is on."""

    token: str
    server: str


@dataclass(frozen=True)
class Population:
    end_users: tuple[EndUser, ...]
    agents: tuple[Agent, ...]


@dataclass(frozen=True)
class Step:
    """One rate of the sweep: warm up, then measure, then wait `grace` for late deliveries."""

    rate: float
    warmup: float
    duration: float
    grace: float
    poisson: bool


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Percentiles | None:
        """Nearest-rank percentiles; None for no values."""
        ordered = sorted(values)
        if not ordered:
            return None

        def rank(q: float) -> float:
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

        return cls(rank(0.50), rank(0.95), rank(0.99))


@dataclass(frozen=True)
class StepResult:
    """What one step measured; latencies in seconds, CPU in cores busy during the window."""

    rate: float
    offered: float
    achieved: float
    errors: int
    send: Percentiles | None
    agents: Percentiles | None
    end_user: Percentiles | None
    lost: int
    bad_frames: int
    dropped_sockets: int
    cpu_load: float
    cpu_servers: float
    cpu_machine: float
    schedule_lag_p99: float
    first_error: str | None

    @property
    def load_bound(self) -> bool:
        """The load generator fell behind its schedule while using more CPU than the target's
        servers: on a machine they share, the step shows the generator's limit more than the
        target's. (A target that collapses also makes the generator late, but then the
        servers are the bigger user.)"""
        return (
            self.schedule_lag_p99 > SCHEDULE_LAG_LIMIT_SECONDS and self.cpu_load >= self.cpu_servers
        )

    def meets(self, latency_limit: float) -> bool:
        """Sustainable: agents' p99 under the limit and every message sent and delivered."""
        return (
            self.agents is not None
            and self.agents.p99 < latency_limit
            and self.lost == self.errors == self.bad_frames == self.dropped_sockets == 0
        )


@dataclass(slots=True)
class _Send:
    sender: int
    started: float
    measured: bool
    finished: float = 0.0
    status: int = 0  # 0 until answered; stays 0 on a transport error or time-out
    agent_latencies: dict[int, float] = field(default_factory=dict)
    end_user_latency: float | None = None


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _websocket_url(server: str) -> str:
    return server.replace("http://", "ws://", 1) + "/api/v1/ws"


class LoadGenerator:
    """Holds every socket open across the sweep and runs its steps one after another."""

    def __init__(self, population: Population, server_cpu: Callable[[], float]) -> None:
        self._population = population
        self._server_cpu = server_cpu
        self._random = random.Random(20240601)  # the same arrivals and senders every run
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=MAX_HTTP_CONNECTIONS,
                max_keepalive_connections=MAX_HTTP_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            ),
            timeout=SEND_TIMEOUT_SECONDS,
        )
        self._connections = asyncio.Semaphore(MAX_HTTP_CONNECTIONS)
        self._ids = itertools.count()
        self._sends: dict[str, _Send] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: list[ClientConnection] = []
        self._readers: list[asyncio.Task[None]] = []
        self._closing = False
        self._bad_frames = 0
        self._dropped_sockets = 0
        self._lags: list[float] = []
        self._first_error: str | None = None

    @classmethod
    @asynccontextmanager
    async def connected(
        cls, population: Population, server_cpu: Callable[[], float]
    ) -> AsyncIterator[LoadGenerator]:
        """A generator whose agents and end users all have their sockets open."""
        generator = cls(population, server_cpu)
        try:
            await generator._connect_all()
            yield generator
        finally:
            await generator._close()

    # Sockets

    async def _connect_all(self) -> None:
        limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def agent(index: int, member: Agent) -> None:
            async with limit:
                headers = {"Authorization": f"Bearer {member.token}"}
                socket = await self._open(_websocket_url(member.server), headers)
            self._listen(socket, lambda at, data: self._to_agent(index, at, data))

        async def end_user(index: int, member: EndUser) -> None:
            async with limit:
                url = f"{_websocket_url(member.server)}?access_token={member.token}"
                socket = await self._open(url, {})
            self._listen(socket, lambda at, data: self._to_end_user(index, at, data))

        await asyncio.gather(
            *(agent(i, member) for i, member in enumerate(self._population.agents)),
            *(end_user(i, member) for i, member in enumerate(self._population.end_users)),
        )

    async def _open(self, url: str, headers: dict[str, str]) -> ClientConnection:
        """A socket that has said hello; anything else is the target breaking the protocol."""
        where = url.split("?")[0]
        try:
            socket = await connect(
                url, additional_headers=headers, ping_interval=None, open_timeout=30
            )
        except (WebSocketException, OSError, TimeoutError) as error:
            raise BenchError(f"{where} refused the socket: {error!r}") from error
        self._sockets.append(socket)
        try:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
        except ConnectionClosed as closed:
            raise BenchError(f"{where} closed before hello: {closed}") from closed
        if frame.get("type") != "hello":
            raise BenchError(f"{where} sent {frame!r} before hello")
        return socket

    def _listen(
        self, socket: ClientConnection, deliver: Callable[[float, dict[str, Any]], None]
    ) -> None:
        self._readers.append(asyncio.create_task(self._read(socket, deliver)))

    async def _read(
        self, socket: ClientConnection, deliver: Callable[[float, dict[str, Any]], None]
    ) -> None:
        try:
            async for raw in socket:
                at = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "message.created":
                    deliver(at, frame["data"])
        except ConnectionClosed:
            pass
        if not self._closing:
            self._dropped_sockets += 1
            self._note_error(f"server closed a socket: {socket.close_code} {socket.close_reason}")

    def _to_agent(self, agent: int, at: float, data: dict[str, Any]) -> None:
        send = self._sends.get(data.get("client_message_id", ""))
        if send is None:
            return  # a late frame of an earlier step
        if agent in send.agent_latencies:
            self._bad_frames += 1
            return
        send.agent_latencies[agent] = at - send.started

    def _to_end_user(self, index: int, at: float, data: dict[str, Any]) -> None:
        send = self._sends.get(data.get("client_message_id", ""))
        if send is None:
            return
        external_id = data.get("conversation", {}).get("end_user", {}).get("external_id")
        own = self._population.end_users[index].sub
        if send.sender != index or external_id != own or send.end_user_latency is not None:
            self._bad_frames += 1
            return
        send.end_user_latency = at - send.started

    # Sending

    def _launch(self, sender: int, measured: bool) -> asyncio.Task[None]:
        client_message_id = f"m{next(self._ids)}"
        send = _Send(sender, time.perf_counter(), measured)
        self._sends[client_message_id] = send
        task = asyncio.create_task(self._post(client_message_id, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _post(self, client_message_id: str, send: _Send) -> None:
        """One send, answered or given up within SEND_TIMEOUT_SECONDS of its start.

        Sends beyond the connection limit wait here rather than in httpx's pool, whose cost
        grows with every request waiting in it: a backlog on a slow target would otherwise
        slow this process down too, and blur whose limit a step shows.
        """
        member = self._population.end_users[send.sender]
        body = {"client_message_id": client_message_id, "body": f"load {client_message_id}"}
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS), self._connections:
                response = await self._http.post(
                    member.messages_url, json=body, headers=member.headers
                )
            send.status = response.status_code
            if response.status_code != 201:
                self._note_error(f"POST {response.status_code}: {response.text[:300]}")
        except (httpx.HTTPError, TimeoutError) as error:
            self._note_error(f"POST failed: {error!r}")
        send.finished = time.perf_counter()

    def _note_error(self, error: str) -> None:
        self._first_error = self._first_error or error

    async def _offer(self, step: Step, start: float, until: float, measured: bool) -> None:
        """Starts sends from `start` to `until` at `step.rate`, never waiting for answers."""
        at = start
        while True:
            at += self._random.expovariate(step.rate) if step.poisson else 1 / step.rate
            if at >= until:
                return
            # Sleeps even when behind (for 0 s), so a late schedule never starves the readers.
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            if measured:
                self._lags.append(time.perf_counter() - at)
            self._launch(self._random.randrange(len(self._population.end_users)), measured)

    def _missing(self, sends: list[_Send]) -> int:
        agents = len(self._population.agents)
        return sum(agents - len(s.agent_latencies) + (s.end_user_latency is None) for s in sends)

    async def _settle(self, grace: float) -> list[_Send]:
        """Waits for answers, then up to `grace` for deliveries; returns the delivered sends."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))  # each ends within SEND_TIMEOUT_SECONDS
        created = [s for s in self._sends.values() if s.measured and s.status == 201]
        deadline = time.perf_counter() + grace
        # Polling is simpler than counting deliveries down as they come, and costs nothing here.
        while self._missing(created) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_POLL_SECONDS)
        return created

    def _reset(self) -> None:
        self._sends = {}
        self._lags = []
        self._bad_frames = self._dropped_sockets = 0
        self._first_error = None

    async def prime(self) -> None:
        """One message from every end user, so every conversation exists before measuring.

        It also checks the whole path once: a send not answered 201, or a frame that does not
        reach every agent and its end user, stops the run with what went wrong.
        """
        self._reset()
        limit = asyncio.Semaphore(PRIME_CONCURRENCY)

        async def send(sender: int) -> None:
            async with limit:
                await self._launch(sender, measured=True)

        await asyncio.gather(*(send(i) for i in range(len(self._population.end_users))))
        created = await self._settle(PRIME_GRACE_SECONDS)
        failed = len(self._sends) - len(created)
        if failed or self._missing(created) or self._bad_frames:
            raise BenchError(
                f"priming: {failed} sends failed, {self._missing(created)} deliveries missing, "
                f"{self._bad_frames} wrong frames; first error: {self._first_error}"
            )

    async def run_step(self, step: Step) -> StepResult:
        """Warm-up, measured window, then the wait for answers and late deliveries."""
        self._reset()
        start = time.perf_counter()
        window_start = start + step.warmup
        window_end = window_start + step.duration
        await self._offer(step, start, window_start, measured=False)
        cpu_before = self._cpu()
        await self._offer(step, window_start, window_end, measured=True)
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        cpu_after = self._cpu()
        created = await self._settle(step.grace)
        return self._result(step, window_start, window_end, created, cpu_before, cpu_after)

    def _cpu(self) -> tuple[float, float, float, float]:
        """Wall clock, then CPU seconds of this process, the servers and the whole machine."""
        return time.perf_counter(), time.process_time(), self._server_cpu(), machine_busy_seconds()

    def _result(
        self,
        step: Step,
        window_start: float,
        window_end: float,
        created: list[_Send],
        cpu_before: tuple[float, float, float, float],
        cpu_after: tuple[float, float, float, float],
    ) -> StepResult:
        sends = self._sends.values()
        answered_in_window = sum(
            1 for s in sends if s.status == 201 and window_start <= s.finished < window_end
        )
        measured = sum(1 for s in sends if s.measured)
        # Over the wall time between the samples, which a busy loop can stretch past the window.
        elapsed, load, servers, machine = (
            after - before for before, after in zip(cpu_before, cpu_after, strict=True)
        )
        return StepResult(
            rate=step.rate,
            offered=measured / step.duration,
            achieved=answered_in_window / step.duration,
            errors=measured - len(created),
            send=Percentiles.of(s.finished - s.started for s in created),
            agents=Percentiles.of(lat for s in created for lat in s.agent_latencies.values()),
            end_user=Percentiles.of(
                s.end_user_latency for s in created if s.end_user_latency is not None
            ),
            lost=self._missing(created),
            bad_frames=self._bad_frames,
            dropped_sockets=self._dropped_sockets,
            cpu_load=load / elapsed,
            cpu_servers=servers / elapsed,
            cpu_machine=machine / elapsed,
            schedule_lag_p99=lag.p99 if (lag := Percentiles.of(self._lags)) else 0.0,
            first_error=self._first_error,
        )

    async def _close(self) -> None:
        self._closing = True
        for task in [*self._tasks, *self._readers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._readers, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in self._sockets), return_exceptions=True)
        await self._http.aclose()
