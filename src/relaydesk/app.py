"""The application factory: settings in, a ready ASGI app out."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from sqlalchemy import text

from relaydesk.ads import api as ads_api
from relaydesk.analytics import api as analytics_api
from relaydesk.analytics import pages as analytics_pages
from relaydesk.approvals import api as approvals_api
from relaydesk.approvals import pages as approvals_pages
from relaydesk.approvals import portal_pages as approvals_portal_pages
from relaydesk.attachments import api as attachments_api
from relaydesk.attachments.api import UPLOAD_PATH, upload_body_limit
from relaydesk.attachments.storage import open_storage
from relaydesk.auth import api as auth_api
from relaydesk.auth import pages as auth_pages
from relaydesk.auth import staff_api, staff_pages
from relaydesk.auth.verified_tokens import VerifiedTokens
from relaydesk.canned import api as canned_api
from relaydesk.canned import pages as canned_pages
from relaydesk.catalogue import api as catalogue_api
from relaydesk.catalogue import pages as catalogue_pages
from relaydesk.chat import api as chat_api
from relaydesk.chat import pages as chat_pages
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.engagements import api as engagements_api
from relaydesk.engagements import pages as engagements_pages
from relaydesk.errors import install_error_handlers
from relaydesk.headers import SecurityHeaders
from relaydesk.logs import configure_logging
from relaydesk.middleware import BodySizeLimit, RefuseNulInUrl
from relaydesk.notify import api as notify_api
from relaydesk.notify import pages as notify_pages
from relaydesk.ratelimit import FailureCounter, MemoryFailureCounter, RedisFailureCounter
from relaydesk.realtime import api as realtime_api
from relaydesk.realtime.bus import Bus, MemoryBus, RedisBus
from relaydesk.realtime.presence import MemoryPresence, RedisPresence
from relaydesk.tenancy import api as tenancy_api
from relaydesk.tenancy import partners_api, partners_pages
from relaydesk.web import pages as web_pages
from relaydesk.web.errors import error_page
from relaydesk.webhooks import api as webhooks_api
from relaydesk.webhooks import pages as webhooks_pages
from relaydesk.worker import run_worker

STATIC_DIR = Path(__file__).parent / "web" / "static"


async def health(request: Request) -> JSONResponse:
    """Up, and the database answers. A module-level function, not a closure over the app:
    FastAPI caches facts about every endpoint it sees, which would keep each app alive."""
    async with request.app.state.database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        bus: Bus = RedisBus(redis, settings.redis_key_prefix) if redis else MemoryBus()
        if isinstance(bus, RedisBus):
            await bus.start()
        database = Database(settings.database_url, bus=bus)
        storage = await open_storage(settings)
        failure_counter: FailureCounter = (
            RedisFailureCounter(redis, settings.redis_key_prefix)
            if redis
            else MemoryFailureCounter()
        )
        app.state.database, app.state.bus, app.state.storage = database, bus, storage
        app.state.presence = (
            RedisPresence(redis, settings.redis_key_prefix) if redis else MemoryPresence()
        )
        app.state.failure_counter = failure_counter
        stop_worker = asyncio.Event()
        worker = (
            asyncio.create_task(run_worker(database, settings, stop_worker, storage))
            if settings.run_worker
            else None
        )
        # What start-up built lives as long as the app: frozen, the collector's full passes
        # skip it. Left in, each pass walked all of it and held the event loop for ~100 ms
        # under load (measured with `make bench`).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            stop_worker.set()
            if worker:
                await worker
            await bus.close()
            await storage.close()
            if redis:
                await redis.aclose()
            await database.dispose()

    app = FastAPI(
        title="relaydesk",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.verified_tokens = VerifiedTokens()
    install_error_handlers(app, error_page)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        larger_bodies={UPLOAD_PATH: upload_body_limit(settings)},
    )
    app.add_middleware(RefuseNulInUrl)
    app.add_middleware(SecurityHeaders)

    # Routes are matched in this order, one by one: chat, the busiest, comes first.
    for router in (
        chat_api.router,
        realtime_api.router,
        attachments_api.router,
        auth_api.router,
        tenancy_api.router,
        catalogue_api.router,
        canned_api.router,
        engagements_api.router,
        engagements_api.delivery_router,
        analytics_api.router,
        staff_api.router,
        approvals_api.router,
        ads_api.router,
        partners_api.router,
        notify_api.router,
        webhooks_api.router,
        auth_pages.router,
        chat_pages.router,
        canned_pages.router,
        engagements_pages.router,
        analytics_pages.router,
        staff_pages.router,
        approvals_pages.router,
        approvals_portal_pages.router,
        partners_pages.router,
        catalogue_pages.router,
        notify_pages.router,
        webhooks_pages.router,
        web_pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_api_route("/healthz", health, include_in_schema=False)
    return app
