"""The background worker: runs each job in turn, over and over, until told to stop.

It runs inside `relaydesk serve` or alone as `relaydesk worker`; every job is idempotent and
safe to run in several processes at once.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.service import purge_expired_credentials
from relaydesk.config import Settings
from relaydesk.db import Database

log = structlog.get_logger(__name__)

Job = Callable[[AsyncSession], Awaitable[None]]
JOBS: tuple[Job, ...] = (purge_expired_credentials,)


async def run_jobs_once(database: Database) -> None:
    for job in JOBS:
        try:
            async with database.transaction() as session:
                await job(session)
        except Exception:
            log.exception("worker_job_failed", job=job.__name__)


async def run_worker(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    log.info("worker_started", jobs=[job.__name__ for job in JOBS])
    while not stop.is_set():
        await run_jobs_once(database)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.worker_poll_seconds)
    log.info("worker_stopped")
