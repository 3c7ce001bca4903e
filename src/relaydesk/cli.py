"""`relaydesk …`: set a deployment up and run it without the web UI.

Commands that create something print one JSON object on stdout; errors go to stderr with
exit status 1.
"""

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.attachments.storage import open_storage
from relaydesk.auth.permissions import Role
from relaydesk.auth.service import create_staff_user, end_user_token
from relaydesk.catalogue.service import package_by_name
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.errors import AppError, NotFound
from relaydesk.logs import configure_logging
from relaydesk.tenancy.service import create_partner as create_partner_row
from relaydesk.tenancy.service import create_tenant as create_tenant_row
from relaydesk.tenancy.service import get_partner, tenant_by_slug

T = TypeVar("T")

app = typer.Typer(help="relaydesk: help desk and partner management.", no_args_is_help=True)


def _print(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, default=str, ensure_ascii=False))


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"No partner {value!r}.") from exc


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one committed transaction; a client error ends the command with status 1."""

    async def run() -> T:
        database = Database(Settings().database_url)
        try:
            async with database.transaction() as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except AppError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(1) from error


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    from relaydesk.migrate import migrate as migrate_database  # Alembic loads only for this

    async def run() -> None:
        database = Database(Settings().database_url)
        try:
            await migrate_database(database.engine)
        finally:
            await database.dispose()

    asyncio.run(run())


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the background worker.")
    ] = False,
) -> None:
    """Run the web server (and the background worker, unless --no-worker)."""
    import uvicorn  # loads only for this command

    if no_worker:
        os.environ["RELAYDESK_RUN_WORKER"] = "false"
    uvicorn.run(
        "relaydesk.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run only the background worker."""
    from redis.asyncio import Redis

    from relaydesk.realtime.bus import RedisBus
    from relaydesk.worker import run_worker

    configure_logging()
    settings = Settings()

    async def run() -> None:
        # With Redis, what the worker changes reaches the servers' sockets (a broadcast's
        # cards, chats the owner timer returns); without it, run the worker inside `serve`.
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        bus = RedisBus(redis, settings.redis_key_prefix) if redis else None
        database = Database(settings.database_url, bus=bus)
        storage = await open_storage(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await run_worker(database, settings, stop, storage)
        finally:
            await storage.close()
            await database.dispose()
            if redis:
                await redis.aclose()

    asyncio.run(run())


@app.command()
def demo() -> None:
    """Fill an empty database with demo data and print the sign-in details."""
    from relaydesk import demo as demo_data  # loads only for this command

    settings = Settings()
    loaded = _in_transaction(lambda session: demo_data.load(session, settings))
    if loaded["loaded"]:
        asyncio.run(_demo_ad(settings))
    _print(loaded)


async def _demo_ad(settings: Settings) -> None:
    """The demo's banner ad: its picture is stored like an upload, apart from the rest of the
    demo's one transaction."""
    from relaydesk import demo as demo_data

    database, storage = Database(settings.database_url), await open_storage(settings)
    try:
        await demo_data.banner_ad(database, storage)
    finally:
        await storage.close()
        await database.dispose()


@app.command("create-tenant")
def create_tenant(
    slug: str,
    name: Annotated[str, typer.Option("--name")],
    admin_email: Annotated[str, typer.Option("--admin-email")],
    admin_password: Annotated[str, typer.Option("--admin-password")],
) -> None:
    """Create a tenant with its first tenant admin."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        tenant = await create_tenant_row(session, slug=slug, name=name)
        admin = await create_staff_user(
            session,
            tenant_id=tenant.id,
            partner_id=None,
            role=Role.TENANT_ADMIN,
            email=admin_email,
            name="Administrator",
            password=admin_password,
        )
        return {
            "tenant_id": tenant.id,
            "slug": tenant.slug,
            "end_user_secret": tenant.end_user_secret,
            "admin_id": admin.id,
        }

    _print(_in_transaction(work))


@app.command("create-partner")
def create_partner(
    tenant: Annotated[str, typer.Option("--tenant")],
    name: Annotated[str, typer.Option("--name")],
    admin_email: Annotated[str, typer.Option("--admin-email")],
    admin_password: Annotated[str, typer.Option("--admin-password")],
    package: Annotated[str | None, typer.Option("--package")] = None,
) -> None:
    """Create an active partner with its admin."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        owner = await tenant_by_slug(session, tenant)
        chosen = await package_by_name(session, owner.id, package)
        partner = await create_partner_row(
            session, tenant=owner, name=name, package=chosen, email=admin_email
        )
        admin = await create_staff_user(
            session,
            tenant_id=owner.id,
            partner_id=partner.id,
            role=Role.PARTNER_ADMIN,
            email=admin_email,
            name=f"{name} admin",
            password=admin_password,
        )
        return {"partner_id": partner.id, "admin_id": admin.id}

    _print(_in_transaction(work))


@app.command("create-user")
def create_user(
    tenant: Annotated[str, typer.Option("--tenant")],
    role: Annotated[Role, typer.Option("--role")],
    email: Annotated[str, typer.Option("--email")],
    password: Annotated[str, typer.Option("--password")],
    name: Annotated[str, typer.Option("--name")],
    partner_id: Annotated[str | None, typer.Option("--partner-id")] = None,
) -> None:
    """Create a tenant or partner staff member."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        owner = await tenant_by_slug(session, tenant)
        partner = await get_partner(session, _uuid(partner_id)) if partner_id else None
        user = await create_staff_user(
            session,
            tenant_id=owner.id,
            partner_id=partner.id if partner else None,
            role=role,
            email=email,
            name=name,
            password=password,
        )
        return {"user_id": user.id}

    _print(_in_transaction(work))


@app.command()
def token(
    tenant: Annotated[str, typer.Option("--tenant")],
    sub: Annotated[str, typer.Option("--sub")],
    name: Annotated[str, typer.Option("--name")],
    ttl: Annotated[int, typer.Option("--ttl", min=1)] = 3600,
) -> None:
    """Print an end-user token signed with the tenant's secret (for tests and demos)."""

    async def work(session: AsyncSession) -> str:
        return end_user_token(
            await tenant_by_slug(session, tenant), sub=sub, name=name, ttl_seconds=ttl
        )

    typer.echo(_in_transaction(work))
