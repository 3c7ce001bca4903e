"""The two targets of a sweep, each started on a fresh database with its clients ready.

relaydesk is set up as an operator would: `relaydesk migrate`, the CLI for the tenant, the
partner and its agents, then the API for channels, agents' tokens and end users' follows.
The baseline needs no setup: it checks no credentials, so its clients are made up here.
"""

import asyncio
import json
import math
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from bench.load import Agent, EndUser, Population
from bench.servers import (
    DatabaseUrls,
    Server,
    clean_environment,
    free_port,
    relaydesk_command,
    run_command,
)

TENANT_SLUG = "bench"
PASSWORD = "bench-password"
PARTNER_ADMIN_EMAIL = "partner-admin@bench.example"
END_USERS_PER_CHANNEL = 50
TOKEN_TTL_SECONDS = 24 * 3600
# CLI commands at once: each is a Python start-up plus a password hash, on a 2-core machine.
CLI_CONCURRENCY = 2
SIGN_IN_CONCURRENCY = 2  # each sign-in is a password hash check on the server
API_CONCURRENCY = 20


@dataclass(frozen=True)
class Backend:
    """A database kind and how many server processes share it (through Redis when several)."""

    name: str
    processes: int
    redis_url: str | None


@dataclass(frozen=True)
class Running:
    """A target's server processes and the clients that will load them."""

    servers: tuple[Server, ...]
    population: Population

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)


# (backend, database, folder, conversations, agents) -> the running target
Target = Callable[[Backend, DatabaseUrls, Path, int, int], AbstractAsyncContextManager[Running]]


def _end_user_token(secret: str, issuer: str, sub: str) -> str:
    """A JWT as the tenant's app signs it (HS256 with the tenant's end-user secret)."""
    claims = {"sub": sub, "name": f"Bench {sub}", "exp": int(time.time()) + TOKEN_TTL_SECONDS}
    return jwt.encode(claims | {"iss": issuer}, secret, algorithm="HS256")


def _channel_count(conversations: int) -> int:
    return math.ceil(conversations / END_USERS_PER_CHANNEL)


def _end_users(
    secret: str, issuer: str, channel_ids: list[str], urls: list[str], count: int
) -> tuple[EndUser, ...]:
    """`count` end users, spread over the channels and the servers in turn."""
    return tuple(
        EndUser(
            sub=f"user{index}",
            token=_end_user_token(secret, issuer, f"user{index}"),
            channel_id=channel_ids[index % len(channel_ids)],
            server=urls[index % len(urls)],
        )
        for index in range(count)
    )


async def _bounded(limit: int, work: Iterable[Awaitable[Any]]) -> list[Any]:
    """Awaits `work` with at most `limit` running at once, results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(awaitable: Awaitable[Any]) -> Any:
        async with semaphore:
            return await awaitable

    return await asyncio.gather(*(one(item) for item in work))


@asynccontextmanager
async def _servers(
    argvs: Iterable[list[str]], env: dict[str, str], folder: Path
) -> AsyncIterator[tuple[Server, ...]]:
    """Server processes started one after another (each is healthy before the next starts,
    so start-up work such as creating a table never races), all stopped on the way out."""
    async with AsyncExitStack() as stack:
        servers = []
        for index, argv in enumerate(argvs):
            port = free_port()
            server = Server([*argv, "--port", str(port)], env, port, folder / f"server{index}.log")
            stack.push_async_callback(server.stop)
            await server.start()
            servers.append(server)
        yield tuple(servers)


# relaydesk


async def _cli(env: dict[str, str], command: str, *arguments: str, **options: str) -> Any:
    """Runs `relaydesk COMMAND ARGUMENTS --option value …` and returns the JSON it prints."""
    argv = [command, *arguments]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return json.loads(await run_command(relaydesk_command(*argv), env))


async def _create_accounts(env: dict[str, str], agents: int) -> tuple[str, list[str]]:
    """The tenant, its partner and the partner's agents; returns the end-user secret and the
    agents' e-mails."""
    tenant = await _cli(
        env,
        "create-tenant",
        TENANT_SLUG,
        name="Bench",
        admin_email="admin@bench.example",
        admin_password=PASSWORD,
    )
    partner = await _cli(
        env,
        "create-partner",
        tenant=TENANT_SLUG,
        name="Bench Partner",
        admin_email=PARTNER_ADMIN_EMAIL,
        admin_password=PASSWORD,
    )
    emails = [f"agent{index}@bench.example" for index in range(agents)]
    agent = {"tenant": TENANT_SLUG, "partner_id": str(partner["partner_id"]), "role": "agent"}
    await _bounded(
        CLI_CONCURRENCY,
        (
            _cli(env, "create-user", **agent, email=email, password=PASSWORD, name=email)
            for email in emails
        ),
    )
    return str(tenant["end_user_secret"]), emails


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} (expected {status}): {response.text[:500]}"
        )
    return response


