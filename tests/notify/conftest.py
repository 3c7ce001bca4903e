"""Helpers for mail tests: e-mails queued through the service, and their rows read back."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from relaydesk.clock import clock, now
from relaydesk.db import Database
from relaydesk.notify.models import Email
from relaydesk.notify.service import MAX_ATTEMPTS, queue_email
from relaydesk.tenancy.models import Tenant
from tests.factories import World
from tests.mail import MailServer

REJECTION = {
    "tenant_name": "Skyline Mobile",
    "partner_name": "Acme Coffee",
    "kind_label": "add-on",
    "title": "Extra channels",
    "reason": "The add-on is not available on your package.",
}


async def queue(
    database: Database,
    tenant: Tenant,
    to: str = "owner@acme.example",
    template: str = "request_rejected",
    **context: Any,
) -> Email:
    """A rejection e-mail (or `template` with `context`) queued in its own transaction."""
    values = context if template != "request_rejected" else REJECTION | context
    async with database.transaction() as session:
        return await queue_email(
            session, tenant_id=tenant.id, to=to, template=template, context=values
        )


async def stored(database: Database, email_id: uuid.UUID) -> Email:
    async with database.transaction() as session:
        return await session.get_one(Email, email_id)


async def all_emails(database: Database) -> list[Email]:
    async with database.transaction() as session:
        return list(await session.scalars(select(Email).order_by(Email.id)))


@dataclass
class MailLog:
    """A tenant's e-mails in every delivery state, oldest first, and one of another tenant."""

    failed: Email
    pending: Email
    sent: Email
    others: Email


async def mail_in_every_state(mail: MailServer, world: World) -> MailLog:
    """Made the way they happen: the server down for one e-mail's every attempt, then for
    one attempt of the next, then up again. Leaves the clock frozen."""
    clock.freeze(now())
    mail.stop()
    failed = await queue(mail.database, world.tenant, "failed@acme.example")
    for _ in range(MAX_ATTEMPTS):
        await mail.deliver()
        clock.advance(timedelta(hours=1))
    pending = await queue(mail.database, world.tenant, "pending@acme.example")
    await mail.deliver()
    mail.start()
    sent = await queue(mail.database, world.tenant, "sent@acme.example")
    others = await queue(mail.database, world.other_tenant, "others@elsewhere.example")
    assert await mail.deliver() == 2
    return MailLog(
        failed=await stored(mail.database, failed.id),
        pending=await stored(mail.database, pending.id),
        sent=await stored(mail.database, sent.id),
        others=await stored(mail.database, others.id),
    )
