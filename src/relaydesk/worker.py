"""The background worker: runs each job in turn, over and over, until told to stop.

It runs inside `relaydesk serve` or alone as `relaydesk worker`; every job is idempotent and
safe to run in several processes at once.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.attachments.service import purge_unsent_attachments
from relaydesk.attachments.storage import Storage
from relaydesk.auth.service import purge_expired_credentials
from relaydesk.config import Settings
from relaydesk.db import Database

log = structlog.get_logger(__name__)

Job = Callable[[AsyncSession], Awaitable[None]]


def jobs(storage: Storage) -> dict[str, Job]:
    return {
        "purge_expired_credentials": purge_expired_credentials,
        "purge_unsent_attachments": partial(purge_unsent_attachments, storage=storage),
    }


async def run_jobs_once(database: Database, storage: Storage) -> None:
    for name, job in jobs(storage).items():
        try:
            async with database.transaction() as session:
                await job(session)
        except Exception:
            log.exception("worker_job_failed", job=name)


async def run_worker(
    database: Database, settings: Settings, stop: asyncio.Event, storage: Storage
) -> None:
    log.info("worker_started", jobs=list(jobs(storage)))
    while not stop.is_set():
        await run_jobs_once(database, storage)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.worker_poll_seconds)
    log.info("worker_stopped")