async def _api_token(client: httpx.AsyncClient, server: str, email: str) -> str:
    response = await client.post(
        f"{server}/api/v1/auth/token", json={"email": email, "password": PASSWORD}
    )
    return str(_expect(response, 200).json()["access_token"])


async def _create_channels(client: httpx.AsyncClient, server: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {await _api_token(client, server, PARTNER_ADMIN_EMAIL)}"}
    channel_ids = []
    for index in range(count):
        response = await client.post(
            f"{server}/api/v1/channels", json={"name": f"Bench {index}"}, headers=headers
        )
        channel_id = str(_expect(response, 201).json()["id"])
        response = await client.post(
            f"{server}/api/v1/channels/{channel_id}/chat/enable", headers=headers
        )
        _expect(response, 200)
        channel_ids.append(channel_id)
    return channel_ids


async def _follow(client: httpx.AsyncClient, end_user: EndUser) -> None:
    url = f"{end_user.server}/api/v1/channels/{end_user.channel_id}/follow"
    _expect(await client.put(url, headers=end_user.headers), 204)


async def _relaydesk_population(
    servers: tuple[Server, ...], secret: str, agent_emails: list[str], conversations: int
) -> Population:
    """Channels with chat on, agents signed in, end users following: clients spread over the
    servers in turn."""
    urls = [server.url for server in servers]
    async with httpx.AsyncClient(timeout=30) as client:
        channel_ids = await _create_channels(client, urls[0], _channel_count(conversations))
        tokens = await _bounded(
            SIGN_IN_CONCURRENCY, (_api_token(client, urls[0], email) for email in agent_emails)
        )
        end_users = _end_users(secret, TENANT_SLUG, channel_ids, urls, conversations)
        await _bounded(API_CONCURRENCY, (_follow(client, end_user) for end_user in end_users))
    agents = tuple(Agent(token, urls[index % len(urls)]) for index, token in enumerate(tokens))
    return Population(end_users, agents)


@asynccontextmanager
async def relaydesk(
    backend: Backend, database: DatabaseUrls, folder: Path, conversations: int, agents: int
) -> AsyncIterator[Running]:
    settings = {
        "RELAYDESK_DATABASE_URL": database.sqlalchemy,
        "RELAYDESK_SECRET_KEY": secrets.token_urlsafe(32),
        "RELAYDESK_DATA_DIR": str(folder / "var"),
    }
    if backend.redis_url:
        settings["RELAYDESK_REDIS_URL"] = backend.redis_url
        settings["RELAYDESK_REDIS_KEY_PREFIX"] = f"relaydesk-bench:{uuid.uuid4().hex}:"
    env = clean_environment(**settings)
    await run_command(relaydesk_command("migrate"), env)
    secret, agent_emails = await _create_accounts(env, agents)
    argv = relaydesk_command("serve", "--host", "127.0.0.1", "--no-worker")
    async with _servers([argv] * backend.processes, env, folder) as servers:
        population = await _relaydesk_population(servers, secret, agent_emails, conversations)
        yield Running(servers, population)


# baseline


@asynccontextmanager
async def baseline(
    backend: Backend, database: DatabaseUrls, folder: Path, conversations: int, agents: int
) -> AsyncIterator[Running]:
    settings = {"BENCH_BASELINE_DATABASE": database.plain}
    if backend.redis_url:
        settings["BENCH_BASELINE_REDIS_URL"] = backend.redis_url
        settings["BENCH_BASELINE_REDIS_CHANNEL"] = f"baseline-bench:{uuid.uuid4().hex}"
    argv = [sys.executable, "-m", "bench.baseline_app", "--host", "127.0.0.1"]
    env = clean_environment(**settings)
    async with _servers([argv] * backend.processes, env, folder) as servers:
        urls = [server.url for server in servers]
        channel_ids = [str(uuid.uuid4()) for _ in range(_channel_count(conversations))]
        secret = secrets.token_urlsafe(32)
        end_users = _end_users(secret, "baseline", channel_ids, urls, conversations)
        agent_clients = tuple(
            Agent(f"baseline-agent-{index}", urls[index % len(urls)]) for index in range(agents)
        )
        yield Running(servers, Population(end_users, agent_clients))
