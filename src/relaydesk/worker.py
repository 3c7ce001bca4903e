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
from relaydesk.broadcasts.delivery import deliver_due_broadcasts
from relaydesk.chat.owner_timer import return_unattended_chats
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.notify.service import send_due_emails
from relaydesk.webhooks.delivery import deliver_due_webhooks

log = structlog.get_logger(__name__)

# A job may answer True when it stopped with work left for the next pass.
Job = Callable[[Database], Awaitable[object]]

MAIL_BATCH = 50


def in_transaction(work: Callable[[AsyncSession], Awaitable[None]]) -> Job:
    """A job that is one unit of work."""

    async def job(database: Database) -> None:
        async with database.transaction() as session:
            await work(session)

    return job


async def send_mail(database: Database, settings: Settings) -> None:
    """Batch after batch while whole batches go out, so a burst of mail does not wait a poll
    per batch; a batch with failures ends the pass (the server is likely down)."""
    while await send_due_emails(database, settings, limit=MAIL_BATCH) == MAIL_BATCH:
        pass


def jobs(settings: Settings, storage: Storage) -> dict[str, Job]:
    return {
        "purge_expired_credentials": in_transaction(purge_expired_credentials),
        "purge_unsent_attachments": in_transaction(
            partial(purge_unsent_attachments, storage=storage)
        ),
        "send_mail": partial(send_mail, settings=settings),
        "deliver_broadcasts": deliver_due_broadcasts,
        "return_unattended_chats": return_unattended_chats,
        "deliver_webhooks": partial(deliver_due_webhooks, settings=settings),
    }


async def run_jobs_once(database: Database, settings: Settings, storage: Storage) -> bool:
    """Each job once; one that fails is logged and the others still run. Answers whether a
    job stopped with work left (it answered True), so the next pass need not wait."""
    work_left = False
    for name, job in jobs(settings, storage).items():
        try:
            work_left = await job(database) is True or work_left
        except Exception:
            log.exception("worker_job_failed", job=name)
    return work_left


async def run_worker(
    database: Database, settings: Settings, stop: asyncio.Event, storage: Storage
) -> None:
    log.info("worker_started", jobs=list(jobs(settings, storage)))
    while not stop.is_set():
        if await run_jobs_once(database, settings, storage):
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.worker_poll_seconds)
    log.info("worker_stopped")
