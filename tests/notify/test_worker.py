"""The worker sends queued mail on each pass, batch after batch, and keeps polling."""

import asyncio

import pytest

from relaydesk import worker
from relaydesk.attachments.storage import LocalStorage
from relaydesk.notify.models import EmailState
from relaydesk.worker import run_jobs_once, run_worker
from tests.factories import Factory
from tests.mail import MailServer
from tests.notify.conftest import all_emails, queue


@pytest.fixture
def storage(mail: MailServer) -> LocalStorage:
    return LocalStorage(mail.settings.data_dir / "attachments")


async def test_a_pass_sends_every_due_email_batch_after_batch(
    mail: MailServer, factory: Factory, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "MAIL_BATCH", 2)
    tenant = await factory.tenant()
    for number in range(5):
        await queue(mail.database, tenant, f"owner-{number}@acme.example")

    await run_jobs_once(mail.database, mail.settings, storage)

    assert len(mail.messages) == 5
    assert {email.state for email in await all_emails(mail.database)} == {EmailState.SENT}


async def test_a_pass_with_the_server_down_tries_each_email_once(
    mail: MailServer, factory: Factory, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "MAIL_BATCH", 2)
    mail.stop()
    tenant = await factory.tenant()
    for number in range(3):
        await queue(mail.database, tenant, f"owner-{number}@acme.example")

    await run_jobs_once(mail.database, mail.settings, storage)

    attempts = sorted(email.attempts for email in await all_emails(mail.database))
    assert attempts == [0, 1, 1]


async def test_the_running_worker_sends_mail_queued_while_it_polls(
    mail: MailServer, factory: Factory, storage: LocalStorage
) -> None:
    stop = asyncio.Event()
    settings = mail.settings.model_copy(update={"worker_poll_seconds": 0.05})
    task = asyncio.create_task(run_worker(mail.database, settings, stop, storage))
    try:
        await asyncio.sleep(0.1)
        await queue(mail.database, await factory.tenant(), "later@acme.example")
        async with asyncio.timeout(5):
            while True:
                if mail.to("later@acme.example"):
                    break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        async with asyncio.timeout(2):
            await task
    assert len(mail.messages) == 1
